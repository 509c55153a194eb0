#!/usr/bin/env bash
# The VM backend's suite: the black-box suites of exec, files, isolation,
# limits, processes, pause/resume and network egress run again with every sandbox created
# with backend vm, plus what only VMs have (tests/integration/test_vm.py).
# Ends with "N passed, N failed, N skipped" like check.sh's stages.
# usage: scripts/check-vm.sh [BUILD]
set -uo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
py=/usr/bin/python3
cache=${RUNRA_VM_CACHE:-/var/cache/runra/vm-test}
if [ ! -x /usr/bin/qemu-system-x86_64 ]; then
    echo "check-vm: no QEMU (apt-get install qemu-system-x86): skipped"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
# The guest kernel once per machine (Debian's package, about 70 MB); the
# daemons under test find it, and the root disks they build, in the cache.
if ! "$build/src/guest/runra-vm-kernel" "$cache/kernel"; then
    echo "check-vm: could not get a guest kernel"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
RUNRA_TEST_BACKEND=vm RUNRA_VM_CACHE="$cache" RUNRA_BUILD_DIR="$top/$build" \
    $py -m pytest -q -p no:cacheprovider --junitxml="$results/junit-vm.xml" \
    tests/integration/test_vm.py tests/integration/test_exec.py tests/integration/test_files.py \
    tests/integration/test_isolation.py tests/integration/test_limits.py \
    tests/integration/test_processes.py tests/integration/test_pause.py \
    tests/integration/test_egress.py
rc=$?
$py - "$results/junit-vm.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 passed, 1 failed, 0 skipped"); sys.exit(0)
suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
t = f = s = 0
for su in suites:
    t += int(su.get('tests', 0)); s += int(su.get('skipped', 0))
    f += int(su.get('failures', 0)) + int(su.get('errors', 0))
print(f"{t - f - s} passed, {f} failed, {s} skipped")
PY
exit $rc
