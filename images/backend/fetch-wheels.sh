#!/usr/bin/env bash
# Fill ./wheelhouse with the wheels that uv.lock names, for this machine's platform.
#
# uv.lock points at this local wheelhouse instead of a package index, so that the repository
# carries no registry address. The wheels come from the machine's own pip configuration
# (index, proxy, CA bundle) and are checked against the sha256 hashes in requirements-dev.txt
# (or requirements.txt with --runtime), which pin the exact versions in uv.lock.
#
#   ./fetch-wheels.sh [--runtime] [--python PYTHON]
#   then: uv sync --frozen --offline [--no-dev]
set -euo pipefail
cd "$(dirname "$0")"

reqs=requirements-dev.txt
python=${PYTHON:-python3}
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime) reqs=requirements.txt ;;
    --python) python=$2; shift ;;
    *) echo "fetch-wheels.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

mkdir -p wheelhouse
"$python" -m pip download --quiet --disable-pip-version-check \
  --only-binary=:all: --no-deps --require-hashes \
  --dest wheelhouse -r "$reqs"
echo "fetch-wheels.sh: $(find wheelhouse -name '*.whl' | wc -l) wheels in $(pwd)/wheelhouse" >&2
