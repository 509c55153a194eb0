"""Fixtures for the black-box integration tests: a real runrad on a private
state dir (one per module unless a test needs its own), a client for its
unix socket, and a shared sandbox. A failing test gets the daemon's stderr
attached to its report; on teardown the daemon is SIGTERMed and must exit 0
within 10 s and leave nothing behind."""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from runra_client import Daemon, leftovers  # noqa: E402

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.path.realpath(os.environ.get("RUNRA_BUILD_DIR", os.path.join(REPO, "build")))
RUNRAD = os.path.join(BUILD_DIR, "src", "daemon", "runrad")

# Daemons alive right now, so a failing test can show their logs.
_live_daemons = []


def _new_state_dir():
    return tempfile.mkdtemp(prefix="runra-it-", dir="/tmp")


def start_daemon(extra_args=(), socket_name=None, wrap=()):
    """Starts a runrad on a fresh state dir (with its socket, given
    socket_name, next to the state dir rather than in it); the caller must
    call finish_daemon."""
    if os.geteuid() != 0:
        pytest.skip("runrad needs root (namespaces, cgroups, mounts)")
    top = _new_state_dir()
    sock = os.path.join(top, socket_name) if socket_name else None
    d = Daemon(BUILD_DIR, os.path.join(top, "state"), extra_args, socket_path=sock, wrap=wrap)
    _live_daemons.append(d)
    try:
        d.start()
    except AssertionError:
        _live_daemons.remove(d)
        raise
    return d


def finish_daemon(d, check_leftovers=True):
    """SIGTERMs d, asserts a clean exit within 10 s and, optionally, that no
    mount, cgroup, loop device or sandbox dir of it survives."""
    try:
        if d.alive():
            rc = d.stop(timeout=10)
            assert rc is not None, f"runrad did not exit within 10 s of SIGTERM:\n{d.log()}"
            assert rc == 0, f"runrad exited {rc} on SIGTERM:\n{d.log()}"
        if check_leftovers:
            left = leftovers(d.state_dir)
            assert not left, f"runrad left things behind after SIGTERM: {left}\n{d.log()}"
    finally:
        d.kill()
        if d in _live_daemons:
            _live_daemons.remove(d)
    shutil.rmtree(os.path.dirname(d.state_dir), ignore_errors=True)


@pytest.fixture(scope="module")
def daemon():
    d = start_daemon()
    yield d
    finish_daemon(d)


@pytest.fixture(scope="module")
def client(daemon):
    return daemon.client


@pytest.fixture(scope="module")
def sandbox(client):
    """One sandbox shared by a module's tests (its id)."""
    sb = client.create({"metadata": {"fixture": "shared"}})
    yield sb["id"]
    r = client.delete(f"/v1/sandboxes/{sb['id']}")
    assert r.status in (204, 404), r


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in list(_live_daemons):
            rep.sections.append((f"runrad stderr ({d.state_dir})", d.log(8000)))
