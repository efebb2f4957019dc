#!/usr/bin/env python3
"""Defects of issue 14 in the worker: a large request head arriving in pieces, pipelined requests
before a half-close, bodies of 4 GiB and more, accept errors under a tight descriptor limit."""

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Server, ServedTree, Skip, expect_closed, expect_status,  # noqa: E402
                     main, read_response, request, send, test)

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30


def big_head(target_len, field_bytes):
    """A GET whose request-target is target_len bytes and whose fields hold about field_bytes."""
    target = "/index.html?" + "a" * (target_len - len("/index.html?"))
    fields = []
    n = 0
    while n < field_bytes:
        v = "v" * 1000
        fields.append(("X-Pad-%d" % len(fields), v))
        n += len(fields[-1][0]) + 2 + len(v) + 2
    return request("GET", target, fields)


@test
def large_head_in_pieces_is_answered():
    # 8,000-byte target + ~13 KiB of fields: legal (under 414/431), over the 16 KiB input pause.
    head = big_head(8000, 13 * KiB)
    assert 16 * KiB < len(head) < 24 * KiB, len(head)
    with ServedTree({"index.html": "<h1>hi</h1>\n"}, "--header-timeout", "2") as t:
        s = t.srv.connect()
        send(s, head[:20000])
        time.sleep(0.5)
        send(s, head[20000:])
        r = read_response(s)
        expect_status(r, 200, "a %d-byte head sent as 20,000 bytes, a pause, the rest"
                      % len(head))
        assert r.body == b"<h1>hi</h1>\n", r
        s.close()


@test
def large_head_limits_still_hold_in_pieces():
    with ServedTree({"index.html": "x"}, "--header-timeout", "3") as t:
        # fields over 16 KiB, arriving in pieces: 431 before the head ends
        s = t.srv.connect()
        head = big_head(100, 20 * KiB)
        send(s, head[:12000])
        time.sleep(0.3)
        send(s, head[12000:len(head) - 10])
        r = read_response(s)
        expect_status(r, 431, "a header section over 16 KiB in pieces")
        s.close()
        # a target over 8 KiB in pieces: 414
        s = t.srv.connect()
        send(s, b"GET /" + b"a" * 6000)
        time.sleep(0.3)
        send(s, b"a" * 6000)
        r = read_response(s)
        expect_status(r, 414, "a request-target over 8 KiB in pieces")
        s.close()


def pipelined_then_half_close(n, size):
    body = bytes((i * 7) & 0xff for i in range(size))
    with ServedTree({"f.bin": body}) as t:
        s = t.srv.connect(timeout=10)
        send(s, b"".join(request("GET", "/f.bin") for _ in range(n)))
        s.shutdown(socket.SHUT_WR)
        got = 0
        for i in range(n):
            try:
                r = read_response(s)
            except harness.ProtocolError as e:
                raise AssertionError("expected %d answers to %d pipelined GETs of %d bytes sent "
                                     "before SHUT_WR, got %d (%s)" % (n, n, size, got, e))
            expect_status(r, 200, "pipelined GET %d" % i)
            assert r.body == body, "answer %d: body differs" % i
            got += 1
        expect_closed(s, what=" after the last answer")
        s.close()


@test
def pipelined_before_half_close_all_answered_20k():
    pipelined_then_half_close(10, 20000)


@test
def pipelined_before_half_close_all_answered_3k():
    pipelined_then_half_close(100, 3000)


@test
def half_close_after_partial_request_closes():
    with ServedTree({"f.bin": "abc"}) as t:
        s = t.srv.connect()
        send(s, request("GET", "/f.bin") + b"GET /f.b")
        s.shutdown(socket.SHUT_WR)
        r = read_response(s)
        expect_status(r, 200, "the complete request before the FIN")
        expect_closed(s, what=" after the only complete request (the rest cannot complete)")
        s.close()


def cpu_ticks(pid):
    """utime + stime of the process, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_share(pid, seconds):
    """Fraction of one CPU the process used over the next `seconds`."""
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(seconds)
    return (cpu_ticks(pid) - c0) / hz / (time.monotonic() - t0)


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


@test
def body_over_4gib_does_not_spin():
    size = 4 * GiB + 4 * KiB
    signal.alarm(150)  # over the harness's per-test limit: loading 4 GiB takes seconds
    if mem_available() < size + 2 * GiB:
        raise Skip("needs about 6 GiB of available memory to load a 4 GiB file")
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        path = os.path.join(root, "big.bin")
        try:
            with open(path, "wb") as f:
                f.truncate(size - 4)
                f.seek(size - 4)
                f.write(b"END!")
        except OSError as e:
            raise Skip("cannot create a sparse 4 GiB file here: %s" % e)
        if os.stat(path).st_blocks * 512 > 64 * 1024 * KiB:
            raise Skip("the filesystem does not keep files sparse")
        start_timeout = harness.START_TIMEOUT
        harness.START_TIMEOUT = 60  # reading 4 GiB takes seconds
        try:
            with Server(root, "--send-timeout", "2", threads=1) as srv:
                harness.START_TIMEOUT = start_timeout
                # the end of the body, past 4 GiB: offsets are 64-bit
                s = srv.connect(timeout=20)
                send(s, request("GET", "/big.bin", [("Range", "bytes=%d-" % (4 * GiB))]))
                r = read_response(s)
                expect_status(r, 206, "a range past 4 GiB")
                assert len(r.body) == 4 * KiB and r.body.endswith(b"END!"), r
                send(s, request("HEAD", "/big.bin"))
                r = read_response(s, head_method=True)
                expect_status(r, 200, "HEAD of a 4 GiB file")
                assert r.header("Content-Length") == str(size), r
                s.close()
                # 4 GiB + 16 MiB to send. The first send (head and body, sendmsg) moves part
                # of the body; the rest went out with 32-bit lengths: 16 MiB less what the
                # first send took, then exactly 4 GiB, sent as 0 bytes again and again. The
                # client must get more than 16 MiB, then stop reading: the worker must wait.
                s = srv.connect(timeout=20)
                last = 4 * GiB + 16 * MiB - 1
                send(s, request("GET", "/big.bin", [("Range", "bytes=0-%d" % last)]))
                got = 0
                s.settimeout(2)
                for _ in range(100000):
                    try:
                        d = s.recv(1 << 20)
                    except socket.timeout:
                        break
                    if not d:
                        break
                    got += len(d)
                    if got >= 24 * MiB:
                        break
                assert got >= 24 * MiB, ("expected the body to keep coming past 16 MiB, it "
                                         "stalled after %d bytes" % got)
                share = cpu_share(srv.proc.pid, 1.0)
                assert share < 0.5, ("expected the worker idle while the client does not read, "
                                     "it used %.0f%% of a CPU" % (share * 100))
                s.close()
                time.sleep(0.3)
                share = cpu_share(srv.proc.pid, 1.0)
                assert share < 0.5, ("expected the worker idle after the client closed, it used "
                                     "%.0f%% of a CPU" % (share * 100))
                r = srv.get("/big.bin", [("Range", "bytes=0-3")])
                expect_status(r, 206, "a request after the large send")
        finally:
            harness.START_TIMEOUT = start_timeout


class TightServer(Server):
    """A cachet whose descriptor limit is `limit` (soft and hard) with `held` descriptors already
    taken when it starts: its connection cap, computed from the limit alone, is then above what
    it can open, so accept() meets EMFILE."""

    def __init__(self, root, limit, held, *args, **kw):
        super().__init__(root, *args, **kw)
        self.limit = limit
        self.held = held

    def start(self):
        fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(self.held)]
        orig = subprocess.Popen

        def popen(*a, **kw):
            lim = self.limit
            return orig(*a, pass_fds=fds,
                        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                              (lim, lim)), **kw)
        harness.subprocess.Popen = popen
        try:
            return super().start()
        finally:
            harness.subprocess.Popen = orig
            for fd in fds:
                os.close(fd)


@test
def accept_emfile_backs_off():
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("hi\n")
        with TightServer(root, 128, 100, threads=1) as srv:
            socks = []
            for _ in range(40):
                s = srv.connect()
                send(s, request("GET", "/index.html"))
                socks.append(s)
            time.sleep(0.5)
            n0 = len(srv.stderr_lines)
            share = cpu_share(srv.proc.pid, 2.0)
            lines = len(srv.stderr_lines) - n0
            assert any("accept" in ln for ln in srv.stderr_lines), (
                "expected accept() to meet the descriptor limit and say so; stderr=%r"
                % srv.stderr_lines[-5:])
            assert lines < 20, ("expected few log lines while out of descriptors, got %d in "
                                "2 s: %r" % (lines, srv.stderr_lines[-3:]))
            assert share < 0.5, ("expected the worker to back off while out of descriptors, "
                                 "it used %.0f%% of a CPU" % (share * 100))
            for s in socks:
                s.close()
            r = None
            for _ in range(50):  # the closed connections free descriptors within a tick or two
                try:
                    r = srv.get("/index.html")
                    break
                except (harness.ProtocolError, OSError):
                    time.sleep(0.1)
            assert r is not None, "expected a request to be served once descriptors are free"
            expect_status(r, 200, "a request after descriptors were freed")


if __name__ == "__main__":
    main()
