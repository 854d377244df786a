#!/usr/bin/env bash
# Side-by-side benchmark (issue 6): builds Release, starts signal-node and the
# Node.js seed peer (../shared/peers/seed-node, npm-installed into a temp dir),
# runs the same signal-bench scenarios against both in one run, then the
# cross-node relay on 2 nodes + Redis, and prints a markdown comparison.
# Timings never go into the test suite: this script is not part of .ci/run.
#
#   tests/bench/run.sh [-o report.md] [-j results.jsonl]
#
# Knobs (environment): RELAY_SECS (10), WARMUP_SECS (2), ROOMS (100), WINDOW (4),
# SIZE (600), THREADS (bench client threads, 1), STORM_CLIENTS (10000),
# IDLE_CONNS (19800: the fd limit here is 20000 per process), HOLD_SECS (60),
# KEEPALIVE_SECS (20), SEED_DIR (../shared/peers/seed-node), QUICK=1 (short
# runs, for trying the script out; not for figures).
# Every process this script starts is stopped on exit, however it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT_MD=""
OUT_JSON=""
while getopts "o:j:h" opt; do
  case "$opt" in
    o) OUT_MD="$OPTARG" ;;
    j) OUT_JSON="$OPTARG" ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done

RELAY_SECS=${RELAY_SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
ROOMS=${ROOMS:-100}
WINDOW=${WINDOW:-4}
SIZE=${SIZE:-600}
THREADS=${THREADS:-1}
STORM_CLIENTS=${STORM_CLIENTS:-10000}
IDLE_CONNS=${IDLE_CONNS:-19800}
HOLD_SECS=${HOLD_SECS:-60}
KEEPALIVE_SECS=${KEEPALIVE_SECS:-20}
SEED_DIR=${SEED_DIR:-"$ROOT/../shared/peers/seed-node"}
if [ "${QUICK:-0}" = 1 ]; then
  RELAY_SECS=3 WARMUP_SECS=1 STORM_CLIENTS=2000 IDLE_CONNS=2000 HOLD_SECS=5 KEEPALIVE_SECS=2
fi

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

# -- build and stage ------------------------------------------------------------

cd "$ROOT"
log "building Release"
[ -f build/build.ninja ] || cmake --preset release >/dev/null
cmake --build build --target signal-node signal-bench >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
# Run copies: the tree may be rebuilt by someone else while we measure.
mkdir -p "$WORK/bin"
cp build/signal-node build/signal-bench "$WORK/bin/"
NODE_BIN="$WORK/bin/signal-node"
BENCH="$WORK/bin/signal-bench"

log "installing the seed peer into $WORK/seed"
cp -r "$SEED_DIR" "$WORK/seed"
chmod -R u+w "$WORK/seed"
(cd "$WORK/seed" && npm install --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) ||
  { cat "$WORK/npm.log" >&2; exit 1; }

# Both servers and the bench hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})'
}

wait_http() { # port path
  for _ in $(seq 1 200); do
    # bash's /dev/tcp: no HTTP client needed
    local response
    response=$(exec 3<>"/dev/tcp/127.0.0.1/$1" &&
      printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3 && timeout 2 cat <&3) 2>/dev/null
    [[ "$response" == "HTTP/1.1 200"* ]] && return 0
    sleep 0.05
  done
  return 1
}

# Our node: logs at warn (the seed logs nothing per connection), and a rate
# limit far above what the bench sends (the default 100/s per connection
# would refuse a relay benchmark). Everything else at its default.
start_ours() { # name port [extra env...]
  local name=$1 port=$2
  shift 2
  env WS_PORT="$port" BIND_ADDRESS=127.0.0.1 ENV_FILE=/nonexistent NODE_ID="$name" LOG_LEVEL=warn \
    RATE_LIMIT_PER_SEC=1000000000 RATE_LIMIT_BURST=1000000000 "$@" "$NODE_BIN" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  STARTED+=("$pid")
  wait_http "$port" /readyz || { cat "$WORK/$name.log" >&2; log "$name did not become ready"; exit 1; }
  LAST_PID=$pid
}

start_seed() { # port
  (cd "$WORK/seed" && WS_PORT="$1" exec node server.js) >"$WORK/seed.log" 2>&1 &
  local pid=$!
  STARTED+=("$pid")
  wait_http "$1" /api/ping || { cat "$WORK/seed.log" >&2; log "seed did not start"; exit 1; }
  LAST_PID=$pid
}

start_redis() { # port
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
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
  json=$("$BENCH" "$@" --threads "$THREADS" --label "$tag" --json) || true
  [ -n "$json" ] || { log "$tag produced no result"; return 0; }
  echo "$json" >>"$RESULTS"
  LAST_JSON=$json
}

field() { # json key.path
  node -e 'let v=JSON.parse(process.argv[1]);for(const k of process.argv[2].split("."))v=v==null?undefined:v[k];console.log(v??0)' "$1" "$2"
}

RELAY=(relay --rooms "$ROOMS" --window "$WINDOW" --size "$SIZE" --duration "$RELAY_SECS" --warmup "$WARMUP_SECS")
IDLE=(idle --connections "$IDLE_CONNS" --hold "$HOLD_SECS" --keepalive "$KEEPALIVE_SECS")

{
  echo "date=$(date -u +%FT%TZ) nproc=$(nproc) loadavg_start=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
  echo "cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')\" kernel=$(uname -r)"
  echo "fd_limit=$(ulimit -n) node=$(node --version) redis=$(redis-server --version | grep -o 'v=[0-9.]*')"
} >"$WORK/machine.txt"

# -- single node: relay at peak, then both at half the lower peak ----------------

OURS_PORT=$(free_port)
start_ours ours "$OURS_PORT"
OURS_PID=$LAST_PID
SEED_PORT=$(free_port)
start_seed "$SEED_PORT"
SEED_PID=$LAST_PID

bench ours.relay.peak "${RELAY[@]}" --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$OURS_PID"
OURS_PEAK=$(field "$LAST_JSON" relays_per_s)
bench seed.relay.peak "${RELAY[@]}" --url "ws://127.0.0.1:$SEED_PORT/" --server-pid "$SEED_PID"
SEED_PEAK=$(field "$LAST_JSON" relays_per_s)
HALF=$(node -e 'console.log(Math.max(100, Math.floor(Math.min(+process.argv[1], +process.argv[2]) / 2)))' "$OURS_PEAK" "$SEED_PEAK")
log "peaks: ours $OURS_PEAK, seed $SEED_PEAK relays/s; same-load runs at $HALF relays/s"
bench ours.relay.half "${RELAY[@]}" --rate "$HALF" --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$OURS_PID"
bench seed.relay.half "${RELAY[@]}" --rate "$HALF" --url "ws://127.0.0.1:$SEED_PORT/" --server-pid "$SEED_PID"
stop_pid "$OURS_PID"
stop_pid "$SEED_PID"

# -- storm and idle, each on freshly started servers (RSS baselines) -------------

start_ours ours "$OURS_PORT"
OURS_PID=$LAST_PID
start_seed "$SEED_PORT"
SEED_PID=$LAST_PID
bench ours.storm storm --clients "$STORM_CLIENTS" --timeout 20 --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$OURS_PID"
bench seed.storm storm --clients "$STORM_CLIENTS" --timeout 20 --url "ws://127.0.0.1:$SEED_PORT/" --server-pid "$SEED_PID"
stop_pid "$OURS_PID"
stop_pid "$SEED_PID"

start_ours ours "$OURS_PORT"
OURS_PID=$LAST_PID
bench ours.idle "${IDLE[@]}" --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$OURS_PID"
stop_pid "$OURS_PID"
start_seed "$SEED_PORT"
SEED_PID=$LAST_PID
bench seed.idle "${IDLE[@]}" --url "ws://127.0.0.1:$SEED_PORT/" --server-pid "$SEED_PID"
stop_pid "$SEED_PID"

# -- cross-node: hosts on node A, guests on node B, one Redis --------------------

REDIS_PORT=$(free_port)
start_redis "$REDIS_PORT"
REDIS_PID=$LAST_PID
A_PORT=$(free_port)
start_ours node-a "$A_PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
A_PID=$LAST_PID
B_PORT=$(free_port)
start_ours node-b "$B_PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
B_PID=$LAST_PID
CROSS=(--hosts-url "ws://127.0.0.1:$A_PORT/" --guests-url "ws://127.0.0.1:$B_PORT/" --server-pid "$A_PID,$B_PID,$REDIS_PID")
bench cross.relay.peak "${RELAY[@]}" "${CROSS[@]}"
CROSS_PEAK=$(field "$LAST_JSON" relays_per_s)
# The same-load comparison needs a load both set-ups sustain: the single-node
# same-load rate, or half the cross-node peak if that is lower.
CROSS_RATE=$(node -e 'console.log(Math.max(100, Math.min(+process.argv[1], Math.floor(+process.argv[2] / 2))))' "$HALF" "$CROSS_PEAK")
log "cross-node peak $CROSS_PEAK relays/s; cross-node same-load runs at $CROSS_RATE relays/s"
bench cross.relay.half "${RELAY[@]}" --rate "$CROSS_RATE" "${CROSS[@]}"
bench cross.storm storm --clients "$STORM_CLIENTS" --timeout 20 "${CROSS[@]}"
stop_pid "$A_PID"
stop_pid "$B_PID"
stop_pid "$REDIS_PID"
if [ "$CROSS_RATE" != "$HALF" ]; then
  start_ours ours "$OURS_PORT"
  OURS_PID=$LAST_PID
  bench ours.relay.crossrate "${RELAY[@]}" --rate "$CROSS_RATE" --url "ws://127.0.0.1:$OURS_PORT/" --server-pid "$OURS_PID"
  stop_pid "$OURS_PID"
fi

echo "loadavg_end=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" >>"$WORK/machine.txt"

# -- the comparison ---------------------------------------------------------------

# Reads the machine lines and the JSON results; prints the markdown tables.
cat >"$WORK/report.js" <<'JS'
const fs = require("fs");
const [machine, results, knobs] = process.argv.slice(2);
const runs = {};
for (const line of fs.readFileSync(results, "utf8").split("\n"))
  if (line.trim()) { const r = JSON.parse(line); runs[r.label] = r; }
const get = (r, path) => path.split(".").reduce((v, k) => (v == null ? undefined : v[k]), r);
const fmt = (v, d = 1) => (v == null || Number.isNaN(v) ? "n/a" : Number(v).toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d}));
const lat = (r, key, d = 0) => r && get(r, key + ".count") ? [50, 99, 999].map((p) => fmt(get(r, `${key}.p${p}`), d)).join(" / ") : "n/a";
const ms = (r, key) => r && get(r, key + ".count") ? [50, 99].map((p) => fmt(get(r, `${key}.p${p}`) / 1000, 1)).join(" / ") : "n/a";
const ratio = (a, b, d = 2) => (a != null && b ? fmt(a / b, d) + "x" : "n/a");
const cpu = (r, per) => get(r, `server.cpu_us_per_${per}`);
const O = runs, o = (k) => O[k];
const rows = [];
const row = (name, a, b, c) => rows.push(`| ${name} | ${a} | ${b} | ${c} |`);
console.log("```");
console.log(fs.readFileSync(machine, "utf8").trim());
console.log(knobs);
console.log("```\n");
const half = get(o("ours.relay.half"), "target_rate");
console.log("Single node: our `signal-node` and the seed peer, same client, same run.\n");
console.log("| | signal-node | seed peer | ours / seed |\n|---|---|---|---|");
const op = o("ours.relay.peak"), sp = o("seed.relay.peak"), oh = o("ours.relay.half"), sh = o("seed.relay.half");
row(`relay peak, relays/s (${get(op, "rooms")} rooms × window ${get(op, "window")}, ${get(op, "frame_bytes")} B)`, fmt(get(op, "relays_per_s"), 0), fmt(get(sp, "relays_per_s"), 0), ratio(get(op, "relays_per_s"), get(sp, "relays_per_s")));
row("server CPU per relay at peak, µs", fmt(cpu(op, "relay"), 2), fmt(cpu(sp, "relay"), 2), ratio(cpu(op, "relay"), cpu(sp, "relay")));
row("round trip at peak, p50 / p99 / p99.9 µs", lat(op, "rtt_us"), lat(sp, "rtt_us"), "");
row(`same load (${fmt(half, 0)} relays/s target): achieved relays/s`, fmt(get(oh, "relays_per_s"), 0), fmt(get(sh, "relays_per_s"), 0), "");
row("same load: server CPU per relay, µs", fmt(cpu(oh, "relay"), 2), fmt(cpu(sh, "relay"), 2), ratio(cpu(oh, "relay"), cpu(sh, "relay")));
row("same load: round trip p50 / p99 / p99.9 µs", lat(oh, "rtt_us"), lat(sh, "rtt_us"), ratio(get(oh, "rtt_us.p99"), get(sh, "rtt_us.p99")) + " (p99)");
row("same load: one way p50 / p99 / p99.9 µs", lat(oh, "one_way_us"), lat(sh, "one_way_us"), "");
const os = o("ours.storm"), ss = o("seed.storm");
const stormDone = (r) => r ? `${fmt(get(r, "completed_pairs") * 2, 0)} of ${fmt(get(r, "clients"), 0)} (${fmt(get(r, "failed_pairs"), 0)} pairs failed)` : "n/a";
row("storm: clients paired and signalled", stormDone(os), stormDone(ss), "");
row("storm: clients/s (to the last completed pair)", fmt(get(os, "clients_per_s"), 0), fmt(get(ss, "clients_per_s"), 0), ratio(get(os, "clients_per_s"), get(ss, "clients_per_s")));
row("storm: connect → answer p50 / p99, ms", ms(os, "pair_us"), ms(ss, "pair_us"), "");
row("storm: server CPU per client, µs", fmt(cpu(os, "client"), 0), fmt(cpu(ss, "client"), 0), ratio(cpu(os, "client"), cpu(ss, "client")));
const oi = o("ours.idle"), si = o("seed.idle");
const idleHeld = (r) => r ? `${fmt(get(r, "connections_open"), 0)} held ${fmt(get(r, "hold_s"), 0)} s: ${fmt(get(r, "dropped_during_hold"), 0)} dropped, ${fmt(get(r, "pairs_verified"), 0)} rooms answered` : "n/a";
row("idle: connections in rooms, keepalive on", idleHeld(oi), idleHeld(si), "");
row("idle: server RSS per connection, bytes", fmt(get(oi, "server_rss_per_connection_bytes"), 0), fmt(get(si, "server_rss_per_connection_bytes"), 0), ratio(get(oi, "server_rss_per_connection_bytes"), get(si, "server_rss_per_connection_bytes")));
row("idle: server RSS before → held, MB", oi ? `${fmt(get(oi, "server_rss_before_kb") / 1024)} → ${fmt(get(oi, "server_rss_held_kb") / 1024)}` : "n/a", si ? `${fmt(get(si, "server_rss_before_kb") / 1024)} → ${fmt(get(si, "server_rss_held_kb") / 1024)}` : "n/a", "");
row("idle: server CPU while held, µs per connection-second", fmt(get(oi, "hold.server.cpu_us_per_connection_second"), 3), fmt(get(si, "hold.server.cpu_us_per_connection_second"), 3), "");
row("bench client CPU per relay at peak, µs", fmt(get(op, "bench_cpu_us_per_relay"), 2), fmt(get(sp, "bench_cpu_us_per_relay"), 2), "");
row("other work on the machine during peak / same-load runs, cores", `${fmt(get(op, "other_load_cores"), 2)} / ${fmt(get(oh, "other_load_cores"), 2)}`, `${fmt(get(sp, "other_load_cores"), 2)} / ${fmt(get(sh, "other_load_cores"), 2)}`, "");
console.log(rows.join("\n"));
rows.length = 0;
const cp = o("cross.relay.peak"), ch = o("cross.relay.half"), cs = o("cross.storm");
const oc = o("ours.relay.crossrate") || oh; // single node at the cross-node same-load rate
const crossRate = get(ch, "target_rate");
console.log("\nCross-node: hosts on node A, guests on node B, one Redis; CPU is both nodes + Redis.\n");
console.log("| | cross-node (2 nodes + Redis) | single node (ours) | cross / single |\n|---|---|---|---|");
row("relay peak, relays/s", fmt(get(cp, "relays_per_s"), 0), fmt(get(op, "relays_per_s"), 0), ratio(get(cp, "relays_per_s"), get(op, "relays_per_s")));
row("total CPU per relay at peak, µs", fmt(cpu(cp, "relay"), 2), fmt(cpu(op, "relay"), 2), ratio(cpu(cp, "relay"), cpu(op, "relay")));
row(`same load (${fmt(crossRate, 0)} relays/s target): achieved relays/s`, fmt(get(ch, "relays_per_s"), 0), fmt(get(oc, "relays_per_s"), 0), "");
row("same load: total CPU per relay, µs", fmt(cpu(ch, "relay"), 2), fmt(cpu(oc, "relay"), 2), ratio(cpu(ch, "relay"), cpu(oc, "relay")));
row("same load: one way p50 / p99 / p99.9 µs", lat(ch, "one_way_us"), lat(oc, "one_way_us"), "");
row("same load: round trip p50 / p99 / p99.9 µs", lat(ch, "rtt_us"), lat(oc, "rtt_us"), "");
row("storm: clients paired and signalled", stormDone(cs), stormDone(os), "");
row("other work on the machine during peak / same-load runs, cores", `${fmt(get(cp, "other_load_cores"), 2)} / ${fmt(get(ch, "other_load_cores"), 2)}`, `${fmt(get(op, "other_load_cores"), 2)} / ${fmt(get(oc, "other_load_cores"), 2)}`, "");
row("storm: clients/s", fmt(get(cs, "clients_per_s"), 0), fmt(get(os, "clients_per_s"), 0), "");
console.log(rows.join("\n"));
const errs = Object.values(runs).filter((r) => Object.keys(r.errors || {}).length || r.misrouted || r.ok === false);
if (errs.length) {
  console.log("\nRuns with errors, misrouted frames or an incomplete result:\n");
  for (const r of errs)
    console.log(`- ${r.label}: ok=${r.ok}, errors=${JSON.stringify(r.errors || {})}, misrouted=${r.misrouted || 0}, disconnects=${JSON.stringify(r.disconnects || {})}`);
}
console.log("\nTargets of issue 6:\n");
console.log("| target | measured | met |\n|---|---|---|");
const yes = (b) => (b == null ? "n/a" : b ? "yes" : "**no**");
const t1 = cpu(oh, "relay") / cpu(sh, "relay");
console.log(`| server CPU per relay ≤ 0.5× seed (same load) | ${fmt(cpu(oh, "relay"), 2)} vs ${fmt(cpu(sh, "relay"), 2)} µs = ${fmt(t1, 2)}x | ${yes(isFinite(t1) ? t1 <= 0.5 : null)} |`);
const t2 = get(oi, "server_rss_per_connection_bytes") / get(si, "server_rss_per_connection_bytes");
console.log(`| RSS per idle connection ≤ 0.5× seed | ${fmt(get(oi, "server_rss_per_connection_bytes"), 0)} vs ${fmt(get(si, "server_rss_per_connection_bytes"), 0)} B = ${fmt(t2, 2)}x | ${yes(isFinite(t2) ? t2 <= 0.5 : null)} |`);
const held = get(oi, "connections_open") || 0;
console.log(`| ≥ 200,000 idle connections held 60 s, none dropped | ${fmt(held, 0)} held ${fmt(get(oi, "hold_s"), 0)} s, ${fmt(get(oi, "dropped_during_hold"), 0)} dropped | ${yes(held >= 200000 && get(oi, "hold_s") >= 60 && !get(oi, "dropped_during_hold"))} |`);
const t4o = get(oh, "rtt_us.p99"), t4s = get(sh, "rtt_us.p99");
console.log(`| p99 round trip at half peak ≤ seed's | ${fmt(t4o, 0)} vs ${fmt(t4s, 0)} µs | ${yes(t4o != null && t4s != null ? t4o <= t4s : null)} |`);
const t5 = cpu(ch, "relay") / cpu(oc, "relay");
console.log(`| cross-node total CPU per relay ≤ 2× single node (same load, ${fmt(crossRate, 0)} relays/s) | ${fmt(cpu(ch, "relay"), 2)} vs ${fmt(cpu(oc, "relay"), 2)} µs = ${fmt(t5, 2)}x | ${yes(isFinite(t5) ? t5 <= 2 : null)} |`);
const t6 = get(ch, "one_way_us.p99");
console.log(`| cross-node p99 one way ≤ 3 ms (${fmt(crossRate, 0)} relays/s) | ${fmt(t6 / 1000, 2)} ms | ${yes(t6 != null ? t6 <= 3000 : null)} |`);
JS
report() {
  node "$WORK/report.js" "$WORK/machine.txt" "$RESULTS" \
    "RELAY_SECS=$RELAY_SECS WARMUP_SECS=$WARMUP_SECS ROOMS=$ROOMS WINDOW=$WINDOW SIZE=$SIZE THREADS=$THREADS STORM_CLIENTS=$STORM_CLIENTS IDLE_CONNS=$IDLE_CONNS HOLD_SECS=$HOLD_SECS KEEPALIVE_SECS=$KEEPALIVE_SECS"
}
if [ -n "$OUT_JSON" ]; then cp "$RESULTS" "$OUT_JSON"; fi
if [ -n "$OUT_MD" ]; then report >"$OUT_MD"; log "wrote $OUT_MD"; else report; fi
