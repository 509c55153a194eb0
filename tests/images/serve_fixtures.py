#!/usr/bin/python3
"""Serves the fixture images on a loopback registry for tests outside this
directory (the TypeScript SDK's seed samples, the VM tests):
library/node:22, library/python:3.12 and runra-test/hang-sh, pushed to a docker-registry on 127.0.0.1. Prints
"ready HOST:PORT" on stdout once they are there, then serves until stdin
closes or it gets SIGTERM, and cleans up after itself.

    python3 tests/images/serve_fixtures.py </some/pipe
"""

import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fixtures  # noqa: E402
from registry import Registry, push_image  # noqa: E402


def main():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Registry(auth="none") as reg:
        push_image(reg, "library/node", "22", fixtures.node_image())
        push_image(reg, "library/python", "3.12", fixtures.python_image())
        push_image(reg, "runra-test/hang-sh", "latest", fixtures.hang_sh_image())
        print(f"ready {reg.host}", flush=True)

        def wait_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                stop.set()

        threading.Thread(target=wait_stdin, daemon=True).start()
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
