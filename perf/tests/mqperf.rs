//! `mqperf` as a user runs it: the binary against a real broker on 127.0.0.1, its summary,
//! JSON, .hgrm and SVG outputs, and its errors for bad flags.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use shardmq_broker::Broker;
use shardmq_testkit::free_port;

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
        assert_summary_fields(&s, "produce");
        assert!(s["messages"].as_u64().unwrap() > 10, "{mode}: {s}");
        assert_eq!(s["errors"], serde_json::json!({}), "{mode}: {s}");
        assert!(s.get("rate_asked_per_s").is_none(), "unpaced {mode}: {s}");
    }
    drop(broker);
}

#[test]
fn unreachable_name_server_is_a_clear_failure_before_the_run_not_a_hang() {
    let port = free_port(); // bound then released: nobody listens there
    let ns = format!("127.0.0.1:{port}");
    let asked = Duration::from_secs(600);
    let start = std::time::Instant::now();
    let out = mqperf(&[
        "produce",
        "--namesrv",
        &ns,
        "--topic",
        "T",
        "--duration",
        "10m",
        "--warmup",
        "0s",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded with no name server");
    assert!(stderr.contains("mqperf:"), "no error line: {stderr}");
    // It gives up instead of sending into the void for the 10 minutes asked.
    assert!(start.elapsed() < asked, "ran out its duration");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("--- produce:"),
        "a summary for a run that never sent"
    );
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
fn fixed_rate_run_sends_no_more_than_its_schedule_and_reports_the_rate_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(&dir.path().join("data"));
    let json = dir.path().join("rate.json");
    let ns = ns.to_string();
    let (rate, warmup_s, duration_s) = (1000u64, 0.5, 2.0);
    // One producer on one thread with a 256-deep window: unpaced, it would fill the window
    // at once and keep it full; paced, message n may not go before n / rate seconds.
    let out = mqperf(&[
        "produce",
        "--namesrv",
        &ns,
        "--topic",
        "PerfRate",
        "--rate",
        &rate.to_string(),
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
    assert_summary_fields(&s, "produce");
    assert_eq!(s["rate_asked_per_s"], rate, "{s}");
    assert_eq!(s["errors"], serde_json::json!({}), "send errors: {s}");
    let messages = s["messages"].as_u64().unwrap();
    assert!(messages > 0, "nothing measured: {s}");
    // However fast or slow the machine: the schedule starts after the clock does, so over
    // warm-up plus duration it holds at most rate x (warm-up + duration) slots, plus the
    // one at its start and the one the worker waited for across the deadline. Only sends
    // acknowledged after the warm-up are counted, so the count can only be lower.
    let schedule = (rate as f64 * (warmup_s + duration_s)) as u64 + 2;
    assert!(
        messages <= schedule,
        "{messages} messages acknowledged, the schedule allows {schedule}: {s}"
    );
    // The reported rate is what was counted over the time measured.
    let reported = s["rate_per_s"].as_f64().unwrap();
    let measured = messages as f64 / s["duration_s"].as_f64().unwrap();
    assert!((reported - measured).abs() <= 1e-6 * measured, "{s}");
    drop(broker);
}

/// The fields `--json` writes for every run, with values of the right kinds.
fn assert_summary_fields(s: &serde_json::Value, command: &str) {
    assert_eq!(s["command"], command, "{s}");
    assert!(s["messages"].is_u64(), "messages: {s}");
    assert!(s["errors"].is_object(), "errors: {s}");
    assert!(s["duration_s"].as_f64().unwrap() > 0.0, "duration_s: {s}");
    assert!(s["rate_per_s"].as_f64().unwrap() >= 0.0, "rate_per_s: {s}");
    assert_percentiles_ordered(&s["latency_us"]);
    assert!(s["latency_us"]["p9999"].is_u64(), "p9999: {s}");
}

#[test]
fn ctrl_c_ends_a_long_run_with_the_summary_so_far() {
    use std::io::{BufRead, BufReader, Read};

    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(&dir.path().join("data"));
    let json = dir.path().join("interrupted.json");
    let asked = Duration::from_secs(600);
    let spawned = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqperf"))
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
    // Interrupt once a per-second line has counted sends, however long that took to come.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = stdout.read_line(&mut line).unwrap();
        assert!(read > 0, "mqperf ended before it was interrupted: {seen}");
        seen.push_str(&line);
        let counted = line
            .split_once("produce:")
            .and_then(|(_, rest)| rest.trim_start().split_once("/s"))
            .and_then(|(count, _)| count.trim().parse::<u64>().ok());
        if counted.is_some_and(|count| count > 0) {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    stdout.read_to_string(&mut seen).unwrap();
    let out = child.wait_with_output().unwrap();
    let ran = spawned.elapsed();
    assert!(ran < asked, "ran out its {asked:?} instead of stopping");
    assert!(
        out.status.success(),
        "{seen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(seen.contains("--- produce:"), "no summary: {seen}");
    let s = summary(&json);
    assert_summary_fields(&s, "produce");
    assert!(s["messages"].as_u64().unwrap() > 0, "{s}");
    // The summary covers the time measured, which lies within the time the process ran,
    // not the 10 minutes asked.
    let secs = s["duration_s"].as_f64().unwrap();
    assert!(
        secs <= ran.as_secs_f64(),
        "the summary covers {secs} s, the process ran {ran:?}"
    );
    drop(broker);
}

/// An e2e run of scheduled messages against `ns`: 200 msg/s for 1 s with `flags`; its JSON.
fn scheduled_e2e(dir: &Path, ns: SocketAddr, topic: &str, flags: &[&str]) -> serde_json::Value {
    let json = dir.join(format!("{topic}.json"));
    let ns = ns.to_string();
    let mut args = vec![
        "e2e",
        "--namesrv",
        &ns,
        "--topic",
        topic,
        "--rate",
        "200",
        "--producers",
        "1",
        "--threads",
        "1",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    let out = mqperf(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mqperf failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("delivery lateness us: p50"), "{stdout}");
    summary(&json)
}

/// What every scheduled run must show: sends without errors, lateness reported like a
/// latency, nothing early, and end-to-end latencies that include the delay.
fn assert_scheduled_summary(s: &serde_json::Value, delay: Duration) {
    assert_eq!(s["errors"], serde_json::json!({}), "send errors: {s}");
    assert_percentiles_ordered(&s["delivery_lateness_us"]);
    let delivered = s["scheduled_delivered"].as_u64().unwrap();
    assert!(
        delivered > 50,
        "only {delivered} scheduled messages came: {s}"
    );
    assert_eq!(s["delivered_early"], 0, "{s}");
    let e2e_p50 = s["e2e_latency_us"]["p50"].as_u64().unwrap();
    assert!(
        e2e_p50 >= delay.as_micros() as u64,
        "end-to-end p50 {e2e_p50} us is below the {delay:?} delay: {s}"
    );
}

#[test]
fn e2e_with_deliver_after_reports_delivery_lateness_and_nothing_early() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ns) = broker(&dir.path().join("data"));
    let s = scheduled_e2e(dir.path(), ns, "PerfTimer", &["--deliver-after", "1s"]);
    assert_scheduled_summary(&s, Duration::from_secs(1));
    drop(broker);
}

#[test]
fn e2e_with_a_delay_level_reports_delivery_lateness_against_the_levels_given() {
    let dir = tempfile::tempdir().unwrap();
    let levels = "300ms 600ms";
    let b = shardmq_broker::loopback::start_with_conf(
        &dir.path().join("data"),
        2,
        &format!("messageDelayLevel={levels}\n"),
    )
    .expect("start a broker on loopback");
    let s = scheduled_e2e(
        dir.path(),
        b.namesrv,
        "PerfLevel",
        &["--delay-level", "2", "--delay-levels", levels],
    );
    assert_scheduled_summary(&s, Duration::from_millis(600));
    drop(b.broker);
}

#[test]
fn scheduled_sends_refuse_bodies_too_small_for_the_due_time_and_conflicting_flags() {
    let base = ["produce", "--namesrv", "127.0.0.1:1", "--topic", "T"];
    let out = mqperf(&[&base[..], &["--size", "12", "--deliver-after", "1s"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--size 12") && stderr.contains("20"),
        "{stderr}"
    );
    let out = mqperf(&[&base[..], &["--delay-level", "2", "--deliver-after", "1s"]].concat());
    assert!(!out.status.success());
    let out = mqperf(&[&base[..], &["--delay-level", "0"]].concat());
    assert!(!out.status.success());
}
