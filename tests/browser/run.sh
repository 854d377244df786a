#!/usr/bin/env bash
# One browser scenario (see e2e.js): installs playwright-core from the lock
# file on first use, then drives Debian's Chromium. Usage: run.sh SCENARIO
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node e2e.js "$@"
