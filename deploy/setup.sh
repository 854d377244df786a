#!/usr/bin/env bash
# Installs the Debian packages this project builds, runs and tests with.
# Idempotent: packages already present are skipped, and `apt-get update` runs at most once.
set -euo pipefail

build_pkgs=(cmake ninja-build ccache g++ pkg-config
  libcaf-dev libboost1.81-dev nlohmann-json3-dev libhiredis-dev doctest-dev libspdlog-dev libfmt-dev)
run_pkgs=(redis-server curl)

want=("${build_pkgs[@]}" "${run_pkgs[@]}" "$@")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
