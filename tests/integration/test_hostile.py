#!/usr/bin/env python3
"""Hostile and broken clients: random bytes, truncated heads, resets in mid-body, a trickling
reader, descriptor leaks, and traversal in every encoding. The server must stay up, keep serving
everyone else, close every descriptor it opened and never serve a byte from outside ROOT."""

import os
import random
import select
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Server, connect, expect_status, main, make_tree,  # noqa: E402
                     read_response, request, send, test)

MiB = 1 << 20
SECRET = b"TOP-SECRET-7f3a9c2e-outside-root"


def rnd(n, seed):
    return random.Random(seed).randbytes(n)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_fds(srv, base, timeout=3.0, slack=2):
    """Poll the server's descriptor count until it is within slack of base; fail after timeout."""
    deadline = time.monotonic() + timeout
    n = fd_count(srv.proc.pid)
    while n > base + slack and time.monotonic() < deadline:
        time.sleep(0.05)
        n = fd_count(srv.proc.pid)
    assert abs(n - base) <= slack, (
        "expected the server's descriptor count back to %d (+-%d) within %.0f s once every client "
        "closed, got %d: %r" % (base, slack, timeout, n,
                                sorted(os.listdir("/proc/%d/fd" % srv.proc.pid))[:40]))


def baseline_fds(srv):
    """Descriptor count after one served request (lazy set-up done)."""
    expect_status(srv.get("/index.html"), 200, "warm-up GET /index.html")
    time.sleep(0.1)
    return fd_count(srv.proc.pid)


def expect_alive(srv, what):
    assert srv.proc.poll() is None, "expected the server still running after %s, it exited " \
        "with %r; stderr tail %r" % (what, srv.proc.returncode, srv.stderr_lines[-10:])
    t0 = time.monotonic()
    r = srv.get("/index.html")
    dt = time.monotonic() - t0
    expect_status(r, 200, "GET /index.html after %s" % what)
    assert r.body == b"<h1>hello</h1>\n", "expected the index body after %s, got %r" % (what, r)
    assert dt < 1.0, "expected a normal GET after %s within 1 s, took %.2f s" % (what, dt)


def drain(sock, timeout):
    """Bytes until EOF/reset or timeout; returns (data, closed)."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(out), False
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            d = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return bytes(out), True
        if not d:
            return bytes(out), True
        out += d


def abort(sock):
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def site(d, big=False):
    files = {"index.html": "<h1>hello</h1>\n", "a/b.txt": "b\n"}
    if big:
        files["big.bin"] = rnd(4 * MiB, "big4")
        files["large.bin"] = rnd(8 * MiB, "large8")
    make_tree(d, files)


# ---------------------------------------------------------------------------------------------


def random_buffers(n, seed):
    """n hostile buffers: pure noise, noise with CRLFs, garbage request lines, binary heads."""
    r = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 5
        size = r.choice([1, 2, 7, 16, 100, 1000, 4000, 20000]) + r.randrange(0, 64)
        if kind == 0:
            b = r.randbytes(size)
        elif kind == 1:
            parts = [r.randbytes(r.randrange(0, 40)) for _ in range(1 + size // 40)]
            b = b"\r\n".join(parts) + b"\r\n\r\n"
        elif kind == 2:
            b = (r.choice([b"GET", b"HEAD", b"G\x00T", b"\xffET", b"GET GET", b""]) + b" " +
                 r.randbytes(r.randrange(0, 300)) + b" HTTP/1.1\r\n\r\n")
        elif kind == 3:
            b = (b"GET / HTTP/1.1\r\nHost: x\r\n" + r.randbytes(size) + b"\r\n\r\n")
        else:
            b = bytes(r.choice(b"\r\n\t :/%.\x00\x7f\xff") for _ in range(size)) + b"\r\n\r\n"
        out.append(b)
    return out


@test
def random_bytes_get_4xx_or_nothing():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            base = baseline_fds(srv)
            bufs = random_buffers(300, "noise-1")
            t_end = time.monotonic() + 15
            for i, b in enumerate(bufs):
                assert time.monotonic() < t_end, "expected 300 noise connections within 15 s, " \
                    "done %d" % i
                s = srv.connect(timeout=2)
                try:
                    try:
                        s.sendall(b)
                        s.shutdown(socket.SHUT_WR)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the server refused early and closed: fine
                    data, closed = drain(s, 2.0)
                finally:
                    s.close()
                assert closed, ("expected the server to close connection %d after its noise "
                                "and our EOF within 2 s; sent %r, got %r" % (i, b[:120], data[:200]))
                if data:
                    ok = (data[:9] in (b"HTTP/1.1 ", b"HTTP/1.0 ") and data[9:10] in (b"4", b"5"))
                    # kind 3 is a valid head with a noise field: it may well be served (200)
                    if i % 5 == 3 and data.startswith(b"HTTP/1.1 200 "):
                        ok = True
                    assert ok, ("expected no response or a 4xx/5xx to noise buffer %d, sent %r, "
                                "got %r" % (i, b[:120], data[:200]))
                if i % 50 == 49:
                    expect_alive(srv, "%d noise connections" % (i + 1))
            expect_alive(srv, "300 noise connections")
            wait_fds(srv, base)


@test
def truncated_requests_then_close():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            base = baseline_fds(srv)
            full = request("GET", "/a/b.txt", [("If-None-Match", '"abc"'),
                                                ("Accept-Encoding", "gzip")])
            cuts = sorted(set(list(range(0, len(full), 3)) + [len(full) - 1, len(full) - 2]))
            held = []
            for k in cuts:
                s = srv.connect(timeout=2)
                s.sendall(full[:k])
                if k % 2:
                    s.close()  # plain close: FIN
                elif k % 3 == 0:
                    abort(s)  # RST
                else:
                    held.append(s)  # keep a few half-sent heads open meanwhile
            expect_alive(srv, "%d truncated heads" % len(cuts))
            # a half-sent head followed by our EOF gets no response (or a 400) and a close
            for s in held:
                s.shutdown(socket.SHUT_WR)
            for s in held:
                data, closed = drain(s, 2.0)
                assert closed, "expected a close after a truncated head and EOF"
                assert data == b"" or data.startswith(b"HTTP/1.1 400"), \
                    "expected no response or 400 to a truncated head, got %r" % data[:200]
                s.close()
            expect_alive(srv, "truncated heads closed")
            wait_fds(srv, base)


@test
def reset_in_middle_of_large_response():
    with tempfile.TemporaryDirectory() as d:
        site(d, big=True)
        with Server(d) as srv:
            base = baseline_fds(srv)
            t_end = time.monotonic() + 15
            for i in range(50):
                assert time.monotonic() < t_end, "expected 50 resets within 15 s, did %d" % i
                s = srv.connect()
                send(s, request("GET", "/big.bin"))
                got = 0
                want = 4096 + (i * 37_000) % (2 * MiB)
                while got < want:
                    dd = s.recv(65536)
                    assert dd, "expected the 4 MiB body to keep coming, EOF after %d" % got
                    got += len(dd)
                abort(s)
            expect_alive(srv, "50 resets in the middle of a 4 MiB body")
            r = srv.get("/big.bin")
            expect_status(r, 200, "GET /big.bin after the resets")
            assert r.body == rnd(4 * MiB, "big4"), "expected the 4 MiB body intact after resets"
            wait_fds(srv, base)


@test
def slow_one_byte_reader_does_not_stall_others():
    with tempfile.TemporaryDirectory() as d:
        site(d, big=True)
        with Server(d, threads=2) as srv:
            base = baseline_fds(srv)
            slow_err = []
            stop = threading.Event()

            def slow():
                try:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    s.settimeout(5)
                    s.connect(("127.0.0.1", srv.port))
                    send(s, request("GET", "/large.bin"))
                    first = b""
                    t_end = time.monotonic() + 2.5
                    n = 0
                    while time.monotonic() < t_end and not stop.is_set() and n < 2000:
                        b = s.recv(1)
                        if not b:
                            slow_err.append("slow reader saw EOF after %d bytes" % n)
                            break
                        if n < 12:
                            first += b
                        n += 1
                        time.sleep(0.005)
                    if not first.startswith(b"HTTP/1.1 200"):
                        slow_err.append("slow reader expected HTTP/1.1 200, got %r" % first)
                    s.close()
                except Exception as e:  # noqa: B902 - reported by the main thread
                    slow_err.append("slow reader: %r" % e)

            th = threading.Thread(target=slow, daemon=True)
            th.start()
            time.sleep(0.2)
            worst = 0.0
            count = 0
            t_end = time.monotonic() + 2.0
            try:
                while time.monotonic() < t_end and count < 5000:
                    t0 = time.monotonic()
                    r = srv.get("/a/b.txt" if count % 2 else "/index.html")
                    dt = time.monotonic() - t0
                    expect_status(r, 200, "GET %d beside a one-byte reader" % count)
                    worst = max(worst, dt)
                    count += 1
                    if count % 10 == 0:  # and a few big ones
                        t0 = time.monotonic()
                        r = srv.get("/big.bin")
                        expect_status(r, 200, "GET /big.bin beside a one-byte reader")
                        assert len(r.body) == 4 * MiB
                        worst = max(worst, (time.monotonic() - t0) / 4)
            finally:
                stop.set()
                th.join(5)
            assert not slow_err, "slow reader: %r" % slow_err
            assert count >= 10, "expected at least 10 GETs in 2 s beside the slow reader, " \
                "got %d" % count
            assert worst < 0.5, "expected every GET beside a one-byte reader under 0.5 s, the " \
                "worst took %.3f s (%d GETs)" % (worst, count)
            wait_fds(srv, base)


@test
def descriptors_back_to_baseline_after_abuse():
    """All of the above on one server, plus idle and half-open connections, then the count."""
    with tempfile.TemporaryDirectory() as d:
        site(d, big=True)
        with Server(d) as srv:
            base = baseline_fds(srv)
            socks = []
            # idle connections, half-sent heads, pipelined bursts never read
            for i in range(40):
                s = srv.connect()
                if i % 4 == 1:
                    s.sendall(b"GET /index.html HTTP/1.1\r\nHo")
                elif i % 4 == 2:
                    s.sendall(request("GET", "/big.bin"))  # never read
                elif i % 4 == 3:
                    s.sendall(request("GET", "/index.html") * 20)
                socks.append(s)
            for b in random_buffers(40, "noise-2"):
                s = srv.connect()
                try:
                    s.sendall(b)
                except OSError:
                    pass
                socks.append(s)
            for i in range(10):
                s = srv.connect()
                send(s, request("GET", "/large.bin"))
                s.recv(65536)
                socks.append(s)
            time.sleep(0.3)
            n_open = fd_count(srv.proc.pid)
            assert n_open > base, "expected the server to hold descriptors for our %d " \
                "connections (base %d, now %d)" % (len(socks), base, n_open)
            expect_alive(srv, "90 abusive connections held open")
            for i, s in enumerate(socks):
                if i % 2:
                    abort(s)
                else:
                    s.close()
            expect_alive(srv, "90 abusive connections closed")
            wait_fds(srv, base)


# ---------------------------------------------------------------------------------------------
# traversal


def traversal_targets():
    t = []
    for up in ["..", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%2E.", ".%2E", "%252e%252e",
               "%2e%2e%2f..", "..%2f..", "..%2F..", "..%5c..", "%2e%2e%5c"]:
        for depth in (1, 2, 3):
            t.append("/" + "/".join([up] * depth) + "/secret.txt")
            t.append("/a/" + "/".join([up] * (depth + 1)) + "/secret.txt")
    t += [
        "/..\\..\\secret.txt", "\\..\\secret.txt", "/a\\..\\..\\secret.txt",
        "//..//secret.txt", "//..//..//secret.txt", "/.//..//secret.txt",
        "/./../secret.txt", "/./.././../secret.txt", "/a/./../../secret.txt",
        "/a/b/../../../secret.txt", "/%2fsecret.txt/../..", "/%2f..%2fsecret.txt",
        "/..%00/secret.txt", "/%00../secret.txt", "/secret.txt%00.html",
        "/../secret.txt%00", "/a/%2e%2e%00/%2e%2e/secret.txt",
        "/..;/secret.txt", "/...//secret.txt", "/%c0%ae%c0%ae/secret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt", "/%uff0e%uff0e/secret.txt",
        "/link.txt", "/outdir/secret2.txt", "/outdir/", "/outdir", "/a/link.txt",
        "/outdir/../outdir/secret2.txt", "/%6cink.txt", "/%6futdir/secret2.txt",
        "http://127.0.0.1/../secret.txt", "http://127.0.0.1/%2e%2e/secret.txt",
        "http://127.0.0.1/outdir/secret2.txt", "http://127.0.0.1/link.txt",
        "/" + "A" * 300 + "/../../secret.txt", "/" + "A" * 300,
        "/" + ("x" * 300 + "/") * 3 + "../" * 4 + "secret.txt",
        "/" + "a/" * 2500, "/" + "../" * 1700 + "secret.txt",
        "/" + "%2e%2e/" * 800 + "secret.txt",
    ]
    return t


@test
def traversal_in_every_encoding():
    with tempfile.TemporaryDirectory() as top:
        root = os.path.join(top, "root")
        outside = os.path.join(top, "outside")
        os.makedirs(os.path.join(root, "a"))
        os.makedirs(outside)
        make_tree(root, {"index.html": "<h1>hello</h1>\n", "a/b.txt": "b\n"})
        with open(os.path.join(top, "secret.txt"), "wb") as f:
            f.write(SECRET)
        with open(os.path.join(outside, "secret2.txt"), "wb") as f:
            f.write(SECRET)
        os.symlink(os.path.join(top, "secret.txt"), os.path.join(root, "link.txt"))
        os.symlink("../../secret.txt", os.path.join(root, "a", "link.txt"))
        os.symlink(outside, os.path.join(root, "outdir"))
        with Server(root) as srv:
            base = baseline_fds(srv)
            bad = []
            for target in traversal_targets():
                for method in ("GET", "HEAD"):
                    s = srv.connect()
                    try:
                        send(s, request(method, target))
                        r = read_response(s, head_method=(method == "HEAD"))
                    except Exception as e:  # noqa: B902 - a close without a response is fine
                        if "connection closed" not in str(e):
                            bad.append((method, target[:80], "error %r" % e))
                        continue
                    finally:
                        s.close()
                    if r.status not in (400, 404, 414):
                        bad.append((method, target[:80], r.status))
                    if SECRET in r.body or SECRET in r.raw_head:
                        bad.append((method, target[:80], "SECRET served"))
            # raw NUL and other bytes on the wire, not percent-encoded
            for raw in [b"GET /..\x00/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"GET /\x00../../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"GET ../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"GET .. HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"GET secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"GET /../secret.txt HTTP/1.0\r\n\r\n",
                        b"GET /\xc0\xae\xc0\xae/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n"]:
                s = srv.connect()
                try:
                    s.sendall(raw)
                    data, _ = drain(s, 2.0)
                finally:
                    s.close()
                if SECRET in data:
                    bad.append(("raw", raw[:60], "SECRET served"))
                if data and not (data.startswith(b"HTTP/1.1 400") or
                                 data.startswith(b"HTTP/1.1 404") or
                                 data.startswith(b"HTTP/1.1 414")):
                    bad.append(("raw", raw[:60], data[:40]))
            assert not bad, "expected 400/404/414 and never the secret bytes for traversal " \
                "attempts; got (%d): %r" % (len(bad), bad[:25])
            # the symlinks and the 5000-byte path, precisely
            for target in ("/link.txt", "/a/link.txt", "/outdir/secret2.txt", "/outdir/"):
                expect_status(srv.get(target), 404, "GET %s (a symlink out of ROOT)" % target)
            r = srv.get("/" + "a/" * 2500)
            expect_status(r, (400, 404, 414), "GET of a 5000-byte path")
            r = srv.get("/" + "q" * 300)
            expect_status(r, (404, 414), "GET of a 300-byte segment")
            expect_alive(srv, "traversal attempts")
            wait_fds(srv, base)


if __name__ == "__main__":
    main()
