//! `mqbroker`: starts the broker (see the crate docs for what exists today).

fn main() -> std::process::ExitCode {
    eprintln!("{}", shardmq_broker::NOT_YET);
    std::process::ExitCode::from(2)
}
