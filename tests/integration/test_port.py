#!/usr/bin/env python3
"""A second cachet on a port a cachet already serves must refuse to start (exit 2, one line),
not share the port through SO_REUSEPORT. Builds nothing: meson runs it against the normal
binary and against a release (-O3) build of it, where the probe was once compiled away."""

import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LISTEN_RE, Server, expect_status, main, make_tree, run_cachet, test  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@test
def second_cachet_on_a_busy_port_exits_2():
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        make_tree(a, {"index.html": b"site A\n"})
        make_tree(b, {"index.html": b"site B\n"})
        port = free_port()
        with Server(a, "--pid-file", "", listen="127.0.0.1:%d" % port) as srv:
            r = run_cachet(["--root", b, "--listen", "127.0.0.1:%d" % port, "--threads", "2",
                            "--pid-file", ""], timeout=10)
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            assert r.returncode == 2, "expected exit 2 from the second cachet, got %r; %r" % (
                r.returncode, r.stderr)
            assert len(lines) == 1 and not LISTEN_RE.search(lines[0]), \
                "expected one error line, got %r" % r.stderr
            for i in range(10):
                resp = srv.get("/index.html")
                expect_status(resp, 200, "request %d" % i)
                assert resp.body == b"site A\n", "expected site A, got %r" % resp.body


if __name__ == "__main__":
    main()
