#!/bin/sh
# Renders haproxy.cfg.in: render.sh BIND HOST:PORT... > haproxy.cfg
# BIND is an address, optionally followed by "ssl crt PEM" to terminate TLS.
# POSIX sh: runs in the haproxy container too.
set -eu
bind=$1
shift
dir=$(dirname "$0")
servers=""
i=1
for addr in "$@"; do
  servers="${servers}  server node${i} ${addr}
"
  i=$((i + 1))
done
while IFS= read -r line; do
  case "$line" in
    @SERVERS@) printf '%s' "$servers" ;;
    *@BIND@*) printf '%s\n' "$(printf '%s' "$line" | sed "s|@BIND@|$bind|")" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$dir/haproxy.cfg.in"
