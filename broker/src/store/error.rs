//! The storage engine's one error type: what failed, on which file, at which offset.

use std::io;
use std::path::PathBuf;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O call failed on `path`.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The disk is full: the write was not done and nothing before it is touched.
    #[error("disk full while {op} {}: free space, or lower retention_hours", path.display())]
    DiskFull { op: &'static str, path: PathBuf },

    /// A file holds bytes that cannot be what they should be.
    #[error("corrupt {} at byte {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    /// An earlier write failed; the engine refuses new writes rather than risk old data.
    #[error("store refuses writes after an earlier failure: {0}")]
    Refusing(String),

    /// The caller asked for something the store cannot do (too large, bad name, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl StoreError {
    /// Wraps an I/O error, turning ENOSPC into [`StoreError::DiskFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        // glommio's errors arrive re-wrapped: the kind survives where the errno may not.
        if source.raw_os_error() == Some(libc::ENOSPC)
            || source.kind() == io::ErrorKind::StorageFull
        {
            StoreError::DiskFull { op, path }
        } else {
            StoreError::Io { op, path, source }
        }
    }
}

/// The storage engine's result type.
pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_becomes_disk_full_by_errno_or_by_kind() {
        for e in [
            io::Error::from_raw_os_error(libc::ENOSPC),
            io::Error::new(io::ErrorKind::StorageFull, "wrapped"),
        ] {
            let err = StoreError::io("writing", "/data/x", e);
            assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
            assert!(
                err.to_string().contains("disk full while writing /data/x"),
                "{err}"
            );
        }
        let other = StoreError::io(
            "writing",
            "/data/x",
            io::Error::from_raw_os_error(libc::EIO),
        );
        assert!(matches!(other, StoreError::Io { .. }));
    }
}
