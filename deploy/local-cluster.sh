#!/usr/bin/env bash
# A signaling cluster on this machine, without containers: redis-server,
# N signal-node processes and HAProxy in front, all on loopback.
#
#   deploy/local-cluster.sh up [N]    start (N nodes, default 3) and print where everything is
#   deploy/local-cluster.sh status    what runs, with each node's /api/ping
#   deploy/local-cluster.sh down      drain and stop everything it started
#
# Settings: deploy/signal.env (shared with docker-compose and k8s), overridden
# by the environment. Ports: LB_PORT (8080), REDIS_PORT (6380), node ports are
# picked free. State and logs: CLUSTER_DIR (default .local-cluster/).
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

# Running (a zombie whose parent has not reaped it yet counts as gone).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

up() {
  local n=${1:-3}
  [ -f "$dir/state" ] && die "already up (see $dir/state); run down first"
  command -v redis-server >/dev/null && command -v haproxy >/dev/null || bash "$root/deploy/setup.sh" haproxy
  if [ ! -x "$node_bin" ]; then
    [ -f "$root/build/build.ninja" ] || cmake --preset release -S "$root" >/dev/null
    cmake --build "$root/build" --target signal-node
  fi
  mkdir -p "$dir"
  : > "$dir/state"
  starting=1

  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$dir/redis.log" 2>&1 &
  echo "redis $! $redis_port" >> "$dir/state"
  wait_for "redis-cli -p $redis_port ping | grep -q PONG" 10 || die "redis-server did not start (see $dir/redis.log)"

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
    NODE_ID=node$i WS_PORT=0 ADMIN_PORT=0 BIND_ADDRESS=127.0.0.1 REDIS_URL=redis://127.0.0.1:$redis_port ENV_FILE=/nonexistent \
      "$node_bin" >"$dir/node$i.log" 2>&1 &
    local pid=$!
    # The whole line, with the mode at its end: the log may be read mid-write.
    wait_for "grep -q 'event=listening.* mode=' '$dir/node$i.log'" 20 || die "node$i did not start (see $dir/node$i.log)"
    port=$(sed -n 's/.*event=listening.* port=\([0-9]*\).*/\1/p' "$dir/node$i.log" | head -1)
    echo "node$i $pid $port" >> "$dir/state"
    servers+=("127.0.0.1:$port")
  done

  local bind="127.0.0.1:$lb_port" scheme=ws
  if [ "${LB_TLS:-0}" = 1 ]; then
    mkdir -p "$dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
      -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" 2>/dev/null
    cat "$dir/tls/cert.pem" "$dir/tls/key.pem" > "$dir/tls/haproxy.pem"
    bind="$bind ssl crt $dir/tls/haproxy.pem"
    scheme=wss
  fi
  sh "$root/deploy/haproxy/render.sh" "$bind" "${servers[@]}" > "$dir/haproxy.cfg"
  haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
  echo "haproxy $! $lb_port $scheme" >> "$dir/state"
  # Ready when HAProxy's health checks have found every node ready.
  for i in $(seq 1 "$n"); do
    port=$(awk -v n="node$i" '$1 == n {print $3}' "$dir/state")
    wait_for "get $port /readyz" 20 || die "node$i never became ready (see $dir/node$i.log)"
  done
  local ca=""
  [ "$scheme" = wss ] && ca="$dir/tls/cert.pem"
  wait_for "get $lb_port /readyz $ca" 20 || die "haproxy is not serving (see $dir/haproxy.log)"
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
      redis) echo "  redis    pid $pid  redis://127.0.0.1:$port  $state" ;;
      haproxy) echo "  haproxy  pid $pid  ${scheme:-ws}://127.0.0.1:$port  (clients connect here)  $state" ;;
      *) echo "  $name    pid $pid  http://127.0.0.1:$port  $state  $(get "$port" /api/ping | sed -n '$p')" ;;
    esac
  done < "$dir/state"
}

down() {
  [ -f "$dir/state" ] || { echo "local cluster: already down"; return 0; }
  # Nodes first (SIGTERM: they drain and leave Redis), then the balancer, then Redis.
  local order=() name pid port
  while read -r name pid port _; do
    case "$name" in node*) order+=("$pid") ;; esac
  done < "$dir/state"
  order+=("$(awk '$1 == "haproxy" {print $2}' "$dir/state")" "$(awk '$1 == "redis" {print $2}' "$dir/state")")
  for pid in "${order[@]}"; do
    [ -n "$pid" ] && alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    wait_for "! alive $pid" 30 || kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$dir/state"
  echo "local cluster: down"
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  status) status ;;
  down) down ;;
  *) echo "usage: $0 up [N] | status | down" >&2; exit 2 ;;
esac
