//! `mqnamesrv`: starts the name server (see the crate docs for what exists today).

fn main() -> std::process::ExitCode {
    eprintln!("{}", shardmq_namesrv::NOT_YET);
    std::process::ExitCode::from(2)
}
