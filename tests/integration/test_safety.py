#!/usr/bin/env python3
"""Hostile set-ups around the process: symlink loops under --watch, planted symlinks at the pid
file, a pid file that names some other process."""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, expect_status, main, make_tree, run_cachet, test  # noqa: E402


@test
def watch_survives_symlink_loops():
    # Two links to "." make a naive walk branch twice per level: 2^64 calls before a depth
    # limit of 64 stops it. The server must listen, serve, and stop on SIGTERM.
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"index.html": b"hi\n", "sub/a.txt": b"a\n"})
        os.symlink(".", os.path.join(d, "l1"))
        os.symlink(".", os.path.join(d, "l2"))
        os.symlink("..", os.path.join(d, "sub", "up"))
        with Server(d, "--watch", "--pid-file", "") as srv:
            expect_status(srv.get("/sub/a.txt"), 200, "a file beside the loops")


if __name__ == "__main__":
    main()
