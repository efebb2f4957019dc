#!/usr/bin/env python3
"""Malformed requests: status, Date, connection closed afterwards; request bodies discarded."""

import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ProtocolError, Server, check_date_header, expect_closed,  # noqa: E402
                     expect_status, is_open, main, make_tree, read_response, request, send, test)

SITE = {"x.txt": b"the x file\n", "secret": b"SHOULD-NOT-BE-SENT", "y.txt": b"yyy"}


def bad(srv, data, statuses, what):
    s = srv.connect()
    try:
        send(s, data)
        try:
            r = read_response(s)
        except ProtocolError as e:
            raise AssertionError("expected a %r response for %s (%r), got: %s" % (
                statuses, what, data[:120], e))
        expect_status(r, statuses, "%s: %r" % (what, data[:120]))
        check_date_header(r, what)
        assert b"SHOULD-NOT-BE-SENT" not in r.body, "expected no file bytes for %s" % what
        expect_closed(s, what=" after %d for %s" % (r.status, what))
        return r
    finally:
        s.close()


def with_server(fn):
    def run():
        with tempfile.TemporaryDirectory() as d:
            make_tree(d, SITE)
            with Server(d) as srv:
                fn(srv)
    run.__name__ = fn.__name__
    return run


@test
@with_server
def missing_host_http11_400(srv):
    bad(srv, b"GET /x.txt HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 without Host")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400, "HTTP/1.1 without Host (2)")


@test
@with_server
def http10_without_host_ok(srv):
    s = srv.connect()
    try:
        send(s, b"GET /x.txt HTTP/1.0\r\n\r\n")
        r = read_response(s)
    finally:
        s.close()
    expect_status(r, 200, "HTTP/1.0 without Host")


@test
@with_server
def two_host_lines_400(srv):
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "two Host lines")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400,
        "two Host lines, same value, different case")


@test
@with_server
def invalid_host_400(srv):
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Host with a space")
    # a comma is a sub-delim, valid in a reg-name; '/' and '@' are not (RFC 3986 3.2.2)
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "Host with a slash")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: u@b\r\n\r\n", 400, "Host with userinfo")


@test
@with_server
def te_and_cl_400(srv):
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding + Content-Length")
    bad(srv, b"POST /x.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 5\r\n\r\n0\r\n\r\n", 400, "Content-Length after Transfer-Encoding")


@test
@with_server
def invalid_content_length_400(srv):
    for v in (b"abc", b"-1", b"1.0", b"+5", b"0x10", b"5 5", b"99999999999999999999999999"):
        bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: " + v + b"\r\n\r\n",
            (400, 413) if len(v) > 20 else 400, "Content-Length %r" % v)


@test
@with_server
def conflicting_content_length_400(srv):
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"
        b"abcd", 400, "two Content-Length lines that differ")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400,
        "a Content-Length list that differs")


@test
@with_server
def space_before_colon_400(srv):
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nX-Foo : bar\r\n\r\n", 400, "space before colon")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost : a\r\n\r\n", 400, "space before colon in Host")


@test
@with_server
def obs_fold_400(srv):
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nX-Foo: bar\r\n  baz\r\n\r\n", 400, "obs-fold")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nX-Foo: bar\r\n\tbaz\r\n\r\n", 400,
        "obs-fold with tab")


@test
@with_server
def control_char_in_header_value_400(srv):
    for c in (b"\x00", b"\x01", b"\x1b", b"\x7f", b"\r"):
        bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nX-Foo: a" + c + b"b\r\n\r\n", 400,
            "control char %r in a header value" % c)


@test
@with_server
def bad_header_name_400(srv):
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nX(Foo): bar\r\n\r\n", 400,
        "separator in a header name")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\n: bar\r\n\r\n", 400, "empty header name")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "header without colon")


@test
@with_server
def target_over_8k_414(srv):
    bad(srv, request("GET", "/" + "a" * 9000), 414, "a 9000-byte target")
    bad(srv, request("GET", "/x.txt?" + "q" * 8200), 414, "a query pushing the target over 8 KiB")


@test
@with_server
def target_under_8k_ok(srv):
    r = srv.get("/x.txt?" + "q" * 7000)
    expect_status(r, 200, "a 7000-byte target (under 8 KiB)")


@test
@with_server
def header_section_over_16k_431(srv):
    hdrs = [("X-Pad-%d" % i, "v" * 100) for i in range(180)]  # ~ 20 KiB
    bad(srv, request("GET", "/x.txt", hdrs), 431, "a 20 KiB header section")
    bad(srv, request("GET", "/x.txt", [("X-Big", "b" * 17000)]), 431, "one 17000-byte header")


@test
@with_server
def header_section_under_16k_ok(srv):
    hdrs = [("X-Pad-%d" % i, "v" * 100) for i in range(100)]  # ~ 11 KiB
    r = srv.get("/x.txt", hdrs)
    expect_status(r, 200, "an 11 KiB header section")


@test
@with_server
def http_version_505(srv):
    for v in (b"HTTP/2.0", b"HTTP/3.0"):
        bad(srv, b"GET /x.txt " + v + b"\r\nHost: a\r\n\r\n", (505, 400), "version %r" % v)
    for v in (b"HTTP/1.2", b"HTTP/1.9"):
        # a higher minor version of 1.x is 1.1-compatible (RFC 9110 2.5)
        s = srv.connect()
        try:
            send(s, b"GET /x.txt " + v + b"\r\nHost: a\r\n\r\n")
            r = read_response(s)
        finally:
            s.close()
        expect_status(r, (200, 505), "version %r" % v)
    for v in (b"HTTP/1", b"http/1.1", b"HTTP/1.1x", b"HTTP/11.1", b"HTTPS/1.1"):
        bad(srv, b"GET /x.txt " + v + b"\r\nHost: a\r\n\r\n", (400, 505), "version %r" % v)


@test
@with_server
def garbage_400(srv):
    for data in (b"garbage\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40
                 + b"\r\n\r\n", b"GET\r\n\r\n", b"GET /x.txt\r\n\r\n", b"/x.txt HTTP/1.1\r\n\r\n",
                 b"GET /x.txt HTTP/1.1 extra\r\nHost: a\r\n\r\n", b"G(T /x.txt HTTP/1.1\r\n\r\n",
                 b"GET x.txt HTTP/1.1\r\nHost: a\r\n\r\n"):
        bad(srv, data, 400, "garbage %r" % data[:40])


@test
@with_server
def bare_lf_or_leading_crlf(srv):
    """Leading empty lines are ignored (RFC 9112 2.2); bare LF may be accepted or 400."""
    s = srv.connect()
    try:
        send(s, b"\r\n" + request("GET", "/x.txt"))
        r = read_response(s)
    finally:
        s.close()
    expect_status(r, (200, 400), "a leading CRLF before the request line")
    s = srv.connect()
    try:
        send(s, b"GET /x.txt HTTP/1.1\nHost: a\n\n")
        r = read_response(s)
    finally:
        s.close()
    expect_status(r, (200, 400), "bare LF line endings")
    if r.status == 200:
        assert r.body == SITE["x.txt"], "expected the body for bare LF, got %r" % r


@test
@with_server
def error_after_good_request_on_same_connection(srv):
    s = srv.connect()
    try:
        send(s, request("GET", "/x.txt") + b"GET /x.txt HTTP/1.1\r\n\r\n" + request("GET",
                                                                                   "/y.txt"))
        r1 = read_response(s)
        r2 = read_response(s)
        expect_status(r1, 200, "first (good) request")
        expect_status(r2, 400, "second request without Host")
        assert "close" in r2.connection_tokens(), \
            "expected Connection: close on the 400, got %r" % r2
        expect_closed(s, what=" after the 400 (no response to the third request)")
    finally:
        s.close()


@test
@with_server
def get_body_is_discarded(srv):
    smuggled = b"GET /secret HTTP/1.1\r\nHost: a\r\n\r\n"
    assert len(smuggled) < 60
    body = smuggled + b"x" * (60 - len(smuggled))
    s = srv.connect()
    try:
        send(s, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body
             + request("GET", "/y.txt"))
        r1 = read_response(s)
        r2 = read_response(s)
        expect_status(r1, 200, "GET with a body")
        assert r1.body == SITE["x.txt"], "expected x.txt for the GET with a body, got %r" % r1
        expect_status(r2, 200, "the request after the body")
        assert r2.body == SITE["y.txt"], \
            "expected y.txt (the next real request), got %r (body bytes parsed as a request?)" % r2
        assert is_open(s, 0.5), "expected nothing more (only one response for the pair)"
    finally:
        s.close()


@test
@with_server
def get_body_split_across_writes(srv):
    smuggled = b"GET /secret HTTP/1.1\r\nHost: a\r\n\r\n"
    import time
    s = srv.connect()
    try:
        send(s, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(smuggled))
        time.sleep(0.05)
        send(s, smuggled[:10])
        time.sleep(0.05)
        send(s, smuggled[10:])
        r1 = read_response(s)
        expect_status(r1, 200, "GET with a body sent in pieces")
        time.sleep(0.05)
        send(s, request("GET", "/y.txt"))
        r2 = read_response(s)
        assert r2.status == 200 and r2.body == SITE["y.txt"], \
            "expected y.txt for the real next request, got %r" % r2
        assert is_open(s, 0.3), "expected no further response"
    finally:
        s.close()


@test
@with_server
def post_body_405_then_next(srv):
    smuggled = b"GET /secret HTTP/1.1\r\nHost: a\r\n\r\n"
    s = srv.connect()
    try:
        send(s, b"POST /x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
             + smuggled + request("GET", "/y.txt"))
        r1 = read_response(s)
        expect_status(r1, 405, "POST with a body")
        try:
            r2 = read_response(s)
        except ProtocolError as e:
            assert "connection closed" in str(e), "unexpected: %s" % e
            return  # closed after the 405: accepted
        assert b"SHOULD-NOT-BE-SENT" not in r2.body, "the POST body was parsed as a request: %r" \
            % r2
        expect_status(r2, 200, "the GET pipelined after the POST")
        assert r2.body == SITE["y.txt"], "expected y.txt, got %r" % r2
    finally:
        s.close()


@test
@with_server
def large_discarded_body(srv):
    """A 200 KiB body on a GET is consumed (or the connection closed) - never parsed."""
    body = (b"GET /secret HTTP/1.1\r\nHost: a\r\n\r\n" * 6000)[:200000]
    s = srv.connect()
    try:
        send(s, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.sendall(body)
        send(s, request("GET", "/y.txt"))
        r1 = read_response(s)
        expect_status(r1, (200, 413), "GET with a 200 KiB body")
        if r1.status == 413:
            expect_closed(s, what=" after 413")
            return
        r2 = read_response(s)
        assert r2.status == 200 and r2.body == SITE["y.txt"], \
            "expected y.txt after the large body, got %r" % r2
    finally:
        s.close()


def chunked(*chunks, trailer=b""):
    """A chunked body (RFC 9112 \u00a77.1) carrying chunks, then last-chunk, trailer, CRLF."""
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + trailer + b"\r\n"


TE = b"Transfer-Encoding: chunked\r\n"


@test
@with_server
def chunked_request_body(srv):
    """A chunked request body is framed and dropped: the request is answered, the chunk data is
    never read as a request (here it holds one), and the next request is answered in turn."""
    s = srv.connect()
    try:
        inner = request("GET", "/secret")
        send(s, b"GET /x.txt HTTP/1.1\r\nHost: a\r\n" + TE + b"\r\n" + chunked(inner, b"tail")
             + request("GET", "/y.txt"))
        r1 = read_response(s)
        expect_status(r1, 200, "GET with a chunked body")
        assert r1.body == SITE["x.txt"], "expected x.txt, got %r" % r1
        r2 = read_response(s)
        assert r2.status == 200 and r2.body == SITE["y.txt"], \
            "expected y.txt after the chunked body, got %r" % r2
        assert is_open(s), "expected the connection kept open after a chunked body"
    finally:
        s.close()


@test
@with_server
def chunked_body_in_pieces(srv):
    """The same body cut at every kind of place (inside the size, the extension, the data, the
    CRLFs, the trailer), each piece its own send: still one answer per request, in order."""
    body = b"5;ext=\"v\"\r\nhello\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\nX-T: 1\r\n\r\n"
    head = b"POST /x.txt HTTP/1.1\r\nHost: a\r\n" + TE + b"\r\n"
    for step in (1, 2, 3, 7):
        s = srv.connect()
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            send(s, head)
            for i in range(0, len(body), step):
                send(s, body[i:i + step])
                time.sleep(0.002)  # a receive per piece, as far as timing allows
            send(s, request("GET", "/y.txt"))
            r1 = read_response(s)
            expect_status(r1, 405, "POST with a chunked body sent %d bytes at a time" % step)
            r2 = read_response(s)
            assert r2.status == 200 and r2.body == SITE["y.txt"], \
                "step %d: expected y.txt after the chunked body, got %r" % (step, r2)
        finally:
            s.close()


@test
@with_server
def chunked_large_body(srv):
    """A body of 4 MiB in 64 KiB chunks is skipped as it arrives, without being kept."""
    s = srv.connect()
    try:
        send(s, b"PUT /x.txt HTTP/1.1\r\nHost: a\r\n" + TE + b"\r\n")
        piece = b"%x\r\n%s\r\n" % (65536, b"q" * 65536)
        for _ in range(64):
            send(s, piece)
        send(s, b"0\r\n\r\n" + request("HEAD", "/y.txt"))
        r1 = read_response(s)
        expect_status(r1, 405, "PUT with a 4 MiB chunked body")
        r2 = read_response(s, head_method=True)
        expect_status(r2, 200, "HEAD after the 4 MiB chunked body")
    finally:
        s.close()


@test
@with_server
def malformed_chunked_body_closes(srv):
    """A body that breaks the chunked syntax leaves the next request's start unknowable: the
    request already read is answered, then the connection is closed; what follows is not read."""
    bodies = {
        "bare LF after the size": b"5\nhello\r\n0\r\n\r\n",
        "no CRLF after the data": b"5\r\nhelloX\r\n0\r\n\r\n",
        "size not hex": b"zz\r\n",
        "size over 64 bits": b"10000000000000000\r\n",
        "control byte in an extension": b"1;a\x01\r\nx\r\n0\r\n\r\n",
        "obs-fold in the trailer": b"0\r\nA: 1\r\n folded\r\n\r\n",
    }
    for what, body in bodies.items():
        s = srv.connect()
        try:
            send(s, b"GET /x.txt HTTP/1.1\r\nHost: a\r\n" + TE + b"\r\n" + body
                 + request("GET", "/secret"))
            r1 = read_response(s)
            expect_status(r1, 200, what)
            expect_closed(s, what=" after a chunked body with %s" % what)
        finally:
            s.close()


@test
@with_server
def transfer_codings_refused(srv):
    """Framing cachet cannot trust gets 400, a coding it does not implement 501; both close."""
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
        "Transfer-Encoding: gzip (chunked not last)")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
        b"0\r\n\r\n", 400, "chunked not the final coding")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "chunked twice")
    bad(srv, b"GET /x.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
        "Transfer-Encoding in HTTP/1.0")
    bad(srv, b"GET /x.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"0\r\n\r\n", 501, "gzip, chunked")


@test
@with_server
def server_survives_errors(srv):
    """After a batch of bad requests the server still serves."""
    for data in (b"\xff\xfe\r\n\r\n", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 3000 + b"\r\n",
                 b"\r\n" * 100):
        s = srv.connect(timeout=1)
        try:
            send(s, data)
            try:
                read_response(s)
            except Exception:
                pass
        finally:
            s.close()
    r = srv.get("/x.txt")
    expect_status(r, 200, "a good request after malformed ones")


if __name__ == "__main__":
    main()
