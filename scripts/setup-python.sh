#!/usr/bin/env bash
# Creates the repository's Python test environment (.venv at the repo root) from
# requirements-test.txt, or refreshes it when the requirements or the interpreter changed.
#
# Idempotent: a stamp (sha256 of requirements-test.txt and the interpreter version) is written
# after a successful install; when it matches, nothing is done. Packages come from the machine's
# pip configuration (pip.conf, PIP_INDEX_URL, PIP_CERT, ...): no index host is named here.
#
# Environment: PYTHON (interpreter, default python3), JUSTPUSH_VENV (default <repo>/.venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${JUSTPUSH_VENV:-$ROOT/.venv}"
REQUIREMENTS="$ROOT/requirements-test.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { printf 'setup-python: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root to run: $*"
    return 1
  fi
}

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install $* automatically (no apt-get); install it and re-run"
    return 1
  fi
  log "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  apt_install python3 python3-venv
fi

want="$( { sha256sum < "$REQUIREMENTS"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "up to date: $VENV"
  exit 0
fi

# Rebuild from scratch so packages dropped from the requirements do not linger.
rm -rf "$VENV"
if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
  # Debian splits venv/ensurepip into python3-venv.
  rm -rf "$VENV"
  apt_install python3-venv
  "$PYTHON" -m venv "$VENV"
fi

log "installing $(grep -cE '^[A-Za-z]' "$REQUIREMENTS") pinned packages into $VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$REQUIREMENTS"
"$VENV/bin/python" -m pip check >&2
printf '%s\n' "$want" > "$STAMP"
log "ready: $VENV/bin/python -m pytest tests/chart"
