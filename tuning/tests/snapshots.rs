//! The checker against recorded `/proc` and `/sys` snapshots (tests/fixtures/*), and against
//! copies of them with one file changed, so each test shows what one setting makes it report.

use std::fs;
use std::path::{Path, PathBuf};

use shardmq_tuning::{check, fatal_problems, recommended_shards, Host, Report, Status};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A writable copy of a fixture host, to change one file in.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn of(name: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixture(name), dir.path());
        Scratch { dir }
    }

    fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> &Scratch {
        let path = self.dir.path().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
        self
    }

    fn remove(&self, relative: &str) -> &Scratch {
        fs::remove_file(self.dir.path().join(relative)).unwrap();
        self
    }

    fn host(&self) -> Host {
        Host::snapshot(self.dir.path())
    }
}

fn status_of(report: &Report, name: &str) -> Status {
    report
        .item(name)
        .unwrap_or_else(|| panic!("no item {name} in {report:#?}"))
        .status
}

fn every_file(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            every_file(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn limits_with(open_files: &str, memlock_bytes: &str) -> String {
    format!(
        "Limit                     Soft Limit           Hard Limit           Units\n\
         Max open files            {open_files:<21}{open_files:<21}files\n\
         Max locked memory         {memlock_bytes:<21}{memlock_bytes:<21}bytes\n"
    )
}

#[test]
fn good_host_reports_every_item_ok_and_nothing_fatal() {
    let host = Host::snapshot(fixture("good-host"));
    let report = check(&host, 7);
    let not_ok: Vec<_> = report
        .items
        .iter()
        .filter(|item| item.status != Status::Ok)
        .collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    assert_eq!(report.fatal, 0);
    assert!(fatal_problems(&host, 7).is_empty());
    let names: Vec<&str> = report.items.iter().map(|item| item.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kernel_version",
            "io_uring_disabled",
            "seccomp",
            "memlock_bytes",
            "open_files",
            "file_max",
            "shards",
            "isolcpus",
            "nohz_full",
            "numa_nodes",
            "nic_irqs",
            "clocksource",
            "transparent_hugepage",
            "swappiness",
            "block_scheduler:nvme0n1",
            "block_scheduler:nvme1n1",
            "somaxconn",
            "rmem_max_bytes",
            "wmem_max_bytes",
            "tcp_rmem_max_bytes",
            "tcp_wmem_max_bytes",
        ],
        "loop devices are skipped and snapshots are never probed (no io_uring_setup item)"
    );
}

#[test]
fn good_host_recommends_its_pinned_cpus_less_one_as_shards() {
    // Online 0-15, but the process is pinned to node 0 (CPUs 0-7).
    assert_eq!(recommended_shards(&Host::snapshot(fixture("good-host"))), 7);
    assert_eq!(recommended_shards(&Host::snapshot(fixture("bad-host"))), 3);
}

#[test]
fn good_host_reports_current_values_as_read() {
    let report = check(&Host::snapshot(fixture("good-host")), 7);
    let table = [
        ("kernel_version", "6.8"),
        ("memlock_bytes", "unlimited"),
        ("shards", "7 on 8 usable CPUs (0-7)"),
        ("isolcpus", "1-7,9-15"),
        ("numa_nodes", "2 nodes; usable CPUs in node0"),
        ("nic_irqs", "4 queues, fired on CPUs 0,8"),
        ("wmem_max_bytes", "16777216 (16 MiB)"),
        ("tcp_rmem_max_bytes", "67108864 (64 MiB)"),
        ("block_scheduler:nvme0n1", "none, solid state"),
    ];
    for (name, current) in table {
        assert_eq!(report.item(name).unwrap().current, current, "{name}");
    }
}

#[test]
fn bad_host_fatal_problems_are_kernel_io_uring_memlock_and_open_files_each_with_a_fix() {
    let problems = fatal_problems(&Host::snapshot(fixture("bad-host")), 4);
    let items: Vec<&str> = problems
        .iter()
        .map(|problem| problem.item.as_str())
        .collect();
    assert_eq!(
        items,
        [
            "kernel_version",
            "io_uring_disabled",
            "memlock_bytes",
            "open_files"
        ]
    );
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for line in &lines {
        assert!(!line.contains('\n'), "one line each: {line:?}");
        assert!(line.contains(" — fix: "), "{line:?}");
    }
    assert!(
        lines[0].contains("kernel_version is 5.4, needs >= 5.8"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("kernel.io_uring_disabled=0"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("65536 (64 KiB)"), "{}", lines[2]);
    assert!(lines[2].contains("LimitMEMLOCK=3M"), "{}", lines[2]);
    assert!(lines[3].contains("LimitNOFILE=1048576"), "{}", lines[3]);
}

#[test]
fn bad_host_report_warns_on_each_untuned_setting() {
    let report = check(&Host::snapshot(fixture("bad-host")), 4);
    let table = [
        ("kernel_version", Status::Fatal),
        ("io_uring_disabled", Status::Fatal),
        ("seccomp", Status::Warn),
        ("memlock_bytes", Status::Fatal),
        ("open_files", Status::Fatal),
        ("file_max", Status::Warn),
        ("shards", Status::Warn),
        ("isolcpus", Status::Ok),
        ("nohz_full", Status::Ok),
        ("numa_nodes", Status::Warn),
        ("clocksource", Status::Warn),
        ("transparent_hugepage", Status::Warn),
        ("swappiness", Status::Warn),
        ("block_scheduler:nvme0n1", Status::Warn),
        ("block_scheduler:sda", Status::Warn),
        ("somaxconn", Status::Warn),
        ("rmem_max_bytes", Status::Warn),
        ("wmem_max_bytes", Status::Unknown),
        ("tcp_rmem_max_bytes", Status::Warn),
        ("tcp_wmem_max_bytes", Status::Warn),
    ];
    for (name, expected) in table {
        assert_eq!(status_of(&report, name), expected, "{name}");
    }
    assert_eq!(report.fatal, 4);
    assert!(report
        .item("block_scheduler:sda")
        .unwrap()
        .reason
        .contains("spinning"));
}

#[test]
fn missing_file_gives_unknown_naming_the_file() {
    let report = check(&Host::snapshot(fixture("bad-host")), 4);
    let item = report.item("wmem_max_bytes").unwrap();
    assert_eq!(item.status, Status::Unknown);
    assert_eq!(item.current, "unknown");
    assert!(
        item.reason.contains("bad-host/proc/sys/net/core/wmem_max"),
        "{}",
        item.reason
    );
}

#[test]
fn non_utf8_bytes_in_every_file_give_unknown_items_naming_their_files() {
    let scratch = Scratch::of("good-host");
    let mut files = Vec::new();
    every_file(scratch.dir.path(), &mut files);
    for file in &files {
        fs::write(file, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    }
    let report = check(&scratch.host(), 7);
    for item in &report.items {
        assert_eq!(item.status, Status::Unknown, "{item:#?}");
        assert!(item.reason.starts_with("cannot read "), "{item:#?}");
        assert!(item.reason.contains("not UTF-8"), "{item:#?}");
    }
    assert!(fatal_problems(&scratch.host(), 7).is_empty());
}

#[test]
fn nonsense_text_in_every_file_never_reads_as_fatal() {
    let nonsense = [
        "",
        "\n\n\n",
        "[[[ ]]] [",
        "-1",
        "99999999999999999999999999",
        "Max locked memory\nMax open files -\n",
        "CPU0\n 1: x y z\n",
        "0-4294967295",
        "isolcpus=,,, nohz_full=9-1",
    ];
    for text in nonsense {
        let scratch = Scratch::of("good-host");
        let mut files = Vec::new();
        every_file(scratch.dir.path(), &mut files);
        for file in &files {
            fs::write(file, text).unwrap();
        }
        let host = scratch.host();
        let report = check(&host, 7);
        assert_eq!(report.fatal, 0, "{text:?}: {report:#?}");
        assert!(fatal_problems(&host, 7).is_empty(), "{text:?}");
        assert_eq!(
            status_of(&report, "memlock_bytes"),
            Status::Unknown,
            "{text:?}"
        );
        assert_eq!(
            status_of(&report, "kernel_version"),
            Status::Unknown,
            "{text:?}"
        );
    }
}

#[test]
fn memlock_needs_half_a_mebibyte_per_shard_plus_one_mebibyte() {
    let needed_for_8_shards = 8 * 512 * 1024 + 1024 * 1024;
    let table = [
        (needed_for_8_shards.to_string(), Status::Ok),
        ((needed_for_8_shards - 1).to_string(), Status::Fatal),
        ("unlimited".to_string(), Status::Ok),
        ("0".to_string(), Status::Fatal),
    ];
    for (memlock, expected) in table {
        let scratch = Scratch::of("good-host");
        scratch.write("proc/self/limits", limits_with("1048576", &memlock));
        let report = check(&scratch.host(), 8);
        assert_eq!(status_of(&report, "memlock_bytes"), expected, "{memlock}");
    }
}

#[test]
fn memlock_below_need_passes_with_cap_ipc_lock() {
    let scratch = Scratch::of("bad-host");
    let status = fs::read_to_string(fixture("bad-host/proc/self/status")).unwrap();
    // Bit 14 is CAP_IPC_LOCK.
    scratch.write(
        "proc/self/status",
        status.replace("CapEff:\t0000000000000000", "CapEff:\t0000000000004000"),
    );
    let item = check(&scratch.host(), 4)
        .item("memlock_bytes")
        .unwrap()
        .clone();
    assert_eq!(item.status, Status::Ok);
    assert!(item.reason.contains("CAP_IPC_LOCK"), "{}", item.reason);
}

#[test]
fn open_files_is_fatal_below_4096_and_a_warning_below_1048576() {
    let table = [
        ("4095", Status::Fatal),
        ("4096", Status::Warn),
        ("1048575", Status::Warn),
        ("1048576", Status::Ok),
        ("unlimited", Status::Ok),
    ];
    for (open_files, expected) in table {
        let scratch = Scratch::of("good-host");
        scratch.write("proc/self/limits", limits_with(open_files, "unlimited"));
        let report = check(&scratch.host(), 7);
        assert_eq!(status_of(&report, "open_files"), expected, "{open_files}");
    }
}

#[test]
fn kernel_below_5_8_is_fatal_and_5_8_is_enough() {
    let table = [
        ("5.7.19\n", Status::Fatal),
        ("5.8.0\n", Status::Ok),
        ("5.15.0-1057-aws\n", Status::Ok),
        ("4.18.0-553.el8_10.x86_64\n", Status::Fatal),
    ];
    for (release, expected) in table {
        let scratch = Scratch::of("good-host");
        scratch.write("proc/sys/kernel/osrelease", release);
        let report = check(&scratch.host(), 7);
        assert_eq!(status_of(&report, "kernel_version"), expected, "{release}");
    }
}

#[test]
fn io_uring_disabled_levels_are_ok_warn_and_fatal() {
    let table = [
        ("0", Status::Ok),
        ("1", Status::Warn),
        ("2", Status::Fatal),
        ("3", Status::Unknown),
    ];
    for (value, expected) in table {
        let scratch = Scratch::of("good-host");
        scratch.write("proc/sys/kernel/io_uring_disabled", value);
        let report = check(&scratch.host(), 7);
        assert_eq!(status_of(&report, "io_uring_disabled"), expected, "{value}");
    }
}

#[test]
fn io_uring_disabled_absent_is_fine_before_6_6_and_unknown_after() {
    let scratch = Scratch::of("good-host");
    scratch
        .remove("proc/sys/kernel/io_uring_disabled")
        .write("proc/sys/kernel/osrelease", "5.15.0-1057-aws\n");
    let item = check(&scratch.host(), 7)
        .item("io_uring_disabled")
        .unwrap()
        .clone();
    assert_eq!((item.status, item.current.as_str()), (Status::Ok, "absent"));

    scratch.write("proc/sys/kernel/osrelease", "6.8.0-45-generic\n");
    let item = check(&scratch.host(), 7)
        .item("io_uring_disabled")
        .unwrap()
        .clone();
    assert_eq!(item.status, Status::Unknown);
    assert!(
        item.reason.contains("proc/sys/kernel/io_uring_disabled"),
        "{}",
        item.reason
    );
}

#[test]
fn shards_above_usable_cpus_less_one_warn() {
    let host = Host::snapshot(fixture("good-host"));
    assert_eq!(status_of(&check(&host, 7), "shards"), Status::Ok);
    assert_eq!(status_of(&check(&host, 8), "shards"), Status::Warn);
}

#[test]
fn more_shards_than_isolated_cpus_warns() {
    let host = Host::snapshot(fixture("good-host"));
    // Seven of the usable CPUs 0-7 are isolated; eight shards cannot all be on them.
    let item = check(&host, 8).item("isolcpus").unwrap().clone();
    assert_eq!(item.status, Status::Warn);
    assert!(
        item.reason.contains("8 shards but 7 isolated"),
        "{}",
        item.reason
    );
}

#[test]
fn nohz_full_different_from_isolcpus_warns() {
    let scratch = Scratch::of("good-host");
    scratch.write(
        "proc/cmdline",
        "ro isolcpus=managed_irq,domain,1-7 nohz_full=2-7\n",
    );
    assert_eq!(
        status_of(&check(&scratch.host(), 7), "nohz_full"),
        Status::Warn
    );
}

#[test]
fn nic_interrupts_on_an_isolated_cpu_warn_and_name_it() {
    let scratch = Scratch::of("good-host");
    scratch.write(
        "proc/interrupts",
        "           CPU0       CPU1       CPU2\n\
         120:        10          0         99  IR-PCI-MSI 0-edge      ens1f0-TxRx-0\n",
    );
    let item = check(&scratch.host(), 7).item("nic_irqs").unwrap().clone();
    assert_eq!(item.status, Status::Warn);
    assert!(item.reason.contains("isolated CPUs 2"), "{}", item.reason);
}

#[test]
fn no_interrupts_file_means_no_nic_item() {
    let scratch = Scratch::of("good-host");
    scratch.remove("proc/interrupts");
    assert!(check(&scratch.host(), 7).item("nic_irqs").is_none());
}

#[test]
fn json_report_has_every_field_and_the_fatal_count() {
    let report = check(&Host::snapshot(fixture("bad-host")), 4);
    let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(json["fatal"], 4);
    assert_eq!(json["shards"], 4);
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), report.items.len());
    let memlock = items
        .iter()
        .find(|item| item["name"] == "memlock_bytes")
        .unwrap();
    assert_eq!(memlock["status"], "FATAL");
    assert_eq!(memlock["current"], "65536 (64 KiB)");
    for item in items {
        for field in ["name", "current", "recommended", "status", "reason", "fix"] {
            assert!(item[field].is_string(), "{field} in {item}");
        }
    }
}

#[test]
fn table_lists_each_item_with_its_status_and_the_fixes() {
    let table = check(&Host::snapshot(fixture("bad-host")), 4).table();
    let swappiness_row = table
        .lines()
        .find(|line| line.starts_with("swappiness "))
        .unwrap();
    let columns: Vec<&str> = swappiness_row.split_whitespace().take(4).collect();
    assert_eq!(columns, ["swappiness", "60", "<=", "10"]);
    assert!(swappiness_row.contains(" warn "), "{swappiness_row}");
    assert!(
        table.contains("FATAL memlock_bytes: LimitMEMLOCK=3M"),
        "{table}"
    );
    assert!(
        table.contains("3 ok, 13 warn, 4 FATAL, 1 unknown"),
        "{table}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn live_host_is_probed_for_io_uring_and_snapshots_are_not() {
    let live = check(&Host::live(), 1);
    assert!(live.item("io_uring_setup").is_some());
    assert!(Host::snapshot(fixture("good-host"))
        .io_uring_probe()
        .is_none());
}
