#!/bin/sh
# Makes the files kustomization.yaml's secretGenerator reads, each a fresh
# random value (64 hex digits, no newline: the Redis password goes into
# REDIS_URL verbatim), unless it exists. git ignores k8s/secrets/.
#   sh k8s/secrets.sh && kubectl apply -k k8s/
# Bring your own values instead by writing the files yourself (no newline at
# the end: printf %s "$VALUE" > k8s/secrets/turn-secret). AUTH_JWT_SECRET
# (jwt-secret) must be the one your backend signs tokens with.
set -eu
dir=$(dirname "$0")/secrets
mkdir -p "$dir"
umask 077
for name in redis-password jwt-secret turn-secret sentinel-password; do
  [ -s "$dir/$name" ] && continue
  printf %s "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" > "$dir/$name"
  echo "k8s/secrets/$name: made"
done
