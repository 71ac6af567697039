#!/usr/bin/env bash
# Reproduces the README's Performance table on one machine: a release build, then each run
# against a fresh broker (its own data directory under $RUN_DIR), broker and mqperf sharing
# the machine's cores. Writes <name>.json (mqperf's summary) and the plots into $OUT.
#   docs/perf/run.sh [OUT]         (OUT defaults to docs/perf/results)
#   ONLY=half docs/perf/run.sh     only the runs whose name matches; HALF=<msg/s> sets the
#                                  fixed rate of the paced runs; ONLY=rate runs the
#                                  latency-against-rate sweep
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-docs/perf/results}
RUN_DIR=${RUN_DIR:-$(mktemp -d)}
mkdir -p "$RUN_DIR"
mkdir -p "$OUT"
cargo build --release -p shardmq-broker -p shardmq-perf
BROKER=target/release/mqbroker
PERF=target/release/mqperf

# run NAME SHARDS "BROKER FLAGS" MQPERF-ARGS...
run() {
  local name=$1 shards=$2 flags=$3
  shift 3
  [[ $name =~ ${ONLY:-.} ]] || return 0
  local data="$RUN_DIR/$name"
  rm -rf "$data"
  # shellcheck disable=SC2086
  "$BROKER" --shards "$shards" --data "$data" $flags > "$RUN_DIR/$name.broker.log" 2>&1 &
  local pid=$!
  sleep 2
  echo "== $name (shards $shards, broker flags '$flags'): mqperf $*"
  "$PERF" "$@" --namesrv 127.0.0.1:9876 --json "$OUT/$name.json" | tail -4
  kill "$pid"
  wait "$pid" || true
  rm -rf "$data"
  sleep 1
}

# The configuration that reached the most (a sweep of producers x in-flight x threads).
MAX="--producers 2 --inflight 1536 --threads 2"
run async-1shard 1 "" produce --topic PerfA --duration 30s --warmup 2s $MAX
run async-2shards 2 "" produce --topic PerfA --duration 30s --warmup 2s $MAX
run sync-1shard 1 "--flush sync" produce --topic PerfS --duration 30s --warmup 2s $MAX
run sync-2shards 2 "--flush sync" produce --topic PerfS --duration 30s --warmup 2s $MAX
# Half the best async rate, fixed-rate (latency from each message's scheduled time).
HALF=${HALF:-320000}
PACED="--producers 2 --inflight 1536 --threads 2 --rate $HALF"
run half-2shards 2 "" produce --topic PerfH --duration 15s --warmup 2s $PACED --plot "$OUT/half-2shards.svg" --hgrm "$OUT/half-2shards.hgrm"
run e2e-half-2shards 2 "" e2e --topic PerfE --duration 15s --warmup 2s $PACED --plot "$OUT/e2e-half-2shards.svg"
run e2e-50k-1shard 1 "" e2e --topic PerfE --duration 15s --warmup 2s --producers 1 --threads 1 --rate 50000 --plot "$OUT/e2e-50k-1shard.svg"
# Latency against rate: one shard, one producer on one thread, fixed rates from low to
# high, to show where the tail comes from on this machine (see the README).
for r in 5000 20000 50000 100000 200000; do
  run "rate-${r}-1shard" 1 "" produce --topic PerfR --duration 15s --warmup 2s --producers 1 --threads 1 --rate "$r"
done
