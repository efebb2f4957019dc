#!/usr/bin/env python3
"""HTTP/2 smoke test with raw frames (stdlib only): the preface selects HTTP/2 on the HTTP/1.1
port, a GET and a 304 are answered, a bad preface gets GOAWAY, a first line with no HTTP version
is closed unanswered, --no-http2 keeps the 505. The
full HTTP/2 suite is tests/integration/test_h2*.py."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (H2_PREFACE, ServedTree, expect_status, h2_frame, h2_read_frames,  # noqa: E402
                     main, read_response, request, send, test)

SITE = {"index.html": b"<p>hello h2</p>\n"}


def literal(name, value):
    """A literal field without indexing, new name, no Huffman (RFC 7541 §6.2.2)."""
    return bytes([0x00, len(name)]) + name + bytes([len(value)]) + value


def get_block(path, extra=()):
    blk = bytes([0x82, 0x86]) + bytes([0x04, len(path)]) + path  # GET, http, :path literal
    blk += bytes([0x01, 9]) + b"localhost"                       # :authority
    for name, value in extra:
        blk += literal(name, value)
    return blk


def status_of(block):
    """:status from a block of ours: an indexed static entry or a literal with name index 8."""
    static = {0x88: b"200", 0x89: b"204", 0x8a: b"206", 0x8b: b"304", 0x8c: b"400",
              0x8d: b"404", 0x8e: b"500"}
    if block[0] in static:
        return static[block[0]]
    assert block[0] == 0x08 and block[1] == 3, "unexpected first field %r" % block[:4]
    return block[2:5]


@test
def get_and_304_over_h2():
    with ServedTree(SITE) as t:
        s = socket.create_connection(("127.0.0.1", t.srv.port))
        try:
            send(s, H2_PREFACE + h2_frame(4, 0, 0) + h2_frame(1, 5, 1, get_block(b"/index.html")))
            frames = h2_read_frames(s, until_stream_end=1)
            types = [f[0] for f in frames]
            assert types[0] == 4, "server SETTINGS first, got %r" % types
            heads = [f for f in frames if f[0] == 1 and f[2] == 1]
            assert heads and status_of(heads[0][3]) == b"200", frames
            data = b"".join(f[3] for f in frames if f[0] == 0 and f[2] == 1)
            assert data == SITE["index.html"], data
            etag = None
            r_s = socket.create_connection(("127.0.0.1", t.srv.port))
            try:
                send(r_s, request("GET", "/index.html"))
                etag = read_response(r_s).header("etag").encode()
            finally:
                r_s.close()
            send(s, h2_frame(1, 5, 3, get_block(b"/index.html", [(b"if-none-match", etag)])))
            frames = h2_read_frames(s, until_stream_end=3)
            heads = [f for f in frames if f[0] == 1 and f[2] == 3]
            assert status_of(heads[0][3]) == b"304", frames
            assert heads[0][1] & 1, "a 304 is one HEADERS frame with END_STREAM"
        finally:
            s.close()


@test
def bad_preface_goaway():
    with ServedTree(SITE) as t:
        s = socket.create_connection(("127.0.0.1", t.srv.port))
        try:
            send(s, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
            frames = h2_read_frames(s)
            goaway = [f for f in frames if f[0] == 7]
            assert goaway and goaway[0][3][4:8] == b"\0\0\0\x01", frames  # PROTOCOL_ERROR
        finally:
            s.close()


@test
def not_http_first_line_closed_unanswered():
    """h2spec 3.5 #2: a first line with no HTTP version is closed without an HTTP/1.1 answer;
    a malformed request that names a version still gets its 400."""
    with ServedTree(SITE) as t:
        s = socket.create_connection(("127.0.0.1", t.srv.port))
        try:
            send(s, b"INVALID CONNECTION H2_PREFACE\r\n\r\n")
            s.settimeout(5)
            data = s.recv(65536)
            assert data == b"", "expected the connection closed unanswered, got %r" % data[:80]
        finally:
            s.close()
        s = socket.create_connection(("127.0.0.1", t.srv.port))
        try:
            send(s, b"GET /index.html HTTPS/1.1\r\nHost: a\r\n\r\n")
            expect_status(read_response(s), (400, 505), "a version that is not HTTP/1.x")
        finally:
            s.close()


@test
def no_http2_keeps_505():
    with ServedTree(SITE, "--no-http2") as t:
        s = socket.create_connection(("127.0.0.1", t.srv.port))
        try:
            send(s, H2_PREFACE)
            expect_status(read_response(s), 505, "preface with --no-http2")
        finally:
            s.close()


if __name__ == "__main__":
    main()
