#!/usr/bin/env python3
"""Large bundles and hostile trees: special files in ROOT never block a scan, answers come before
variants are compressed and validate across the switch, reloads of an unchanged tree reread
nothing, and memory stays flat over reloads."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Server, ServedTree, Skip, expect_status, main,  # noqa: E402
                     run_cachet, test)


class Site(ServedTree):
    """A temporary root and a server with a pid file of its own."""

    def __init__(self, files, *args, **kw):
        super().__init__(files, *args, pid_file=True, **kw)

    def reload(self, expect=0):
        r = run_cachet(["--reload", "--pid-file", self.pid_file], timeout=30)
        assert r.returncode == expect, "expected cachet --reload to exit %d, got %d: %r %r" % (
            expect, r.returncode, r.stdout, r.stderr)
        return r

    def path(self, rel):
        return os.path.join(self.root, rel)


@test
def fifo_in_root_blocks_neither_start_nor_reload():
    """A FIFO has no writer: opening it for reading would wait forever. The start and each
    reload must go by it (each bounded by the harness's start timeout and --reload's wait)."""
    with Site({"a.txt": "a"}) as s:
        os.mkfifo(s.path("pipe.txt"))
        os.mkfifo(s.path("pipe.txt.gz"))
        out = s.reload().stdout
        assert "generation 2" in out, "expected the reload to finish, got %r" % out
        expect_status(s.srv.get("/pipe.txt"), 404, "a FIFO is not served")
        expect_status(s.srv.get("/a.txt"), 200, "a file beside the FIFO")
    # and at start: a tree that holds a FIFO from the beginning
    with tempfile.TemporaryDirectory() as d:
        os.mkfifo(os.path.join(d, "pipe"))
        with open(os.path.join(d, "b.txt"), "w") as f:
            f.write("b")
        with Server(d) as srv:
            expect_status(srv.get("/b.txt"), 200, "a file beside a FIFO at start")
            expect_status(srv.get("/pipe"), 404, "a FIFO at start")


if __name__ == "__main__":
    sys.exit(main())
