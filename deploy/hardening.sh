#!/usr/bin/env bash
# The hardening stage of CI (docs/security.md), run by deploy/test.sh after the
# main suite:
#   fuzz   every fuzz target for FUZZ_SECONDS (default 60) under libFuzzer +
#          ASan + UBSan (fuzz/run.sh, clang, build-fuzz/)
#   asan   the unit, actor, integration, conformance and exhaustion suites
#          built with ASan + UBSan (preset asan, build-asan/)
#   tsan   the actor suite and the in-process transport suites (integration,
#          conformance, exhaustion on one node) built with TSan (preset tsan,
#          build-tsan/); suppressions in tests/sanitizers/tsan.supp. Left out
#          under TSan: the multi-node tests, the 5,000-room test, and the
#          64 MB-per-round flood of "a reader that stops reading while its peer
#          floods" (it met a connection reset in round 1 in one -j1 CI run under
#          TSan's slowdown, not reproduced in 5 runs alone; it runs in the main
#          suite and under ASan, and the single-node slow-reader integration
#          test covers the same cut-off path under TSan)
# HARDENING_STAGES="fuzz asan" runs a subset. Prints one line per stage and
# "hardening: N passed, M failed"; exits 1 if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
stages="${HARDENING_STAGES:-fuzz asan tsan}"
jobs="$(nproc)"
mkdir -p build-logs
passed=0 failed=0

sanitized() {
  local preset="$1" log="build-logs/$1.log" t0=$SECONDS
  if ! { cmake --preset "$preset" && cmake --build --preset "$preset"; } >"$log" 2>&1; then
    grep -E "error|FAILED" "$log" | head -20
    echo "$preset: build failed (full log: $log)"
    return 1
  fi
  echo "$preset: built in $((SECONDS - t0)) s"
  t0=$SECONDS
  # TSan slows every thread 5-15x: one test at a time, so a test's own
  # threads are not starved into missing their deadlines.
  local j="$jobs"
  [ "$preset" = tsan ] && j=1
  ctest --preset "$preset" -j "$j" 2>&1 | tee -a "$log" | grep -E "tests passed|\(Failed\)|\(Timeout\)|\(Subprocess"
  local status="${PIPESTATUS[0]}"
  echo "$preset: tests ran in $((SECONDS - t0)) s"
  [ "$status" -eq 0 ]
}

for stage in $stages; do
  t0=$SECONDS
  case "$stage" in
    fuzz) bash fuzz/run.sh ;;
    asan | tsan) sanitized "$stage" ;;
    *) echo "unknown stage $stage"; false ;;
  esac
  if [ $? -eq 0 ]; then
    passed=$((passed + 1))
    echo "hardening: $stage passed in $((SECONDS - t0)) s"
  else
    failed=$((failed + 1))
    echo "hardening: $stage FAILED after $((SECONDS - t0)) s"
  fi
done
echo "hardening: $passed passed, $failed failed"
[ $failed -eq 0 ]
