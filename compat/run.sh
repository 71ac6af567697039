#!/usr/bin/env bash
# Compatibility tests with RocketMQ's own C++ client (PyPI `rocketmq` 0.4.4, whose wheel
# bundles librocketmq): builds mqbroker, makes a virtualenv with the client, starts the broker
# standalone on loopback ports with a fresh data dir, runs compat/test_rocketmq_cpp.py.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
venv="${SHARDMQ_COMPAT_VENV:-$root/target/compat-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import rocketmq.client' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'rocketmq==0.4.4'
fi
cargo build --quiet -p shardmq-broker --bin mqbroker
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listen=$(free_port); namesrv=$(free_port)
shard_base=$(python3 -c '
import socket
while True:
    s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close()
    try:
        t=[socket.socket() for _ in range(2)]; [x.bind(("127.0.0.1",p+i)) for i,x in enumerate(t)]; [x.close() for x in t]; print(p); break
    except OSError: pass')
# Short delay levels (level n = n x 100 ms up to 1 s) so the retry and delay cases run in
# seconds; the rules are RocketMQ's, only the times are shorter.
printf 'messageDelayLevel=100ms 200ms 300ms 400ms 500ms 600ms 700ms 800ms 900ms 1s 1s 1s 1s 1s 1s 1s 1s 1s\nmappedFileSizeCommitLog=67108864\n' > "$work/broker.conf"
"$root/target/debug/mqbroker" --listen "127.0.0.1:$listen" --shard-port-base "$shard_base" \
  --namesrv-listen "127.0.0.1:$namesrv" --data "$work/data" --shards 2 \
  --config "$work/broker.conf" > "$work/broker.log" 2>&1 &
broker=$!
# The broker preallocates a commit-log segment per shard (64 MiB here): remove the work dir
# (data, logs) on exit; failures print the logs first.
cleanup() {
  kill -TERM "$broker" 2>/dev/null || true
  wait "$broker" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 50); do
  grep -q "registered with the name server" "$work/broker.log" && break
  sleep 0.1
done
# The C++ client writes its logs under $HOME/logs.
export HOME="$work/home"
mkdir -p "$HOME"
run_suite() {
  set +e
  SHARDMQ_NAMESRV="127.0.0.1:$namesrv" "$venv/bin/python" "$root/compat/test_rocketmq_cpp.py" \
    2>&1 | tee "$work/suite.log"
  status=${PIPESTATUS[0]}
  set -e
}
run_suite
# librocketmq 1.0.1 sometimes aborts its own process ("terminate called after throwing an
# instance of 'boost::thread_interrupted'", seen once in eight runs here, during the first
# case): a crash inside the client's own threads, not a failed assertion. Rerun the suite once
# then, saying so; any other failure, or the same abort twice, fails.
if [ "$status" -eq 134 ] && grep -q "boost::thread_interrupted" "$work/suite.log"; then
  echo "--- the C++ client aborted (boost::thread_interrupted in librocketmq); rerunning the suite once"
  run_suite
fi
if [ "$status" -ne 0 ]; then
  echo "--- broker log (last 40 lines)"; tail -n 40 "$work/broker.log"
  echo "--- C++ client log (errors)"; grep -hiE "error|exception" "$HOME"/logs/rocketmq-cpp/* 2>/dev/null | tail -n 40 || true
fi
exit "$status"
