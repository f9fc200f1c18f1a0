#!/usr/bin/env bash
# The bridges bench/call.ts compares against, installed outside the
# package (they are not dependencies: node-calls-python builds a native
# addon with node-gyp against this machine's CPython). Usage:
#   bash bench/install-peers.sh [DIR]    # default /tmp/execnet-bench-peers
set -euo pipefail
dir="${1:-${BENCH_PEERS:-/tmp/execnet-bench-peers}}"
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || npm init -y >/dev/null
npm install --no-audit --no-fund pythonia node-calls-python >/dev/null
# npm leaves the addon's install script to an allow list: build it here
if [ ! -f node_modules/node-calls-python/build/Release/nodecallspython.node ]; then
  (cd node_modules/node-calls-python && npx --yes node-gyp rebuild >/dev/null)
fi
echo "$dir"
