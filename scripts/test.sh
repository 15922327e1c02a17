#!/usr/bin/env bash
# The one test command (README, .ci/run): on a fresh Debian machine with the Rust toolchain it
# installs what the tests need (idempotently: the Python tools, Debian's chromium for the
# dashboard's browser test), checks formatting and lints (cargo fmt --check,
# cargo clippy --all-targets -D warnings; either failing stops the run), builds, and runs every tier:
#   1. cargo tests (pure units, snapshots, CLI against the real binary, bounded property tests
#      of the parsers), then the hostile-input campaign against the binary
#   2. chart checks against real Helm (helm-python-sdk), Kubernetes 1.30 schemas, Kong CRDs,
#      checkov, and renderer parity with Helm for our chart and Kong's official chart; shellcheck
#      of every shell script and the GitHub Actions schema for the e2e workflow (tests/lint)
#   3. the demo stack's own tests (backend pytest, frontend build and tests), when present
#   4. real Docker: engine, local registry, Debian bookworm base images, demo image builds,
#      runs, pushes and failures (scripts/test-docker.sh)
#   5. `up` end to end against the fake API server with real Docker and registry; verify suites
# Exit status is non-zero if any tier fails; a summary line ends the run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export CARGO_TERM_COLOR=never
failed=()
passed=()

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install the Rust toolchain (https://rustup.rs) and run again" >&2
  exit 1
fi

mkdir -p .cache
step "Python tools for chart checks"
bash scripts/setup-python.sh || { echo "error: python setup failed" >&2; exit 1; }

# Debian's chromium, for the dashboard's real-browser test (tests/dashboard_http.rs, tier 1).
step "Browser: Debian chromium"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }; then
      echo "error: installing chromium with apt failed" >&2
      exit 1
    fi
  else
    echo "error: chromium is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
fi
/usr/bin/chromium --version

# Formatting and lints gate everything else: a submission that is not fmt- and clippy-clean
# fails here, before any test runs.
step "Gate: cargo fmt --check and cargo clippy --all-targets -- -D warnings"
cargo fmt --check || { echo "error: cargo fmt --check failed: run cargo fmt" >&2; exit 1; }
cargo clippy --locked --all-targets -- -D warnings || {
  echo "error: clippy found warnings: fix them (cargo clippy --all-targets -- -D warnings)" >&2
  exit 1
}

# One debug build serves every tier: a release build would add minutes of compiling on CI's two
# cores for no test value (the benchmarks build their own release binary).
step "Build (the binary and every test target, with the features the tests unify)"
cargo test --locked --no-run || exit 1
export JUSTPUSH_BIN="$ROOT/target/debug/kubectl-justpush"
# Generated Dockerfiles are linted for real (the test fails if this binary is missing).
export HADOLINT="$ROOT/.venv/bin/hadolint"

step "Tier 1: cargo test"
if cargo test --locked --no-fail-fast 2>&1 | tee .cache/cargo-test.log; then passed+=("cargo"); else failed+=("cargo"); fi

# The hostile-input campaign (issue 9): about 250 bad and edge inputs against the binary, each
# classified; any panic, hang, crash, read outside the project, leak or wrong success fails it.
step "Tier 1b: hostile-input campaign (scripts/hostile-inputs.sh)"
if bash scripts/hostile-inputs.sh; then passed+=("hostile"); else failed+=("hostile"); fi

step "Tier 2: chart checks with real Helm, schemas, checkov, parity; shellcheck and the workflow schema"
if .venv/bin/python -m pytest -q tests/chart tests/lint; then passed+=("chart"); else failed+=("chart"); fi

if [ -x scripts/test-demo.sh ] || [ -f scripts/test-demo.sh ]; then
  step "Tier 3: demo stack"
  if bash scripts/test-demo.sh; then passed+=("demo"); else failed+=("demo"); fi
fi

if [ -f scripts/test-docker.sh ]; then
  step "Tier 4: real Docker (engine, registry, bookworm bases, image builds)"
  if bash scripts/test-docker.sh; then passed+=("docker"); else failed+=("docker"); fi
fi

if [ -f scripts/test-docker.sh ]; then
  # The whole pipeline (`up`) against the fake API server with real Docker builds and the real
  # registry, the registry-container wiring, and the verify suite against the demo backend's
  # image running as a container behind a test-owned gateway stand-in.
  step "Tier 5: pipeline and verify (fake API server, real Docker, real registry, real backend)"
  if bash scripts/test-docker.sh --prepare \
    && JUSTPUSH_TEST_REGISTRY=127.0.0.1:5000 cargo test --locked \
      --test cli_up --test up_fake_cluster --test pipeline_stages --test up_registry_docker --test verify_regression \
      -- --ignored --test-threads=1; then
    passed+=("pipeline")
  else
    failed+=("pipeline")
  fi
fi

echo
echo "suites passed: ${passed[*]:-none}"
echo "suites failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
