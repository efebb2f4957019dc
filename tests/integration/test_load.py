#!/usr/bin/env python3
"""Large bodies, slow readers, many connections, aborted clients, graceful SIGTERM."""

import hashlib
import os
import random
import signal
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Server, connect, expect_closed, expect_status, main,  # noqa: E402
                     make_tree, read_response, request, send, test)

MiB = 1 << 20


def rnd(n, seed):
    """Deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(n)


def small_rcvbuf_connect(port, size=8192, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def recv_head(s):
    """Read the header section byte-exactly; returns (head bytes, leftover body bytes)."""
    buf = b""
    deadline = time.monotonic() + 5
    while b"\r\n\r\n" not in buf:
        assert time.monotonic() < deadline, "expected a header section within 5 s"
        d = s.recv(4096)
        assert d, "expected a response, connection closed (got %r)" % buf
        buf += d
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def content_length(head):
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1].strip())
    raise AssertionError("expected a Content-Length in %r" % head)


@test
def large_file_byte_identical(*server_args):
    with tempfile.TemporaryDirectory() as d:
        data = rnd(3 * MiB + 12345, "big")
        make_tree(d, {"big.bin": data})
        with Server(d, *server_args) as srv:
            assert srv.bytes >= len(data), "expected B >= %d in %r" % (len(data), srv.listen_line)
            r = srv.get("/big.bin")
            expect_status(r, 200, "GET /big.bin")
            assert r.header("Content-Length") == str(len(data)), \
                "expected Content-Length %d, got %r" % (len(data), r.header("Content-Length"))
            assert r.body == data, "expected the 3 MiB body byte-identical (got %d bytes, " \
                "sha256 %s vs %s)" % (len(r.body), hashlib.sha256(r.body).hexdigest()[:16],
                                     hashlib.sha256(data).hexdigest()[:16])
            h = srv.get("/big.bin", method="HEAD")
            assert h.header("Content-Length") == str(len(data)), \
                "expected HEAD Content-Length %d, got %r" % (len(data), h.header("Content-Length"))


@test
def large_file_slow_reader(*server_args):
    with tempfile.TemporaryDirectory() as d:
        data = rnd(MiB + 777, "slow")
        make_tree(d, {"slow.bin": data, "after.txt": "after"})
        with Server(d, *server_args) as srv:
            s = small_rcvbuf_connect(srv.port)
            try:
                s.sendall(request("GET", "/slow.bin"))
                head, body = recv_head(s)
                assert head.startswith(b"HTTP/1.1 200"), "expected 200, got %r" % head[:100]
                n = content_length(head)
                assert n == len(data), "expected Content-Length %d, got %d" % (len(data), n)
                got = bytearray(body)
                t0 = time.monotonic()
                k = 0
                while len(got) < n:
                    assert time.monotonic() - t0 < 20, \
                        "expected the slow read to finish in 20 s (got %d of %d)" % (len(got), n)
                    chunk = s.recv(min(1500, n - len(got)))
                    assert chunk, "expected %d body bytes, connection closed at %d" % (n, len(got))
                    got += chunk
                    k += 1
                    if k == 50:
                        time.sleep(0.5)  # a long stall: the server's send must wait, not fail
                    elif k % 16 == 0:
                        time.sleep(0.002)
                assert bytes(got) == data, "expected the slow-read body byte-identical"
                # the connection is still usable afterwards
                s.sendall(request("GET", "/after.txt"))
                h2, b2 = recv_head(s)
                assert h2.startswith(b"HTTP/1.1 200"), "expected 200 after the slow read, got %r" \
                    % h2[:100]
                while len(b2) < 5:
                    c = s.recv(100)
                    assert c, "expected 'after'"
                    b2 += c
                assert b2 == b"after", "expected 'after' with no stray bytes, got %r" % b2
            finally:
                s.close()


@test
def two_large_pipelined(*server_args):
    with tempfile.TemporaryDirectory() as d:
        a = rnd(3 * MiB, "a")
        b = rnd(2 * MiB + 1, "b")
        make_tree(d, {"a.bin": a, "b.bin": b})
        with Server(d, *server_args) as srv:
            s = srv.connect()
            try:
                send(s, request("GET", "/a.bin") + request("HEAD", "/a.bin")
                     + request("GET", "/b.bin") + request("GET", "/a.bin"))
                r1 = read_response(s)
                r2 = read_response(s, head_method=True)
                r3 = read_response(s)
                r4 = read_response(s)
            finally:
                s.close()
            for r, want, what in ((r1, a, "first a.bin"), (r3, b, "b.bin"), (r4, a, "second a")):
                expect_status(r, 200, what)
                assert r.body == want, "expected %s byte-identical (%d vs %d bytes)" % (
                    what, len(r.body), len(want))
            expect_status(r2, 200, "HEAD a.bin between")
            assert r2.header("Content-Length") == str(len(a)), "expected HEAD Content-Length"



def reset_mid_answer(srv, req, after, what):
    """Sends req, reads at least `after` bytes of its answer, then resets the connection (RST
    instead of FIN) with the rest of the answer still in flight."""
    s = srv.connect()
    try:
        send(s, req)
        got = 0
        while got < after:  # each recv bounded by the socket timeout
            dd = s.recv(65536)
            assert dd, "expected %s to keep coming, EOF after %d" % (what, got)
            got += len(dd)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


@test
def zerocopy_large_bodies():
    """--zerocopy-min: the same large-body checks with every body over 16 KiB sent zero-copy
    (memory held until the kernel's notification), plus a range and a mid-body abort."""
    zc = ("--zerocopy-min", "1")
    large_file_byte_identical(*zc)
    large_file_slow_reader(*zc)
    two_large_pipelined(*zc)
    with tempfile.TemporaryDirectory() as d:
        data = rnd(2 * MiB + 3, "zc")
        make_tree(d, {"zc.bin": data, "small.txt": "small"})
        with Server(d, "--zerocopy-min", "64K") as srv:
            r = srv.get("/zc.bin", headers=[("Range", "bytes=100000-1999999")])
            expect_status(r, 206, "zero-copy range")
            assert r.body == data[100000:2000000], "expected the zero-copy 206 body exact"
            r = srv.get("/small.txt")
            assert r.body == b"small", "expected a small file (copied path) beside zero-copy"
            for i in range(20):  # abort mid-body: the notification must still free the slot
                reset_mid_answer(srv, request("GET", "/zc.bin"), 8192 + i * 50_000, "the body")
            r = srv.get("/zc.bin")
            assert r.body == data, "expected the zero-copy body intact after 20 aborts"
            # several ranges: each part's bytes are a zero-copy send of their own; aborting
            # mid-answer must release the answer's generation pin with the slot
            spec = "bytes=0-99999,300000-1299999,-200000"
            r = srv.get("/zc.bin", headers=[("Range", spec)])
            expect_status(r, 206, "zero-copy multipart")
            boundary = r.header("Content-Type").split("boundary=", 1)[1].encode()
            assert data[:100000] in r.body and data[300000:1300000] in r.body \
                and r.body.endswith(data[-200000:] + b"\r\n--" + boundary + b"--\r\n"), \
                "expected the three parts in the multipart body"
            for i in range(10):
                reset_mid_answer(srv, request("GET", "/zc.bin", headers=[("Range", spec)]),
                                 4096 + i * 100_000, "the multipart body")
            r = srv.get("/zc.bin", headers=[("Range", "bytes=0-9,20-29")])
            expect_status(r, 206, "multipart after 10 aborted ones")
            # a slow reader behind a pipelined pair: the zero-copy send's result arrives long
            # before its notification, and the next answer must wait for the notification
            s = small_rcvbuf_connect(srv.port)
            try:
                s.sendall(request("GET", "/zc.bin") + request("GET", "/small.txt")
                          + request("GET", "/zc.bin", headers=[("Range", "bytes=-70000")]))
                got = bytearray()
                want = len(data) + 2 * 1024  # body, second body, third body, and three heads
                t0 = time.monotonic()
                k = 0
                while True:
                    assert time.monotonic() - t0 < 20, "expected the slow pipelined read in 20 s"
                    chunk = s.recv(4096)
                    assert chunk, "expected three responses, connection closed at %d" % len(got)
                    got += chunk
                    k += 1
                    if k % 64 == 0:
                        time.sleep(0.005)
                    if len(got) >= len(data) + 70000 and got.endswith(data[-70000:]):
                        break
                    assert len(got) < want + 70000, "expected three responses, got more bytes"
                i = got.index(b"\r\n\r\n") + 4
                assert got[:12] == b"HTTP/1.1 200", "expected 200 first, got %r" % bytes(got[:40])
                assert got[i:i + len(data)] == data, "expected the first body byte-identical"
                rest = bytes(got[i + len(data):])
                assert rest.startswith(b"HTTP/1.1 200"), "expected the second head next, got %r" \
                    % rest[:40]
                j = rest.index(b"\r\n\r\n") + 4
                assert rest[j:j + 5] == b"small", "expected 'small', got %r" % rest[j:j + 10]
                rest = rest[j + 5:]
                assert rest.startswith(b"HTTP/1.1 206"), "expected the 206 third, got %r" % rest[:40]
                assert rest[rest.index(b"\r\n\r\n") + 4:] == data[-70000:], \
                    "expected the 206 body exact"
            finally:
                s.close()

@test
def many_concurrent_connections():
    nconn, nreq = 200, 3
    with tempfile.TemporaryDirectory() as d:
        files = {"f%d.txt" % i: ("file %d\n" % i) * (i + 1) for i in range(10)}
        files["mid.bin"] = rnd(64 * 1024, "mid")
        make_tree(d, files)
        with Server(d) as srv:
            errors = []
            socks = []
            try:
                for i in range(nconn):
                    socks.append(connect(srv.port, timeout=10))
            except OSError as e:
                for s in socks:
                    s.close()
                raise AssertionError("expected %d connections to open, failed at %d: %r" % (
                    nconn, len(socks), e))
            barrier = threading.Barrier(nconn, timeout=10)

            def worker(i, s):
                try:
                    barrier.wait()
                    for j in range(nreq):
                        name = "mid.bin" if (i + j) % 7 == 0 else "f%d.txt" % ((i + j) % 10)
                        send(s, request("GET", "/" + name))
                        r = read_response(s)
                        want = files[name]
                        want = want.encode() if isinstance(want, str) else want
                        if r.status != 200 or r.body != want:
                            errors.append("conn %d req %d /%s: %r" % (i, j, name, r))
                            return
                except Exception as e:  # noqa: B902
                    errors.append("conn %d: %r" % (i, e))
                finally:
                    s.close()

            threads = [threading.Thread(target=worker, args=(i, s), daemon=True)
                       for i, s in enumerate(socks)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(0.1, 25 - (time.monotonic() - t0)))
            alive = sum(t.is_alive() for t in threads)
            assert alive == 0, "expected all %d clients done within 25 s, %d still running" % (
                nconn, alive)
            assert not errors, "expected all %d x %d requests to succeed; %d failed, e.g. %s" % (
                nconn, nreq, len(errors), errors[:3])


@test
def aborted_clients_do_not_hurt():
    with tempfile.TemporaryDirectory() as d:
        data = rnd(4 * MiB, "abort")
        make_tree(d, {"big.bin": data, "x.txt": "x"})
        with Server(d) as srv:
            for i in range(30):
                s = small_rcvbuf_connect(srv.port)
                s.sendall(request("GET", "/big.bin") * (1 + i % 3))
                if i % 2:
                    s.recv(100)
                # RST instead of FIN
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            for i in range(10):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                s.sendall(b"GET /x.txt HTTP/1.1\r\nHost: a\r\n")  # incomplete, then gone
                s.close()
            time.sleep(0.2)
            assert srv.proc.poll() is None, "expected the server alive after aborted clients"
            r = srv.get("/big.bin")
            expect_status(r, 200, "GET after aborted clients")
            assert r.body == data, "expected big.bin byte-identical after aborted clients"


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@test
def no_fd_leak():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"x.txt": "x", "big.bin": rnd(MiB, "leak")})
        with Server(d) as srv:
            # warm up (lazy allocations), then take the baseline
            for i in range(5):
                srv.get("/x.txt")
            time.sleep(0.2)
            base = fd_count(srv.proc.pid)
            for i in range(300):
                s = connect(srv.port)
                k = i % 5
                if k == 0:
                    send(s, request("GET", "/x.txt"))
                    read_response(s)
                elif k == 1:
                    send(s, request("GET", "/big.bin"))  # close without reading
                elif k == 2:
                    send(s, b"garbage\r\n\r\n")
                    read_response(s)
                elif k == 3:
                    send(s, b"GET /x.txt HTTP/1.1\r\n")  # half a request
                else:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            t0 = time.monotonic()
            n = fd_count(srv.proc.pid)
            while n > base + 2 and time.monotonic() - t0 < 3:
                time.sleep(0.05)
                n = fd_count(srv.proc.pid)
            assert n <= base + 2, "expected the server's open fds back near %d after 300 closed " \
                "connections, got %d" % (base, n)
            expect_status(srv.get("/x.txt"), 200, "GET after the churn")


@test
def client_half_close_still_answered():
    """A client that sends its request and shuts down its write side still gets the response."""
    with tempfile.TemporaryDirectory() as d:
        data = rnd(300000, "half")
        make_tree(d, {"x.txt": "x", "h.bin": data})
        with Server(d) as srv:
            for t, body in (("/x.txt", b"x"), ("/h.bin", data)):
                s = connect(srv.port)
                try:
                    send(s, request("GET", t))
                    s.shutdown(socket.SHUT_WR)
                    r = read_response(s)
                    expect_status(r, 200, "GET %s after the client's half-close" % t)
                    assert r.body == body, "expected the full body of %s after half-close" % t
                    expect_closed(s, what=" after answering a half-closed client")
                finally:
                    s.close()


def _slow_inflight(srv, data, name):
    s = small_rcvbuf_connect(srv.port, size=4096)
    s.sendall(request("GET", "/" + name))
    head, body = recv_head(s)
    assert head.startswith(b"HTTP/1.1 200"), "expected 200, got %r" % head[:100]
    n = content_length(head)
    got = bytearray(body)
    while len(got) < 100000:
        c = s.recv(4096)
        assert c, "expected more body bytes before SIGTERM"
        got += c
    return s, n, got


@test
def sigterm_completes_inflight_response():
    with tempfile.TemporaryDirectory() as d:
        data = rnd(16 * MiB, "term")
        make_tree(d, {"big.bin": data})
        srv = Server(d)
        srv.start()
        try:
            port = srv.port
            s, n, got = _slow_inflight(srv, data, "big.bin")
            t_sig = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert srv.proc.poll() is None or len(got) == n, \
                "expected the server to wait for the in-flight response, it exited with %r " \
                "after %d of %d bytes" % (srv.proc.returncode, len(got), n)
            # read the rest at a moderate pace
            k = 0
            while len(got) < n:
                assert time.monotonic() - t_sig < 4.5, \
                    "reading the in-flight response took too long (%d of %d)" % (len(got), n)
                try:
                    c = s.recv(65536)
                except ConnectionResetError:
                    c = b""
                assert c, "expected the in-flight response to complete after SIGTERM; " \
                    "connection closed at %d of %d bytes" % (len(got), n)
                got += c
                k += 1
                if k % 64 == 0:
                    time.sleep(0.001)
            s.close()
            assert bytes(got) == data, "expected the in-flight body byte-identical"
            try:
                rc = srv.proc.wait(max(0.1, 5 - (time.monotonic() - t_sig)))
            except Exception:
                raise AssertionError("expected the server to exit within 5 s of SIGTERM")
            assert rc == 0, "expected exit status 0 after SIGTERM, got %r" % rc
            c = socket.socket()
            c.settimeout(2)
            try:
                c.connect(("127.0.0.1", port))
                refused = False
            except OSError:
                refused = True
            finally:
                c.close()
            assert refused, "expected new connections refused after the server exited"
        finally:
            srv.stop()


@test
def sigterm_stops_accepting_while_draining():
    with tempfile.TemporaryDirectory() as d:
        data = rnd(16 * MiB, "drain")
        make_tree(d, {"big.bin": data, "x.txt": "x"})
        srv = Server(d)
        srv.start()
        try:
            s, n, got = _slow_inflight(srv, data, "big.bin")
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            c = socket.socket()
            c.settimeout(1)
            served = False
            try:
                c.connect(("127.0.0.1", srv.port))
                c.sendall(request("GET", "/x.txt"))
                served = c.recv(100).startswith(b"HTTP/1.1 200")
            except OSError:
                pass
            finally:
                c.close()
            s.close()
            assert not served, "expected no new request served after SIGTERM (listener closed)"
            try:
                rc = srv.proc.wait(5)
            except Exception:
                raise AssertionError("expected the server to exit within 5 s of SIGTERM")
            assert rc == 0, "expected exit 0 after SIGTERM, got %r" % rc
        finally:
            srv.stop()


@test
def sigterm_with_idle_keepalive_connections():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"x.txt": "x"})
        srv = Server(d)
        srv.start()
        socks = []
        try:
            for i in range(20):
                s = srv.connect()
                send(s, request("GET", "/x.txt"))
                r = read_response(s)
                expect_status(r, 200)
                socks.append(s)
            half = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            half.sendall(b"GET /x.txt HTTP/1.1\r\n")  # a half-sent request
            socks.append(half)
            time.sleep(0.05)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            try:
                rc = srv.proc.wait(5)
            except Exception:
                raise AssertionError("expected exit within 5 s of SIGTERM with 20 idle "
                                     "keep-alive connections and one half-sent request")
            assert rc == 0, "expected exit 0, got %r (%.2f s)" % (rc, time.monotonic() - t0)
        finally:
            for s in socks:
                s.close()
            srv.stop()


if __name__ == "__main__":
    main()
