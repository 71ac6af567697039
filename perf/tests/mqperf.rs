//! `mqperf` as a user runs it: the binary against a real broker on 127.0.0.1, its summary,
//! JSON, .hgrm and SVG outputs, and its errors for bad flags.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use shardmq_broker::loopback::free_port;
use shardmq_broker::Broker;

/// A standalone broker with 2 shards; returns it and its name server address.
fn broker(dir: &Path) -> (Broker, SocketAddr) {
    let b = shardmq_broker::loopback::start(dir, 2).expect("start a broker on loopback");
    (b.broker, b.namesrv)
}

fn mqperf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mqperf"))
        .args(args)
        .output()
        .expect("run mqperf")
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn assert_percentiles_ordered(p: &serde_json::Value) {
    let keys = ["p50", "p90", "p99", "p999", "max"];
    let values: Vec<u64> = keys
        .iter()
        .map(|k| {
            p[*k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} missing in {p}"))
        })
        .collect();
    assert!(values[0] > 0, "p50 is zero: {p}");
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "not ordered: {p}");
}

#[test]
fn e2e_run_sends_and_consumes_without_errors_and_writes_all_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(&dir.path().join("data"));
    let (json, hgrm, svg) = (
        dir.path().join("s.json"),
        dir.path().join("s.hgrm"),
        dir.path().join("s.svg"),
    );
    let ns = ns.to_string();
    let out = mqperf(&[
        "e2e",
        "--namesrv",
        &ns,
        "--topic",
        "PerfE2e",
        "--duration",
        "2s",
        "--warmup",
        "500ms",
        "--producers",
        "2",
        "--inflight",
        "32",
        "--json",
        json.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mqperf failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&json);
    assert_eq!(s["command"], "e2e");
    let sent = s["messages"].as_u64().unwrap();
    assert!(sent > 100, "only {sent} messages measured: {s}");
    assert_eq!(s["errors"], serde_json::json!({}), "send errors: {s}");
    assert!(s["rate_per_s"].as_f64().unwrap() > 0.0);
    assert_percentiles_ordered(&s["latency_us"]);
    assert_percentiles_ordered(&s["e2e_latency_us"]);
    assert!(stdout.contains("consumed "), "no consumed count: {stdout}");
    let hgrm = std::fs::read_to_string(&hgrm).unwrap();
    assert!(
        hgrm.contains("Value") && hgrm.contains("Percentile"),
        "{hgrm}"
    );
    assert!(hgrm.lines().count() > 10, "hgrm too short: {hgrm}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("polyline"),
        "not a plot"
    );
    drop(broker);
}

#[test]
fn sync_and_oneway_modes_measure_sends_against_a_broker() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(&dir.path().join("data"));
    let ns = ns.to_string();
    for mode in ["sync", "oneway"] {
        let json = dir.path().join(format!("{mode}.json"));
        let out = mqperf(&[
            "produce",
            "--namesrv",
            &ns,
            "--topic",
            "PerfModes",
            "--mode",
            mode,
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--producers",
            "2",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = summary(&json);
        assert!(s["messages"].as_u64().unwrap() > 10, "{mode}: {s}");
        assert_eq!(s["errors"], serde_json::json!({}), "{mode}: {s}");
    }
    drop(broker);
}

#[test]
fn unreachable_name_server_is_a_clear_failure_not_a_hang() {
    let port = free_port().unwrap(); // bound then released: nobody listens there
    let ns = format!("127.0.0.1:{port}");
    let start = std::time::Instant::now();
    let out = mqperf(&[
        "produce",
        "--namesrv",
        &ns,
        "--topic",
        "T",
        "--duration",
        "1s",
        "--warmup",
        "0s",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded with no name server");
    assert!(stderr.contains("mqperf:"), "no error line: {stderr}");
    assert!(start.elapsed() < Duration::from_secs(30), "took too long");
}

#[test]
fn bad_duration_flag_names_the_value_and_the_units() {
    let out = mqperf(&[
        "produce",
        "--namesrv",
        "127.0.0.1:1",
        "--topic",
        "T",
        "--duration",
        "5 parsecs",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("5 parsecs"), "{stderr}");
}

#[test]
fn fixed_rate_run_holds_its_rate_and_counts_each_reply_when_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(&dir.path().join("data"));
    let json = dir.path().join("rate.json");
    let ns = ns.to_string();
    // 1000/s with a 256-deep window: were replies only counted when the window filled, every
    // latency would read about 256 ms.
    let out = mqperf(&[
        "produce",
        "--namesrv",
        &ns,
        "--topic",
        "PerfRate",
        "--rate",
        "1000",
        "--producers",
        "1",
        "--threads",
        "1",
        "--inflight",
        "256",
        "--duration",
        "2s",
        "--warmup",
        "500ms",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&json);
    let rate = s["rate_per_s"].as_f64().unwrap();
    assert!(
        (800.0..=1200.0).contains(&rate),
        "rate {rate}/s, asked 1000: {s}"
    );
    let p50_us = s["latency_us"]["p50"].as_u64().unwrap();
    assert!(p50_us < 50_000, "p50 {p50_us} us at 1000/s: {s}");
    drop(broker);
}

#[test]
fn ctrl_c_ends_a_long_run_with_the_summary_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(&dir.path().join("data"));
    let json = dir.path().join("interrupted.json");
    let child = Command::new(env!("CARGO_BIN_EXE_mqperf"))
        .args([
            "produce",
            "--namesrv",
            &ns.to_string(),
            "--topic",
            "PerfInterrupted",
            "--duration",
            "10m",
            "--warmup",
            "0s",
            "--json",
            json.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let started = std::time::Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?} to stop",
        started.elapsed()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("--- produce:"), "no summary: {stdout}");
    let s = summary(&json);
    assert!(s["messages"].as_u64().unwrap() > 0, "{s}");
    let secs = s["duration_s"].as_f64().unwrap();
    assert!(secs < 60.0, "the summary covers {secs} s, not the time run");
    drop(broker);
}
