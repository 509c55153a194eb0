#!/bin/sh
# Runs the SDK's tests with node --test; the exit code is the result.
#
# Tests that need runrad start their own from $RUNRA_BUILD (default
# ../../build) and skip when not root or when it is not built. The type check
# runs when $RUNRA_TSC_DIR names a directory whose node_modules holds
# typescript and @types/node (and optionally openai).
set -eu
cd "$(dirname "$0")"

# The page's import paths resolve as an installed package's would:
# @runra/sdk to this directory, @runra/runtime to ./runtime, whose re-exports
# import @runra/sdk in turn.
mkdir -p node_modules/@runra
ln -sfn ../.. node_modules/@runra/sdk
ln -sfn ../../runtime node_modules/@runra/runtime
chmod +x test-support/fake-runra.mjs

# The seed's samples create sandboxes from node:22 and python:3.12. When
# this host can run a registry (root, Debian's docker-registry), the
# fixture images of tests/images are served on loopback, and every test's
# runrad reaches "docker.io" there (test-support/daemon.mjs); otherwise the
# samples run on the host image. The server stops when node exits (its
# stdin, a FIFO whose writer node inherits, closes).
if [ -z "${RUNRA_TEST_REGISTRY:-}" ] && [ "$(id -u)" = 0 ] &&
    command -v docker-registry >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    mkfifo "$tmp/stdin"
    /usr/bin/python3 ../../tests/images/serve_fixtures.py <"$tmp/stdin" >"$tmp/out" 2>"$tmp/err" &
    exec 9>"$tmp/stdin"
    rm -f "$tmp/stdin"
    i=0
    while [ $i -lt 600 ] && ! grep -q '^ready ' "$tmp/out" && kill -0 $! 2>/dev/null; do
        sleep 0.2
        i=$((i + 1))
    done
    if grep -q '^ready ' "$tmp/out"; then
        RUNRA_TEST_REGISTRY=$(sed -n 's/^ready //p' "$tmp/out")
        export RUNRA_TEST_REGISTRY
        export RUNRA_TEST_IMAGE_NODE_22=${RUNRA_TEST_IMAGE_NODE_22:-node:22}
        export RUNRA_TEST_IMAGE_PYTHON_3_12=${RUNRA_TEST_IMAGE_PYTHON_3_12:-python:3.12}
        echo "# seed images from a loopback registry at $RUNRA_TEST_REGISTRY"
    else
        echo "# no loopback registry ($(tail -n 1 "$tmp/err")): the seed samples run on host"
    fi
    rm -rf "$tmp"
fi

# One file at a time: each starts its own runrad, and the timing checks
# (streamed output, sandbox timeouts) are fairer on a quiet machine.
exec node --test --test-concurrency=1 test/
