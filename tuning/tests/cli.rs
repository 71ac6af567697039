//! The `mqtune` binary: flags, output and exit status against the fixture hosts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn mqtune(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mqtune"))
        .args(arguments)
        .output()
        .unwrap()
}

#[test]
fn bad_host_exits_1_and_json_counts_its_fatal_items() {
    let root = fixture("bad-host");
    let output = mqtune(&[
        "--check",
        "--json",
        "--root",
        root.to_str().unwrap(),
        "--shards",
        "4",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["fatal"], 4);
    assert_eq!(json["shards"], 4);
}

#[test]
fn good_host_exits_0_with_a_table_and_default_shards() {
    let root = format!("--root={}", fixture("good-host").display());
    let output = mqtune(&[&root]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains(", 7 shards"), "{stdout}");
    assert!(
        stdout.lines().any(|line| line.starts_with("ITEM ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("21 ok, 0 warn, 0 FATAL, 0 unknown"),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for arguments in [&["--shards", "0"][..], &["--shards"], &["--frobnicate"]] {
        let output = mqtune(arguments);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}");
        assert!(!output.stderr.is_empty(), "{arguments:?}");
    }
}

#[test]
fn help_exits_0_and_describes_every_flag_and_the_exit_statuses() {
    for flag in ["--help", "-h"] {
        let output = mqtune(&[flag]);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        for described in [
            "--check",
            "--json",
            "--root <DIR>",
            "--shards <N>",
            "Exit status",
        ] {
            assert!(stdout.contains(described), "{flag}: {described}: {stdout}");
        }
    }
}

#[test]
fn repeated_flags_and_inline_values_keep_the_last_value() {
    let good = format!("--root={}", fixture("good-host").display());
    let bad = fixture("bad-host");
    let output = mqtune(&[
        "--check",
        "--check",
        "--json",
        "--root",
        bad.to_str().unwrap(),
        &good,
        "--shards=2",
        "--shards",
        "3",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["fatal"], 0);
    assert_eq!(json["shards"], 3);
}
