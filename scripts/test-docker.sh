#!/usr/bin/env bash
# The real-Docker tier: builds, runs, pushes and breaks images through kubectl-justpush against a
# real Docker engine and a real registry. Idempotent; runs on a fresh Debian machine as root:
#   - installs docker.io, docker-registry and debootstrap with apt if missing;
#   - starts dockerd if its socket does not answer (log: .cache/dockerd.log);
#   - starts Debian's docker-registry on 127.0.0.1:5000 if nothing answers there
#     (log: .cache/registry.log, storage: .cache/registry);
#   - makes the Debian bookworm base images locally if absent (no Docker Hub here):
#       justpush-ci/debian:bookworm      debootstrap --variant=minbase, slimmed, imported
#       justpush-ci/python:bookworm      + python3 python3-venv          (builder)
#       justpush-ci/python-runtime:bookworm  + python3                   (runtime: the venv's
#                                        interpreter only, without venv/ensurepip, the pip and
#                                        setuptools wheels, distutils and lib2to3: 7 MB less)
#       justpush-ci/node-build:bookworm  + nodejs npm                    (builder)
#       justpush-ci/node:bookworm        + nodejs                        (runtime)
#       justpush-ci/golang:bookworm      + golang-go gcc libc6-dev ca-certificates (Go 1.19; builder, cgo too)
#       justpush-ci/rust:bookworm        + rustc cargo gcc libc6-dev ca-certificates (Rust 1.63)
#     (Go and Rust run on justpush-ci/debian:bookworm itself: same glibc as their builders.)
#     The apt mirror is read from this machine's /etc/apt/sources.list.d/debian.sources.
#   - runs the #[ignore]d cargo tests that need Docker (tests/image_docker.rs).
# `--prepare` stops after the engine, registry and base images (the benchmark uses it).
# Base images and build layers are kept between runs, so a second run only rebuilds what changed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"
BASE_DEBIAN=justpush-ci/debian:bookworm
BASE_PYTHON=justpush-ci/python:bookworm
BASE_PYTHON_RUNTIME=justpush-ci/python-runtime:bookworm
BASE_NODE_BUILD=justpush-ci/node-build:bookworm
BASE_NODE=justpush-ci/node:bookworm
BASE_GO=justpush-ci/golang:bookworm
BASE_RUST=justpush-ci/rust:bookworm
REGISTRY_ADDR=127.0.0.1:5000

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'test-docker.sh: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "installing $* needs root (apt-get)"
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# ---------------------------------------------------------------------------------------------
log "tools: docker.io, docker-registry, debootstrap"
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

log "engine"
if ! docker version >/dev/null 2>&1; then
  echo "starting dockerd (log: $CACHE/dockerd.log)" >&2
  nohup dockerd >"$CACHE/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 1
  done
  docker version >/dev/null 2>&1 || die "dockerd did not answer on /var/run/docker.sock within 60 s; see $CACHE/dockerd.log"
fi
docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}' >&2

log "registry on $REGISTRY_ADDR"
if ! curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
  mkdir -p "$CACHE/registry"
  cat >"$CACHE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $CACHE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  echo "starting docker-registry (log: $CACHE/registry.log)" >&2
  nohup docker-registry serve "$CACHE/registry.yml" >"$CACHE/registry.log" 2>&1 &
  for _ in $(seq 1 30); do
    curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && break
    sleep 1
  done
  curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null || die "docker-registry did not answer on $REGISTRY_ADDR; see $CACHE/registry.log"
fi

# ---------------------------------------------------------------------------------------------
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

log "base images"
if ! have_image "$BASE_DEBIAN"; then
  SOURCES=/etc/apt/sources.list.d/debian.sources
  MIRROR=""
  if [ -f "$SOURCES" ]; then
    MIRROR=$(awk '/^URIs:/ {print $2; exit}' "$SOURCES")
  fi
  if [ -z "$MIRROR" ] && [ -f /etc/apt/sources.list ]; then
    MIRROR=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$MIRROR" ] || die "no Debian mirror found in $SOURCES (URIs: line) or /etc/apt/sources.list"
  ROOTFS=$(mktemp -d /tmp/justpush-bookworm.XXXXXX)
  echo "debootstrap --variant=minbase bookworm from the configured mirror into $ROOTFS" >&2
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $CACHE/debootstrap.log"
  # Slim like Debian's official -slim images: no documentation, manual pages or translations,
  # now or in packages installed later (dpkg path-exclude); copyright files stay.
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/groff/*' \
    'path-exclude /usr/share/lintian/*' >"$ROOTFS/etc/dpkg/dpkg.cfg.d/justpush-slim"
  find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$ROOTFS/usr/share/man/"* "$ROOTFS/usr/share/info/"* "$ROOTFS/usr/share/locale/"* \
    "$ROOTFS/usr/share/groff/"* "$ROOTFS/usr/share/lintian/"*
  tar -C "$ROOTFS" --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' -c . |
    docker import -c 'CMD ["bash"]' - "$BASE_DEBIAN" >&2
  rm -rf "$ROOTFS"
fi

derive_base() { # NAME FROM PACKAGES...
  local name=$1 from=$2
  shift 2
  have_image "$name" && return 0
  echo "building $name (apt: $*)" >&2
  # Like Debian's -slim images, drop what apt and dpkg leave behind in the same layer: the
  # package lists, the logs and the *-old backups of the debconf and dpkg databases.
  printf 'FROM %s\nRUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s \\\n && apt-get clean \\\n && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/log/alternatives.log \\\n      /var/cache/debconf/*-old /var/lib/dpkg/*-old\n' \
    "$from" "$*" | docker build -q -t "$name" - >&2
}
derive_base "$BASE_PYTHON" "$BASE_DEBIAN" python3 python3-venv
derive_base "$BASE_PYTHON_RUNTIME" "$BASE_DEBIAN" python3
derive_base "$BASE_NODE" "$BASE_DEBIAN" nodejs
derive_base "$BASE_NODE_BUILD" "$BASE_NODE" npm
derive_base "$BASE_GO" "$BASE_DEBIAN" golang-go gcc libc6-dev ca-certificates
derive_base "$BASE_RUST" "$BASE_DEBIAN" rustc cargo gcc libc6-dev ca-certificates
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^justpush-ci/' >&2

log "demo backend wheelhouse (its uv.lock installs from images/backend/wheelhouse)"
if ! ls "$ROOT/images/backend/wheelhouse/"*.whl >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-pip
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  "$ROOT/images/backend/fetch-wheels.sh" --runtime
fi

if [ "${1:-}" = "--prepare" ]; then
  exit 0
fi

# ---------------------------------------------------------------------------------------------
log "cargo tests that need Docker (tests/image_docker.rs)"
export JUSTPUSH_TEST_REGISTRY="$REGISTRY_ADDR"
export JUSTPUSH_TEST_BASE_PYTHON="$BASE_PYTHON"
export JUSTPUSH_TEST_BASE_PYTHON_RUNTIME="$BASE_PYTHON_RUNTIME"
export JUSTPUSH_TEST_BASE_NODE_BUILD="$BASE_NODE_BUILD"
export JUSTPUSH_TEST_BASE_NODE="$BASE_NODE"
export JUSTPUSH_TEST_BASE_GO="$BASE_GO"
export JUSTPUSH_TEST_BASE_RUST="$BASE_RUST"
export JUSTPUSH_TEST_BASE_DEBIAN="$BASE_DEBIAN"
cd "$ROOT"
cargo test --locked --test image_docker -- --ignored --test-threads=1
cargo test --locked --test projects_node_docker -- --ignored --test-threads=1
cargo test --locked --test projects_gorust_docker -- --ignored --test-threads=1
cargo test --locked --test projects_writable_docker -- --ignored --test-threads=1
cargo test --locked --test detect_own_dockerfile -- --ignored --test-threads=1
cargo test --locked --test probe_docker -- --ignored --test-threads=1
cargo test --locked --test projects_python_docker -- --ignored --test-threads=1
