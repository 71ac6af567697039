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
"$root/target/debug/mqbroker" --listen "127.0.0.1:$listen" --shard-port-base "$shard_base" \
  --namesrv-listen "127.0.0.1:$namesrv" --data "$work/data" --shards 2 > "$work/broker.log" 2>&1 &
broker=$!
cleanup() { kill -TERM "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 50); do
  grep -q "registered with the name server" "$work/broker.log" && break
  sleep 0.1
done
# The C++ client writes its logs under $HOME/logs.
export HOME="$work/home"
mkdir -p "$HOME"
status=0
SHARDMQ_NAMESRV="127.0.0.1:$namesrv" "$venv/bin/python" "$root/compat/test_rocketmq_cpp.py" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- broker log (last 40 lines)"; tail -n 40 "$work/broker.log"
  echo "--- C++ client log (errors)"; grep -hiE "error|exception" "$HOME"/logs/rocketmq-cpp/* 2>/dev/null | tail -n 40 || true
fi
exit "$status"
