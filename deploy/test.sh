#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build
# everything, run every test. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh --test
cmake --preset release >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)" "$@"
# Then fuzzing and the ASan+UBSan and TSan suites (docs/security.md); only for the full run.
[ $# -gt 0 ] || bash deploy/hardening.sh
