#!/usr/bin/env bash
# Builds the fuzz targets with clang's libFuzzer + ASan + UBSan in build-fuzz/
# and runs each for FUZZ_SECONDS (default 60) from its seed corpus
# (fuzz/corpus/TARGET; what libFuzzer adds goes to build-fuzz/corpus/TARGET).
# Every file in fuzz/regressions/TARGET (a past crash, or an input that once
# exposed a bug) must run clean first. A crash leaves its input in
# build-fuzz/artifacts/: copy it to fuzz/regressions/TARGET once fixed.
# Prints one line per target and "fuzz: N passed, M failed"; exits 1 on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
targets=(protocol_fuzzer websocket_fuzzer)
cxx="$(command -v clang++-14 || command -v clang++ || true)"
if [ -z "$cxx" ]; then
  echo "fuzz: clang++ not found (apt-get install clang-14 libclang-rt-14-dev)"
  echo "fuzz: 0 passed, ${#targets[@]} failed"
  exit 1
fi
t0=$SECONDS
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if ! { cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" >/dev/null &&
       cmake --build build-fuzz >build-fuzz/build.log 2>&1; }; then
  tail -30 build-fuzz/build.log 2>/dev/null
  echo "fuzz: 0 passed, ${#targets[@]} failed (build)"
  exit 1
fi
echo "fuzz: built in $((SECONDS - t0)) s"

run_one() {
  local t="$1" short="${1%_fuzzer}"
  local bin="build-fuzz/$t" log="build-fuzz/$t.log" work="build-fuzz/corpus/$short"
  mkdir -p "$work" build-fuzz/artifacts
  local regressions=(fuzz/regressions/"$short"/*)
  if [ -e "${regressions[0]}" ] && ! "$bin" "${regressions[@]}" >"$log.regressions" 2>&1; then
    echo "FAIL $t: a regression input crashes again (see $log.regressions)"
    return 1
  fi
  # Fixed time budget; inputs up to 8 KiB; a unit slower than 10 s is a hang.
  "$bin" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/artifacts/$t-" "$work" "fuzz/corpus/$short" >"$log" 2>&1
  local status=$?
  local execs seeds found
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  seeds=$(ls "fuzz/corpus/$short" | wc -l)
  found=$(ls "$work" | wc -l)
  if [ $status -ne 0 ]; then
    grep -E "ERROR|fuzzer: |SUMMARY|Test unit written" "$log" | head -8
    echo "FAIL $t: ${execs:-?} executions; crash input in build-fuzz/artifacts/ (log: $log)"
    return 1
  fi
  echo "ok   $t: ${execs:-?} executions in ${seconds}s, corpus $((seeds + found)) inputs ($seeds seeds in fuzz/corpus/$short, $found found), no crash"
}

# The targets run side by side, one core each.
pids=()
for t in "${targets[@]}"; do
  run_one "$t" >"build-fuzz/$t.result" &
  pids+=($!)
done
passed=0 failed=0
for i in "${!targets[@]}"; do
  if wait "${pids[$i]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  cat "build-fuzz/${targets[$i]}.result"
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
