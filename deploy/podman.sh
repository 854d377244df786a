#!/usr/bin/env bash
# Containers with Debian's own tools, no Docker engine and no registry but Debian's:
# rootful podman builds and runs the images, docker-compose drives the compose
# file through podman's Docker-compatible API.
#
#   deploy/podman.sh setup           install podman, set its engine limits, make the base images
#   deploy/podman.sh build           build signal-node:local, signal-redis:local, signal-haproxy:local
#                                    from the working tree (podman caches each step)
#   deploy/podman.sh compose ARG...  docker-compose ARG... on deploy/docker-compose.yml with
#                                    deploy/docker-compose.host.yml, against podman
#   deploy/podman.sh service stop    stop the API service (and health ticker) `compose` started
#
# setup, idempotent (a second run costs a second):
#   - Debian packages podman, runc, debootstrap (deploy/setup.sh);
#   - /etc/containers/containers.conf.d/50-signal-cluster.conf: containers' open-file and
#     process limits no higher than this machine allows (podman's defaults are higher, and
#     runc then refuses to start any container);
#   - the base images debian:bookworm and debian:bookworm-slim, unless the machine has them:
#     `debootstrap --variant=minbase bookworm` from the mirror in /etc/apt, slimmed as the
#     official slim image is (no docs, man pages, locales, apt lists), imported with
#     `podman import` under both names so the Dockerfiles' FROM lines resolve locally
#     (--pull=never). A base this script made is made again after BASE_MAX_AGE_DAYS (30).
#
# compose: host networking (deploy/docker-compose.host.yml: every service on 127.0.0.1 on
# its own port, ports from REDIS_PORT, NODE1_PORT.., LB_PORT), since the test machines allow
# no traffic to the container bridge's private addresses. podman's API service runs on a
# socket in STATE_DIR (default /run/signal-podman); without systemd podman runs no health
# checks by itself, so while the project is up a ticker runs `podman healthcheck run` on its
# containers every HEALTH_TICK seconds (1), as systemd's timers would. `compose down` stops
# the ticker, `service stop` the service too. Run as root (CI and these machines are root);
# otherwise it re-runs itself with sudo.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exec sudo -E bash "$0" "$@"
root=$(cd "$(dirname "$0")/.." && pwd)
state=${STATE_DIR:-/run/signal-podman}
base_repo=docker.io/library/debian
base_label=org.signal-cluster.base.created
max_age_days=${BASE_MAX_AGE_DAYS:-30}

say() { echo "podman.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# ------------------------------------------------------------------- setup ----

engine_conf() {
  local file=/etc/containers/containers.conf.d/50-signal-cluster.conf want nofile nproc
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  [ "$nofile" != unlimited ] && [ "$nofile" -le 1048576 ] || nofile=1048576
  # conmon, the parent of every container, runs with at most 32768 processes (seen here).
  [ "$nproc" != unlimited ] && [ "$nproc" -le 32768 ] || nproc=32768
  want="# Written by deploy/podman.sh setup (signal-cluster). podman's default container limits
# (nofile 1048576, nproc 4194304) exceed what this machine lets a container have (the hard
# limits of the shell that ran setup; processes at most 32768, conmon's own limit), and runc
# then refuses to start any container.
[containers]
default_ulimits = [
  \"nofile=$nofile:$nofile\",
  \"nproc=$nproc:$nproc\",
]"
  [ "$(cat "$file" 2>/dev/null)" = "$want" ] && return 0
  mkdir -p "$(dirname "$file")"
  printf '%s\n' "$want" > "$file"
  say "wrote $file"
}

# The first Debian mirror of this machine's apt sources (reachable by definition).
mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$uri" ] || uri=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\)[[:space:]]\+bookworm[[:space:]].*/\2/p' \
    /etc/apt/sources.list 2>/dev/null | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}

# What the official slim image changes in a debootstrap'ed root: no docs, man pages or
# locales now or in later installs, no apt caches, services never started by a postinst.
slim() {
  local r=$1
  mkdir -p "$r/etc/dpkg/dpkg.cfg.d" "$r/etc/apt/apt.conf.d"
  cat > "$r/etc/dpkg/dpkg.cfg.d/docker" << 'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat > "$r/etc/apt/apt.conf.d/docker-clean" << 'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' > "$r/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' > "$r/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
  chmod 755 "$r/usr/sbin/policy-rc.d"
  # The apt sources of this machine (bookworm, -updates, -security), as the official image has them.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$r/etc/apt/sources.list.d/debian.sources"
    rm -f "$r/etc/apt/sources.list"
  fi
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/groff/* "$r"/usr/share/lintian/*
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
    "$r"/var/cache/debconf/*-old "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/tmp/* "$r"/root/.bash_history
  # The engine provides these at run time.
  rm -f "$r/etc/resolv.conf" "$r/etc/hostname"
  : > "$r/etc/machine-id"
}

# "ours" (made here, with its creation time), "foreign" (pulled or made elsewhere) or "missing".
base_state() {
  local created
  podman image exists "$1" || { echo missing; return; }
  created=$(podman image inspect --format "{{index .Labels \"$base_label\"}}" "$1" 2>/dev/null)
  case "$created" in
    '' | '<no value>') echo foreign ;;
    *) echo "ours $created" ;;
  esac
}

base_images() {
  local tag st need=() now
  now=$(date +%s)
  for tag in bookworm bookworm-slim; do
    st=$(base_state "$base_repo:$tag")
    case "$st" in
      missing) need+=("$tag") ;;
      foreign) ;;
      ours*) [ $((now - ${st#ours })) -lt $((max_age_days * 86400)) ] || need+=("$tag") ;;
    esac
  done
  [ ${#need[@]} -gt 0 ] || return 0
  local dir t0=$SECONDS
  dir=$(mktemp -d /var/tmp/signal-base.XXXXXX)
  # shellcheck disable=SC2064 # $dir is fixed now
  trap "rm -rf '$dir'" RETURN
  say "base image: debootstrap --variant=minbase bookworm from $(mirror)"
  debootstrap --variant=minbase bookworm "$dir/root" "$(mirror)" > "$dir/debootstrap.log" 2>&1 ||
    { tail -20 "$dir/debootstrap.log" >&2; die "debootstrap failed"; }
  slim "$dir/root"
  tar -C "$dir/root" --numeric-owner -c . | podman import --quiet \
    --change 'CMD ["bash"]' --change "LABEL $base_label=$now" \
    --change 'LABEL org.opencontainers.image.description="Debian bookworm minbase, debootstrap + podman import (deploy/podman.sh)"' \
    - "$base_repo:${need[0]}" > /dev/null
  for tag in "${need[@]:1}"; do podman tag "$base_repo:${need[0]}" "$base_repo:$tag"; done
  say "base image: ${need[*]} made in $((SECONDS - t0)) s ($(podman image inspect --format '{{.Size}}' "$base_repo:${need[0]}" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

setup() {
  command -v podman > /dev/null && command -v runc > /dev/null && command -v debootstrap > /dev/null ||
    bash "$root/deploy/setup.sh" podman runc debootstrap
  engine_conf
  base_images
  podman run --rm --network host "$base_repo:bookworm-slim" true ||
    die "podman cannot start a container here (see the error above)"
}

# ------------------------------------------------------------------- build ----

# The images docker-compose.yml and k8s/kustomization.yaml name. Layers are cached; once a
# build succeeded, images that no tag or later layer uses any more (the previous build's,
# after a source change) are removed once they are a day old, so the cache does not grow
# without end. The layers in use, the package layer above all, stay.
build() {
  local t0 opts=(--pull=never --network host --layers)
  # One build at a time on a machine: the tags are the machine's.
  exec 9> /run/lock/signal-podman-build.lock
  flock 9
  t0=$SECONDS
  podman build "${opts[@]}" -f "$root/deploy/Dockerfile" -t signal-node:local "$root"
  say "signal-node:local built in $((SECONDS - t0)) s"
  for img in redis haproxy; do
    t0=$SECONDS
    podman build "${opts[@]}" -t "signal-$img:local" "$root/deploy/images/$img"
    say "signal-$img:local built in $((SECONDS - t0)) s"
  done
  podman image prune -f --filter until=24h > /dev/null
  podman images --filter reference='localhost/signal-*' --filter reference="$base_repo"
}

# ----------------------------------------------------------------- compose ----

# The process a pid file names is running and is ours: its command line names $state (a pid
# file that outlived its process never makes this script signal another one).
alive() {
  local pid
  pid=$(cat "$1" 2> /dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null &&
    tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -qF -- "$state"
}

# podman's Docker-compatible API on $state/podman.sock, started once.
service_start() {
  mkdir -p "$state"
  alive "$state/service.pid" && return 0
  rm -f "$state/podman.sock"
  setsid podman system service --time=0 "unix://$state/podman.sock" > "$state/service.log" 2>&1 < /dev/null &
  echo $! > "$state/service.pid"
  local deadline=$((SECONDS + 30))
  until [ -S "$state/podman.sock" ] && podman --url "unix://$state/podman.sock" version > /dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "podman system service did not start (see $state/service.log)"
    alive "$state/service.pid" || die "podman system service exited (see $state/service.log)"
    sleep 0.2
  done
}

stop_pidfile() {
  local pid
  alive "$1" || { rm -f "$1"; return 0; }
  pid=$(cat "$1")
  kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null || true
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2> /dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  kill -KILL "$pid" 2> /dev/null || true
  rm -f "$1"
}

# Runs every health check of the project's containers each HEALTH_TICK seconds: what
# podman leaves to systemd timers, which a machine without systemd does not have.
ticker_start() {
  local project=$1
  alive "$state/ticker-$project.pid" && return 0
  setsid bash -c '
    while :; do
      for c in $(podman ps -q --filter "label=com.docker.compose.project=$1"); do
        podman healthcheck run "$c" > /dev/null 2>&1 || true
      done
      sleep "$2"
    done' ticker "$project" "${HEALTH_TICK:-1}" "$state" > /dev/null 2>&1 < /dev/null &
  echo $! > "$state/ticker-$project.pid"
}

# docker-compose.yml with docker-compose.host.yml, merged by `docker-compose config` into
# $state/compose-PROJECT.yml, less the host ports of services on the host network: Docker
# would ignore them there (podman does too), but docker-compose's client refuses the pair.
render() {
  local out=$1 python
  python=$(sed -n '1s/^#![[:space:]]*//p' "$(command -v docker-compose)") # docker-compose's python has PyYAML
  docker-compose -f "$root/deploy/docker-compose.yml" -f "$root/deploy/docker-compose.host.yml" config > "$out.tmp"
  $python - "$out.tmp" > "$out" << 'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for service in doc.get("services", {}).values():
    if service.get("network_mode") == "host":
        service.pop("ports", None)
yaml.safe_dump(doc, sys.stdout, default_flow_style=False, sort_keys=False)
PY
  rm -f "$out.tmp"
}

compose() {
  command -v docker-compose > /dev/null || bash "$root/deploy/setup.sh" docker-compose
  local project=${COMPOSE_PROJECT_NAME:-deploy} arg sub="" file
  for arg in "$@"; do
    case "$arg" in -*) ;; *) sub=$arg; break ;; esac
  done
  mkdir -p "$state"
  file=$state/compose-$project.yml
  render "$file"
  service_start
  [ "$sub" = up ] && ticker_start "$project"
  local status=0
  DOCKER_HOST="unix://$state/podman.sock" COMPOSE_PROJECT_NAME=$project \
    docker-compose -f "$file" --project-directory "$root/deploy" "$@" || status=$?
  [ "$sub" = down ] && stop_pidfile "$state/ticker-$project.pid"
  return $status
}

case "${1:-}" in
  setup) setup ;;
  build) build ;;
  compose)
    shift
    compose "$@"
    ;;
  service)
    [ "${2:-}" = stop ] || die "usage: $0 service stop"
    for f in "$state"/ticker-*.pid "$state/service.pid"; do [ -e "$f" ] && stop_pidfile "$f"; done
    rm -f "$state/podman.sock"
    ;;
  *)
    echo "usage: $0 setup | build | compose ARG... | service stop" >&2
    exit 2
    ;;
esac
