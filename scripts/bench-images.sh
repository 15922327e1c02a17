#!/usr/bin/env bash
# Image benchmark on the demo stack, kubectl-justpush build beside `docker build` on the same
# generated Dockerfile, same context, same Debian bookworm bases and CA bundle:
#   size of each image, each image's own cold build (--no-cache, one at a time), the cold build
#   of both in parallel, no-change rebuild, and the rebuild after a one-line source change.
#   A benchmark, not a test: it prints the figures, then checks the size targets (backend
#   <= 180 MB, frontend <= 230 MB) and exits 1 if an image of either side is over (the
#   no-change rebuild target, 2 s, is printed beside its figure only).
# The docker CLI is used here only, as the reference. Works on copies of images/backend and
# images/frontend in a temporary directory; the two sides use separate copies and different
# one-line edits, so neither can reuse the other's layers for the changed step.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CA=/etc/ssl/certs/ca-certificates.crt
PY=justpush-ci/python:bookworm
PY_RUNTIME=justpush-ci/python-runtime:bookworm
NODE_BUILD=justpush-ci/node-build:bookworm
NODE=justpush-ci/node:bookworm

bash "$ROOT/scripts/test-docker.sh" --prepare >/dev/null 2>"${TMPDIR:-/tmp}/bench-images-prepare.log" || {
  cat "${TMPDIR:-/tmp}/bench-images-prepare.log" >&2
  exit 1
}

BIN=${JUSTPUSH_BIN:-}
if [ -z "$BIN" ]; then
  (cd "$ROOT" && cargo build --quiet --bin kubectl-justpush)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/kubectl-justpush"
fi

WORK=$(mktemp -d /tmp/justpush-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
copy_demo() { # DEST
  mkdir -p "$1"
  for c in backend frontend; do
    mkdir -p "$1/$c"
    tar -C "$ROOT/images/$c" --exclude=node_modules --exclude=.next --exclude=.venv \
      --exclude=.justpush --exclude=__pycache__ -c . | tar -C "$1/$c" -x
  done
}
copy_demo "$WORK/jp"
copy_demo "$WORK/dk"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

jp_build() { # extra flags...
  "$BIN" build "$WORK/jp" --base-image "python.builder=$PY" --base-image "python.runtime=$PY_RUNTIME" \
    --base-image "node.builder=$NODE_BUILD" --base-image "node.runtime=$NODE" --ca-bundle "$CA" \
    -o json "$@" 2>"$WORK/jp.err" >"$WORK/jp.json" || {
    cat "$WORK/jp.err" >&2
    exit 1
  }
}
jp_image() { # COMPONENT
  python3 -c 'import json,sys; print([i["image"] for i in json.load(open(sys.argv[1]))["images"] if i["component"]==sys.argv[2]][0])' "$WORK/jp.json" "$1"
}
dk_prepare() { # the Dockerfiles justpush generated and the CA bundle, in each docker context
  # The Dockerfile goes inside the context and into .dockerignore, as justpush sends it: a -f
  # outside the context makes the CLI add it under a random name, which `COPY . .` would copy
  # and so miss the layer cache on every build.
  for c in backend frontend; do
    cp "$WORK/jp/.justpush/logs/build-$c.Dockerfile" "$WORK/dk/$c/.justpush.Dockerfile"
    cp "$CA" "$WORK/dk/$c/.justpush-ca.crt"
    printf '\n.justpush.Dockerfile\n.dockerignore\n' >>"$WORK/dk/$c/.dockerignore"
  done
}
dk_build() { # COMPONENT extra flags...
  local c=$1
  shift
  local builder=$PY runtime=$PY_RUNTIME
  if [ "$c" = frontend ]; then builder=$NODE_BUILD runtime=$NODE; fi
  docker build -q -f "$WORK/dk/$c/.justpush.Dockerfile" -t "justpush-bench/$c:docker" \
    --build-arg "BUILDER_IMAGE=$builder" --build-arg "RUNTIME_IMAGE=$runtime" "$@" "$WORK/dk/$c" >/dev/null
}
dk_both() { # extra flags...
  dk_build backend "$@" & local a=$!
  dk_build frontend "$@" & local b=$!
  wait $a && wait $b
}
size_of() { docker image inspect --format '{{.Size}}' "$1"; }

echo "== cold builds (--no-cache), one component at a time" >&2
# Alone, each build has both cores: the per-image figure is not skewed by the other build.
t0=$(now); jp_build --no-cache --component backend; t1=$(now); jp_cold_backend=$(secs "$t0" "$t1")
t0=$(now); jp_build --no-cache --component frontend; t1=$(now); jp_cold_frontend=$(secs "$t0" "$t1")
dk_prepare
t0=$(now); dk_build backend --no-cache; t1=$(now); dk_cold_backend=$(secs "$t0" "$t1")
t0=$(now); dk_build frontend --no-cache; t1=$(now); dk_cold_frontend=$(secs "$t0" "$t1")

echo "== cold builds (--no-cache), both components in parallel" >&2
t0=$(now); jp_build --no-cache; t1=$(now); jp_cold=$(secs "$t0" "$t1")
t0=$(now); dk_both --no-cache; t1=$(now); dk_cold=$(secs "$t0" "$t1")

echo "== no-change rebuilds" >&2
t0=$(now); jp_build; t1=$(now); jp_same=$(secs "$t0" "$t1")
t0=$(now); dk_both; t1=$(now); dk_same=$(secs "$t0" "$t1")

echo "== rebuild after a one-line change in each component" >&2
# A token unique to this run: an edit seen in an earlier run would find its image (justpush,
# content tag) or its layers (docker) and measure nothing.
token=$(date +%s%N)
echo "# bench: one-line change $token (justpush side)" >>"$WORK/jp/backend/app/main.py"
echo "// bench: one-line change $token (justpush side)" >>"$WORK/jp/frontend/app/page.tsx"
echo "# bench: one-line change $token (docker side)" >>"$WORK/dk/backend/app/main.py"
echo "// bench: one-line change $token (docker side)" >>"$WORK/dk/frontend/app/page.tsx"
t0=$(now); jp_build; t1=$(now); jp_edit=$(secs "$t0" "$t1")
if ! { grep -q "Built backend" "$WORK/jp.err" && grep -q "Built frontend" "$WORK/jp.err"; }; then
  echo "bench-images.sh: the edit did not rebuild both images" >&2; cat "$WORK/jp.err" >&2; exit 1
fi
t0=$(now); dk_both; t1=$(now); dk_edit=$(secs "$t0" "$t1")

jb=$(size_of "$(jp_image backend)"); jf=$(size_of "$(jp_image frontend)")
db=$(size_of justpush-bench/backend:docker); df=$(size_of justpush-bench/frontend:docker)

printf '\n%-34s %18s %18s\n' "demo stack (bookworm bases)" "kubectl-justpush" "docker build"
printf '%-34s %18s %18s\n' "backend image size (target 180 MB)" "$(mb "$jb")" "$(mb "$db")"
printf '%-34s %18s %18s\n' "frontend image size (target 230 MB)" "$(mb "$jf")" "$(mb "$df")"
printf '%-34s %17ss %17ss\n' "backend cold build (--no-cache)" "$jp_cold_backend" "$dk_cold_backend"
printf '%-34s %17ss %17ss\n' "frontend cold build (--no-cache)" "$jp_cold_frontend" "$dk_cold_frontend"
printf '%-34s %17ss %17ss\n' "cold build, both in parallel" "$jp_cold" "$dk_cold"
printf '%-34s %17ss %17ss\n' "no-change rebuild (target 2 s)" "$jp_same" "$dk_same"
printf '%-34s %17ss %17ss\n' "rebuild after one-line change" "$jp_edit" "$dk_edit"
# The edited images are of no further use (the unedited ones are what `build --demo` reuses).
docker image rm justpush-bench/backend:docker justpush-bench/frontend:docker \
  "$(jp_image backend)" "$(jp_image frontend)" >/dev/null 2>&1 || true

# The size targets, checked on both sides (same Dockerfile, so they should agree).
over=0
check_size() { # WHAT BYTES LIMIT_MB
  if awk -v b="$2" -v l="$3" 'BEGIN { exit !(b <= l * 1e6) }'; then
    printf 'size check: %-26s %s <= %s MB: ok\n' "$1" "$(mb "$2")" "$3"
  else
    printf 'size check: %-26s %s > %s MB: OVER\n' "$1" "$(mb "$2")" "$3"
    over=1
  fi
}
check_size "backend (kubectl-justpush)" "$jb" 180
check_size "backend (docker build)" "$db" 180
check_size "frontend (kubectl-justpush)" "$jf" 230
check_size "frontend (docker build)" "$df" 230
exit "$over"
