#!/usr/bin/env python3
"""HTTP/2 streams and connections: dozens of concurrent streams with a 3 MiB body among them, a
1 KiB initial window, reload with streams open (a stream in flight keeps its generation),
--max-connections, the idle timeout (GOAWAY, close), --send-timeout on a stream stalled by flow
control (RST_STREAM), graceful stop on SIGTERM (GOAWAY with the last stream id, streams in
flight finish)."""

import hashlib
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (H2_END_HEADERS, H2_END_STREAM, H2_HEADERS,  # noqa: E402
                     H2_INITIAL_WINDOW_SIZE, H2_NO_ERROR, H2Client, RawH2, h2_frame,
                     ServedTree, check_h2_fields, expect_same_answer, h2_error_name, h2_served,
                     h2_window_update,
                     main, run_cachet, test)

MiB = 1 << 20
BIG = os.urandom(3 * MiB)
SMALL = {"s%02d.txt" % i: ("small file %d\n" % i).encode() * (i + 1) for i in range(40)}
FILES = dict(SMALL, **{"big.bin": BIG, "mid.bin": os.urandom(256 << 10),
                       "index.html": b"<!doctype html><p>hi</p>\n" * 20})


def sha(b):
    return hashlib.sha256(b).hexdigest()[:16]


def wait_bytes(c, sids, n, what):
    """Until each stream in sids has n body bytes (its window is used up)."""
    c.wait(lambda: all(len(c.streams[s].body) >= n for s in sids), 10,
           "%d body bytes on streams %r (%s)" % (n, sids, what))


def open_windows(c, sids, n=64 * MiB):
    """WINDOW_UPDATE n on each stream, and acknowledge everything from now on."""
    for s in sids:
        c.conn.increment_flow_control_window(n, stream_id=s)
    c.auto_ack = True
    c.flush()


@test
def dozens_of_concurrent_streams():
    """48 streams at once on one connection, twice over on two connections: small files, HEADs,
    304s, a 256 KiB and a 3 MiB body among them; every byte right."""
    with ServedTree(FILES) as t:
        cs = [H2Client(t.srv.port, timeout=20) for _ in range(2)]
        try:
            tag = cs[0].get("/s01.txt").header("etag")
            cs[1].get("/s02.txt")
            specs = []
            for i, name in enumerate(sorted(SMALL)):
                if i % 10 == 3:
                    specs.append(("/" + name, [], "HEAD", 200, b""))
                else:
                    specs.append(("/" + name, [], "GET", 200, SMALL[name]))
            specs.insert(7, ("/big.bin", [], "GET", 200, BIG))
            specs.insert(20, ("/mid.bin", [], "GET", 200, FILES["mid.bin"]))
            specs += [("/s01.txt", [("if-none-match", tag)], "GET", 304, b"")] * 4
            specs.insert(30, ("/big.bin", [("range", "bytes=1000-2999999")], "GET", 206,
                              BIG[1000:3000000]))
            specs.append(("/nope", [], "GET", 404, None))
            for c in cs:
                # all at once, unless the server allows fewer concurrent streams
                mcs = c.remote_settings.get(3, 1 << 31)
                c.want = []
                for path, hdrs, method, status, body in specs:
                    open_now = [sid for sid, _, _ in c.want if not c.streams[sid].done]
                    if len(open_now) >= mcs:
                        c.wait(lambda: any(c.streams[s].done for s in open_now), 30,
                               "a stream to finish under MAX_CONCURRENT_STREAMS %d" % mcs)
                    c.want.append((c.request(path, hdrs, method), status, body))
            for c in cs:
                for sid, status, body in c.want:
                    r = c.response(sid, timeout=30)
                    check_h2_fields(r, "stream %d" % sid)
                    assert r.ended and r.status == status, \
                        "expected %d on stream %d, got %r" % (status, sid, r)
                    if body is not None:
                        assert r.body == body, "expected %d bytes (sha %s) on stream %d, got " \
                            "%d (sha %s)" % (len(body), sha(body), sid, len(r.body), sha(r.body))
                assert c.goaway is None, "expected no GOAWAY, got %r" % (c.goaway,)
        finally:
            for c in cs:
                c.close()


@test
def one_kib_initial_window():
    """SETTINGS_INITIAL_WINDOW_SIZE=1024: the server sends at most 1 KiB per stream until our
    WINDOW_UPDATEs (python3-h2 raises on any overrun), bodies arrive whole; then a SETTINGS
    change in the middle of the connection (RFC 9113 §6.9.2) is honoured too."""
    with ServedTree(FILES) as t:
        c = H2Client(t.srv.port, settings={H2_INITIAL_WINDOW_SIZE: 1024}, timeout=30)
        try:
            sids = [c.request("/mid.bin")] + [c.request("/s%02d.txt" % i) for i in range(10)]
            for sid in sids:
                r = c.response(sid, timeout=60)
                assert r.status == 200 and r.ended, "expected 200 under a 1 KiB window, got " \
                    "%r" % r
            assert c.streams[sids[0]].body == FILES["mid.bin"], \
                "expected the 256 KiB body whole through a 1 KiB window"
            for i, sid in enumerate(sids[1:]):
                assert c.streams[sid].body == SMALL["s%02d.txt" % i]
            c.conn.update_settings({H2_INITIAL_WINDOW_SIZE: 70000})
            c.flush()
            r = c.get("/big.bin", timeout=60)
            assert r.status == 200 and r.body == BIG, "expected 3 MiB after the window grew"
            c.conn.update_settings({H2_INITIAL_WINDOW_SIZE: 1024})
            c.flush()
            r = c.get("/mid.bin", timeout=60)
            assert r.status == 200 and r.body == FILES["mid.bin"], \
                "expected 256 KiB after the window shrank back to 1 KiB"
            assert c.protocol_error is None and c.goaway is None
        finally:
            c.close()


@test
def reload_keeps_generation_of_streams_in_flight():
    """Streams stopped by flow control (16 KiB windows) across two reloads that replace their
    file: once the windows open, every byte is the old file's, whole (the stream pins its
    generation); a new stream sees the new file."""
    old = os.urandom(4 * MiB)
    new = os.urandom(4 * MiB)
    spec = "bytes=0-999999,2000000-2999999,-5000"
    with ServedTree({"big.bin": old, "x.txt": b"x"}, pid_file=True) as t:
        c = H2Client(t.srv.port, settings={H2_INITIAL_WINDOW_SIZE: 16384}, auto_ack=False,
                     conn_window=256 * MiB, timeout=30)
        try:
            s1 = c.request("/big.bin")
            s2 = c.request("/big.bin", [("range", spec)])
            s3 = c.request("/big.bin", [("range", "bytes=100-3999999")])
            wait_bytes(c, [s1, s2, s3], 16384, "before the reloads")
            for content in (new, old[:10] + new[10:]):
                with open(os.path.join(t.root, "big.bin"), "wb") as f:
                    f.write(content)
                rr = run_cachet(["--reload", "--pid-file", t.pid_file], timeout=30)
                assert rr.returncode == 0, "expected the reload to succeed: %r" % rr.stderr
            open_windows(c, [s1, s2, s3])
            r1, r2, r3 = (c.response(s, timeout=60) for s in (s1, s2, s3))
            assert r1.status == 200 and r1.body == old, "expected the old 4 MiB whole on the " \
                "stream opened before the reloads, got %d bytes (old? %r)" % (
                    len(r1.body), r1.body == old)
            assert r3.status == 206 and r3.body == old[100:4000000], \
                "expected the old bytes on the single-range stream, got %r" % r3
            assert r2.status == 206, "expected a multipart 206, got %r" % r2
            for a, b in ((0, 1000000), (2000000, 3000000), (len(old) - 5000, len(old))):
                assert old[a:b] in r2.body, "expected part %d-%d of the old file in the " \
                    "multipart answer" % (a, b - 1)
            assert new[20:1000] not in r2.body, "expected no new byte in the multipart answer"
            r = c.get("/big.bin", timeout=60)
            assert r.status == 200 and r.body == old[:10] + new[10:], \
                "expected the newest content on a stream opened after the reloads"
        finally:
            c.close()


@test
def max_connections_counts_http2_connections():
    """--max-connections 2: two HTTP/2 connections are served, a third is closed without an
    answer (or a 503/GOAWAY), the two go on, and once one closes a new one is served."""
    tree = ServedTree(FILES, "--max-connections", "2")
    tree.srv.threads = 1  # the cap is split across workers: one worker holds all of it
    with tree as t:
        port = t.srv.port
        cs = [H2Client(port) for _ in range(2)]
        try:
            for c in cs:
                assert c.get("/s01.txt").status == 200
            x = RawH2(port)
            try:
                x.try_send(h2_frame(H2_HEADERS, H2_END_HEADERS | H2_END_STREAM, 1,
                                    x.block(x.request_headers("/s01.txt"))))
                g, closed = x.wait_goaway_and_close(3)
                assert closed, "expected a third HTTP/2 connection over --max-connections 2 " \
                    "closed within 3 s, got %r" % x.frames
                assert not [f for f in x.frames if f.type == 1], \
                    "expected no answer on the refused connection, got %r" % x.frames
            finally:
                x.close()
            for c in cs:
                r = c.get("/s02.txt")
                assert r.status == 200, "expected the held connections served, got %r" % r
            cs[0].close()
            deadline = time.monotonic() + 3
            last = None
            while time.monotonic() < deadline:
                try:
                    h2_served(port, "/s03.txt", timeout=1)
                    break
                except (AssertionError, OSError) as e:
                    last = e
                    time.sleep(0.1)
            else:
                raise AssertionError("expected a new HTTP/2 connection served once one of two "
                                     "closed, last error %r" % last)
        finally:
            for c in cs:
                c.close()


@test
def idle_timeout_goaway_and_close():
    """--keepalive-timeout 1: an idle HTTP/2 connection gets GOAWAY (NO_ERROR, last stream id
    the last stream) and is closed; one that keeps asking stays open."""
    with ServedTree(FILES, "--keepalive-timeout", "1") as t:
        c = H2Client(t.srv.port)
        try:
            assert c.get("/s01.txt").status == 200
            t0 = time.monotonic()
            closed = c.wait_closed(6)
            assert closed, "expected an idle HTTP/2 connection closed within 6 s under " \
                "--keepalive-timeout 1"
            assert c.goaway is not None, "expected a GOAWAY before the idle close"
            assert c.goaway[0] == H2_NO_ERROR and c.goaway[1] == 1, "expected GOAWAY " \
                "NO_ERROR with last stream id 1, got %s last %d" % (
                    h2_error_name(c.goaway[0]), c.goaway[1])
            print("# idle close after %.1f s" % (time.monotonic() - t0))
        finally:
            c.close()
        c = H2Client(t.srv.port)
        try:
            for i in range(6):
                r = c.get("/s02.txt")
                assert r.status == 200, "expected GET %d every 0.5 s answered, got %r" % (i, r)
                time.sleep(0.5)
            assert c.goaway is None and not c.closed, "expected a busy connection kept open"
        finally:
            c.close()


@test
def send_timeout_resets_stalled_stream():
    """--send-timeout 1: a stream stopped by its zero window for longer gets RST_STREAM; the
    connection and other streams go on. A connection whose own window stays closed, or a
    client that stops reading the socket, is given up (streams reset or connection closed)."""
    huge = os.urandom(8 * MiB)
    files = dict(FILES, **{"huge.bin": huge})
    with ServedTree(files, "--send-timeout", "1") as t:
        # stream-level stall: the connection window is wide open
        c = H2Client(t.srv.port, settings={H2_INITIAL_WINDOW_SIZE: 16384}, auto_ack=False,
                     conn_window=256 * MiB, timeout=10)
        try:
            s1 = c.request("/huge.bin")
            wait_bytes(c, [s1], 16384, "stalled stream")
            r = c.get("/s01.txt")
            assert r.status == 200, "expected another stream answered beside the stalled one"
            h2_served(t.srv.port, what="another connection beside a stalled stream")
            c.wait(lambda: c.streams[s1].done, 6, "RST_STREAM on the stalled stream within "
                   "6 s under --send-timeout 1")
            r1 = c.streams[s1]
            assert r1.reset is not None and not r1.ended, "expected the stalled stream reset, " \
                "got %r" % r1
            assert len(r1.body) == 16384, "expected no DATA past the window, got %d" % len(
                r1.body)
            r = c.get("/s02.txt")
            assert r.status == 200 and r.body == SMALL["s02.txt"], \
                "expected the connection usable after the reset, got %r" % r
        finally:
            c.close()
        # connection-level stall: stream windows wide, the connection's 64 KiB never credited
        c = H2Client(t.srv.port, settings={H2_INITIAL_WINDOW_SIZE: 16 * MiB}, auto_ack=False,
                     timeout=10)
        try:
            s1 = c.request("/huge.bin")
            wait_bytes(c, [s1], 65535, "connection window used up")
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline and not (c.streams[s1].done or c.closed):
                c.pump(0.2)
            assert c.streams[s1].reset is not None or c.closed, "expected the stream reset or " \
                "the connection closed within 6 s when its window stays at 0, got %r" % (
                    c.streams[s1],)
            h2_served(t.srv.port, what="another connection after a stalled one")
        finally:
            c.close()
        # socket-level stall: the client stops reading
        x = RawH2(t.srv.port, settings=[(H2_INITIAL_WINDOW_SIZE, 16 * MiB)], rcvbuf=4096)
        try:
            x.send(h2_window_update(0, 16 * MiB))
            x.get(1, "/huge.bin")
            time.sleep(4)
            _, closed = x.wait_goaway_and_close(6)
            got = sum(len(f.payload) for f in x.frames if f.type == 0)
            assert closed and got < len(huge), "expected a client that stopped reading cut " \
                "off within 10 s under --send-timeout 1 (closed %r, %d body bytes)" % (
                    closed, got)
        finally:
            x.close()


@test
def sigterm_goaway_streams_finish():
    """SIGTERM: GOAWAY (NO_ERROR) whose last stream id is the last stream opened; the streams
    in flight (held by flow control) finish whole once the windows open; idle HTTP/2
    connections get GOAWAY and close; the server exits 0."""
    with ServedTree(FILES) as t:
        srv = t.srv
        idle = H2Client(srv.port)
        c = H2Client(srv.port, settings={H2_INITIAL_WINDOW_SIZE: 16384}, auto_ack=False,
                     conn_window=64 * MiB, timeout=10)
        try:
            assert idle.get("/s01.txt").status == 200
            s1 = c.request("/big.bin")
            s3 = c.request("/mid.bin")
            wait_bytes(c, [s1, s3], 16384, "before SIGTERM")
            srv.proc.send_signal(signal.SIGTERM)
            c.wait(lambda: c.goaway is not None, 4, "GOAWAY after SIGTERM")
            open_windows(c, [s1, s3])
            r1, r3 = c.response(s1, 10), c.response(s3, 10)
            assert r1.status == 200 and r1.body == BIG, "expected the 3 MiB stream in flight " \
                "at SIGTERM whole, got %d bytes" % len(r1.body)
            assert r3.status == 200 and r3.body == FILES["mid.bin"]
            assert c.wait_closed(5), "expected the connection closed once its streams finished"
            code, last, _ = c.goaway
            assert code == H2_NO_ERROR and last == s3, "expected the last GOAWAY NO_ERROR with " \
                "last stream id %d, got %s last %d" % (s3, h2_error_name(code), last)
            assert idle.wait_closed(5) and idle.goaway is not None, "expected the idle HTTP/2 " \
                "connection to get GOAWAY and be closed after SIGTERM (GOAWAY %r)" % (
                    idle.goaway,)
            rc = srv.proc.wait(6)
            assert rc == 0, "expected exit status 0 after SIGTERM, got %r" % rc
        finally:
            c.close()
            idle.close()


@test
def same_answers_on_many_streams_as_http11():
    """Each small file over HTTP/2 (all streams at once) equals its HTTP/1.1 answer."""
    with ServedTree(FILES) as t:
        c = H2Client(t.srv.port)
        try:
            sids = {name: c.request("/" + name) for name in sorted(SMALL)}
            for name, sid in sids.items():
                expect_same_answer(t.srv.get("/" + name), c.response(sid), name)
        finally:
            c.close()


if __name__ == "__main__":
    main()
