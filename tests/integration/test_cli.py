#!/usr/bin/env python3
"""cachet command line: options, exit statuses, pid file, IPv6, the listening line."""

import os
import re
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LISTEN_RE, Server, Skip, connect, expect_status, main, make_tree,  # noqa: E402
                     read_response, request, run_cachet, send, test)


def expect_usage_error(args, what):
    r = run_cachet(args)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, "expected exit status 2 for %s (%r), got %r; stderr=%r" % (
        what, args, r.returncode, r.stderr)
    assert not any(LISTEN_RE.search(ln) for ln in lines), \
        "expected no listening line for %s, stderr=%r" % (what, r.stderr)
    assert len(lines) == 1, "expected exactly one line on stderr for %s, got %r" % (
        what, r.stderr)


@test
def help_exits_0_with_usage():
    r = run_cachet(["--help"])
    assert r.returncode == 0, "expected --help to exit 0, got %r (stderr %r)" % (
        r.returncode, r.stderr)
    text = r.stdout + r.stderr
    assert "usage" in text.lower(), "expected 'usage' in --help output, got %r" % text
    for opt in ("--root", "--listen", "--threads", "--pid-file"):
        assert opt in text, "expected %s mentioned in --help output, got %r" % (opt, text)


@test
def version_prints_cachet_xyz():
    r = run_cachet(["--version"])
    assert r.returncode == 0, "expected --version to exit 0, got %r" % r.returncode
    out = (r.stdout + r.stderr).strip()
    assert re.match(r"^cachet \d+\.\d+\.\d+\b", out), \
        "expected 'cachet X.Y.Z' from --version, got %r" % out


@test
def bad_option_exit_2():
    with tempfile.TemporaryDirectory() as d:
        expect_usage_error(["--root", d, "--listen", "127.0.0.1:0", "--bogus"], "--bogus")
        expect_usage_error(["--root", d, "--listen", "127.0.0.1:0", "stray-arg"],
                           "a stray positional argument")


@test
def missing_root_exit_2():
    with tempfile.TemporaryDirectory() as d:
        expect_usage_error(["--root", os.path.join(d, "nope"), "--listen", "127.0.0.1:0"],
                           "a root that does not exist")


@test
def root_is_a_file_exit_2():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f")
        open(p, "w").close()
        expect_usage_error(["--root", p, "--listen", "127.0.0.1:0"], "a root that is a file")


@test
def port_in_use_exit_2():
    with tempfile.TemporaryDirectory() as d:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            expect_usage_error(["--root", d, "--listen", "127.0.0.1:%d" % port],
                               "a port already in use")
        finally:
            s.close()


@test
def bad_threads_exit_2():
    with tempfile.TemporaryDirectory() as d:
        for v in ("0", "garbage", "-1", "2x", ""):
            expect_usage_error(["--root", d, "--listen", "127.0.0.1:0", "--threads", v],
                               "--threads %r" % v)


@test
def bad_listen_exit_2():
    with tempfile.TemporaryDirectory() as d:
        for v in ("127.0.0.1", "127.0.0.1:99999", "127.0.0.1:abc", "127.0.0.1:"):
            expect_usage_error(["--root", d, "--listen", v], "--listen %r" % v)


@test
def missing_option_value_exit_2():
    with tempfile.TemporaryDirectory() as d:
        expect_usage_error(["--listen", "127.0.0.1:0", "--root"], "--root without a value")


@test
def pid_file_written_and_removed():
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "root")
        make_tree(root, {"a.txt": "a"})
        pf = os.path.join(d, "cachet.pid")
        srv = Server(root, "--pid-file", pf)
        with srv:
            assert os.path.exists(pf), "expected the pid file %s to exist once listening" % pf
            content = open(pf).read().strip()
            assert content == str(srv.proc.pid), \
                "expected pid file content %r, got %r" % (str(srv.proc.pid), content)
        assert srv.returncode == 0, "expected exit 0 on SIGTERM, got %r" % srv.returncode
        assert not os.path.exists(pf), "expected the pid file removed on exit"


@test
def default_root_is_cwd():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"here.txt": "cwd-file"})
        with Server(None, cwd=d) as srv:
            r = srv.get("/here.txt")
            expect_status(r, 200, "a file in the cwd without --root")
            assert r.body == b"cwd-file", "expected the cwd file's bytes, got %r" % r.body


@test
def port_zero_picks_a_port_and_serves():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"x.txt": "x"})
        with Server(d) as srv:
            assert 0 < srv.port < 65536, "expected a real port, got %r" % srv.port
            assert srv.host == "127.0.0.1", "expected host 127.0.0.1 in %r" % srv.listen_line
            assert "2 threads" in srv.listen_line, "expected '2 threads' in %r" % srv.listen_line
            r = srv.get("/x.txt")
            expect_status(r, 200)


@test
def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        raise Skip("::1 not available")
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"v6.txt": "six"})
        with Server(d, listen="[::1]:0") as srv:
            assert srv.listen_line and "[::1]" in srv.listen_line, \
                "expected the listening line to name [::1], got %r" % srv.listen_line
            s = connect(srv.port, host="::1", family=socket.AF_INET6)
            try:
                send(s, request("GET", "/v6.txt", host="[::1]"))
                r = read_response(s)
            finally:
                s.close()
            expect_status(r, 200, "GET over IPv6")
            assert r.body == b"six", "expected 'six', got %r" % r.body


@test
def listening_line_counts():
    with tempfile.TemporaryDirectory() as d:
        files = {"a.txt": b"12345", "b/c.css": b"x" * 100, "b/d/e.bin": b"\0" * 1000,
                 "index.html": b"<p>hi</p>", ".hidden": b"h" * 7, ".git/config": b"c" * 11}
        make_tree(d, files)
        visible = {k: v for k, v in files.items()
                   if not any(p.startswith(".") for p in k.split("/"))}
        n = len(visible)
        total = sum(len(v) for v in visible.values())
        with Server(d) as srv:
            assert srv.files >= n, "expected F >= %d files in %r" % (n, srv.listen_line)
            assert srv.files <= 2 * n + 2, "expected F about %d, not %d, in %r" % (
                n, srv.files, srv.listen_line)
            assert srv.bytes >= total, "expected B >= %d bytes in %r" % (total, srv.listen_line)
            assert srv.bytes <= 2 * total + 18, \
                "expected B about %d, not %d, in %r" % (total, srv.bytes, srv.listen_line)


@test
def sigterm_exit_0_and_refuses_after():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"a.txt": "a"})
        srv = Server(d)
        srv.start()
        port = srv.port
        err = srv.stop()
        assert err is None, err
        assert srv.returncode == 0, "expected exit 0, got %r" % srv.returncode
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            refused = False
        except (ConnectionRefusedError, OSError):
            refused = True
        finally:
            s.close()
        assert refused, "expected connections refused after the server exited"


if __name__ == "__main__":
    main()
