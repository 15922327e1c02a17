#!/usr/bin/env bash
# Benchmark: whole-process time of `kubectl-justpush render` (bundled chart, default values),
# and of Kong's official chart for comparison. Prints figures; asserts nothing (targets are
# read by people: under 20 ms for the bundled chart).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
BIN=target/release/kubectl-justpush
KONG=${JUSTPUSH_KONG_DIR:-../shared/kong}/chart-kong-3.4.1
RUNS=${RUNS:-30}

measure() { # label, command...
  local label=$1; shift
  "$@" >/dev/null # warm the page cache
  local t0 t1 best=999999999 total=0 ns
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    ns=$((t1 - t0)); total=$((total + ns)); [ "$ns" -lt "$best" ] && best=$ns
  done
  printf '%-44s mean %6.1f ms   best %6.1f ms   (%d runs)\n' "$label" \
    "$(echo "$total / $RUNS / 1000000" | bc -l)" "$(echo "$best / 1000000" | bc -l)" "$RUNS"
}

measure "render bundled chart (defaults)" "$BIN" render
measure "render bundled chart (database on)" "$BIN" render -f chart/ci/database-values.yaml
if [ -d "$KONG" ]; then
  measure "render Kong chart 3.4.1 (defaults)" "$BIN" render "$KONG" --name kong -n kong
fi
echo "target: bundled chart under 20 ms per whole process"
