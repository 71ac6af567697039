//! `mqperf`: load generator and latency reporter for any RocketMQ-protocol broker
//! (single-message TPS, HdrHistogram tails). Not built yet: issue 6 lands it here.

fn main() -> std::process::ExitCode {
    eprintln!("mqperf: the load generator is not built yet (issue 6)");
    std::process::ExitCode::from(2)
}
