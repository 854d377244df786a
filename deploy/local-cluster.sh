#!/usr/bin/env bash
# A signaling cluster on this machine, without containers: redis-server,
# N signal-node processes and HAProxy in front, all on loopback.
#
#   deploy/local-cluster.sh up [N] [--sentinel] [--shards K]
#                                     start (N nodes, default 3) and print where everything is
#   deploy/local-cluster.sh status    what runs, with each node's /api/ping
#   deploy/local-cluster.sh down      drain and stop everything it started
#
# Redis, three ways (docs/architecture.md, "Shards" and "Sentinel"):
#   (default)     one redis-server; nodes get REDIS_URL
#   --shards K    K independent redis-servers; REDIS_URL lists all K
#   --sentinel    a primary, a replica and three redis-sentinels (quorum 2);
#                 nodes get REDIS_SENTINELS and REDIS_MASTER_NAME=mymaster.
#                 With --shards K: K primary/replica pairs, master groups
#                 shard1..shardK, all watched by the same three sentinels.
#
# Settings: deploy/signal.env (shared with docker-compose and k8s), overridden
# by the environment. Ports: LB_PORT (8080, or the next free one), REDIS_PORT (6380: the first Redis
# server; the others, and the sentinels from SENTINEL_PORT (26380), take the
# next free ones), node ports are picked free. SENTINEL_DOWN_AFTER_MS (2000):
# how long a primary may be silent before the sentinels fail it over. State
# and logs: CLUSTER_DIR (default .local-cluster/).
# TRUSTED_PROXIES defaults to 127.0.0.1/32: HAProxy, whose X-Forwarded-For
# then names each client.
# LB_TLS=1: HAProxy terminates TLS (wss://, https://) with a self-signed
# certificate for localhost/127.0.0.1 made by openssl in CLUSTER_DIR (its CA
# file for clients: CLUSTER_DIR/tls/cert.pem).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CLUSTER_DIR:-$root/.local-cluster}
lb_port=${LB_PORT:-8080}
redis_port=${REDIS_PORT:-6380}
sentinel_port=${SENTINEL_PORT:-26380}
down_after=${SENTINEL_DOWN_AFTER_MS:-2000}
node_bin=${SIGNAL_NODE_BIN:-$root/build/signal-node}

die() {
  echo "local-cluster: $*" >&2
  # A half-started cluster is stopped again, so a failed `up` leaves nothing running.
  [ "${starting:-0}" = 1 ] && down >/dev/null 2>&1
  exit 1
}

# Waits up to $2 seconds for command $1 to succeed.
wait_for() {
  local deadline=$((SECONDS + $2))
  until eval "$1" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# GET http://127.0.0.1:$1$2 (bash's /dev/tcp, no HTTP client needed); with a
# CA file as $3, https through `openssl s_client`. Prints the response and
# succeeds on status 200.
get() {
  local request="GET $2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" response
  if [ -n "${3:-}" ]; then
    response=$(printf "$request" | timeout 2 openssl s_client -quiet -connect "127.0.0.1:$1" \
      -servername localhost -verify_return_error -CAfile "$3" 2>/dev/null) || true
  else
    response=$(exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "$request" >&3 && timeout 2 cat <&3) || true
  fi
  printf '%s' "$response" | tr -d '\r'
  [[ "$response" == "HTTP/1.1 200"* ]]
}

# Sets $free to the first port from $1 on that nothing listens on and this
# run has not handed out yet ($taken: a server started in the background may
# not listen yet). Not a $(...) subshell, or $taken would not keep.
taken=" "
next_port() {
  free=$1
  while [[ "$taken" == *" $free "* ]] || (exec 3<>"/dev/tcp/127.0.0.1/$free") 2>/dev/null; do
    free=$((free + 1))
  done
  taken="$taken$free "
}

# A redis-server (or, for a NAME starting with "sentinel", a redis-sentinel
# whose configuration sentinel_conf PORT writes) in the background, on the
# first free port from FROM: start_server NAME FROM [ARGS...]. Sets $port.
# A port nothing listened on may still be taken (another program's outgoing
# connection, a race): on "Address already in use" the next one is tried.
start_server() {
  local name=$1 from=$2 attempt pid
  shift 2
  for attempt in 1 2 3 4 5 6 7 8; do
    next_port "$from"
    port=$free
    if [[ "$name" == sentinel* ]]; then
      sentinel_conf "$port" > "$dir/$name.conf"
      redis-sentinel "$dir/$name.conf" >"$dir/$name.log" 2>&1 &
    else
      # Its own file in CLUSTER_DIR: a replica writes what it syncs to disk.
      redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --dbfilename "$name.rdb" \
        "$@" >"$dir/$name.log" 2>&1 &
    fi
    pid=$!
    if wait_for "redis-cli -p $port ping | grep -q PONG || ! alive $pid" 10 && alive "$pid"; then
      echo "$name $pid $port" >> "$dir/state"
      return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    grep -q "Address already in use" "$dir/$name.log" || die "$name did not start (see $dir/$name.log)"
    from=$((port + 1))
  done
  die "$name did not start: no free port (see $dir/$name.log)"
}

# Running (a zombie whose parent has not reaped it yet counts as gone).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

up() {
  local n=3 sentinel=0 shards=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --sentinel) sentinel=1 ;;
      --shards) shards=${2:-}; shift ;;
      --shards=*) shards=${1#--shards=} ;;
      [0-9]*) n=$1 ;;
      *) die "up: unknown argument '$1' (usage: up [N] [--sentinel] [--shards K])" ;;
    esac
    shift
  done
  [[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "--shards needs a number of shards, got '$shards'"
  [ -f "$dir/state" ] && die "already up (see $dir/state); run down first"
  command -v redis-server >/dev/null && command -v haproxy >/dev/null || bash "$root/deploy/setup.sh" haproxy
  [ "$sentinel" = 0 ] || command -v redis-sentinel >/dev/null || bash "$root/deploy/setup.sh" redis-sentinel
  if [ ! -x "$node_bin" ]; then
    [ -f "$root/build/build.ninja" ] || cmake --preset release -S "$root" >/dev/null
    cmake --build "$root/build" --target signal-node
  fi
  mkdir -p "$dir"
  : > "$dir/state"
  starting=1

  # Redis: one server per shard (REDIS_URL), or per shard a primary and a
  # replica that three sentinels watch (REDIS_SENTINELS).
  local redis_env=() urls="" masters="" k primary sentinels=""
  for k in $(seq 1 "$shards"); do
    local name=redis
    [ "$shards" = 1 ] || name=redis$k
    start_server "$name" "$redis_port"
    if [ "$sentinel" = 1 ]; then
      primary=$port
      start_server "$name-replica" "$redis_port" --replicaof 127.0.0.1 "$primary"
      local master=mymaster
      [ "$shards" = 1 ] || master=shard$k
      masters="$masters${masters:+,}$master:$primary"
    else
      urls="$urls${urls:+,}redis://127.0.0.1:$port"
    fi
  done
  if [ "$sentinel" = 1 ]; then
    local i m sentinel_ports=()
    sentinel_conf() {
      echo "port $1"
      echo "bind 127.0.0.1"
      echo "dir $dir"
      for m in ${masters//,/ }; do
        echo "sentinel monitor ${m%%:*} 127.0.0.1 ${m##*:} 2"
        echo "sentinel down-after-milliseconds ${m%%:*} $down_after"
        echo "sentinel failover-timeout ${m%%:*} 10000"
      done
    }
    for i in 1 2 3; do
      start_server "sentinel$i" "$sentinel_port"
      sentinels="$sentinels${sentinels:+,}127.0.0.1:$port"
      sentinel_ports+=("$port")
    done
    # Able to fail over once every sentinel knows the other two (they meet
    # through hello messages on the primaries every 2 s).
    for port in "${sentinel_ports[@]}"; do
      for m in ${masters//,/ }; do
        wait_for "redis-cli -p $port sentinel master ${m%%:*} | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2" 30 ||
          die "sentinel on port $port does not know the others (see $dir/sentinel*.log)"
      done
    done
    local names=""
    for m in ${masters//,/ }; do names="$names${names:+,}${m%%:*}"; done
    redis_env=(REDIS_SENTINELS="$sentinels" REDIS_MASTER_NAME="$names")
  else
    redis_env=(REDIS_URL="$urls")
  fi

  # Shared settings, unless the environment already says otherwise.
  while IFS='=' read -r key value; do
    case "$key" in ''|\#*) continue ;; esac
    [ -n "${!key+x}" ] || export "$key=$value"
  done < "$root/deploy/signal.env"

  # HAProxy reaches the nodes from 127.0.0.1 and names each client in
  # X-Forwarded-For: the nodes believe that header from it alone, so
  # per-address limits count clients (127.0.0.2, 127.0.0.3, ... on this
  # machine), not the balancer.
  export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1/32}
  local servers=() i port
  for i in $(seq 1 "$n"); do
    env -u REDIS_URL -u REDIS_SENTINELS -u REDIS_MASTER_NAME NODE_ID=node$i WS_PORT=0 ADMIN_PORT=0 BIND_ADDRESS=127.0.0.1 "${redis_env[@]}" ENV_FILE=/nonexistent \
      "$node_bin" >"$dir/node$i.log" 2>&1 &
    local pid=$!
    # The whole line, with the mode at its end: the log may be read mid-write.
    wait_for "grep -q 'event=listening.* mode=' '$dir/node$i.log'" 20 || die "node$i did not start (see $dir/node$i.log)"
    port=$(sed -n 's/.*event=listening.* port=\([0-9]*\).*/\1/p' "$dir/node$i.log" | head -1)
    echo "node$i $pid $port" >> "$dir/state"
    servers+=("127.0.0.1:$port")
  done

  # Ready when every node says so; then HAProxy, ready when its health
  # checks have found them and it answers /readyz itself.
  for i in $(seq 1 "$n"); do
    port=$(awk -v n="node$i" '$1 == n {print $3}' "$dir/state")
    wait_for "get $port /readyz" 20 || die "node$i never became ready (see $dir/node$i.log)"
  done
  local tls="" scheme=ws ca="" attempt lb_pid from=$lb_port
  if [ "${LB_TLS:-0}" = 1 ]; then
    mkdir -p "$dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
      -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" 2>/dev/null
    cat "$dir/tls/cert.pem" "$dir/tls/key.pem" > "$dir/tls/haproxy.pem"
    tls=" ssl crt $dir/tls/haproxy.pem"
    scheme=wss
    ca="$dir/tls/cert.pem"
  fi
  # As for Redis (start_server): a port free a moment ago may be taken by the
  # time HAProxy binds it (a node's or another program's port 0), and then
  # HAProxy exits at once; the next free port is tried.
  for attempt in 1 2 3 4 5 6 7 8; do
    next_port "$from"
    lb_port=$free
    sh "$root/deploy/haproxy/render.sh" "127.0.0.1:$lb_port$tls" "${servers[@]}" > "$dir/haproxy.cfg"
    haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
    lb_pid=$!
    if wait_for "get $lb_port /readyz $ca || ! alive $lb_pid" 20 && alive "$lb_pid"; then
      echo "haproxy $lb_pid $lb_port $scheme" >> "$dir/state"
      break
    fi
    kill -KILL "$lb_pid" 2>/dev/null || true
    grep -q "Address already in use" "$dir/haproxy.log" || die "haproxy is not serving (see $dir/haproxy.log)"
    [ "$attempt" -lt 8 ] || die "haproxy did not start: no free port (see $dir/haproxy.log)"
    from=$((lb_port + 1))
  done
  starting=0
  status
}

status() {
  [ -f "$dir/state" ] || { echo "local cluster: down"; return 0; }
  echo "local cluster (state in $dir):"
  while read -r name pid port scheme; do
    local state=dead
    alive "$pid" && state=running
    case "$name" in
      redis*) echo "  $name    pid $pid  redis://127.0.0.1:$port  $state  $(redis-cli -p "$port" role 2>/dev/null | head -1)" ;;
      sentinel*) echo "  $name    pid $pid  127.0.0.1:$port  $state" ;;
      haproxy) echo "  haproxy  pid $pid  ${scheme:-ws}://127.0.0.1:$port  (clients connect here)  $state" ;;
      *) echo "  $name    pid $pid  http://127.0.0.1:$port  $state  $(get "$port" /api/ping | sed -n '$p')" ;;
    esac
  done < "$dir/state"
}

down() {
  [ -f "$dir/state" ] || { echo "local cluster: already down"; return 0; }
  # Nodes first (SIGTERM: they drain and leave Redis), then the balancer,
  # then the sentinels (so none fails over a primary stopped on purpose),
  # then Redis.
  local order=() name pid port
  while read -r name pid port _; do
    case "$name" in node*) order+=("$pid") ;; esac
  done < "$dir/state"
  order+=("$(awk '$1 == "haproxy" {print $2}' "$dir/state")")
  order+=($(awk '$1 ~ /^sentinel/ {print $2}' "$dir/state") $(awk '$1 ~ /^redis/ {print $2}' "$dir/state"))
  for pid in "${order[@]}"; do
    [ -n "$pid" ] && alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    wait_for "! alive $pid" 30 || kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$dir/state"
  echo "local cluster: down"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  status) status ;;
  down) down ;;
  *) echo "usage: $0 up [N] [--sentinel] [--shards K] | status | down" >&2; exit 2 ;;
esac
