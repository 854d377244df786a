#!/usr/bin/env bash
# Side-by-side benchmark (issues 6 and 14): builds Release, starts signal-node
# and the Node.js seed peer (../shared/peers/seed-node, npm-installed into a
# temp dir), runs the same signal-bench scenarios against both in one run, then
# the cross-node relay on 2 nodes + Redis, and prints a markdown comparison.
# Timings never go into the test suite: this script is not part of .ci/run.
#
#   tests/bench/run.sh [-o report.md] [-j results.jsonl] [-p CHART_DIR] [-s "SCENARIOS"]
#
#   -o FILE  the markdown report (default: stdout)
#   -j FILE  every run's JSON, one line each (tests/bench/report.js and
#            tests/bench/plot.py read it again later)
#   -p DIR   charts (SVG and PNG) drawn from the JSON by tests/bench/plot.py;
#            installs Debian's python3-matplotlib first if it is missing
#   -s LIST  scenarios to run, in this order (default: SCENARIOS below)
#
# Scenarios (SCENARIOS, default "relay storm idle flood cross shards"):
#   relay  relay at peak on each server, then both at the same load (half the
#          lower peak)
#   storm  reconnect storm, STORM_RUNS runs per server, fresh servers each,
#          ours and the seed alternating
#   idle   idle connections at each of IDLE_STEPS, a fresh server per step and
#          server; with IDLE_RELAY_RATE > 0, a paced relay through
#          IDLE_RELAY_ROOMS of the held rooms at that rate after the hold
#   flood  every room's host (FLOOD_SENDERS=both: guest too) writes
#          FLOOD_MESSAGES signals back to back, no window; FLOOD_RUNS runs per
#          server, fresh servers each, ours and the seed alternating
#   cross  2 nodes + Redis (hosts on A, guests on B): peak, same load (half
#          the cross-node peak), storm, and a single node at that same load;
#          after relay, also the cross-node relay at relay's same-load rate if
#          that is lower; SCENARIOS=cross runs it alone
#   shards the cross-node relay peak (hosts on A, guests on B) with the rooms
#          spread over 1 and over 3 Redis shards (SHARD_COUNTS), fresh servers
#          each run, alternating, SHARD_RUNS times; the CPU measured is the
#          brokers' (every redis-server), per relay
#
# Knobs (environment): RELAY_SECS (10), WARMUP_SECS (2), ROOMS (100), WINDOW (4),
# SIZE (600), THREADS (bench client threads, 1), STORM_CLIENTS (10000),
# IDLE_STEPS ("2000 10000 19800": the fd limit here is 20000 per process;
# IDLE_CONNS=N alone still means IDLE_STEPS=N), HOLD_SECS (60), KEEPALIVE_SECS (20),
# IDLE_RELAY_RATE (4000 relays/s, 0 = none), IDLE_RELAY_ROOMS (100),
# FLOOD_ROOMS (2000), FLOOD_MESSAGES (50), FLOOD_SIZE (SIZE), FLOOD_SENDERS
# (hosts), FLOOD_WARMUP_ROUNDS (1), FLOOD_RUNS (3), FLOOD_THREADS (THREADS),
# FLOOD_TIMEOUT (120 s per round), STORM_RUNS (3), SHARD_COUNTS ("1 3"), SHARD_RUNS (2),
# SEED_DIR (../shared/peers/seed-node), GUEST_ORDER (relay, flood: shuffled, or same:
# guests join in the hosts' order, as before 2026-11-30), CROSS_ENV (settings for both cross-node
# nodes, e.g. "REDIS_BATCH_US=0"; default none), OURS_ENV (settings for every
# start of our node, cross-node included, e.g. "IO_THREADS=1"; default none),
# SERVER_CPUS and BENCH_CPUS (taskset lists, e.g. 0 and 1: the servers, Redis
# included, on one set of CPUs and the bench client on another; default: no
# pinning, everything shares every CPU),
# OURS_BIN (a signal-node binary to run instead of the tree's, e.g. a copy of
# the build before a change, for alternated before/after runs),
# QUICK=1 (short runs, for trying the script out; not for figures).
# Every process this script starts is stopped on exit, however it exits.
#
# Adding a scenario: write a function scenario_NAME that starts its servers
# (start_ours/start_seed/start_redis), runs `bench LABEL SCENARIO ARGS...` and
# stops them (stop_pid), add NAME to ALL_SCENARIOS, and give report.js (and
# plot.py, for a chart) a section that reads the labels it writes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/tests/bench"
OUT_MD=""
OUT_JSON=""
PLOT_DIR=""
ALL_SCENARIOS="relay storm idle flood cross shards"
while getopts "o:j:p:s:h" opt; do
  case "$opt" in
    o) OUT_MD="$OPTARG" ;;
    j) OUT_JSON="$OPTARG" ;;
    p) PLOT_DIR="$OPTARG" ;;
    s) SCENARIOS="$OPTARG" ;;
    *) sed -n '2,45p' "$0"; exit 2 ;;
  esac
done

RELAY_SECS=${RELAY_SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
ROOMS=${ROOMS:-100}
WINDOW=${WINDOW:-4}
SIZE=${SIZE:-600}
THREADS=${THREADS:-1}
STORM_CLIENTS=${STORM_CLIENTS:-10000}
IDLE_STEPS=${IDLE_STEPS:-${IDLE_CONNS:-"2000 10000 19800"}}
HOLD_SECS=${HOLD_SECS:-60}
KEEPALIVE_SECS=${KEEPALIVE_SECS:-20}
IDLE_RELAY_RATE=${IDLE_RELAY_RATE:-4000}
IDLE_RELAY_ROOMS=${IDLE_RELAY_ROOMS:-100}
FLOOD_ROOMS=${FLOOD_ROOMS:-2000}
FLOOD_MESSAGES=${FLOOD_MESSAGES:-50}
FLOOD_SIZE=${FLOOD_SIZE:-$SIZE}
FLOOD_SENDERS=${FLOOD_SENDERS:-hosts}
FLOOD_WARMUP_ROUNDS=${FLOOD_WARMUP_ROUNDS:-1}
FLOOD_RUNS=${FLOOD_RUNS:-3}
STORM_RUNS=${STORM_RUNS:-3}
FLOOD_THREADS=${FLOOD_THREADS:-$THREADS}
GUEST_ORDER=${GUEST_ORDER:-shuffled}
FLOOD_TIMEOUT=${FLOOD_TIMEOUT:-120}
SHARD_COUNTS=${SHARD_COUNTS:-"1 3"}
SHARD_RUNS=${SHARD_RUNS:-2}
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
SEED_DIR=${SEED_DIR:-"$ROOT/../shared/peers/seed-node"}
if [ "${QUICK:-0}" = 1 ]; then
  RELAY_SECS=3 WARMUP_SECS=1 STORM_CLIENTS=2000 IDLE_STEPS="500 2000" HOLD_SECS=5 KEEPALIVE_SECS=2
  FLOOD_ROOMS=300 FLOOD_RUNS=1 STORM_RUNS=1 SHARD_RUNS=1
fi
for s in $SCENARIOS; do
  case " $ALL_SCENARIOS " in *" $s "*) ;; *) echo "bench: unknown scenario '$s' (have: $ALL_SCENARIOS)" >&2; exit 2 ;; esac
done

WORK="$(mktemp -d /tmp/signal-bench-run.XXXXXX)"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
STARTED=() # pids of every server process this script started

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  set +e
  for pid in "${STARTED[@]:-}"; do
    [ -n "$pid" ] && stop_pid "$pid"
  done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# -- build, stage and install ------------------------------------------------------

cd "$ROOT"
# The commit the binaries are built from (taken before the build: the tree may
# move on while the runs go).
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +dirty)"
log "building Release"
[ -f build/build.ninja ] || cmake --preset release >/dev/null
cmake --build build --target signal-node signal-bench >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
# Run copies: the tree may be rebuilt by someone else while we measure.
mkdir -p "$WORK/bin"
cp build/signal-node build/signal-bench "$WORK/bin/"
NODE_BIN="$WORK/bin/signal-node"
if [ -n "${OURS_BIN:-}" ]; then # another build of ours, for alternated before/after runs
  cp "$OURS_BIN" "$WORK/bin/signal-node-other"
  NODE_BIN="$WORK/bin/signal-node-other"
  COMMIT="$COMMIT (node: OURS_BIN=$OURS_BIN)"
fi
BENCH="$WORK/bin/signal-bench"

log "installing the seed peer into $WORK/seed"
cp -r "$SEED_DIR" "$WORK/seed"
chmod -R u+w "$WORK/seed"
(cd "$WORK/seed" && npm install --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) ||
  { cat "$WORK/npm.log" >&2; exit 1; }

# Charts: Debian's matplotlib for Debian's python3 (not whatever python3 is
# first on PATH). Installed before the runs, so a missing package fails fast.
PLOT_PY=/usr/bin/python3
if [ -n "$PLOT_DIR" ] && ! "$PLOT_PY" -c 'import matplotlib' 2>/dev/null; then
  log "installing python3-matplotlib (charts)"
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-matplotlib; } \
    >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; log "could not install python3-matplotlib"; exit 1; }
fi

# SERVER_CPUS / BENCH_CPUS: taskset prefixes (empty: no pinning). taskset
# execs its command, so the pids kept below are the servers' own.
PIN_SERVER=()
PIN_BENCH=()
if [ -n "${SERVER_CPUS:-}" ]; then PIN_SERVER=(taskset -c "$SERVER_CPUS"); fi
if [ -n "${BENCH_CPUS:-}" ]; then PIN_BENCH=(taskset -c "$BENCH_CPUS"); fi

# Both servers and the bench hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})'
}

wait_http() { # port path
  for _ in $(seq 1 200); do
    # bash's /dev/tcp: no HTTP client needed
    local response
    # (stderr closed inside the subshell: a refused connect is expected here)
    response=$(exec 2>/dev/null; exec 3<>"/dev/tcp/127.0.0.1/$1" &&
      printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3 && timeout 2 cat <&3)
    [[ "$response" == "HTTP/1.1 200"* ]] && return 0
    sleep 0.05
  done
  return 1
}

# Our node: logs at warn (the seed logs nothing per connection), and a rate
# limit far above what the bench sends (the default 100/s per connection
# would refuse a relay benchmark). Everything else at its default, or as
# OURS_ENV says.
# shellcheck disable=SC2086 # OURS_ENV is a list of NAME=value words
start_ours() { # name port [extra env...]
  local name=$1 port=$2
  shift 2
  env WS_PORT="$port" BIND_ADDRESS=127.0.0.1 ENV_FILE=/nonexistent NODE_ID="$name" LOG_LEVEL=warn \
    RATE_LIMIT_PER_SEC=1000000000 RATE_LIMIT_BURST=1000000000 ${OURS_ENV:-} "$@" "${PIN_SERVER[@]}" "$NODE_BIN" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  STARTED+=("$pid")
  wait_http "$port" /readyz || { cat "$WORK/$name.log" >&2; log "$name did not become ready"; exit 1; }
  LAST_PID=$pid
}

start_seed() { # port
  (cd "$WORK/seed" && WS_PORT="$1" exec "${PIN_SERVER[@]}" node server.js) >"$WORK/seed.log" 2>&1 &
  local pid=$!
  STARTED+=("$pid")
  wait_http "$1" /api/ping || { cat "$WORK/seed.log" >&2; log "seed did not start"; exit 1; }
  LAST_PID=$pid
}

start_redis() { # port
  "${PIN_SERVER[@]}" redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
  local pid=$!
  STARTED+=("$pid")
  for _ in $(seq 1 100); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  LAST_PID=$pid
}

# bench TAG SCENARIO ARGS...: one signal-bench run, its JSON tagged and kept.
bench() {
  local tag=$1
  shift
  log "run $tag: signal-bench $*"
  local json
  json=$("${PIN_BENCH[@]}" "$BENCH" "$@" --label "$tag" --json) || true
  LAST_JSON=""
  [ -n "$json" ] || { log "$tag produced no result"; return 0; }
  echo "$json" >>"$RESULTS"
  LAST_JSON=$json
}

field() { # json key.path
  node -e 'let v=JSON.parse(process.argv[1]||"{}");for(const k of process.argv[2].split("."))v=v==null?undefined:v[k];console.log(v??0)' "$1" "$2"
}

RELAY=(relay --rooms "$ROOMS" --window "$WINDOW" --size "$SIZE" --duration "$RELAY_SECS" --warmup "$WARMUP_SECS" --threads "$THREADS"
  --guest-order "$GUEST_ORDER")
STORM=(storm --clients "$STORM_CLIENTS" --timeout 20 --threads "$THREADS")
FLOOD=(flood --rooms "$FLOOD_ROOMS" --messages "$FLOOD_MESSAGES" --size "$FLOOD_SIZE" --senders "$FLOOD_SENDERS"
  --warmup-rounds "$FLOOD_WARMUP_ROUNDS" --timeout "$FLOOD_TIMEOUT" --threads "$FLOOD_THREADS" --guest-order "$GUEST_ORDER")

{
  echo "date=$(date -u +%FT%TZ) nproc=$(nproc) loadavg_start=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
  echo "cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')\" kernel=$(uname -r)"
  echo "fd_limit=$(ulimit -n) node=$(node --version) redis=$(redis-server --version | grep -o 'v=[0-9.]*')"
  echo "scenarios=\"$SCENARIOS\" commit=$COMMIT"
} >"$WORK/machine.txt"

OURS_PORT=$(free_port)
SEED_PORT=$(free_port)
HALF="" # the single-node same-load rate, once relay has run

# -- relay: peak on each, then both at half the lower peak ---------------------------

scenario_relay() {
  start_ours ours "$OURS_PORT"
  local ours_pid=$LAST_PID
  start_seed "$SEED_PORT"
  local seed_pid=$LAST_PID
  bench ours.relay.peak "${RELAY[@]}" --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$ours_pid"
  local ours_peak
  ours_peak=$(field "$LAST_JSON" relays_per_s)
  bench seed.relay.peak "${RELAY[@]}" --url "ws://127.0.0.1:$SEED_PORT/" --server-pid "$seed_pid"
  local seed_peak
  seed_peak=$(field "$LAST_JSON" relays_per_s)
  HALF=$(node -e 'console.log(Math.max(100, Math.floor(Math.min(+process.argv[1], +process.argv[2]) / 2)))' "$ours_peak" "$seed_peak")
  log "peaks: ours $ours_peak, seed $seed_peak relays/s; same-load runs at $HALF relays/s"
  bench ours.relay.half "${RELAY[@]}" --rate "$HALF" --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$ours_pid"
  bench seed.relay.half "${RELAY[@]}" --rate "$HALF" --url "ws://127.0.0.1:$SEED_PORT/" --server-pid "$seed_pid"
  stop_pid "$ours_pid"
  stop_pid "$seed_pid"
}

# -- storm: fresh servers ---------------------------------------------------------------

# fresh_pair LABEL ARGS...: one signal-bench run on a freshly started node of
# ours (ours.LABEL), then one on a freshly started seed (seed.LABEL).
fresh_pair() {
  local label=$1
  shift
  start_ours ours "$OURS_PORT"
  bench "ours.$label" "$@" --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$LAST_PID"
  stop_pid "$LAST_PID"
  start_seed "$SEED_PORT"
  bench "seed.$label" "$@" --url "ws://127.0.0.1:$SEED_PORT/" --server-pid "$LAST_PID"
  stop_pid "$LAST_PID"
}

scenario_storm() {
  local i
  for i in $(seq 1 "$STORM_RUNS"); do
    fresh_pair "storm.$i" "${STORM[@]}"
  done
}

# -- idle: per-connection cost at each step, a fresh server each time (RSS baseline) --

scenario_idle() {
  local n extra=()
  for n in $IDLE_STEPS; do
    extra=()
    if [ "$IDLE_RELAY_RATE" != 0 ]; then
      extra=(--rate "$IDLE_RELAY_RATE" --rooms "$IDLE_RELAY_ROOMS" --window "$WINDOW" --size "$SIZE"
        --duration "$RELAY_SECS" --warmup "$WARMUP_SECS")
    fi
    local idle=(idle --connections "$n" --hold "$HOLD_SECS" --keepalive "$KEEPALIVE_SECS" --threads "$THREADS" "${extra[@]}")
    fresh_pair "idle.$n" "${idle[@]}"
  done
}

# -- flood: the same flood on each, fresh servers per run, alternating ----------------

scenario_flood() {
  local i
  for i in $(seq 1 "$FLOOD_RUNS"); do
    fresh_pair "flood.$i" "${FLOOD[@]}"
  done
}

# -- cross-node: hosts on node A, guests on node B, one Redis ---------------------------

scenario_cross() {
  local redis_port a_port b_port
  redis_port=$(free_port)
  start_redis "$redis_port"
  local redis_pid=$LAST_PID
  a_port=$(free_port)
  # shellcheck disable=SC2086 # CROSS_ENV is a list of NAME=value words
  start_ours node-a "$a_port" REDIS_URL="redis://127.0.0.1:$redis_port" ${CROSS_ENV:-}
  local a_pid=$LAST_PID
  b_port=$(free_port)
  # shellcheck disable=SC2086
  start_ours node-b "$b_port" REDIS_URL="redis://127.0.0.1:$redis_port" ${CROSS_ENV:-}
  local b_pid=$LAST_PID
  local cross=(--hosts-url "ws://127.0.0.1:$a_port/" --guests-url "ws://127.0.0.1:$b_port/" --server-pid "$a_pid,$b_pid,$redis_pid")
  bench cross.relay.peak "${RELAY[@]}" "${cross[@]}"
  local cross_peak cross_rate
  cross_peak=$(field "$LAST_JSON" relays_per_s)
  # Issue 15's load: half the cross-node peak, with one node at the same rate
  # below. When relay ran, the cross-node relay also runs at its same-load
  # rate (half the lower of our and the seed's peaks) if that is lower, so
  # the two set-ups compare at a lighter load too (until 2026-12-01 that was
  # the only cross-node same-load run whenever it was the lower).
  cross_rate=$(node -e 'console.log(Math.max(100, Math.floor(+process.argv[1] / 2)))' "$cross_peak")
  log "cross-node peak $cross_peak relays/s; cross-node same-load runs at $cross_rate relays/s${HALF:+ and at $HALF}"
  bench cross.relay.half "${RELAY[@]}" --rate "$cross_rate" "${cross[@]}"
  if [ -n "$HALF" ] && [ "$HALF" -lt "$cross_rate" ]; then
    bench cross.relay.seedrate "${RELAY[@]}" --rate "$HALF" "${cross[@]}"
  fi
  bench cross.storm "${STORM[@]}" "${cross[@]}"
  stop_pid "$a_pid"
  stop_pid "$b_pid"
  stop_pid "$redis_pid"
  if [ "$cross_rate" != "$HALF" ]; then
    start_ours ours "$OURS_PORT"
    bench ours.relay.crossrate "${RELAY[@]}" --rate "$cross_rate" --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$LAST_PID"
    stop_pid "$LAST_PID"
  fi
}

# -- shards: the cross-node relay with the rooms on 1 and on K Redis servers ----------

scenario_shards() {
  local run k i port a_port b_port urls pids
  for run in $(seq 1 "$SHARD_RUNS"); do
    for k in $SHARD_COUNTS; do
      urls="" pids=""
      local brokers=()
      for i in $(seq 1 "$k"); do
        port=$(free_port)
        start_redis "$port"
        brokers+=("$LAST_PID")
        urls="$urls${urls:+,}redis://127.0.0.1:$port"
        pids="$pids${pids:+,}$LAST_PID"
      done
      a_port=$(free_port)
      start_ours node-a "$a_port" REDIS_URL="$urls"
      local a_pid=$LAST_PID
      b_port=$(free_port)
      start_ours node-b "$b_port" REDIS_URL="$urls"
      local b_pid=$LAST_PID
      # --server-pid: the brokers only, so server CPU per relay is theirs.
      bench "shards.$k.peak.$run" "${RELAY[@]}" --hosts-url "ws://127.0.0.1:$a_port/" \
        --guests-url "ws://127.0.0.1:$b_port/" --server-pid "$pids"
      log "$k shard(s), run $run: $(field "$LAST_JSON" relays_per_s) relays/s, broker CPU $(field "$LAST_JSON" server.cpu_us_per_relay) us/relay"
      stop_pid "$a_pid"
      stop_pid "$b_pid"
      for i in "${brokers[@]}"; do stop_pid "$i"; done
    done
  done
}

for s in $SCENARIOS; do
  log "scenario $s"
  "scenario_$s"
done

echo "loadavg_end=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" >>"$WORK/machine.txt"

# -- the comparison and the charts --------------------------------------------------------

KNOBS="OURS_ENV=\"${OURS_ENV:-}\" SERVER_CPUS=\"${SERVER_CPUS:-}\" BENCH_CPUS=\"${BENCH_CPUS:-}\" CROSS_ENV=\"${CROSS_ENV:-}\" SHARD_COUNTS=\"$SHARD_COUNTS\" SHARD_RUNS=$SHARD_RUNS RELAY_SECS=$RELAY_SECS WARMUP_SECS=$WARMUP_SECS ROOMS=$ROOMS WINDOW=$WINDOW SIZE=$SIZE THREADS=$THREADS STORM_CLIENTS=$STORM_CLIENTS STORM_RUNS=$STORM_RUNS IDLE_STEPS=\"$IDLE_STEPS\" HOLD_SECS=$HOLD_SECS KEEPALIVE_SECS=$KEEPALIVE_SECS IDLE_RELAY_RATE=$IDLE_RELAY_RATE IDLE_RELAY_ROOMS=$IDLE_RELAY_ROOMS FLOOD_ROOMS=$FLOOD_ROOMS FLOOD_MESSAGES=$FLOOD_MESSAGES FLOOD_SIZE=$FLOOD_SIZE FLOOD_SENDERS=$FLOOD_SENDERS FLOOD_WARMUP_ROUNDS=$FLOOD_WARMUP_ROUNDS FLOOD_RUNS=$FLOOD_RUNS FLOOD_THREADS=$FLOOD_THREADS"
report() {
  node "$HERE/report.js" "$WORK/machine.txt" "$RESULTS" "$KNOBS"
}
if [ -n "$OUT_JSON" ]; then cp "$RESULTS" "$OUT_JSON"; fi
if [ -n "$OUT_MD" ]; then report >"$OUT_MD"; log "wrote $OUT_MD"; else report; fi
if [ -n "$PLOT_DIR" ]; then
  "$PLOT_PY" "$HERE/plot.py" "$RESULTS" "$PLOT_DIR" && log "charts in $PLOT_DIR"
fi
