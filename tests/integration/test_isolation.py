"""What a sandbox can see and touch: its own hostname, uid mapping, process
table and network; host secrets masked; host /usr and /etc read-only; the
daemon's state invisible; and two sandboxes invisible to each other."""

import os
import socket
import threading
import time
import uuid

import pytest

from runra_client import VM, Ident, host_uid_ranges, ns_only, procs_with_uids, wait_until


@pytest.fixture(scope="module")
def other(client):
    sb = client.create({"metadata": {"fixture": "other"}})
    yield sb["id"]
    client.destroy(sb["id"])


def test_hostname_is_id(client, sandbox):
    assert client.sh(sandbox, "hostname") == sandbox + "\n"
    assert client.sh(sandbox, "cat /proc/sys/kernel/hostname") == sandbox + "\n"
    assert socket.gethostname() != sandbox


@ns_only("host uid maps; test_vm.py checks QEMU's uids")
def test_root_inside_is_unprivileged_outside(client, sandbox):
    assert client.sh(sandbox, "id -u; id -g") == "0\n0\n"
    ranges = host_uid_ranges(client, sandbox)
    for lo, hi in ranges:
        assert lo >= 1 << 28, f"root inside maps to host uid {lo}"
    gid_map = client.sh(sandbox, "cat /proc/self/gid_map")
    for line in gid_map.splitlines():
        assert int(line.split()[1]) >= 1 << 28, gid_map
    # The sandbox's processes run as that uid on the host.
    assert procs_with_uids(Ident(client, sandbox)), "no host process runs as the sandbox's mapped uid"


@ns_only("test_vm.py checks QEMU's namespaces")
def test_namespaces_differ_from_host(client, sandbox):
    inside = client.sh(sandbox, "for n in user pid mnt net uts ipc cgroup; do "
                                "readlink /proc/self/ns/$n; done").split()
    host = [os.readlink(f"/proc/self/ns/{n}") for n in
            ("user", "pid", "mnt", "net", "uts", "ipc", "cgroup")]
    for i, h in zip(inside, host):
        assert i != h, f"sandbox shares the host's {h}"


@ns_only("a guest kernel has threads of its own; test_vm.py checks the guest sees no host process")
def test_host_processes_invisible(client, sandbox):
    out = client.sh(sandbox, "ps -eo pid,args")
    assert "pytest" not in out and "runrad" not in out, out
    pids = client.sh(sandbox, "ls /proc | grep '^[0-9]*$'").split()
    assert len(pids) < 10, pids
    assert "1" in pids
    comm = client.sh(sandbox, "cat /proc/1/comm")
    assert "runra" in comm, f"pid 1 inside is {comm!r}, not runra-init"


def test_cannot_signal_host_processes(client, sandbox):
    # A host process that would die on any signal a sandbox could send.
    import subprocess
    p = subprocess.Popen(["sleep", "30"])
    try:
        client.exec(sandbox, f"kill -9 {p.pid} 2>/dev/null; kill -9 -1 2>/dev/null; true")
        time.sleep(0.2)
        assert p.poll() is None, "a sandbox killed a host process"
    finally:
        p.kill()
        p.wait()


def test_secrets_masked(client, sandbox):
    for f in ["/etc/shadow", "/etc/gshadow"]:
        res = client.exec(sandbox, f"cat {f}")
        assert res["exitCode"] != 0 or res["stdout"] == "", (f, res)
        r = client.read(sandbox, f)
        assert r.status != 200 or r.body == b"", (f, r)
    res = client.exec(sandbox, "cat /etc/ssh/ssh_host_*key 2>/dev/null; true")
    assert "PRIVATE KEY" not in res["stdout"]


def test_root_and_home_are_the_sandboxes(client, sandbox):
    tag = uuid.uuid4().hex
    host_files = [f"/root/.runra-it-{tag}", f"/home/.runra-it-{tag}"]
    for p in host_files:
        with open(p, "w") as f:
            f.write("host secret")
    try:
        for p in host_files:
            res = client.exec(sandbox, f"cat {p}")
            assert res["exitCode"] != 0 and "host secret" not in res["stdout"], (p, res)
            assert client.read(sandbox, p).status == 404
        # They are writable and the sandbox's own.
        client.sh(sandbox, f"echo mine > /root/inside-{tag} && echo mine > /home/inside-{tag}")
        assert not os.path.exists(f"/root/inside-{tag}")
        assert not os.path.exists(f"/home/inside-{tag}")
        assert client.sh(sandbox, f"cat /root/inside-{tag}") == "mine\n"
    finally:
        for p in host_files:
            os.unlink(p)


@ns_only("a VM's root is its own copy of the image, writable throughout")
def test_usr_etc_root_readonly(client, sandbox):
    for target in ["/usr/runra-evil", "/usr/bin/runra-evil", "/etc/runra-evil", "/runra-evil",
                   "/bin/runra-evil", "/lib/runra-evil"]:
        res = client.exec(sandbox, f"touch {target}")
        assert res["exitCode"] != 0, (target, res)
        assert not os.path.exists(target)
    res = client.exec(sandbox, "echo x >> /etc/passwd")
    assert res["exitCode"] != 0
    res = client.exec(sandbox, "rm -f /usr/bin/env; test -x /usr/bin/env")
    assert res["exitCode"] == 0, "the sandbox deleted /usr/bin/env"
    res = client.exec(sandbox, "mount -o remount,rw /usr 2>&1")
    assert res["exitCode"] != 0
    assert client.exec(sandbox, "touch /usr/runra-evil")["exitCode"] != 0


def test_workspace_and_tmp_writable(client, sandbox):
    client.sh(sandbox, "echo w > /workspace/w && echo t > /tmp/t && cat /workspace/w /tmp/t")
    assert not os.path.exists("/workspace/w")


def test_state_dir_and_socket_invisible(client, sandbox, daemon):
    res = client.exec(sandbox, f"ls -la {daemon.state_dir} 2>&1; ls {os.path.dirname(daemon.state_dir)} 2>&1")
    assert "runra.sock" not in res["stdout"] and "runra.db" not in res["stdout"], res
    assert "sandboxes" not in res["stdout"], res
    res = client.exec(sandbox, "python3 -c \"import socket,sys; s=socket.socket(socket.AF_UNIX);"
                               f"s.connect('{daemon.socket}')\"")
    assert res["exitCode"] != 0, "the sandbox could connect to the daemon's socket"
    found = client.exec(sandbox, "find / -xdev -name runra.sock 2>/dev/null; true", timeoutMs=60000)
    assert "runra.sock" not in found["stdout"]
    assert daemon.state_dir not in client.sh(sandbox, "cat /proc/self/mountinfo")


def test_only_loopback_interface(client, sandbox):
    devs = client.sh(sandbox, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").split()
    if VM:
        # A VM always has its NIC (templates fit every sandbox); without a
        # network its tap is bridged to nothing, and the NIC stays down.
        assert sorted(devs) == ["eth0", "lo"], devs
        assert client.sh(sandbox, "cat /sys/class/net/eth0/operstate").strip() == "down"
    else:
        assert devs == ["lo"], devs
    routes = client.sh(sandbox, "cat /proc/net/route")
    assert len(routes.strip().splitlines()) <= 1, f"the sandbox has IPv4 routes: {routes}"
    assert "eth" not in client.sh(sandbox, "cat /proc/net/if_inet6; cat /proc/net/arp")


def test_cannot_reach_host_loopback(client, sandbox):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def accept_loop():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                accepted.append(c)
            except socket.timeout:
                continue
            except OSError:
                break

    t = threading.Thread(target=accept_loop)
    t.start()
    try:
        # The server works: the host reaches it.
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        assert wait_until(lambda: accepted, 2), "host-side control connection not accepted"
        accepted.clear()
        res = client.exec(sandbox,
                          "python3 -c \"import socket\n"
                          f"try:\n socket.create_connection(('127.0.0.1',{port}),timeout=3); print('CONNECTED')\n"
                          "except OSError as e: print('FAILED', e)\"", timeoutMs=20000)
        assert "FAILED" in res["stdout"], res
        assert "CONNECTED" not in res["stdout"], res
        time.sleep(0.2)
        assert not accepted, "the host's loopback server accepted a connection from the sandbox"
    finally:
        stop.set()
        t.join()
        srv.close()
        for c in accepted:
            c.close()


def test_sandbox_loopback_works(client, sandbox):
    res = client.exec(sandbox,
                      "python3 -c \"import socket\n"
                      "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(1)\n"
                      "c=socket.create_connection(s.getsockname(),timeout=3); a,_=s.accept()\n"
                      "c.sendall(b'ping'); print(a.recv(4).decode())\"", timeoutMs=20000)
    assert res["stdout"] == "ping\n", res


@ns_only("host uid maps; VMs share no kernel at all")
def test_sandboxes_cannot_see_each_other(client, sandbox, other):
    tag = uuid.uuid4().hex
    client.sh(sandbox, f"echo A > /workspace/a-{tag} && echo A > /tmp/a-{tag}")
    for p in [f"/workspace/a-{tag}", f"/tmp/a-{tag}"]:
        assert client.read(other, p).status == 404
        assert client.exec(other, f"cat {p}")["exitCode"] != 0
    assert client.sh(other, "hostname") == other + "\n"
    # A long-running process in one is invisible to the other.
    marker = str(800000 + os.getpid() % 90000)
    th = threading.Thread(target=lambda: client.exec(sandbox, f"sleep {marker}", timeoutMs=4000))
    th.start()
    try:
        assert wait_until(lambda: marker in client.sh(sandbox, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"), 5)
        seen = client.sh(other, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; ps -eo args")
        assert marker not in seen
        out = client.exec(other, "find / -xdev -name 'a-" + tag + "' 2>/dev/null; true", timeoutMs=60000)
        assert tag not in out["stdout"]
    finally:
        th.join(15)
    # Different mapped uids: one sandbox's root is not another's.
    assert host_uid_ranges(client, sandbox) != host_uid_ranges(client, other)


@ns_only("a VM's kernel is the sandbox's own to tune")
def test_kernel_knobs_denied(client, sandbox):
    knobs = ["/proc/sys/kernel/panic", "/proc/sys/vm/swappiness", "/proc/sys/kernel/pid_max"]
    before = {k: open(k).read() for k in knobs}
    for k in knobs:
        res = client.exec(sandbox, f"echo 7 > {k}")
        assert res["exitCode"] != 0, (k, res)
    res = client.exec(sandbox, "echo 3 > /proc/sys/vm/drop_caches")
    assert res["exitCode"] != 0, res
    assert {k: open(k).read() for k in knobs} == before


def test_hostname_change_stays_inside(client, sandbox):
    host = socket.gethostname()
    client.exec(sandbox, "hostname evil-runra-it")
    assert socket.gethostname() == host
    client.exec(sandbox, f"hostname {sandbox}")
