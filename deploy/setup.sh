#!/usr/bin/env bash
# Installs the Debian packages this project builds, runs and tests with.
# Idempotent: packages already present are skipped, and `apt-get update` runs at most once.
#   setup.sh            what building and running a node needs
#   setup.sh --test     plus what the tests need (HAProxy, docker-compose, Chromium, coturn, Node.js,
#                       clang-14 with libFuzzer for fuzz/run.sh, the openssl CLI for test certificates,
#                       redis-sentinel for the failover tests and local-cluster.sh --sentinel,
#                       podman, runc and debootstrap for the container tests, Prometheus and
#                       promtool for the alert rules and the scrape test),
#                       all at once before the tests start, so parallel tests never race for apt
#   setup.sh PKG...     plus those packages
set -euo pipefail

test_pkgs=(haproxy docker-compose chromium coturn clang-14 libclang-rt-14-dev openssl redis-sentinel podman runc
           debootstrap prometheus)
extra=()
for arg in "$@"; do
  if [ "$arg" = --test ]; then
    extra+=("${test_pkgs[@]}")
    command -v node >/dev/null && command -v npm >/dev/null || extra+=(nodejs npm)
  else
    extra+=("$arg")
  fi
done

build_pkgs=(cmake ninja-build ccache g++ pkg-config
  libcaf-dev libboost1.81-dev nlohmann-json3-dev libhiredis-dev doctest-dev libspdlog-dev libfmt-dev libssl-dev)
run_pkgs=(redis-server)

want=("${build_pkgs[@]}" "${run_pkgs[@]}" "${extra[@]}")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another install (a parallel test, unattended-upgrades) may hold the dpkg
# lock: apt waits for it to be released, up to 5 minutes, instead of failing.
lock=(-o DPkg::Lock::Timeout=300)
$sudo apt-get "${lock[@]}" update -qq
$sudo apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
