#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build
# everything, run every test. Extra arguments go to ctest (e.g. -L unit).
#
#   deploy/test.sh            everything: the main suite, then the hardening
#                             stages (fuzzing, ASan+UBSan, TSan)
#   deploy/test.sh -L unit    a subset (any ctest arguments); no hardening
#   deploy/test.sh --quick    the loop while working: unit, actors and
#                             integration suites only, building only what they
#                             need; installs no browser, fuzzer or sanitizer
#                             tooling (HAProxy yes: the integration suite runs
#                             through the balancer too)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --quick ]; then
  shift
  bash deploy/setup.sh haproxy
  cmake --preset release >/dev/null
  cmake --build build --target signal-node unit_tests hardening_unit_tests bench_tests actor_tests integration_tests
  exec ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)" -L 'unit|actors|integration' "$@"
fi
bash deploy/setup.sh --test
cmake --preset release >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)" "$@"
# Then fuzzing and the ASan+UBSan and TSan suites (docs/security.md); only for the full run.
[ $# -gt 0 ] || bash deploy/hardening.sh
