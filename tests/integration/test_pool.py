"""The warm pool: runrad keeps sandboxes ready so a create does not wait for
namespaces, a disk and runra-init. Pooled sandboxes must be fresh (never
handed out twice, never seen by another caller), invisible in listings, sized
by the request, and gone after SIGTERM like any other."""

import os
import time

import pytest

from conftest import finish_daemon, start_daemon
from runra_client import cgroup_dirs_named, leftovers, wait_until


@pytest.fixture(scope="module")
def pooled():
    d = start_daemon(["--pool", "2"])
    yield d
    finish_daemon(d)


def _pool(client):
    return client.health()["pool"]


def test_pool_fills_and_is_not_listed(pooled):
    c = pooled.client
    assert wait_until(lambda: _pool(c) == 2, 20), c.health()
    assert c.health()["sandboxes"] == 0
    assert c.list_ids() == []
    # The pooled boxes exist on the host (their dirs), ready to go.
    sbdir = os.path.join(pooled.state_dir, "sandboxes")
    assert len(os.listdir(sbdir)) == 2


def test_pooled_create_is_fresh_and_refilled(pooled):
    c = pooled.client
    assert wait_until(lambda: _pool(c) == 2, 20)
    a = c.create({"env": {"WHO": "a"}, "metadata": {"n": "1"}})
    # The caller's env and metadata apply to a pooled sandbox too.
    assert c.sh(a["id"], "echo $WHO").strip() == "a"
    assert a["metadata"] == {"n": "1"}
    assert c.sh(a["id"], "hostname").strip() == a["id"]
    c.sh(a["id"], "echo secret > /workspace/mine")
    b = c.create({})
    assert b["id"] != a["id"]
    r = c.exec(b["id"], "cat /workspace/mine")
    assert r["exitCode"] != 0, "a pooled sandbox saw another sandbox's file"
    assert wait_until(lambda: _pool(c) == 2, 20), "the pool did not refill"
    c.delete(a["id"])
    c.delete(b["id"])


def _pids_max(sid):
    """pids.max of the sandbox's cgroup, read on the host."""
    for d in cgroup_dirs_named(sid):
        p = os.path.join(d, "pids.max")
        if os.path.exists(p):
            with open(p) as f:
                return f.read().strip()
    return None


def test_other_shapes_get_their_own_limits(pooled):
    c = pooled.client
    s = c.create({"resources": {"memoryMb": 96, "pids": 40}})
    assert _pids_max(s["id"]) == "40"
    # The shape is remembered: after a moment one like it is waiting.
    assert wait_until(lambda: _pool(c) == 3, 20), c.health()
    t = c.create({"resources": {"memoryMb": 96, "pids": 40}})
    assert _pids_max(t["id"]) == "40"
    c.delete(s["id"])
    c.delete(t["id"])


def test_sigterm_removes_the_pool():
    d = start_daemon(["--pool", "2"])
    try:
        assert wait_until(lambda: d.client.health()["pool"] == 2, 20)
        rc = d.stop(timeout=10)
        assert rc == 0, d.log()
        assert not leftovers(d.state_dir), leftovers(d.state_dir)
    finally:
        finish_daemon(d)
