#!/usr/bin/env bash
# Deploy latency benchmark against the fake API server: prints the time from the last pod
# turning ready to `deploy` returning (target <= 250 ms) and from a pod entering
# CrashLoopBackOff / ImagePullBackOff to the failure being reported (target <= 2 s).
# Figures only; nothing is asserted about time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --test kube_bench -- --ignored --nocapture 2>&1 | grep -E ' ms |test result'
