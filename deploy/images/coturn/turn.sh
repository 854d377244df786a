#!/bin/sh
# coturn as signal-node's TURN server, configured from the environment (the
# same way in docker-compose and Kubernetes):
#   TURN_SECRET          required: the nodes' TURN_SECRET (use-auth-secret: the
#                        nodes sign time-limited credentials, coturn checks them)
#   TURN_REALM           realm (signal.local)
#   TURN_PORT            listening port, UDP and TCP (3478)
#   TURN_MIN_PORT/_MAX   relay ports (49160..49200)
#   TURN_LISTEN_IP       listen on this address only (default: every address)
#   TURN_RELAY_IP        relay from this address (default: coturn's choice)
#   TURN_EXTERNAL_IP     the public address behind a NAT: PUBLIC or PUBLIC/PRIVATE
#   TURN_DENIED_PEERS    peer address ranges no client may relay to (default:
#                        private, shared and link-local ranges: the networks
#                        behind this server, cloud metadata included); loopback
#                        is refused by coturn itself unless TURN_ALLOW_LOOPBACK=1
#                        (tests on one machine only)
# The secret goes to coturn in a file of its own in /tmp (a tmpfs or emptyDir:
# the root filesystem is read-only), never on its command line, which every
# user of the host can read in /proc. Logs go to stdout.
set -eu
if [ -z "${TURN_SECRET:-}" ]; then
  echo "signal-turn: TURN_SECRET is not set: it must be the nodes' TURN_SECRET" >&2
  exit 1
fi
private="0.0.0.0-0.255.255.255 10.0.0.0-10.255.255.255 100.64.0.0-100.127.255.255 169.254.0.0-169.254.255.255"
private="$private 172.16.0.0-172.31.255.255 192.168.0.0-192.168.255.255 192.0.0.0-192.0.0.255 198.18.0.0-198.19.255.255"
private="$private fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
conf=/tmp/signal-turn.conf
umask 077
printf 'static-auth-secret=%s\n' "$TURN_SECRET" > "$conf"
unset TURN_SECRET
set -- -c "$conf" --use-auth-secret "--realm=${TURN_REALM:-signal.local}" \
  "--listening-port=${TURN_PORT:-3478}" "--min-port=${TURN_MIN_PORT:-49160}" "--max-port=${TURN_MAX_PORT:-49200}" \
  --no-tls --no-dtls --no-cli --fingerprint --no-multicast-peers --stale-nonce=600 \
  --log-file=stdout --simple-log --pidfile=/tmp/turnserver.pid
[ -z "${TURN_LISTEN_IP:-}" ] || set -- "$@" "--listening-ip=$TURN_LISTEN_IP"
[ -z "${TURN_RELAY_IP:-}" ] || set -- "$@" "--relay-ip=$TURN_RELAY_IP"
[ -z "${TURN_EXTERNAL_IP:-}" ] || set -- "$@" "--external-ip=$TURN_EXTERNAL_IP"
[ "${TURN_ALLOW_LOOPBACK:-0}" != 1 ] || set -- "$@" --allow-loopback-peers
for range in ${TURN_DENIED_PEERS-$private}; do
  set -- "$@" "--denied-peer-ip=$range"
done
turnserver "$@" &
pid=$!
# This shell stays as the container's PID 1, which ignores every signal it has
# no handler for: coturn installs none for SIGTERM (compose's and Kubernetes'
# stop), so the stop is passed on.
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
status=0
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" && status=0 || status=$?
done
exit "$status"
