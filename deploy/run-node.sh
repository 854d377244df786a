#!/usr/bin/env bash
# The README's first command: install what is missing, build, start a node.
# Port 4000 unless WS_PORT says otherwise; any flag is passed to signal-node.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
[ -f build/build.ninja ] || cmake --preset release >/dev/null
cmake --build build --target signal-node
exec build/signal-node "$@"
