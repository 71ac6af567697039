//! Asks the running kernel for an io_uring (`io_uring_setup`), the one check files cannot answer.
//!
//! A container's seccomp profile, `kernel.io_uring_disabled` or a missing kernel feature all
//! show up here as an error from the syscall. Only [`crate::Host::live`] calls this; snapshot
//! hosts never do, so tests depend on recorded files alone.
#![allow(unsafe_code)]

use serde::Serialize;

/// Entries asked for: the smallest ring, so the probe needs almost no locked memory.
const PROBE_RING_ENTRIES: u32 = 1;

/// What `io_uring_setup` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum IoUringProbe {
    /// A ring was created (and closed again).
    Available,
    /// The syscall failed with this `errno`.
    Refused { errno: i32 },
    /// Not a Linux x86_64/aarch64 build: the probe was not attempted.
    NotAttempted,
}

impl IoUringProbe {
    /// One line for the report: what the result means for the broker.
    pub fn describe(self) -> String {
        match self {
            IoUringProbe::Available => "io_uring_setup succeeded".to_string(),
            IoUringProbe::Refused { errno } => {
                let meaning = match errno {
                    libc::EPERM => "EPERM: kernel.io_uring_disabled, or a seccomp profile",
                    libc::ENOSYS => "ENOSYS: kernel without io_uring, or a seccomp profile",
                    libc::ENOMEM => "ENOMEM: locked-memory limit too low for even one ring",
                    libc::EACCES => "EACCES: an LSM policy (SELinux, AppArmor) refused it",
                    _ => "unexpected error",
                };
                format!("io_uring_setup failed, errno {errno} ({meaning})")
            }
            IoUringProbe::NotAttempted => "not probed on this platform".to_string(),
        }
    }
}

/// `struct io_uring_params` (120 bytes); all zero asks for a plain ring with no features.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[repr(C)]
struct IoUringParams {
    /// sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3],
    /// then the two 40-byte ring-offset structs the kernel fills in.
    words: [u32; 30],
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
const _: () = assert!(std::mem::size_of::<IoUringParams>() == 120);

/// Creates and closes a one-entry io_uring.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub fn io_uring_setup() -> IoUringProbe {
    let mut params = IoUringParams { words: [0; 30] };
    // SAFETY: io_uring_setup reads and writes exactly one `struct io_uring_params`, which
    // `params` is (size asserted above) and which outlives the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            PROBE_RING_ENTRIES,
            &mut params as *mut IoUringParams,
        )
    };
    if result < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return IoUringProbe::Refused { errno };
    }
    // The syscall returned a file descriptor (an int); it is ours and closed once.
    let fd = result as libc::c_int;
    // SAFETY: `fd` was just returned by the kernel to this function and is not used again.
    unsafe {
        libc::close(fd);
    }
    IoUringProbe::Available
}

/// Not Linux on x86_64/aarch64: nothing to probe.
#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
pub fn io_uring_setup() -> IoUringProbe {
    IoUringProbe::NotAttempted
}
