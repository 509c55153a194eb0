"""What only the VM backend has: a kernel of its own, QEMU jailed on the host,
a guest whose death or misbehaviour the daemon survives. Runs under
`make check-vm` (RUNRA_TEST_BACKEND=vm), which also runs the black-box
suites (exec, files, isolation, limits, pause) against backend vm."""

import hashlib
import os
import platform
import shutil
import subprocess
import time

import pytest

from runra_client import FORK_BOMB, VM, VM_CACHE, wait_until

pytestmark = pytest.mark.skipif(not VM, reason="VM backend suite: make check-vm")


def qemu_pids():
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def wait_gone(path, timeout=30):
    deadline = time.time() + timeout
    while os.path.exists(path) and time.time() < deadline:
        time.sleep(0.1)
    return not os.path.exists(path)


def wait_state(client, sid, want, timeout=30):
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = client.get(f"/v1/sandboxes/{sid}").json()["state"]
        if state == want:
            break
        time.sleep(0.2)
    return state


def sh(client, sid, script, **kw):
    return client.exec(sid, argv=["sh", "-c", script], **kw)


def test_health_names_the_acceleration(client, sandbox):
    h = client.get("/v1/health").json()
    vm = h["backends"]["vm"]
    assert vm["available"] is True
    # A VM has run (the shared sandbox), so the probe has spoken.
    assert vm["accel"] in ("kvm", "tcg")


def test_guest_kernel_is_not_the_hosts(client, sandbox):
    r = sh(client, sandbox, "uname -r; cat /proc/1/comm; nproc")
    release, init, _ = r["stdout"].split("\n", 2)
    assert release and release != platform.release()
    assert init == "init"  # runra-init, the guest's PID 1


def test_guest_sees_only_runras_devices(client, sandbox):
    # Two disks (the image, the sandbox's own), the protocol's port and one
    # NIC (on a tap bridged to nothing while the sandbox has no network):
    # no 9p or other share of the host's files.
    r = sh(client, sandbox, "ls /sys/bus/virtio/drivers/virtio_blk | grep -c virtio; "
                            "cat /sys/class/virtio-ports/*/name; ls /sys/class/net")
    disks, ports, nets = r["stdout"].split("\n", 2)
    assert disks == "2"
    assert ports == "runra"
    assert nets.split() == ["eth0", "lo"]
    r = sh(client, sandbox, "grep -c -E ' (9p|virtiofs|nfs) ' /proc/mounts || true")
    assert r["stdout"].strip() == "0"


def test_guest_cannot_see_the_daemon(client, sandbox, daemon):
    # Not the state dir, not the QMP socket, not the host's processes.
    r = sh(client, sandbox, f"ls -d {daemon.state_dir} {VM_CACHE} 2>&1; ls /proc | grep -c '^[0-9]'")
    assert "No such file" in r["stdout"]
    assert int(r["stdout"].strip().split("\n")[-1]) < 100
    # Nowhere a share or a runra mount would put it (a walk of the whole
    # root is minutes under emulation), nor at its host path.
    qmp = os.path.join(daemon.state_dir, "sandboxes", sandbox, "vm", "qmp.sock")
    r = sh(client, sandbox, f"ls {qmp} 2>&1; find / /mnt /run /tmp /var /dev /workspace -xdev "
                            "-maxdepth 3 -name 'qmp*' 2>/dev/null | head -n 3")
    assert "No such file" in r["stdout"] and "qmp" not in r["stdout"].replace(qmp, ""), r


def test_qemu_is_jailed(client, sandbox, daemon):
    """QEMU runs as the sandbox's uid range, with no capabilities, in its own
    namespaces and cgroup, and sees a root holding only what it needs."""
    allowed = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "dev", "proc",
               "vm", "kernel", "initrd.img", "root.img"}
    found = False
    for pid in qemu_pids():
        try:
            status = open(f"/proc/{pid}/status").read()
            root = os.listdir(f"/proc/{pid}/root")
        except OSError:
            continue
        if sandbox not in open(f"/proc/{pid}/cgroup").read():
            continue
        found = True
        uid = int(status.split("\nUid:\t")[1].split()[0])
        assert uid >= 0x10000000, "QEMU must not run as a host user"
        capeff = status.split("\nCapEff:\t")[1].split()[0]
        capbnd = status.split("\nCapBnd:\t")[1].split()[0]
        assert int(capeff, 16) == 0 and int(capbnd, 16) == 0
        assert "NoNewPrivs:\t1" in status
        assert "Seccomp:\t2" in status  # QEMU's own -sandbox filter
        assert set(root) <= allowed, set(root) - allowed
        assert {"usr", "dev", "proc", "vm", "kernel", "initrd.img", "root.img"} <= set(root)
        assert sorted(os.listdir(f"/proc/{pid}/root/dev")) == ["net", "null", "random",
                                                               "urandom", "zero"]
        assert os.listdir(f"/proc/{pid}/root/dev/net") == ["tun"]
        # Its namespace holds the VM's tap and nothing more (this sandbox
        # has no network: no veth, no bridge).
        links = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-o", "link"],
                               stdout=subprocess.PIPE, text=True, check=True).stdout
        assert sorted(l.split(":")[1].strip() for l in links.splitlines()) == ["lo", "tap0"]
        for ns in ("pid", "mnt", "net", "user"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
    assert found, "no QEMU process in the sandbox's cgroup"


def test_fork_bomb_is_contained_in_the_guest(client):
    """The sandbox's pids limit holds inside the guest (its cgroup): the bomb
    presses on it until the exec's timeout, and the sandbox carries on."""
    sid = client.create({"resources": {"pids": 64}})["id"]
    try:
        # Long enough for the bomb to reach the limit under emulation
        # (python starts slowly there), however busy the host is.
        res = client.exec(sid, FORK_BOMB, timeoutMs=8000, timeout=60)
        assert res["timedOut"] is True, res
        # The timeout kills the bomb's tree; until it is gone, forks fail.
        assert wait_until(lambda: client.exec_raw(sid, argv=["true"]).status == 200, 20)
        ev = sh(client, sid, "cat /sys/fs/cgroup/sandbox/pids.events /sys/fs/cgroup/sandbox/pids.max")
        hits, limit = ev["stdout"].split("\n")[:2]
        assert int(hits.split()[1]) > 0 and limit == "64", (ev, res)
        assert wait_until(lambda: int(sh(client, sid, "grep -l . /proc/[0-9]*/cmdline | wc -l")
                                      ["stdout"]) < 6, 15)
        assert client.health()["status"] == "ok"
    finally:
        client.destroy(sid)


def test_files_and_exec_roundtrip(client, sandbox):
    data = os.urandom(300_000)
    r = client.write(sandbox, "/workspace/blob.bin", data)
    assert r.status in (200, 201, 204), r
    r = sh(client, sandbox, "sha256sum /workspace/blob.bin | cut -d' ' -f1")
    assert r["stdout"].strip() == hashlib.sha256(data).hexdigest()
    r = client.read(sandbox, "/workspace/blob.bin")
    assert r.status == 200 and r.body == data


def test_poweroff_is_the_sandboxs_death(client, daemon):
    sb = client.create({})
    sid = sb["id"]
    before = qemu_pids()
    # sysrq 'o': the guest kernel powers off at once; QEMU exits.
    r = client.exec_raw(sid, argv=["sh", "-c", "echo o > /proc/sysrq-trigger; sleep 30"])
    assert r.status >= 400, r  # the exec ends with its VM
    assert wait_state(client, sid, "failed") == "failed"
    r = client.exec_raw(sid, argv=["true"])
    assert r.status >= 400
    client.destroy(sid)
    assert wait_gone(os.path.join(daemon.state_dir, "sandboxes", sid))
    assert qemu_pids() <= before


def test_guest_panic_is_the_sandboxs_death(client, daemon):
    sb = client.create({})
    sid = sb["id"]
    client.exec_raw(sid, argv=["sh", "-c", "echo c > /proc/sysrq-trigger"])
    assert wait_state(client, sid, "failed") == "failed"
    client.destroy(sid)
    assert wait_gone(os.path.join(daemon.state_dir, "sandboxes", sid))


# The guest's root takes the protocol's port from runra-init (unbinding
# and rebinding the virtio console driver), then writes to runrad what it
# likes: what a guest kernel or runra-init gone hostile could send.
TAKEOVER = """
sleep 1
d=$(basename $(readlink -f /sys/class/virtio-ports/*/device))
echo $d > /sys/bus/virtio/drivers/virtio_console/unbind
echo $d > /sys/bus/virtio/drivers/virtio_console/bind
sleep 1
({payload}) > $(ls /dev/vport* | head -n1)
"""


@pytest.mark.parametrize("payload", [
    "head -c 4000000 /dev/urandom",  # garbage
    # a frame header announcing 2 GiB of payload, then a trickle
    "printf '\\000\\000\\000\\200\\000\\000\\000\\000\\001\\000\\000\\000'; sleep 20",
    # a well-formed HELLO out of turn, then frames for calls never made
    "printf '\\024\\000\\000\\000\\000\\000\\000\\000\\001\\000\\000\\000"
    "{\"version\":1,\"pid\":1}'; head -c 100000 /dev/zero",
])
def test_hostile_guest_cannot_hurt_the_daemon(client, daemon, sandbox, payload):
    """Whatever the guest sends, its sandbox fails or carries on; runrad and
    the other sandboxes carry on, and the sandbox deletes cleanly."""
    sb = client.create({})
    sid = sb["id"]
    r = client.write(sid, "/tmp/takeover.sh", TAKEOVER.replace("{payload}", payload).encode())
    assert r.status in (200, 201), r
    client.exec(sid, argv=["sh", "-c", "(setsid sh /tmp/takeover.sh </dev/null >/dev/null 2>&1 &)"])
    time.sleep(4)
    assert client.get("/v1/health").status == 200
    assert sh(client, sandbox, "echo alive")["stdout"] == "alive\n"
    assert wait_state(client, sid, "failed", timeout=10) == "failed"
    client.destroy(sid)
    assert wait_gone(os.path.join(daemon.state_dir, "sandboxes", sid))


def test_bad_vm_specs_are_refused_and_change_nothing(client, daemon):
    before = set(os.listdir(os.path.join(daemon.state_dir, "sandboxes")))
    for spec, code in [
        ({"resources": {"memoryMb": 1}}, 400),
        ({"mounts": [{"source": "/usr/share", "target": "/mnt/x"}]}, 400),
        ({"network": {"mode": "allowlist", "allow": ["bad host name"]}}, 400),
        ({"backend": "kvm"}, 400),
    ]:
        r = client.post("/v1/sandboxes", {"backend": "vm", **spec})
        assert r.status == code, (spec, r)
    assert set(os.listdir(os.path.join(daemon.state_dir, "sandboxes"))) == before


TEMPLATE_SPEC = {"resources": {"memoryMb": 320, "diskMb": 48, "pids": 96}}
TEMPLATES = os.path.join(VM_CACHE, "templates")


def templates_of(disk_mb):
    """Keys (cache/templates/KEY/) of the templates with disks of disk_mb."""
    keys = []
    for k in os.listdir(TEMPLATES) if os.path.isdir(TEMPLATES) else []:
        disk = os.path.join(TEMPLATES, k, "disk")
        if os.path.isfile(disk) and os.path.getsize(disk) == disk_mb << 20:
            keys.append(k)
    return keys


def marks():
    return sorted(f for f in os.listdir(TEMPLATES) if f.endswith((".wanted", ".failed")))


def forget_templates_of(disk_mb):
    """No template of that disk size, and no shape marked as seen once."""
    for k in templates_of(disk_mb):
        subprocess.run(["rm", "-rf", os.path.join(TEMPLATES, k)], check=True)
    for f in marks() if os.path.isdir(TEMPLATES) else []:
        os.unlink(os.path.join(TEMPLATES, f))


def log_since(daemon, pos):
    with open(daemon.log_path, "rb") as f:
        f.seek(pos)
        return f.read().decode(errors="replace")


def started_from(log, sid):
    """Where the daemon's log says the VM came from: 'boot' or a template's key."""
    for line in log.splitlines():
        if "event=vm.started" in line and f"sandbox={sid} " in line:
            return line.split("from=")[1].split()[0]
    raise AssertionError(f"no vm.started for {sid}")


def vm_disk(daemon, sid):
    return os.path.join(daemon.state_dir, "sandboxes", sid, "vm", "disk.img")


def test_template_restores_are_separate_sandboxes(client, daemon):
    """A shape's first create boots and marks the shape; its second builds
    the template (the root made, saved with its disk) and restores it;
    later ones restore it. Each restore is its own sandbox: its name,
    limits, randomness and a copy of the template's disk."""
    forget_templates_of(48)
    pos = os.path.getsize(daemon.log_path)
    first = client.create(TEMPLATE_SPEC)["id"]
    sids = [first]
    try:
        assert started_from(log_since(daemon, pos), first) == "boot"
        assert len(marks()) == 1 and marks()[0].endswith(".wanted"), marks()
        assert templates_of(48) == []
        # The fourth differs in limits only: the same shape (1 vCPU), so the
        # same template, whose guest holds the second's limits.
        sids += [client.create(TEMPLATE_SPEC)["id"] for _ in range(2)]
        sids.append(client.create({"resources": {**TEMPLATE_SPEC["resources"], "pids": 50,
                                                 "cpu": 0.5}})["id"])
        keys = templates_of(48)
        assert len(keys) == 1 and marks() == [], (keys, marks())
        log = log_since(daemon, pos)
        assert [started_from(log, sid) for sid in sids[1:]] == [keys[0]] * 3
        assert log.count(f"event=vm.template key={keys[0]} ") == 1
        # Its saved VM went into the cache without guest RAM's zero pages
        # (the restores below find that RAM as it was).
        comp = [ln for ln in log.splitlines() if "event=vm.template_snap " in ln]
        assert len(comp) == 1 and "compacted=yes" in comp[0], comp
        assert int(comp[0].split("dropped=")[1].split()[0]) > 10000, comp
        # The template is runrad's: root's, read-only; each disk a copy.
        tdisk = os.stat(os.path.join(TEMPLATES, keys[0], "disk"))
        assert tdisk.st_uid == 0 and tdisk.st_mode & 0o777 == 0o400
        disks = [os.stat(vm_disk(daemon, sid)) for sid in sids]
        assert len({d.st_ino for d in disks} | {tdisk.st_ino}) == 5
        assert all(d.st_uid != 0 for d in disks)

        rand = set()
        for sid, want_pids, want_cpu in zip(sids, ["96"] * 3 + ["50"],
                                            ["100000 100000"] * 3 + ["50000 100000"]):
            out = sh(client, sid, "hostname; cat /etc/hostname; grep -c \"$(hostname)\" /etc/hosts; "
                                  "pwd; df -m --output=size / | tail -1; cd /sys/fs/cgroup/sandbox; "
                                  "cat memory.max memory.swap.max pids.max cpu.max; "
                                  "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'")
            assert out["exitCode"] == 0, out
            host, etc_host, hosts, pwd, size, mem, swap, pids, cpu, r = out["stdout"].split("\n")[:10]
            assert host == etc_host == sid and hosts == "1" and pwd == "/workspace", out
            assert 40 <= int(size) <= 48, out
            assert int(mem) == 320 << 20 and swap == "0", out
            assert pids == want_pids and cpu == want_cpu, out
            rand.add(r)
        assert len(rand) == 4, rand

        # Their disks are their own: a file in one is not in another, and
        # filling one leaves the others be.
        client.write(sids[1], "/workspace/mine", b"sandbox 1\n")
        assert sh(client, sids[2], "test -e /workspace/mine")["exitCode"] != 0
        full = sh(client, sids[2], "dd if=/dev/zero of=/workspace/big bs=1M count=64 2>&1")
        assert full["exitCode"] != 0 and "No space left" in full["stdout"], full
        assert sh(client, sids[1], "cat /workspace/mine")["stdout"] == "sandbox 1\n"

        # The disk the guest found is the one the saved VM knew: after many
        # writes, its filesystem checks clean (the VM paused: QEMU gone).
        assert sh(client, sids[1], "mkdir -p /workspace/t && cd /workspace/t && "
                                   "for i in $(seq 200); do echo $i > f$i; done && "
                                   "rm f1* && cp -r /etc/ssl . 2>/dev/null; sync")["exitCode"] == 0
        assert client.post(f"/v1/sandboxes/{sids[1]}/pause").status == 200
        fsck = subprocess.run(["e2fsck", "-fn", vm_disk(daemon, sids[1])], capture_output=True,
                              text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        assert client.post(f"/v1/sandboxes/{sids[1]}/resume").status == 200
        assert sh(client, sids[1], "cat /workspace/t/f200")["stdout"] == "200\n"
    finally:
        for sid in sids:
            client.destroy(sid)


def test_a_template_that_does_not_load_is_dropped(client, daemon):
    """A damaged template costs one create a boot, not a failure: the
    create succeeds, the template is removed and made again later. A
    create that fails for its own reasons leaves the template be."""
    keys = templates_of(48)
    if not keys:
        forget_templates_of(48)
        for _ in range(2):
            client.destroy(client.create(TEMPLATE_SPEC)["id"])
        keys = templates_of(48)
    assert len(keys) == 1, keys
    tdir = os.path.join(TEMPLATES, keys[0])

    # The guest cannot make this workdir (/etc/hostname is a file): it
    # refuses the restore's setup, and the create fails with its answer,
    # without a boot (which would be refused the same way); the template
    # stays.
    pos = os.path.getsize(daemon.log_path)
    r = client.post("/v1/sandboxes", {"backend": "vm", **TEMPLATE_SPEC,
                                      "workdir": "/etc/hostname/x"})
    body = r.body.decode()
    assert r.status >= 400 and "workdir" in body and "runra-init" in body, r
    log = log_since(daemon, pos)
    assert "event=vm.template_unused" not in log and "event=vm.started" not in log, log
    assert os.path.isdir(tdir)

    with open(os.path.join(tdir, "snap"), "r+b") as f:
        f.seek(64)
        f.write(b"\xff" * 4096)
    pos = os.path.getsize(daemon.log_path)
    sid = client.create(TEMPLATE_SPEC)["id"]
    try:
        log = log_since(daemon, pos)
        assert started_from(log, sid) == "boot"
        assert f"event=vm.template_unused sandbox={sid} template={keys[0]} dropped=yes" in log, log
        assert not os.path.exists(tdir)
        assert sh(client, sid, "hostname")["stdout"].strip() == sid
    finally:
        client.destroy(sid)
    assert wait_gone(os.path.join(daemon.state_dir, "sandboxes", sid))
    assert not sandbox_qemu(sid)


def test_runrads_sharing_a_cache_build_a_template_once(client, daemon):
    """Two runrads on one VM cache take turns at its lock (an flock): when
    both want a shape's template at once, one builds it and the other,
    once the lock is its, restores the same one."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import finish_daemon, start_daemon
    spec = {"resources": {"memoryMb": 320, "diskMb": 44}}
    forget_templates_of(44)
    other = start_daemon()
    made = []
    try:
        pos_a = os.path.getsize(daemon.log_path)
        made.append((client, client.create(spec)["id"]))  # marks the shape
        pos_b = os.path.getsize(other.log_path)
        with ThreadPoolExecutor(2) as ex:
            futures = [ex.submit(c.create, spec) for c in (client, other.client)]
            ids = [f.result()["id"] for f in futures]
        made += [(client, ids[0]), (other.client, ids[1])]
        keys = templates_of(44)
        assert len(keys) == 1, keys
        log_a, log_b = log_since(daemon, pos_a), log_since(other, pos_b)
        assert (log_a + log_b).count(f"event=vm.template key={keys[0]} ") == 1, log_a + log_b
        assert started_from(log_a, ids[0]) == keys[0] and started_from(log_b, ids[1]) == keys[0]
        for c, sid in made[1:]:
            assert sh(c, sid, "hostname")["stdout"].strip() == sid
    finally:
        for c, sid in made:
            c.destroy(sid)
        finish_daemon(other)
        forget_templates_of(44)


def test_a_failed_template_build_is_not_tried_again_at_once(client, daemon):
    """A build that fails costs that create a boot, not a failure, and the
    shape's next creates boot without trying again (for an hour)."""
    if shutil.which("chattr") is None:
        pytest.skip("needs chattr")
    spec = {"resources": {"memoryMb": 320, "diskMb": 40}}
    forget_templates_of(40)
    pos = os.path.getsize(daemon.log_path)
    sids = [client.create(spec)["id"]]
    wanted = marks()
    assert len(wanted) == 1 and wanted[0].endswith(".wanted"), wanted
    key = wanted[0][:-len(".wanted")]
    # Where the template would go cannot be replaced: the build fails.
    blocker = os.path.join(TEMPLATES, key)
    os.mkdir(blocker)
    subprocess.run(["chattr", "+i", blocker], check=True)
    try:
        sids.append(client.create(spec)["id"])
        sids.append(client.create(spec)["id"])
        log = log_since(daemon, pos)
        assert [started_from(log, sid) for sid in sids] == ["boot"] * 3
        assert f"event=vm.template_unused sandbox={sids[1]} " in log, log
        assert f"event=vm.template_unused sandbox={sids[2]} " not in log, log
        assert os.path.exists(os.path.join(TEMPLATES, key + ".failed"))
        assert not os.path.exists(os.path.join(TEMPLATES, key + ".new"))
        assert not [d for d in os.listdir(TEMPLATES) if d.startswith("build.")]
        for sid in sids:
            assert sh(client, sid, "hostname")["stdout"].strip() == sid
    finally:
        subprocess.run(["chattr", "-i", blocker], check=True)
        os.rmdir(blocker)
        forget_templates_of(40)
        for sid in sids:
            client.destroy(sid)


def sandbox_qemu(sid):
    """QEMU processes in the sandbox's cgroup."""
    found = []
    for pid in qemu_pids():
        try:
            if sid in open(f"/proc/{pid}/cgroup").read():
                found.append(pid)
        except OSError:
            pass
    return found


def vm_counter(client, sid):
    r = client.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/count")
    return int(r.body.decode().strip() or 0) if r.status == 200 else 0


def start_vm_counter(client, sid):
    r = client.post(f"/v1/sandboxes/{sid}/processes",
                    {"command": "i=0; while :; do i=$((i+1)); echo $i > /workspace/count.new; "
                                "mv /workspace/count.new /workspace/count; sleep 0.05; done"})
    assert r.status == 201, r
    assert wait_until(lambda: vm_counter(client, sid) > 3, 30)


def test_pause_ends_qemu_and_resume_continues(client, daemon):
    """A paused VM is a file: its memory and devices in the sandbox's dir,
    no QEMU left running; resume carries on from there."""
    sid = client.create({})["id"]
    try:
        start_vm_counter(client, sid)
        assert sandbox_qemu(sid)
        r = client.post(f"/v1/sandboxes/{sid}/pause")
        assert r.status == 200 and r.json()["state"] == "paused", r
        assert wait_until(lambda: not sandbox_qemu(sid), 10), "QEMU still runs while paused"
        snap = os.path.join(daemon.state_dir, "sandboxes", sid, "snapshot")
        assert os.path.getsize(snap) > 1 << 20
        r = client.post(f"/v1/sandboxes/{sid}/exec", {"command": "true"})
        assert r.status == 409, r
        r = client.post(f"/v1/sandboxes/{sid}/resume")
        assert r.status == 200 and r.json()["state"] == "running", r
        assert not os.path.exists(snap)
        v0 = vm_counter(client, sid)
        assert v0 > 3, "the counter started over"
        assert wait_until(lambda: vm_counter(client, sid) > v0, 20)
        procs = client.get(f"/v1/sandboxes/{sid}/processes").json()["processes"]
        assert [p["state"] for p in procs] == ["running"], procs
        assert sh(client, sid, "echo ok")["stdout"] == "ok\n"
    finally:
        client.delete(f"/v1/sandboxes/{sid}")


def test_paused_vm_resumes_after_a_daemon_restart():
    from test_restart import Restarts
    rs = Restarts()
    try:
        c = rs.start()
        sid = c.create({})["id"]
        start_vm_counter(c, sid)
        assert c.post(f"/v1/sandboxes/{sid}/pause").status == 200
        rs.term()
        c = rs.start()
        assert c.get(f"/v1/sandboxes/{sid}").json()["state"] == "paused"
        r = c.post(f"/v1/sandboxes/{sid}/resume")
        assert r.status == 200 and r.json()["state"] == "running", r
        v0 = vm_counter(c, sid)
        assert v0 > 3
        assert wait_until(lambda: vm_counter(c, sid) > v0, 20)
        # And a running VM is taken back by the next daemon too.
        rs.term()
        c = rs.start()
        assert c.get(f"/v1/sandboxes/{sid}").json()["state"] == "running"
        v1 = vm_counter(c, sid)
        assert wait_until(lambda: vm_counter(c, sid) > v1, 20)
        assert sh(c, sid, "echo ok")["stdout"] == "ok\n"
    finally:
        rs.finish()


def forget_cgroups(sid):
    """What a host reboot does to a paused VM's cgroups (no process is in
    them): they are gone."""
    from runra_client import cgroup_dirs_named
    for d in sorted(cgroup_dirs_named(sid), key=len, reverse=True):
        for root, dirs, _ in os.walk(d, topdown=False):
            for sub in dirs:
                os.rmdir(os.path.join(root, sub))
        os.rmdir(d)
    assert cgroup_dirs_named(sid) == []


def test_paused_vm_survives_a_reboot():
    """The snapshot is in the state dir: after a "reboot" (the daemon killed,
    the VM's cgroups gone) the paused VM resumes where it was."""
    from test_restart import Restarts
    rs = Restarts()
    try:
        c = rs.start()
        sid = c.create({})["id"]
        start_vm_counter(c, sid)
        procs = c.get(f"/v1/sandboxes/{sid}/processes").json()["processes"]
        assert len(procs) == 1, procs
        v0 = vm_counter(c, sid)
        assert c.post(f"/v1/sandboxes/{sid}/pause").status == 200
        rs.crash()
        forget_cgroups(sid)
        c = rs.start()
        assert c.get(f"/v1/sandboxes/{sid}").json()["state"] == "paused"
        r = c.post(f"/v1/sandboxes/{sid}/resume")
        assert r.status == 200 and r.json()["state"] == "running", r
        # The same counter process goes on (a reboot of the guest would
        # have ended it), from at least where it was.
        after = c.get(f"/v1/sandboxes/{sid}/processes").json()["processes"]
        assert [p["pid"] for p in after] == [p["pid"] for p in procs], (procs, after)
        v1 = vm_counter(c, sid)
        assert v1 >= v0 > 3
        assert wait_until(lambda: vm_counter(c, sid) > v1 + 3, 30)
    finally:
        rs.finish()


def test_persisted_vm_comes_back_on_its_disk_after_a_reboot():
    from test_restart import Restarts, kill_sandbox_processes
    rs = Restarts()
    try:
        c = rs.start()
        sid = c.create({"persist": True, "resources": {"diskMb": 64}})["id"]
        c.write(sid, "/workspace/notes.md", b"# kept\n")
        sums = sh(c, sid, "echo etc > /root/note && sync && cd / && "
                          "sha256sum workspace/notes.md root/note")["stdout"]
        boot0 = sh(c, sid, "cat /proc/sys/kernel/random/boot_id")["stdout"]
        start_vm_counter(c, sid)
        rs.crash()
        kill_sandbox_processes(sid)
        c = rs.start()
        assert c.get(f"/v1/sandboxes/{sid}").json()["state"] == "stopped"
        r = c.post(f"/v1/sandboxes/{sid}/resume")
        assert r.status == 200 and r.json()["state"] == "running", r
        assert sh(c, sid, "cd / && sha256sum workspace/notes.md root/note")["stdout"] == sums
        # A new guest (not the old one resumed) on the old disk.
        assert sh(c, sid, "cat /proc/sys/kernel/random/boot_id")["stdout"] != boot0
        procs = c.get(f"/v1/sandboxes/{sid}/processes").json()["processes"]
        assert procs == [], procs
        assert sh(c, sid, "hostname")["stdout"].strip() == sid
    finally:
        rs.finish()


def test_a_persisted_disk_swapped_for_a_link_is_not_taken():
    """QEMU owns the VM's dir: a persisted disk it replaced with a link to a
    host file must not get that file handed to the sandbox's uid."""
    import tempfile
    from test_restart import Restarts, kill_sandbox_processes
    rs = Restarts()
    host_file = tempfile.NamedTemporaryFile(prefix="runra-victim-", delete=False)
    host_file.close()
    try:
        c = rs.start()
        sid = c.create({"persist": True, "resources": {"diskMb": 64}})["id"]
        rs.crash()
        kill_sandbox_processes(sid)
        c = rs.start()
        assert c.get(f"/v1/sandboxes/{sid}").json()["state"] == "stopped"
        disk = os.path.join(rs.state, "sandboxes", sid, "vm", "disk.img")
        os.unlink(disk)
        os.symlink(host_file.name, disk)
        r = c.post(f"/v1/sandboxes/{sid}/resume")
        assert r.status >= 500 and "disk.img" in r.body.decode(), r
        st = os.stat(host_file.name)
        assert (st.st_uid, st.st_gid) == (0, 0), st
        assert c.get(f"/v1/sandboxes/{sid}").json()["state"] == "stopped"
    finally:
        rs.finish()
        os.unlink(host_file.name)


@pytest.fixture(scope="module")
def image_daemon():
    """A daemon whose docker.io is a loopback registry serving the fixture
    images (tests/images/serve_fixtures.py)."""
    from conftest import REPO, finish_daemon, start_daemon
    serve = subprocess.Popen(["/usr/bin/python3", os.path.join(REPO, "tests", "images",
                                                               "serve_fixtures.py")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = serve.stdout.readline().split()
        assert line and line[0] == "ready", "the fixture registry did not start"
        old = os.environ.get("RUNRA_TEST_REGISTRY")
        os.environ["RUNRA_TEST_REGISTRY"] = line[1]
        try:
            d = start_daemon()
        finally:
            if old is None:
                del os.environ["RUNRA_TEST_REGISTRY"]
            else:
                os.environ["RUNRA_TEST_REGISTRY"] = old
        yield d
        finish_daemon(d)
    finally:
        serve.stdin.close()
        serve.wait(30)


def test_oci_image_vm(image_daemon):
    c = image_daemon.client
    sid = c.create({"image": "python:3.12"})["id"]
    try:
        r = sh(c, sid, "uname -r; python3 -c 'import sys; print(sys.version_info[:2])'; pwd; "
                       "echo $PATH; ls /usr/local/bin | head -n 3")
        release, version, cwd = r["stdout"].split("\n")[:3]
        assert release != platform.release()
        assert version == "(3, 12)" or version.startswith("(3,"), r
        # The image's tree is the root; what the sandbox writes goes to its disk.
        sh(c, sid, "echo mine > /etc/marker && rm -f /usr/bin/env")
        other = c.create({"image": "python:3.12"})["id"]
        try:
            r = sh(c, other, "cat /etc/marker 2>&1; test -e /usr/bin/env && echo env-there")
            assert "No such file" in r["stdout"] and "env-there" in r["stdout"], r
        finally:
            c.destroy(other)
        assert c.post(f"/v1/sandboxes/{sid}/pause").status == 200
        assert c.post(f"/v1/sandboxes/{sid}/resume").status == 200
        assert sh(c, sid, "cat /etc/marker")["stdout"] == "mine\n"
    finally:
        c.destroy(sid)


def test_a_template_warm_up_that_never_ends_is_cut_short(image_daemon):
    """A template's warm-up runs the image's `sh -c true`; in this image sh
    sleeps for ever and leaves another sleep behind. The build gives up on
    it after 10 s, kills every process but runra-init, and its restores
    run nothing of it."""
    c = image_daemon.client
    spec = {"image": "runra-test/hang-sh", "resources": {"memoryMb": 320, "diskMb": 36}}
    forget_templates_of(36)
    pos = os.path.getsize(image_daemon.log_path)
    sids = []
    try:
        for _ in range(3):
            sids.append(c.create(spec)["id"])
        keys = templates_of(36)
        assert len(keys) == 1, keys
        log = log_since(image_daemon, pos)
        assert [started_from(log, sid) for sid in sids] == ["boot", keys[0], keys[0]], log
        built = [ln for ln in log.splitlines() if f"event=vm.template key={keys[0]} " in ln]
        assert len(built) == 1 and int(built[0].split("ms=")[1].split()[0]) >= 10000, built
        for sid in sids[1:]:
            r = c.exec(sid, argv=["bash", "-c", "grep -ls sleep /proc/[0-9]*/comm; hostname"])
            assert r["exitCode"] == 0 and r["stdout"] == sid + "\n", r
    finally:
        for sid in sids:
            c.destroy(sid)
        forget_templates_of(36)
