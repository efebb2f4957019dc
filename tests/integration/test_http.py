#!/usr/bin/env python3
"""HTTP/1.1 message handling: methods, HEAD, persistence, pipelining, Date, request targets,
path traversal."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Server, ServedTree, check_date_header, expect_closed,  # noqa: E402
                     expect_status, is_open, main, make_tree, read_response, request,
                     run_cachet, send, test)

SITE = {"x.txt": b"the x file\n", "index.html": b"<!doctype html><p>index</p>\n",
        "a b.txt": b"a space b", "dir/index.html": b"<p>dir</p>", "s.css": b"body{}"}


def site(d):
    make_tree(d, SITE)


@test
def get_and_head_same_headers():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            s = srv.connect()
            try:
                send(s, request("HEAD", "/x.txt"))
                h = read_response(s, head_method=True)
                send(s, request("GET", "/x.txt"))
                g = read_response(s)
                # after a HEAD the next response must start right away (no stray body bytes)
                send(s, request("HEAD", "/x.txt"))
                h2 = read_response(s, head_method=True)
                send(s, request("GET", "/s.css"))
                g2 = read_response(s)
            finally:
                s.close()
            expect_status(h, 200, "HEAD /x.txt")
            expect_status(g, 200, "GET /x.txt after HEAD on the same connection")
            expect_status(h2, 200, "second HEAD")
            expect_status(g2, 200, "GET /s.css after HEAD")
            assert g.body == SITE["x.txt"], "expected x.txt bytes, got %r" % g.body
            assert g2.body == SITE["s.css"], "expected s.css bytes after HEAD, got %r" % g2.body
            assert h.header("Content-Length") == str(len(SITE["x.txt"])), \
                "expected HEAD Content-Length %d, got %r" % (len(SITE["x.txt"]),
                                                             h.header("Content-Length"))
            skip = {"date"}
            hh = sorted((k.lower(), v) for k, v in h.headers if k.lower() not in skip)
            gh = sorted((k.lower(), v) for k, v in g.headers if k.lower() not in skip)
            assert hh == gh, \
                "expected HEAD headers == GET headers (except Date):\nHEAD %r\nGET  %r" % (hh, gh)


@test
def head_on_404_and_301_has_no_body():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            s = srv.connect()
            try:
                send(s, request("HEAD", "/missing"))
                r1 = read_response(s, head_method=True)
                send(s, request("HEAD", "/dir"))
                r2 = read_response(s, head_method=True)
                send(s, request("GET", "/x.txt"))
                r3 = read_response(s)
            finally:
                s.close()
            expect_status(r1, 404, "HEAD /missing")
            expect_status(r2, 301, "HEAD /dir")
            expect_status(r3, 200, "GET after HEAD 404 and HEAD 301 on one connection")
            assert r3.body == SITE["x.txt"], "expected x.txt bytes, got %r" % r3


@test
def other_methods_405_with_allow():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            for m in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
                for t in ("/x.txt", "/missing"):
                    s = srv.connect()
                    try:
                        hdrs = [("Content-Length", "0")] if m in ("POST", "PUT", "PATCH") else []
                        send(s, request(m, t, hdrs))
                        r = read_response(s)
                    finally:
                        s.close()
                    if m == "PATCH" and r.status == 501:
                        continue
                    if t == "/missing" and r.status == 404:
                        continue  # either is defensible for a missing resource
                    expect_status(r, 405, "%s %s" % (m, t))
                    allow = r.header_all("Allow")
                    assert len(allow) == 1, "expected one Allow header on 405, got %r" % allow
                    toks = sorted(x.strip() for x in allow[0].split(","))
                    assert toks == ["GET", "HEAD"], \
                        "expected Allow: GET, HEAD on %s %s, got %r" % (m, t, allow[0])
                    check_date_header(r, "405")


@test
def unknown_method_501():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            for m in ("FOO", "BREW", "get"):
                r = srv.get("/x.txt", method=m)
                assert r.status in (501, 405), \
                    "expected 501 (or 405) for method %r, got %r" % (m, r)
                check_date_header(r, "unknown method")


@test
def keep_alive_default_http11():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            s = srv.connect()
            try:
                for i in range(10):
                    t = ["/x.txt", "/", "/missing", "/s.css"][i % 4]
                    send(s, request("GET", t))
                    r = read_response(s)
                    expect_status(r, 404 if t == "/missing" else 200, "request %d %s" % (i, t))
                    assert "close" not in r.connection_tokens(), \
                        "expected no Connection: close in 1.1 keep-alive, got %r" % r
                assert is_open(s), "expected the connection still open after 10 requests"
            finally:
                s.close()


@test
def http10_closes_by_default():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            s = srv.connect()
            try:
                send(s, b"GET /x.txt HTTP/1.0\r\n\r\n")
                r = read_response(s)
                expect_status(r, 200, "HTTP/1.0 GET")
                assert r.version in ("HTTP/1.1", "HTTP/1.0"), "unexpected version %r" % r.version
                assert r.body == SITE["x.txt"], "expected x.txt bytes, got %r" % r.body
                expect_closed(s, what=" after an HTTP/1.0 request without keep-alive")
            finally:
                s.close()


@test
def http10_keep_alive():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            s = srv.connect()
            try:
                for i in range(3):
                    send(s, b"GET /x.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                    r = read_response(s)
                    expect_status(r, 200, "HTTP/1.0 keep-alive request %d" % i)
                    assert r.body == SITE["x.txt"], "expected x.txt bytes, got %r" % r.body
                    assert "keep-alive" in r.connection_tokens(), \
                        "expected Connection: keep-alive in the 1.0 response, got %r" % r
                assert is_open(s), "expected the 1.0 keep-alive connection to stay open"
                send(s, b"GET /x.txt HTTP/1.0\r\n\r\n")
                r = read_response(s)
                expect_status(r, 200)
                expect_closed(s, what=" after a 1.0 request without keep-alive")
            finally:
                s.close()


@test
def connection_close_http11():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            for hv in ("close", "Close", "keep-alive, close"):
                s = srv.connect()
                try:
                    send(s, request("GET", "/x.txt", [("Connection", hv)]))
                    r = read_response(s)
                    expect_status(r, 200, "Connection: %s" % hv)
                    assert "close" in r.connection_tokens(), \
                        "expected Connection: close in the response to Connection: %s, got %r" \
                        % (hv, r)
                    assert r.body == SITE["x.txt"], "expected body, got %r" % r.body
                    expect_closed(s, what=" after Connection: %s" % hv)
                finally:
                    s.close()


@test
def connection_close_pipelined_stops():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            s = srv.connect()
            try:
                send(s, request("GET", "/x.txt") + request("GET", "/x.txt", [("Connection",
                                                                               "close")])
                     + request("GET", "/s.css"))
                r1 = read_response(s)
                r2 = read_response(s)
                expect_status(r1, 200)
                expect_status(r2, 200)
                expect_closed(s, what=" after the Connection: close request (no third response)")
            finally:
                s.close()


def pipeline_batch(etag):
    """20 requests and the check for each response."""
    reqs = []
    for i in range(20):
        k = i % 5
        if k == 0:
            reqs.append(("GET", request("GET", "/x.txt"), 200, SITE["x.txt"]))
        elif k == 1:
            reqs.append(("HEAD", request("HEAD", "/x.txt"), 200, b""))
        elif k == 2:
            reqs.append(("GET", request("GET", "/nope-%d" % i), 404, None))
        elif k == 3:
            reqs.append(("GET", request("GET", "/x.txt", [("If-None-Match", etag)]), 304, b""))
        else:
            reqs.append(("GET", request("GET", "/?n=%d" % i), 200, SITE["index.html"]))
    return reqs


def check_pipeline(s, reqs):
    for i, (m, _, status, body) in enumerate(reqs):
        r = read_response(s, head_method=(m == "HEAD"))
        expect_status(r, status, "pipelined response %d" % i)
        if body is not None:
            assert r.body == body, "expected body %r for pipelined response %d, got %r" % (
                body[:40], i, r.body[:80])
        if m == "HEAD":
            assert r.header("Content-Length") == str(len(SITE["x.txt"])), \
                "expected HEAD Content-Length in pipelined response %d, got %r" % (i, r)


@test
def pipelining_20_in_one_send():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            etag = srv.get("/x.txt").header("ETag")
            assert etag, "expected an ETag"
            reqs = pipeline_batch(etag)
            s = srv.connect()
            try:
                send(s, b"".join(r[1] for r in reqs))
                check_pipeline(s, reqs)
                assert is_open(s), "expected the connection open after the pipelined batch"
                send(s, request("GET", "/x.txt"))
                r = read_response(s)
                expect_status(r, 200, "request after the pipelined batch")
            finally:
                s.close()


@test
def repeated_heads_answered_alike():
    """A head with the same bytes as the last one answered is answered from what the worker kept
    for it (h1.c); one byte different is another request, on any connection."""
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            etag = srv.get("/x.txt").header("ETag")
            assert etag and len(etag) > 3, "expected an ETag, got %r" % etag
            other = etag[:-2] + ("x" if etag[-2] != "x" else "y") + etag[-1]
            cond = request("GET", "/x.txt", [("If-None-Match", etag)])
            plain = request("GET", "/x.txt")
            reqs = [("GET", cond, 304, b""), ("GET", cond, 304, b""),
                    ("GET", request("GET", "/x.txt", [("If-None-Match", other)]), 200,
                     SITE["x.txt"]),
                    ("GET", cond, 304, b""), ("HEAD", request("HEAD", "/x.txt"), 200, b""),
                    ("GET", plain, 200, SITE["x.txt"]), ("GET", plain, 200, SITE["x.txt"]),
                    ("GET", request("GET", "/s.css"), 200, SITE["s.css"])]
            s = srv.connect()
            try:
                send(s, b"".join(r[1] for r in reqs))
                check_pipeline(s, reqs)
            finally:
                s.close()
            s = srv.connect()
            try:
                send(s, plain + cond)
                check_pipeline(s, [("GET", plain, 200, SITE["x.txt"]), ("GET", cond, 304, b"")])
            finally:
                s.close()


@test
def pipelining_byte_by_byte():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            etag = srv.get("/x.txt").header("ETag")
            reqs = pipeline_batch(etag)[:10]
            data = b"".join(r[1] for r in reqs)
            assert len(data) < 2000, "test data too long"
            s = srv.connect()
            try:
                t0 = time.monotonic()
                for i in range(len(data)):
                    s.sendall(data[i:i + 1])
                    if i % 16 == 0:
                        time.sleep(0.001)
                    assert time.monotonic() - t0 < 15, "sending took too long"
                check_pipeline(s, reqs)
            finally:
                s.close()


@test
def pipelining_split_at_every_boundary():
    """Two requests split in two writes at each position (bounded: ~70 connections)."""
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            data = request("GET", "/x.txt") + request("HEAD", "/s.css")
            for cut in range(1, len(data), max(1, len(data) // 70)):
                s = srv.connect()
                try:
                    s.sendall(data[:cut])
                    time.sleep(0.002)
                    s.sendall(data[cut:])
                    r1 = read_response(s)
                    r2 = read_response(s, head_method=True)
                finally:
                    s.close()
                expect_status(r1, 200, "GET split at byte %d" % cut)
                assert r1.body == SITE["x.txt"], "expected body at cut %d, got %r" % (cut, r1)
                expect_status(r2, 200, "HEAD split at byte %d" % cut)


@test
def pipelining_1000_with_concurrent_reader():
    import threading
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            n = 1000
            names = ["/x.txt", "/s.css", "/missing", "/"]
            data = b"".join(request("HEAD" if i % 7 == 3 else "GET", names[i % 4])
                            for i in range(n))
            s = srv.connect()
            err = []

            def writer():
                try:
                    for i in range(0, len(data), 4096):
                        s.sendall(data[i:i + 4096])
                except OSError as e:
                    err.append(e)
            t = threading.Thread(target=writer, daemon=True)
            t.start()
            try:
                t0 = time.monotonic()
                for i in range(n):
                    assert time.monotonic() - t0 < 20, "expected 1000 responses within 20 s"
                    head = i % 7 == 3
                    r = read_response(s, head_method=head)
                    name = names[i % 4]
                    want = 404 if name == "/missing" else 200
                    expect_status(r, want, "pipelined response %d of %d (%s)" % (i, n, name))
                    if not head and want == 200:
                        body = SITE["index.html"] if name == "/" else SITE[name[1:]]
                        assert r.body == body, "expected %r for response %d, got %r" % (
                            body, i, r.body)
                t.join(5)
                assert not err, "writer failed: %r" % err
                assert is_open(s), "expected the connection open after 1000 pipelined requests"
            finally:
                s.close()


@test
def header_names_case_insensitive_and_ows():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            etag = srv.get("/x.txt").header("ETag")
            s = srv.connect()
            try:
                send(s, b"GET /x.txt HTTP/1.1\r\nhOsT: a\r\niF-nOnE-mAtCh:  \t" + etag.encode()
                     + b" \t\r\n\r\n")
                r = read_response(s)
                expect_status(r, 304, "mixed-case If-None-Match with OWS around the value")
                send(s, b"GET /x.txt HTTP/1.1\r\nHOST:a\r\nCONNECTION: CLOSE\r\n\r\n")
                r = read_response(s)
                expect_status(r, 200, "upper-case Host/Connection, no space after colon")
                expect_closed(s, what=" after CONNECTION: CLOSE")
            finally:
                s.close()


@test
def no_duplicate_framing_headers():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            for t in ("/x.txt", "/", "/missing", "/dir"):
                r = srv.get(t)
                for name in ("Content-Length", "Date", "Content-Type", "ETag", "Last-Modified",
                             "Location", "Connection", "Transfer-Encoding"):
                    assert len(r.header_all(name)) <= 1, \
                        "expected at most one %s on %s, got %r" % (name, t, r.header_all(name))
                assert not r.has("Transfer-Encoding"), \
                    "expected Content-Length framing, not Transfer-Encoding, on %s" % t
                if r.status != 304:
                    assert r.header("Content-Length") == str(len(r.body)), \
                        "expected Content-Length == body length on %s: %r" % (t, r)


@test
def endless_request_line_answered():
    """A request line that never ends must be answered (414/400) once it is over 8 KiB,
    without waiting for its CRLF."""
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            s = srv.connect()
            try:
                send(s, b"GET /" + b"a" * 20000)
                r = read_response(s)
                expect_status(r, (414, 400), "a 20000-byte request line without CRLF")
                expect_closed(s, what=" after %d" % r.status)
            finally:
                s.close()


@test
def endless_header_section_answered():
    """Headers sent without end must get 431 once over 16 KiB, not buffer forever."""
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            s = srv.connect()
            try:
                send(s, b"GET /x.txt HTTP/1.1\r\nHost: a\r\n")
                sent = 0
                t0 = time.monotonic()
                try:
                    while sent < 4 << 20 and time.monotonic() - t0 < 10:
                        s.sendall(b"X-Flood: " + b"f" * 1000 + b"\r\n")
                        sent += 1011
                        if sent > 64 << 10:
                            import select
                            if select.select([s], [], [], 0)[0]:
                                break
                except (BrokenPipeError, ConnectionResetError):
                    pass
                r = read_response(s)
                expect_status(r, 431, "an endless header section (%d bytes sent)" % sent)
            finally:
                s.close()


@test
def date_header_on_every_response():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            etag = srv.get("/x.txt").header("ETag")
            cases = [
                ("200", request("GET", "/x.txt"), 200),
                ("HEAD 200", request("HEAD", "/x.txt"), 200),
                ("304", request("GET", "/x.txt", [("If-None-Match", etag)]), 304),
                ("404", request("GET", "/missing"), 404),
                ("301", request("GET", "/dir"), 301),
                ("405", request("DELETE", "/x.txt"), 405),
                ("400 no host", b"GET /x.txt HTTP/1.1\r\n\r\n", 400),
                ("400 garbage", b"garbage\r\n\r\n", 400),
            ]
            for what, data, status in cases:
                s = srv.connect()
                try:
                    send(s, data)
                    r = read_response(s, head_method=what.startswith("HEAD"))
                finally:
                    s.close()
                expect_status(r, status, what)
                check_date_header(r, what)


@test
def absolute_form_target():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            for t in ("http://127.0.0.1/x.txt", "http://127.0.0.1:%d/x.txt" % srv.port,
                      "http://localhost/x.txt?q=1"):
                r = srv.get(t)
                expect_status(r, 200, "absolute-form " + t)
                assert r.body == SITE["x.txt"], "expected x.txt for %s, got %r" % (t, r.body)


@test
def query_string_ignored():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            for t in ("/x.txt?v=3", "/x.txt?", "/x.txt?a=%2e%2e/b&c", "/?x=1",
                      "/x.txt?/../../etc/passwd"):
                r = srv.get(t)
                expect_status(r, 200, t)
                want = SITE["index.html"] if t.startswith("/?") else SITE["x.txt"]
                assert r.body == want, "expected %r for %s, got %r" % (want, t, r.body)


@test
def percent_encoding_decoded():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            for t, want in (("/a%20b.txt", SITE["a b.txt"]), ("/%78.txt", SITE["x.txt"]),
                            ("/x%2Etxt", SITE["x.txt"]), ("/dir/%69ndex.html",
                                                          SITE["dir/index.html"])):
                r = srv.get(t)
                expect_status(r, 200, t)
                assert r.body == want, "expected %r for %s, got %r" % (want, t, r.body)
            for t in ("/x.txt%", "/x.txt%2", "/x%zz.txt"):
                r = srv.get(t)
                expect_status(r, (400, 404), "bad percent-encoding " + t)


@test
def traversal_never_escapes_root():
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "root")
        make_tree(root, {"a/x.txt": "inside", "index.html": "idx"})
        secret = b"TOP-SECRET-BYTES-1234"
        make_tree(d, {"secret": secret})
        targets = ["/../secret", "/%2e%2e/secret", "/%2e%2e%2fsecret", "/a/../../secret",
                   "/..%2fsecret", "/%252e%252e/secret", "//../secret", "/a/%2e%2e/%2e%2e/secret",
                   "/./../secret", "/a/..%2f..%2fsecret", "/..\\secret", "/%2E%2E/secret",
                   "/a/../../../../../../../../etc/passwd", "/.%2e/secret",
                   "http://127.0.0.1/../secret"]
        with Server(root) as srv:
            for t in targets:
                s = srv.connect()
                try:
                    send(s, request("GET", t))
                    r = read_response(s)
                    if r.status == 400:
                        expect_closed(s, what=" after 400 for " + t)
                finally:
                    s.close()
                assert r.status in (400, 404), "expected 400 or 404 for %r, got %r" % (t, r)
                assert secret not in r.body, "secret leaked for %r: %r" % (t, r)
                assert b"root:" not in r.body, "/etc/passwd leaked for %r" % t
            # dot segments may be resolved (clamped at the root) or refused, but never 5xx
            for t, body in (("/a/../a/x.txt", b"inside"), ("/..", b"idx"), ("/../", b"idx")):
                r = srv.get(t)
                assert r.status in (200, 400, 404), "expected 200/400/404 for %s, got %r" % (t, r)
                if r.status == 200:
                    assert r.body == body, "expected %r for %s, got %r" % (body, t, r.body)


@test
def nul_in_target_400():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            for t in ("/x.txt%00", "/x.txt%00.html", "/%00"):
                s = srv.connect()
                try:
                    send(s, request("GET", t))
                    r = read_response(s)
                    expect_status(r, 400, "%%00 in the target " + t)
                    expect_closed(s, what=" after 400 for %r" % t)
                finally:
                    s.close()


@test
def control_chars_in_target_400_close():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            bad = [b"GET /x\x01.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                   b"GET /x\x7f.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                   b"GET /x\t.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                   b"GET /a b.txt HTTP/1.1\r\nHost: a\r\n\r\n",
                   b"GET /x.txt\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
                   b"GET /x\x1b[0m.txt HTTP/1.1\r\nHost: a\r\n\r\n"]
            for data in bad:
                s = srv.connect()
                try:
                    send(s, data)
                    r = read_response(s)
                    expect_status(r, 400, repr(data))
                    check_date_header(r, "400")
                    expect_closed(s, what=" after 400 for %r" % data)
                finally:
                    s.close()



@test
def add_header_on_answers():
    """--add-header fields ride on 200, HEAD, 206 (single and multipart), 304 and 301, once
    each, as nginx's add_header does; not on 404, 416 or 400. They survive a reload."""
    added = [("Access-Control-Allow-Origin", "*"), ("X-Content-Type-Options", "nosniff")]
    args = []
    for name, value in added:
        args += ["--add-header", "%s: %s" % (name, value)]
    with ServedTree(SITE, *args, pid_file=True) as t:
        srv = t.srv
        etag = srv.get("/x.txt").header("ETag")
        for what, target, hdrs, method, status in (
                ("200", "/x.txt", [], "GET", 200),
                ("HEAD", "/x.txt", [], "HEAD", 200),
                ("206", "/x.txt", [("Range", "bytes=0-2")], "GET", 206),
                ("multipart 206", "/x.txt", [("Range", "bytes=0-1,4-5")], "GET", 206),
                ("304", "/x.txt", [("If-None-Match", etag)], "GET", 304),
                ("301", "/dir", [], "GET", 301),
                ("index", "/", [], "GET", 200)):
            r = srv.get(target, hdrs, method=method)
            expect_status(r, status, what)
            for name, value in added:
                assert r.header_all(name) == [value], \
                    "expected %s: %s once on the %s, got %r" % (name, value, what, r)
        for what, target, hdrs, status in (
                ("404", "/nope", [], 404), ("416", "/x.txt", [("Range", "bytes=999-")], 416),
                ("400", "/../x", [], 400)):
            r = srv.get(target, hdrs)
            expect_status(r, status, what)
            for name, _ in added:
                assert not r.has(name), "expected no %s on the %s, got %r" % (name, what, r)
        rr = run_cachet(["--reload", "--pid-file", t.pid_file], timeout=30)
        assert rr.returncode == 0, "expected the reload to succeed: %r" % rr.stderr
        r = srv.get("/x.txt")
        assert r.header("Access-Control-Allow-Origin") == "*", \
            "expected the added field after a reload, got %r" % r
    # A field that would inject a line or duplicate one cachet writes is refused at start.
    for bad in ("X-A: 1\r\nSet-Cookie: x=1", "Content-Length: 5", "no colon"):
        r = run_cachet(["--root", ".", "--add-header", bad])
        assert r.returncode == 2 and "--add-header" in r.stderr, \
            "expected --add-header %r refused with exit 2, got %d %r" % (bad, r.returncode,
                                                                           r.stderr)

if __name__ == "__main__":
    main()
