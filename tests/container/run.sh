#!/usr/bin/env bash
# The container stage (ctest label `container`, one test at a time: RUN_SERIAL):
#   run.sh build     deploy/podman.sh setup + build: podman, the Debian base images and
#                    the three images from this working tree; prints the time of each
#                    step and the image sizes. Full log: build-logs/container-build.log
#   run.sh image     check.js image: signal-node:local alone (user, read-only root,
#                    /api/ping, /readyz, a relayed signal, the SIGTERM drain, contents, size)
#   run.sh compose   check.js compose: the compose cluster through its balancer
# The checks install their WebSocket client (ws, pinned in package-lock.json) on first use.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

case "${1:-}" in
  build)
    mkdir -p "$root/build-logs"
    log=$root/build-logs/container-build.log
    t0=$SECONDS
    bash "$root/deploy/podman.sh" setup 2>&1 | tee "$log"
    t1=$SECONDS
    echo "container: podman and base images ready in $((t1 - t0)) s"
    # Each line of the log with the seconds since the build started.
    stamp() {
      local line
      while IFS= read -r line; do printf '%4d %s\n' $((SECONDS - t1)) "$line"; done
    }
    if ! bash "$root/deploy/podman.sh" build 2>&1 | stamp >> "$log"; then
      tail -60 "$log"
      echo "container: image build FAILED after $((SECONDS - t1)) s (full log: $log)"
      exit 1
    fi
    grep -E '^ *[0-9]+ (podman\.sh: | *Hits:| *Misses:)' "$log" | sed 's/^ *[0-9]* //' || true
    podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
      grep -E '^(localhost/signal-|docker\.io/library/debian:)' | sed 's/^/container: image /'
    echo "container: images built in $((SECONDS - t1)) s (stage so far $((SECONDS - t0)) s)"
    ;;
  image | compose)
    cd "$here"
    lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
    if [ "$(cat node_modules/.package-lock.sha256 2> /dev/null)" != "$lock_sum" ]; then
      npm ci --no-audit --no-fund --loglevel=error
      echo "$lock_sum" > node_modules/.package-lock.sha256
    fi
    exec node check.js "$1"
    ;;
  *)
    echo "usage: $0 build | image | compose" >&2
    exit 2
    ;;
esac
