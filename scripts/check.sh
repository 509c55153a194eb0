#!/usr/bin/env bash
# Runs every test suite and ends with one line CI reads: "N passed, N failed".
#  1. unit tests (meson test) on the normal build
#  2. libFuzzer smoke runs over the checked-in corpus (clang build)
#  3. integration tests (pytest) driving the real runrad/runra/runra-init
#  4. the TypeScript SDK's tests (node --test) against the normal build
#  5. the agent CLIs against a mock model, and `runra agent run`
#  6. the image harness, then the VM backend's suite (scripts/check-vm.sh,
#     where QEMU is installed: make check-vm)
#  7. unit + integration tests again on an ASan+UBSan build
# usage: scripts/check.sh BUILD ASAN_BUILD FUZZ_BUILD
set -uo pipefail
build=${1:-build} asan=${2:-build-asan} fuzz=${3:-build-fuzz}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
py=/usr/bin/python3
passed=0 failed=0 skipped=0
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# Adds the counts from a "N passed, N failed" line or a pytest junit file.
count_line() {
    local line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    passed=$((passed + p)); failed=$((failed + f))
}
count_junit() {
    local xml=$1 out
    if [ ! -s "$xml" ]; then failed=$((failed + 1)); return; fi
    out=$($py - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
t = f = s = 0
for su in suites:
    t += int(su.get('tests', 0)); s += int(su.get('skipped', 0))
    f += int(su.get('failures', 0)) + int(su.get('errors', 0))
print(t - f - s, f, s)
PY
)
    set -- $out
    passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3))
}

unit() {
    local dir=$1 label=$2
    echo "== unit tests ($label)"
    for t in "$dir"/tests/unit/test-*; do
        [ -f "$t" ] && [ -x "$t" ] || continue
        "$t" >"$results/unit.out" 2>&1
        local rc=$?
        cat "$results/unit.out"
        count_line "$results/unit.out"
        [ $rc -ne 0 ] && ! grep -qE '^[0-9]+ passed, [1-9]' "$results/unit.out" && failed=$((failed + 1))
    done
    # The ns backend end to end, with the real runra-init.
    "$dir/tests/ns/ns-e2e" "$dir/src/guest/runra-init" >"$results/unit.out" 2>&1
    local rc=$?
    tail -n 3 "$results/unit.out"
    if [ $rc -eq 77 ]; then skipped=$((skipped + 1)); else count_line "$results/unit.out"; fi
}

integration() {
    local dir=$1 label=$2
    echo "== integration tests ($label)"
    RUNRA_BUILD_DIR="$top/$dir" $py -m pytest -q -p no:cacheprovider \
        --junitxml="$results/junit-$label.xml" tests/integration
    count_junit "$results/junit-$label.xml"
}

# The TypeScript SDK's own tests (node --test) against the normal build; its
# type check runs with a TypeScript compiler cached outside the tree.
sdk() {
    echo "== TypeScript SDK"
    local out="$results/sdk.tap" tsc
    tsc=$(scripts/sdk-tsc.sh 2>"$results/sdk-tsc.err") || tsc=""
    [ -n "$tsc" ] || { echo "(no TypeScript compiler: $(tail -n 1 "$results/sdk-tsc.err"))"; }
    RUNRA_BUILD="$top/$build" RUNRA_TSC_DIR="$tsc" sdk/typescript/test.sh >"$out" 2>&1
    local rc=$? p f s
    p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$out" | tail -n 1)
    f=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$out" | tail -n 1)
    s=$(sed -nE 's/^# skipped ([0-9]+)$/\1/p' "$out" | tail -n 1)
    if [ -z "$p" ] || { [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; }; then
        tail -n 30 "$out"; failed=$((failed + 1)); return
    fi
    [ "${f:-0}" -eq 0 ] || grep -E '^not ok|^# ' "$out" | head -n 40
    echo "$p passed, ${f:-0} failed, ${s:-0} skipped"
    passed=$((passed + p)); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
}

# The real agent CLIs (installed once from npm into a cache) against the
# mock model: on the host, and through `runra agent run`, both modes.
agents() {
    echo "== agents (Claude Code, Codex, OpenCode)"
    if ! scripts/agents.sh >"$results/agents-install.log" 2>&1; then
        tail -n 20 "$results/agents-install.log"
        echo "(the agent tests skip without the CLIs)"
    fi
    RUNRA_BUILD_DIR="$top/$build" $py -m pytest -q -p no:cacheprovider \
        --junitxml="$results/junit-agents.xml" tests/agents
    count_junit "$results/junit-agents.xml"
}

# The image tests' own harness (a real registry in three auth setups,
# fixture images checked with skopeo and umoci): what issue 7 tests against.
images() {
    echo "== image test harness"
    $py -m pytest -q -p no:cacheprovider --junitxml="$results/junit-images.xml" tests/images
    count_junit "$results/junit-images.xml"
}

# The black-box suites again with backend vm (QEMU under TCG counts).
vm() {
    echo "== VM backend (make check-vm)"
    scripts/check-vm.sh "$build" >"$results/vm.out" 2>&1
    grep -E '^(E   |FAILED|ERROR)|passed|failed' "$results/vm.out" | tail -n 60
    count_line "$results/vm.out"
}

unit "$build" normal
integration "$build" normal
sdk
agents
images
vm

if [ "${CHECK_FUZZ:-1}" = 1 ]; then
    echo "== fuzz smoke runs"
    if [ ! -f "$fuzz/build.ninja" ]; then
        CC=clang meson setup "$fuzz" -Dfuzz=true -Db_sanitize=address,undefined \
            -Db_lundef=false -Dstatic_init=false >/dev/null
    fi
    if ninja -C "$fuzz" tests/fuzz/fuzz-frame tests/fuzz/fuzz-spec tests/fuzz/fuzz-http tests/fuzz/fuzz-search tests/fuzz/fuzz-tar tests/fuzz/fuzz-guestmsg tests/fuzz/fuzz-ws tests/fuzz/fuzz-policy tests/fuzz/fuzz-sni tests/fuzz/fuzz-dns tests/fuzz/fuzz-imageref tests/fuzz/fuzz-manifest tests/fuzz/fuzz-regauth tests/fuzz/fuzz-qmp tests/fuzz/fuzz-snapfile >/dev/null; then
        for t in frame spec http search tar guestmsg ws policy sni dns imageref manifest regauth qmp snapfile; do
            # New inputs go to a scratch dir (the first one named), not into
            # the checked-in corpus.
            mkdir -p "$results/corpus-$t"
            # A saved VM's smallest page record is 4 KiB and more.
            max_len=4096
            [ "$t" = snapfile ] && max_len=20000
            if "$fuzz/tests/fuzz/fuzz-$t" -runs=50000 -max_total_time=30 -max_len=$max_len \
                "$results/corpus-$t" "tests/fuzz/corpus/$t" >"$results/fuzz-$t.log" 2>&1; then
                echo "fuzz-$t: ok"; passed=$((passed + 1))
            else
                tail -n 30 "$results/fuzz-$t.log"; echo "fuzz-$t: FAILED"; failed=$((failed + 1))
            fi
        done
    else
        echo "fuzz build failed"; failed=$((failed + 1))
    fi
fi

if [ "${CHECK_ASAN:-1}" = 1 ]; then
    if [ ! -f "$asan/build.ninja" ]; then
        meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false \
            -Dstatic_init=false >/dev/null
    fi
    if ninja -C "$asan" >/dev/null; then
        mkdir -p "$asan/bin"
        ln -sf ../src/daemon/runrad "$asan/bin/runrad"
        ln -sf ../src/cli/runra "$asan/bin/runra"
        ln -sf ../src/guest/runra-init "$asan/bin/runra-init"
        export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        unit "$asan" asan
        integration "$asan" asan
    else
        echo "asan build failed"; failed=$((failed + 1))
    fi
fi

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
