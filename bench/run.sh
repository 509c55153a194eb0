#!/usr/bin/env bash
# `make bench`: runra side by side with bubblewrap and crun, in one run on
# one machine. Prints medians and p99s; docs/benchmarks.md records them.
#   1. a whole sandboxed `true`: bwrap --unshare-all --ro-bind / / true,
#      crun run (bundle: the host's / read-only), runra run -- true
#      (CLI start, create, exec, destroy, through the daemon)
#   2. latencies inside one client: API no-op, exec in a warm sandbox,
#      create+destroy, and the host's own fork+exec+wait as the floor
#   then code search against rg, the egress proxy (bench/egress.py),
#   images (bench/images.py: cold pull against skopeo + umoci, create from
#   an image against host) and VM sandboxes (bench/vm.py)
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
B="$top/$build"
runs=${BENCH_RUNS:-200}
py=/usr/bin/python3
work=$(mktemp -d /tmp/runra-bench.XXXXXX)
daemon=""
cleanup() {
    [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    mountpoint -q "$work/bundle/rootfs" && umount "$work/bundle/rootfs"
    rm -rf "$work"
}
trap cleanup EXIT

stats() { # hyperfine JSON -> "median p99 mean" in ms
    $py - "$1" <<'PY'
import json, sys
t = sorted(json.load(open(sys.argv[1]))["results"][0]["times"])
p99 = t[min(len(t) - 1, int(round(0.99 * (len(t) - 1))))]
print(f"median {t[len(t)//2]*1e3:8.3f} ms   p99 {p99*1e3:8.3f} ms   mean {sum(t)/len(t)*1e3:8.3f} ms   (n={len(t)})")
PY
}
# Every tool gets the same pause before each timed run (not timed): runs
# come 50 ms apart, as requests from agents do, which gives runrad's warm
# pool time to refill. It costs bwrap and crun nothing.
pause="sleep 0.05"
measure() { # name, command...
    local name=$1; shift
    hyperfine -N -w 20 -r "$runs" --prepare "$pause" --export-json "$work/h.json" "$*" >/dev/null 2>&1 ||
        { echo "$name: FAILED to run: $*"; return 1; }
    printf '%-34s %s\n' "$name" "$(stats "$work/h.json")"
}

echo "runra bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, kernel $(uname -r)"
echo "versions: $(bwrap --version), $(crun --version | head -n 1), runra $("$B/src/cli/runra" version 2>/dev/null | head -n 1)"
echo

# crun needs a bundle: the host's / bound read-only as its rootfs.
mkdir -p "$work/bundle/rootfs"
mount --bind -o ro / "$work/bundle/rootfs"
(cd "$work/bundle" && crun spec >/dev/null && $py - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["root"] = {"path": "rootfs", "readonly": True}
json.dump(c, open("config.json", "w"))
PY
)

start_runrad() { # state dir, extra args...
    local state=$1; shift
    "$B/src/daemon/runrad" --state-dir "$state" --log-level warn "$@" 2>"$state.log" &
    daemon=$!
    sock="$state/runra.sock"
    for _ in $(seq 200); do [ -S "$sock" ] && "$B/src/cli/runra" --socket "$sock" health >/dev/null 2>&1 && break; sleep 0.05; done
    sleep 0.5 # the warm pool fills
}
stop_runrad() { kill -TERM "$daemon"; wait "$daemon" || true; daemon=""; }

echo "== a whole sandboxed \`true\` ($runs runs each, hyperfine -N, runs 50 ms apart)"
measure "bwrap --unshare-all" bwrap --unshare-all --ro-bind / / true
# crun refuses hosts whose cgroup v2 mount holds controllers while v1 is in
# use (this machine's hybrid layout), so on such hosts it runs in a private
# mount namespace without the v2 mount. Only crun itself is timed.
if mountpoint -q /sys/fs/cgroup/unified && [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers)" ]; then
    unshare -m bash -c "umount /sys/fs/cgroup/unified && hyperfine -N -w 20 -r $runs \
        --prepare '$pause' --export-json $work/h.json 'crun run --bundle $work/bundle runra-bench' >/dev/null 2>&1" &&
        printf '%-34s %s\n' "crun run" "$(stats "$work/h.json")" || echo "crun run: FAILED"
else
    measure "crun run" crun run --bundle "$work/bundle" runra-bench
fi
start_runrad "$work/cold" --pool 0
measure "runra run -- true (no pool)" "$B/src/cli/runra" --socket "$sock" run -- true
stop_runrad
start_runrad "$work/state"
measure "runra run -- true (warm pool)" "$B/src/cli/runra" --socket "$sock" run -- true
echo
echo "== inside one client (librunra, no process start-up)"
"$B/bench/bench-exec" "$sock" "$runs"

echo
echo "== code search: /usr/include copied into a sandbox's /workspace, against rg on the host's copy"
# Both sides search the same bytes; runra search goes CLI -> runrad ->
# runra-init, which walks and reads inside the sandbox (one thread; the
# sandbox has 1 CPU). rg uses every core, and -j1 is shown as well.
if command -v rg >/dev/null; then
    sid=$("$B/src/cli/runra" --socket "$sock" create --cpu 2)
    "$B/src/cli/runra" --socket "$sock" exec "$sid" -- cp -r /usr/include /workspace/tree
    sruns=${BENCH_SEARCH_RUNS:-10}
    for pat in 'EPOLLEXCLUSIVE' 'struct [a-z_]+_ops \{' '(?i)spin_?lock' '^#define [A-Z_]+ 0x[0-9a-f]+'; do
        n=$( (rg -c --no-filename -e "$pat" /usr/include || true) | awk '{s+=$1} END {print s+0}')
        echo "pattern '$pat' ($n matching lines):"
        for tool in "rg" "rg -j1" "runra search"; do
            case "$tool" in
            rg) cmd=(rg --no-heading -n --column -e "$pat" /usr/include) ;;
            "rg -j1") cmd=(rg -j1 --no-heading -n --column -e "$pat" /usr/include) ;;
            *) cmd=("$B/src/cli/runra" --socket "$sock" search --max 100000 "$sid" "$pat" /workspace/tree) ;;
            esac
            hyperfine -N -i -w 2 -r "$sruns" --export-json "$work/h.json" "$(printf '%q ' "${cmd[@]}")" >/dev/null 2>&1 ||
                { echo "  $tool: FAILED"; continue; }
            printf '  %-32s %s\n' "$tool" "$(stats "$work/h.json")"
        done
    done
    "$B/src/cli/runra" --socket "$sock" rm "$sid" >/dev/null
else
    echo "rg not installed (scripts/deps.sh bench): skipped"
fi

echo
# Egress: the transparent proxy against direct transfers, on a fake internet
# of network namespaces (no traffic leaves this machine).
"$py" "$top/bench/egress.py" "$B" || echo "egress benchmark FAILED"

echo
# Images: a cold pull of a ~90 MB image from a loopback registry against
# skopeo copy + umoci unpack, and a create from a pulled image against host.
"$py" "$top/bench/images.py" "$B" || echo "images benchmark FAILED"

echo
# VM sandboxes: boot, template create, pause and resume, QEMU's memory, with
# the acceleration named (TCG where KVM does not boot a guest).
"$py" "$top/bench/vm.py" "$B" || echo "VM benchmark FAILED"
