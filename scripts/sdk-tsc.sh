#!/usr/bin/env bash
# Prints a directory whose node_modules holds a TypeScript compiler, the Node
# types and the openai package's types, for the SDK's type check; installs
# them there from npm the first time (pinned, so every run checks the same).
# usage: scripts/sdk-tsc.sh   (dir: $RUNRA_TSC_CACHE, default /var/cache/runra/tsc)
set -euo pipefail
dir=${RUNRA_TSC_CACHE:-/var/cache/runra/tsc}
pkgs=(typescript@5.6.3 @types/node@20.17.6 openai@4.73.0)
stamp="$dir/.installed"
want="${pkgs[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 1; }
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent "${pkgs[@]}" >&2
    echo "$want" >"$stamp"
fi
echo "$dir"
