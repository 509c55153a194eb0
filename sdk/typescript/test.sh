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

# One file at a time: each starts its own runrad, and the timing checks
# (streamed output, sandbox timeouts) are fairer on a quiet machine.
exec node --test --test-concurrency=1 test/
