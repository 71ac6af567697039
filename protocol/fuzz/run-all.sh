#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 300) each, one after another, from the seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
for t in frame json_header binary_header stored_message batch_body; do
  mkdir -p "fuzz/corpus/$t"
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -max_len=4096 -print_final_stats=1 2>&1 | tail -n 12
done
