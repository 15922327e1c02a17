#!/usr/bin/env bash
# Test the bundled demo stack (images/backend + images/frontend) that `kubectl justpush up --demo`
# deploys. Idempotent; runs on a fresh Debian machine as root and installs what it needs:
#   - python3 + venv (apt, if missing), uv in .cache/uv-venv, the backend's locked dependencies
#     (wheels checked against requirements-dev.txt, then `uv sync --frozen --offline`);
#   - PostgreSQL (apt package `postgresql`, if missing and installable), started on 127.0.0.1 for
#     the real-Postgres tests, stopped on exit; JUSTPUSH_TEST_POSTGRES=0 skips it;
#   - nodejs + npm (apt, if missing), then `npm ci` for the frontend.
# Then: backend pytest, frontend `npm test` and `npm run build`. Exits non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache"
BACKEND="$ROOT/images/backend"
FRONTEND="$ROOT/images/frontend"
UV_VERSION=0.13.9

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'test-demo.sh: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" = 0 ] || return 1
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

started=$(date +%s)
mkdir -p "$CACHE"

# ---------------------------------------------------------------------------------------------
log "backend: toolchain"
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  PYTHON=$(command -v python3 || true)
fi
if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  apt_install python3 python3-venv python3-pip ca-certificates || die "python3 (>= 3.11) with venv is needed"
  PYTHON=/usr/bin/python3
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 >= 3.11 is needed ($PYTHON is older)"
PYTHON=$("$PYTHON" -c 'import sys; print(sys.executable)')

UV_VENV="$CACHE/uv-venv"
if ! "$UV_VENV/bin/uv" --version 2>/dev/null | grep -q " $UV_VERSION"; then
  [ -x "$UV_VENV/bin/python" ] || "$PYTHON" -m venv "$UV_VENV"
  "$UV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
UV="$UV_VENV/bin/uv"
echo "using $("$UV" --version), $("$PYTHON" --version) at $PYTHON" >&2

export UV_CACHE_DIR="$CACHE/uv-cache"
export UV_PROJECT_ENVIRONMENT="$CACHE/backend-venv"
export UV_PYTHON="$PYTHON"
export UV_PYTHON_DOWNLOADS=never
export UV_NO_PROGRESS=1

log "backend: lockfiles carry no registry address"
if grep -En 'https?://' "$BACKEND/uv.lock" "$BACKEND/requirements.txt" "$BACKEND/requirements-dev.txt"; then
  die "an index URL is written in images/backend's lock or requirements files (run images/backend/relock.sh)"
fi

log "backend: dependencies (uv sync --frozen --offline from images/backend/wheelhouse)"
cd "$BACKEND"
if ! "$UV" sync --frozen --offline --quiet 2>/dev/null; then
  PYTHON="$UV_VENV/bin/python" ./fetch-wheels.sh
  "$UV" sync --frozen --offline --quiet
fi
"$UV" lock --check --offline --quiet || die "images/backend/uv.lock does not match pyproject.toml (run images/backend/relock.sh)"

# ---------------------------------------------------------------------------------------------
PG_DIR=""
PG_BIN=""
cleanup() {
  if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
  return 0
}
trap cleanup EXIT

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  return 1
}

start_postgres() {
  PG_BIN=$(find_pg_bin) || { apt_install postgresql >/dev/null && PG_BIN=$(find_pg_bin); } || {
    echo "PostgreSQL is not installed and could not be installed: the real-Postgres tests will be skipped" >&2
    return 1
  }
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "no 'postgres' user to run the server as: the real-Postgres tests will be skipped" >&2
    return 1
  fi
  PG_DIR=$(mktemp -d /tmp/justpush-demo-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
  local port
  port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c full_page_writes=off" start >/dev/null \
    || { cat "$PG_DIR/server.log" >&2; return 1; }
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres justpush_demo_test
  export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/justpush_demo_test"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
}

if [ "${JUSTPUSH_TEST_POSTGRES:-1}" != 0 ]; then
  log "backend: PostgreSQL on loopback for the real-database tests"
  start_postgres || unset TEST_DATABASE_URL
else
  echo "JUSTPUSH_TEST_POSTGRES=0: the real-Postgres tests will be skipped" >&2
fi

log "backend: pytest"
# Keep the developer's own settings out of the tests.
env -u DATABASE_URL -u OPENAI_API_KEY -u GEMINI_API_KEY -u LLM_PROVIDER -u SQLITE_PATH -u PORT \
  "$UV_PROJECT_ENVIRONMENT/bin/python" -m pytest -p no:cacheprovider

# ---------------------------------------------------------------------------------------------
log "frontend: toolchain"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm ca-certificates || die "node >= 18.18 and npm are needed"
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a===18&&b>=18)?0:1)' \
  || die "node >= 18.18 is needed for Next.js 15 (found $(node --version))"
echo "using node $(node --version), npm $(npm --version 2>/dev/null)" >&2

cd "$FRONTEND"
log "frontend: package-lock.json carries no registry address"
resolved=$(grep -c '"resolved"' package-lock.json || true)
[ "$resolved" = 0 ] || die "package-lock.json has $resolved 'resolved' URLs (images/frontend/.npmrc sets omit-lockfile-registry-resolved)"

log "frontend: npm ci"
npm ci --no-audit --no-fund --loglevel=error

log "frontend: npm test"
npm test

log "frontend: npm run build"
build_start=$(date +%s)
npm run build 2>&1 | tee "$CACHE/frontend-build.log" | { grep -v 'Unknown \(user\|env\) config' || true; }
build_secs=$(( $(date +%s) - build_start ))
[ -f .next/standalone/server.js ] || die "next build did not produce .next/standalone/server.js"
echo "build: ${build_secs}s; standalone $(du -sh .next/standalone | cut -f1), static $(du -sh .next/static | cut -f1)" >&2
grep -E 'First Load JS shared by all' "$CACHE/frontend-build.log" >&2 || true

log "demo stack OK in $(( $(date +%s) - started ))s"
