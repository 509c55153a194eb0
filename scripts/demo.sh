#!/usr/bin/env bash
# `make demo`: a sandbox doing its job. Uses the running daemon if one
# answers on the default socket, else starts one in a temporary state dir;
# creates a sandbox with the default image and shows what it can and cannot
# do; cleans up everything it started.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/$build/bin"
runra="$bin/runra"
export RUNRA_NO_AUTOSTART=1

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; }

state=""
daemon_pid=""
sock=/var/lib/runra/runra.sock
cleanup() {
    [ -n "${id:-}" ] && "$runra" --socket "$sock" rm "$id" >/dev/null 2>&1 || true
    if [ -n "$daemon_pid" ]; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    [ -n "$state" ] && rm -rf "$state"
    return 0
}
trap cleanup EXIT

if ! "$runra" --socket "$sock" health >/dev/null 2>&1; then
    state=$(mktemp -d /tmp/runra-demo.XXXXXX)
    sock="$state/runra.sock"
    "$bin/runrad" --state-dir "$state" 2>"$state/runrad.log" &
    daemon_pid=$!
    for _ in $(seq 100); do
        "$runra" --socket "$sock" health >/dev/null 2>&1 && break
        sleep 0.05
    done
    echo "started runrad (state dir $state)"
fi
R() { "$runra" --socket "$sock" "$@"; }

bold "create a sandbox: default image 'host', 64 MB of memory, 64 pids"
show "runra create --memory 64 --pids 64"
id=$(R create --memory 64 --pids 64)
echo "$id"

bold "who and where am I? (own hostname, root mapped to an unprivileged host uid)"
show "runra exec $id -- sh -c 'hostname; id; pwd'"
R exec "$id" -- sh -c 'hostname; id; pwd'
show "runra exec $id -- cat /proc/self/uid_map   # inside-uid host-uid count"
R exec "$id" -- cat /proc/self/uid_map

bold "its own process table: the host's processes are invisible"
show "runra exec $id -- ps ax"
R exec "$id" -- ps ax

bold "only loopback networking"
show "runra exec $id -- cat /proc/net/dev"
R exec "$id" -- sh -c 'cut -d: -f1 /proc/net/dev | tail -n +3'

bold "secrets are masked, the host's /root and /home are not there"
show "runra exec $id -- sh -c 'wc -c /etc/shadow; ls -A /root /home'"
R exec "$id" -- sh -c 'wc -c /etc/shadow; ls -A /root /home; echo "(empty)"'

bold "writes outside the workspace do not reach the host"
marker="runra-demo-$$"
show "runra exec $id -- sh -c 'echo hi > /tmp/$marker && ls -l /tmp/$marker; touch /usr/$marker'"
R exec "$id" -- sh -c "echo hi > /tmp/$marker && ls -l /tmp/$marker; touch /usr/$marker" || true
if [ -e "/tmp/$marker" ] || [ -e "/usr/$marker" ]; then
    echo "!! the host sees the file: isolation is broken" >&2
    exit 1
fi
echo "host: /tmp/$marker and /usr/$marker do not exist"

bold "files through the API: write, then read back"
echo "print('hello from the sandbox')" | R files write "$id" /workspace/hello.py
R exec "$id" -- python3 /workspace/hello.py 2>/dev/null || R files cat "$id" /workspace/hello.py

bold "the memory limit at work: allocating 200 MB in a 64 MB sandbox"
show "runra exec $id -- sh -c 'head -c 200m /dev/zero | tail > /dev/null'"
set +e
R exec "$id" -- sh -c 'head -c 200m /dev/zero | tail > /dev/null'
rc=$?
set -e
echo "exit code: $rc (killed by the OOM killer; the host is untouched)"

bold "the pids limit at work: a fork bomb is contained"
show "runra exec --timeout 5 $id -- sh -c 'f() { f | f & }; f'"
set +e
R exec --timeout 5 "$id" -- sh -c 'f() { f | f & }; f' >/dev/null 2>&1
set -e
R exec "$id" -- echo "still answering after the fork bomb"

bold "destroy"
show "runra rm $id"
R rm "$id"
id=""
echo "done: nothing left behind"
