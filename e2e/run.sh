#!/usr/bin/env bash
# The real-cluster suite for `up` and `verify`: creates the kind cluster `justpush` with
# `kubectl justpush up --demo` (Kong installed from its chart, the demo stack built, pushed to
# the local registry and deployed), runs `kubectl justpush verify --suite all` through the
# gateway, then the deploy scenarios of e2e/kube_scenarios.rs against the same cluster.
# Logs, events and JUnit files go to $E2E_LOGS (default ./e2e-logs); the API key is never
# written there. The cluster is deleted at the end unless E2E_KEEP_CLUSTER=1.
#
# Needs: Docker, kind, kubectl, and either kubectl-justpush on PATH or cargo (it is then
# installed from this checkout). It creates and deletes a kind cluster, so it only runs with
# JUSTPUSH_E2E=1:
#
#   JUSTPUSH_E2E=1 bash e2e/run.sh
#
# Settings: E2E_LOGS, E2E_KEEP_CLUSTER=1, E2E_SKIP_SCENARIOS=1 (only up + verify),
# JUSTPUSH_BIN (a kubectl-justpush binary to use).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOGS=${E2E_LOGS:-$ROOT/e2e-logs}

die() { printf 'e2e/run.sh: %s\n' "$*" >&2; exit 2; }
step() { printf '\n==> %s\n' "$*" >&2; }

if [ "${JUSTPUSH_E2E:-}" != 1 ]; then
  die "this creates (and deletes) a kind cluster named justpush; set JUSTPUSH_E2E=1 to run it"
fi
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH (see e2e/README.md for how to install it)"
done
docker version >/dev/null 2>&1 || die "Docker does not answer; start it and run again"

mkdir -p "$LOGS"
PRIVATE=$(mktemp -d)
export JUSTPUSH_STATE_DIR="$LOGS/state"

if [ -n "${JUSTPUSH_BIN:-}" ]; then
  mkdir -p "$PRIVATE/bin"
  ln -sf "$JUSTPUSH_BIN" "$PRIVATE/bin/kubectl-justpush"
  export PATH="$PRIVATE/bin:$PATH"
elif ! command -v kubectl-justpush >/dev/null 2>&1; then
  command -v cargo >/dev/null 2>&1 || die "neither kubectl-justpush nor cargo is on PATH"
  step "installing kubectl-justpush from $ROOT"
  cargo install --path "$ROOT" --locked --root "$ROOT/.cache/e2e-install" || die "cargo install failed"
  export PATH="$ROOT/.cache/e2e-install/bin:$PATH"
fi
kubectl justpush --version >&2 || die "kubectl does not find the justpush plugin on PATH"

# The demo backend installs from a local wheelhouse (its uv.lock names no index).
if ! ls "$ROOT/images/backend/wheelhouse/"*.whl >/dev/null 2>&1; then
  step "fetching the demo backend's wheels"
  "$ROOT/images/backend/fetch-wheels.sh" --runtime || die "fetching the demo backend's wheels failed"
fi

failed=()
collect() {
  step "collecting logs into $LOGS"
  kubectl get all,ingress,kongplugins,kongconsumers -A -o wide >"$LOGS/objects.txt" 2>&1
  kubectl get events -A --sort-by=.lastTimestamp >"$LOGS/events.txt" 2>&1
  kubectl -n kong logs deploy/kong-kong --all-containers --prefix --tail=-1 >"$LOGS/kong.log" 2>&1
  kubectl -n demo logs -l app.kubernetes.io/instance=demo --all-containers --prefix --tail=-1 >"$LOGS/demo.log" 2>&1
  kind export logs "$LOGS/kind" --name justpush >/dev/null 2>&1
  if [ "${E2E_KEEP_CLUSTER:-}" != 1 ]; then
    kubectl justpush down --yes >&2
  fi
  rm -rf "$PRIVATE"
}
trap collect EXIT

step "kubectl justpush up --demo"
# stdout carries the API key: keep it out of the logs, print it redacted.
if kubectl justpush up --demo >"$PRIVATE/up.out" 2> >(tee "$LOGS/up.log" >&2); then
  key=$(sed -n 's/^  API key:  \([^ ]*\).*/\1/p' "$PRIVATE/up.out")
  [ -n "${GITHUB_ACTIONS:-}" ] && [ -n "$key" ] && echo "::add-mask::$key"
  sed 's/^\(  API key:  \)[^ ]*/\1<redacted>/' "$PRIVATE/up.out" | tee "$LOGS/up.out" >&2
else
  failed+=("up")
  sed 's/^\(  API key:  \)[^ ]*/\1<redacted>/' "$PRIVATE/up.out" >"$LOGS/up.out"
  echo "e2e/run.sh: up failed; see $LOGS/up.log" >&2
  exit 1
fi

step "kubectl justpush verify --suite all"
if ! kubectl justpush verify --suite all --junit "$LOGS/verify.xml" | tee "$LOGS/verify.txt"; then
  failed+=("verify")
fi

if [ "${E2E_SKIP_SCENARIOS:-}" != 1 ]; then
  step "deploy scenarios (e2e/kube_scenarios.rs) against the same cluster"
  command -v cargo >/dev/null 2>&1 || die "the deploy scenarios need cargo (or set E2E_SKIP_SCENARIOS=1)"
  if ! (cd "$ROOT" && JUSTPUSH_E2E_KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config} JUSTPUSH_E2E_CONTEXT=kind-justpush \
        cargo test --locked --test e2e_kube -- --ignored --test-threads 2) 2>&1 | tee "$LOGS/scenarios.log"; then
    failed+=("scenarios")
  fi
fi

echo
echo "e2e failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
