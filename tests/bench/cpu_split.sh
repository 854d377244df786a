#!/usr/bin/env bash
# User and system CPU and context switches per relay of each process, read from /proc over 6 s of a
# paced signal-bench relay (100 rooms, window 4, 600-byte frames): one node
# (MODE=single), or hosts on node A, guests on node B and one Redis
# (MODE=cross, the default). Profiling aid for BENCHMARKS.md ("The floor of
# one PUBLISH per frame"); not part of .ci/run.
#
#   MODE=cross RATE=21000 [NODE_BIN=build/signal-node] [NODE_ENV="REDIS_BATCH_US=2000"] \
#     tests/bench/cpu_split.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${MODE:-cross} RATE=${RATE:-21000} NODE_BIN=${NODE_BIN:-build/signal-node} NODE_ENV=${NODE_ENV:-}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
node() { # port node-id [redis url]
  env WS_PORT="$1" NODE_ID="$2" ${3:+REDIS_URL=$3} RATE_LIMIT_PER_SEC=1000000000 RATE_LIMIT_BURST=1000000000 \
    LOG_LEVEL=warn ENV_FILE=/nonexistent $NODE_ENV "$NODE_BIN" >/dev/null 2>&1 &
}
# utime, stime (clock ticks) and context switches (all threads) of each process
snapshot() {
  for p in "$@"; do
    awk '{printf "%s %s ", $14, $15}' "/proc/$p/stat"
    cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {printf "%d ", s}'
  done
}
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
A=$(free_port)
if [ "$MODE" = single ]; then
  node "$A" node-a; PIDS+=($!); G=$A; NAMES="one-node"
else
  R=$(free_port); B=$(free_port)
  redis-server --port "$R" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 & RPID=$!
  wait_port "$R"
  node "$A" node-a "redis://127.0.0.1:$R"; PIDS+=($!)
  node "$B" node-b "redis://127.0.0.1:$R"; PIDS+=($!)
  PIDS+=("$RPID"); G=$B; NAMES="node-A node-B redis"
fi
wait_port "$A"; wait_port "$G"
OUT=$(mktemp)
build/signal-bench relay --hosts-url "ws://127.0.0.1:$A/" --guests-url "ws://127.0.0.1:$G/" --rooms 100 --window 4 \
  --size 600 --duration 10 --warmup 2 --rate "$RATE" >"$OUT" 2>&1 & BENCH=$!
sleep 4; S0=$(snapshot "${PIDS[@]}"); sleep 6; S1=$(snapshot "${PIDS[@]}")
wait "$BENCH"
python3 - "$RATE" "$(getconf CLK_TCK)" "$S0" "$S1" $NAMES <<'PY'
import sys
rate, hz = float(sys.argv[1]), float(sys.argv[2])
before, after = list(map(int, sys.argv[3].split())), list(map(int, sys.argv[4].split()))
relays, total = rate * 6, [0.0, 0.0, 0.0]
for i, name in enumerate(sys.argv[5:]):
    user = (after[3 * i] - before[3 * i]) / hz * 1e6 / relays
    system = (after[3 * i + 1] - before[3 * i + 1]) / hz * 1e6 / relays
    switches = (after[3 * i + 2] - before[3 * i + 2]) / relays
    total[0] += user; total[1] += system; total[2] += switches
    print(f"{name:9s} user {user:5.2f}  system {system:5.2f}  us per relay, {switches:.2f} context switches")
print(f"{'all':9s} user {total[0]:5.2f}  system {total[1]:5.2f}  = {sum(total[:2]):5.2f} us per relay, "
      f"{total[2]:.2f} context switches")
PY
grep -E "relays  |one way" "$OUT"
rm -f "$OUT"
