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


def planted(d, name):
    """A victim file and a symlink to it at name; returns the victim's path."""
    victim = os.path.join(d, "victim-" + os.path.basename(name))
    with open(victim, "w") as f:
        f.write("precious\n")
    os.symlink(victim, name)
    return victim


def untouched(victim):
    with open(victim) as f:
        text = f.read()
    assert text == "precious\n", "expected %s untouched, now holds %r" % (victim, text)


@test
def pid_file_never_written_through_symlinks():
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "root")
        make_tree(root, {"index.html": b"hi\n"})
        pf = os.path.join(d, "x.pid")
        victims = [planted(d, pf), planted(d, pf + ".tmp"), planted(d, pf + ".status"),
                   planted(d, pf + ".status.tmp")]
        with Server(root, "--pid-file", pf) as srv:
            assert not os.path.islink(pf), "expected the pid file to replace the symlink"
            with open(pf) as f:
                assert f.read().strip() == str(srv.proc.pid), "expected our pid in the pid file"
            r = run_cachet(["--reload", "--pid-file", pf], timeout=30)
            assert r.returncode == 0, "expected --reload to work, got %r %r" % (
                r.returncode, r.stderr)
            for v in victims:
                untouched(v)
        for v in victims:
            untouched(v)


@test
def reload_refuses_a_pid_that_is_not_cachet():
    with tempfile.TemporaryDirectory() as d:
        pf = os.path.join(d, "x.pid")
        # a process that would die of SIGHUP (default action): proof it was not signalled
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            with open(pf, "w") as f:
                f.write("%d\n" % other.pid)
            r = run_cachet(["--reload", "--pid-file", pf], timeout=10)
            assert r.returncode != 0, "expected --reload to refuse, got 0: %r" % r.stdout
            assert "cachet" in r.stderr, "expected a message, got %r" % r.stderr
            time.sleep(0.2)
            assert other.poll() is None, "expected the other process not signalled, it died " \
                "with %r" % other.returncode
        finally:
            other.kill()
            other.wait()



@test
def status_file_removed_at_exit_only_if_ours():
    """After --replace the new server writes PIDFILE.status while the old one drains: the old one
    must not remove it when it exits. Its own status file it does remove."""
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "root")
        make_tree(root, {"index.html": b"hi\n"})
        pf = os.path.join(d, "x.pid")
        with Server(root, "--pid-file", pf):
            r = run_cachet(["--reload", "--pid-file", pf], timeout=30)
            assert r.returncode == 0, "expected --reload to work: %r" % r.stderr
            with open(pf + ".status") as f:
                assert "pid=" in f.read(), "expected the status file to name its writer"
        assert not os.path.exists(pf + ".status"), "expected our own status file removed"
        with Server(root, "--pid-file", pf):
            # what a newer server (another pid) would have written meanwhile
            with open(pf + ".status", "w") as f:
                f.write("rescans=1\nok=1\npid=%d\nerror=\n" % (os.getpid(),))
        assert os.path.exists(pf + ".status"), "expected another server's status file kept"

if __name__ == "__main__":
    main()
