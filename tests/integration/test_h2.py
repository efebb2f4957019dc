#!/usr/bin/env python3
"""HTTP/2 with prior knowledge (RFC 9113 §3.3) on cachet's one port: the semantics of the HTTP/1.1
suite, case by case, asked over both protocols of the same server and compared; HEAD, 304 and
small answers as the issue shapes them; POST bodies consumed; --add-header and the cache policy;
path rules. Client: Debian's python3-h2 (harness.H2Client) and hand-written frames (RawH2).

Expectations that are cachet's own (another conforming server may differ) say so in their
docstring."""

import gzip
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (H2_END_HEADERS, H2_END_STREAM, H2_DATA, H2_HEADERS,  # noqa: E402
                     H2_PROTOCOL_ERROR, H2_RST_STREAM, H2Client, RawH2, ServedTree, Server,
                     asctime_date, check_h2_fields, expect_same_answer,
                     h2_frame, imf_fixdate, main, make_tree, parse_imf_fixdate, rfc850_date,
                     run_cachet, test)

MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT


def js_text(n, tag):
    return "".join("export function %s_%d(a, b) { return a * %d + b - %d; }\n" % (tag, i, i, i * 7)
                   for i in range(n)).encode()


APP_JS = js_text(120, "app")
INDEX = b"<!doctype html>\n<html><body>\n" + b"".join(
    b"<p class=\"row\">paragraph %d of the index page</p>\n" % i for i in range(80)) + \
    b"</body></html>\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 4000
FILES = {
    "app.js": APP_JS,
    "index.html": INDEX,
    "app.5d41402a.js": js_text(60, "hashed"),
    "style.css": b"".join(b".c%d { margin: %dpx; }\n" % (i, i % 9) for i in range(200)),
    "img.png": PNG,
    "tiny.txt": b"tiny text, well under 64 bytes\n",
    "empty.txt": b"",
    "font.woff2": b"wOF2" + b"\1" * 500,
    "dir/index.html": b"<p>dir</p>",
    "static/x.txt": js_text(30, "static"),
    "a b.txt": b"a space b",
    ".env": b"SECRET=1",
    ".git/config": b"gitcfg",
    "a/.hidden/x.txt": b"hx",
}


class Site(ServedTree):
    def __init__(self, *args, files=None, pid_file=False):
        super().__init__(dict(FILES if files is None else files), *args, mtime=MTIME,
                         pid_file=pid_file)


def both(srv, c, cases, what=""):
    """Each (method, target, headers) asked over HTTP/1.1 (a connection each) and on the one
    HTTP/2 connection c, answers compared; returns the HTTP/2 answers."""
    out = []
    for method, target, headers in cases:
        h1 = srv.get(target, headers, method=method)
        h2r = c.get(target, headers, method=method)
        expect_same_answer(h1, h2r, "%s %s %r%s" % (method, target, headers, what))
        out.append(h2r)
    return out


def get_cases(paths):
    return [(m, p, []) for p in paths for m in ("GET", "HEAD")]


# ---------------------------------------------------------------------------------------------
# the HTTP/1.1 semantics, over HTTP/2


@test
def get_head_methods_and_errors_match_http11():
    """GET/HEAD, index and 301, 404, 405 (Allow), 501: the same status, fields and bodies as
    HTTP/1.1, all on one HTTP/2 connection that stays usable after every error."""
    with Site() as s:
        c = H2Client(s.srv.port)
        try:
            both(s.srv, c, get_cases(["/app.js", "/index.html", "/", "/dir/", "/dir", "/missing",
                                      "/img.png", "/empty.txt", "/a%20b.txt", "/tiny.txt?x=1",
                                      "/%61pp.js", "/static/"]))
            cases = [(m, t, []) for m in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH")
                     for t in ("/app.js", "/missing")]
            cases += [(m, "/app.js", []) for m in ("FOO", "BREW", "get")]
            rs = both(s.srv, c, cases)
            assert any(r.status == 405 and r.header("allow") for r in rs), \
                "expected at least one 405 with allow over HTTP/2, got %r" % rs
            r = c.get("/app.js")
            assert r.status == 200 and r.body == APP_JS, \
                "expected /app.js whole after the errors on the same connection, got %r" % r
        finally:
            c.close()


@test
def head_is_get_without_body():
    """HEAD over HTTP/2: GET's fields (Date aside), no DATA, on the same connection."""
    with Site() as s:
        c = H2Client(s.srv.port)
        try:
            for t in ("/app.js", "/index.html", "/missing", "/dir"):
                g, h = c.get(t), c.get(t, method="HEAD")
                check_h2_fields(h, "HEAD " + t)
                assert h.body == b"" and h.ended, "expected no body on HEAD %s, got %r" % (t, h)
                assert h.status == g.status, "expected HEAD %s status %r, got %r" % (
                    t, g.status, h)
                strip = [(k, v) for k, v in g.headers if k != "date"]
                assert [(k, v) for k, v in h.headers if k != "date"] == strip, \
                    "expected HEAD fields == GET fields for %s:\n  HEAD %r\n  GET  %r" % (
                        t, h.headers, g.headers)
        finally:
            c.close()


@test
def repeated_request_dated_each_second():
    """The same request again and again on one connection is answered from the connection's
    memo (its header block copied, not written again): each answer still has the Date of the
    second it was sent in, and the fields of the first."""
    with Site() as s:
        c = H2Client(s.srv.port)
        try:
            first = c.get("/app.js", headers=[("if-none-match", "*")])
            assert first.status == 304, "expected 304, got %r" % (first,)
            fields = [(k, v) for k, v in first.headers if k != "date"]
            deadline = time.monotonic() + 5
            for i in range(8):  # bounded: 8 answers over ~2.4 s, three seconds at least
                r = c.get("/app.js", headers=[("if-none-match", "*")])
                now = time.time()
                assert r.status == 304 and [(k, v) for k, v in r.headers if k != "date"] == \
                    fields, "answer %d: expected the first's fields, got %r" % (i, r.headers)
                date = dict(r.headers)["date"]
                sent = parse_imf_fixdate(date)
                assert sent is not None, "answer %d: Date %r" % (i, date)
                assert now - 1.5 <= sent <= now + 0.5, \
                    "answer %d: Date %s, %.1f s from now: a stale copy" % (i, date, now - sent)
                assert time.monotonic() < deadline, "too slow"
                time.sleep(0.3)
        finally:
            c.close()


@test
def conditionals_match_http11():
    """If-None-Match (exact, weak, list, two fields, *, no match), If-Modified-Since (three date
    forms, invalid, ignored beside If-None-Match), If-Match, If-Unmodified-Since and their
    order (RFC 9110 §13.2.2): 304 and 412 exactly as over HTTP/1.1."""
    with Site() as s:
        tag = s.srv.get("/app.js").header("ETag")
        c = H2Client(s.srv.port)
        lm = MTIME
        try:
            cases = []
            for hdrs in (
                    [("if-none-match", tag)], [("if-none-match", "W/" + tag)],
                    [("if-none-match", '"a", %s, "b"' % tag)],
                    [("if-none-match", '"a"'), ("if-none-match", tag)],
                    [("if-none-match", "*")], [("if-none-match", '"nope"')],
                    [("if-modified-since", imf_fixdate(lm))],
                    [("if-modified-since", imf_fixdate(lm + 3600))],
                    [("if-modified-since", imf_fixdate(lm - 1))],
                    [("if-modified-since", "garbage")],
                    [("if-modified-since", rfc850_date(lm))],
                    [("if-modified-since", asctime_date(lm))],
                    [("if-none-match", '"nope"'), ("if-modified-since", imf_fixdate(lm))],
                    [("if-match", tag)], [("if-match", "*")], [("if-match", '"a", %s' % tag)],
                    [("if-match", '"a"'), ("if-match", '"b"')], [("if-match", "W/" + tag)],
                    [("if-match", '"nope"')],
                    [("if-unmodified-since", imf_fixdate(lm - 1))],
                    [("if-unmodified-since", imf_fixdate(lm))],
                    [("if-unmodified-since", "garbage")],
                    [("if-match", '"x"'), ("if-none-match", tag)],
                    [("if-unmodified-since", imf_fixdate(lm - 1)), ("if-none-match", tag)],
                    [("if-match", tag), ("if-none-match", tag)],
                    [("if-match", '"x"'), ("range", "bytes=0-9")]):
                for m in ("GET", "HEAD"):
                    cases.append((m, "/app.js", hdrs))
            for hdrs in ([("if-match", '"x"')], [("if-none-match", "*")],
                         [("if-unmodified-since", imf_fixdate(0))]):
                cases.append(("GET", "/missing.js", hdrs))
            rs = both(s.srv, c, cases)
            got = {r.status for r in rs}
            assert {200, 304, 412, 404} <= got, "expected 200, 304, 412 and 404 among the " \
                "conditional answers over HTTP/2, got %r" % sorted(got)
            for r in rs:
                if r.status == 304:
                    assert r.body == b"" and not r.has("content-type"), \
                        "expected a 304 without body or content-type, got %r" % r
        finally:
            c.close()


@test
def ranges_match_http11():
    """Single ranges (206), unsatisfiable (416 with bytes */N), invalid or refused sets (200),
    multipart/byteranges, If-Range, If-None-Match over Range, Range ignored on HEAD."""
    n = len(APP_JS)
    with Site() as s:
        tag = s.srv.get("/app.js").header("ETag")
        c = H2Client(s.srv.port)
        try:
            specs = ["0-0", "0-99", "100-199", "%d-" % (n - 10), "-1", "-200", "0-%d" % (n * 10),
                     "%d-" % n, "-0", "99999999999-", "5-2", "abc", "0-5,3-8", "100-199,0-9",
                     "0-9,20-29", "0-0, -1", "10-19,%d-,30-39" % (n + 100),
                     ",".join("%d-%d" % (7 * i, 7 * i + 2) for i in range(16)),
                     ",".join("%d-%d" % (2 * i, 2 * i) for i in range(17)), "%d-,5-9" % n]
            cases = [("GET", "/app.js", [("range", "bytes=" + sp)]) for sp in specs]
            cases += [("GET", "/img.png", [("range", "BYTES=1-3")]),
                      ("GET", "/img.png", [("range", "bytes=%d-" % len(PNG))]),
                      ("HEAD", "/app.js", [("range", "bytes=0-9")]),
                      ("GET", "/app.js", [("range", "bytes=0-9"), ("if-range", tag)]),
                      ("GET", "/app.js", [("range", "bytes=0-9"), ("if-range", '"other"')]),
                      ("GET", "/app.js", [("range", "bytes=0-9,20-29"), ("if-range", tag)]),
                      ("GET", "/app.js", [("range", "bytes=0-9"),
                                          ("if-range", imf_fixdate(MTIME))]),
                      ("GET", "/app.js", [("range", "bytes=0-9"),
                                          ("if-range", imf_fixdate(MTIME + 1))]),
                      ("GET", "/app.js", [("range", "bytes=0-9"), ("if-none-match", tag)]),
                      ("GET", "/missing.js", [("range", "bytes=0-5")])]
            rs = both(s.srv, c, cases)
            got = {r.status for r in rs}
            assert {200, 206, 416, 304} <= got, "expected 200, 206, 416 and 304 among the " \
                "range answers, got %r" % sorted(got)
            multi = [r for r in rs if (r.header("content-type") or "").startswith(
                "multipart/byteranges")]
            assert multi and all(r.status == 206 for r in multi), \
                "expected multipart 206s over HTTP/2, got %r" % multi[:2]
        finally:
            c.close()


@test
def coded_variants_match_http11():
    """Accept-Encoding negotiation: each coded variant with its own ETag and Vary, validated
    with its own tag; ranges on a coded variant give the whole coded 200."""
    with Site() as s:
        tags = {}
        for ae in (None, "gzip", "br", "zstd"):
            tags[ae] = s.srv.get("/app.js", [("Accept-Encoding", ae)] if ae else []).header(
                "ETag")
        c = H2Client(s.srv.port)
        try:
            cases = []
            for ae in ("gzip", "br", "zstd", "identity", "gzip;q=0", "*", "br;q=0.5, gzip",
                       "zstd, br, gzip", "GZIP", "x-unknown"):
                for t in ("/app.js", "/index.html", "/img.png", "/tiny.txt"):
                    cases.append(("GET", t, [("accept-encoding", ae)]))
                cases.append(("HEAD", "/app.js", [("accept-encoding", ae)]))
            for ae, tag in (("gzip", tags["gzip"]), ("gzip", tags[None]), ("br", tags["br"]),
                            (None, tags["gzip"]), ("zstd", tags["zstd"]), ("gzip", "*")):
                h = [("if-none-match", tag)] + ([("accept-encoding", ae)] if ae else [])
                cases.append(("GET", "/app.js", h))
            cases += [("GET", "/app.js", [("accept-encoding", "gzip"), ("if-match", tags["gzip"])]),
                      ("GET", "/app.js", [("accept-encoding", "gzip"), ("if-match", tags[None])]),
                      ("GET", "/app.js", [("accept-encoding", "gzip"),
                                          ("range", "bytes=0-9,20-29")]),
                      ("GET", "/app.js", [("accept-encoding", "gzip"), ("range", "bytes=0-9")])]
            rs = both(s.srv, c, cases)
            gz = [r for r in rs if r.header("content-encoding") == "gzip" and r.status == 200]
            assert gz, "expected gzip variants over HTTP/2"
            for r in gz:
                assert r.header_all("vary") == ["Accept-Encoding"], \
                    "expected vary: Accept-Encoding on a coded answer, got %r" % r
            r = c.get("/app.js", [("accept-encoding", "gzip")])
            assert gzip.decompress(r.body) == APP_JS, "expected the gzip body to decode to app.js"
            assert r.header("etag") == tags["gzip"] != tags[None], \
                "expected the gzip variant's own ETag %r over HTTP/2, got %r" % (tags["gzip"], r)
        finally:
            c.close()


@test
def cache_policy_matches_http11():
    """Cache-Control from the name (hashed: immutable) and from the options, on 200, 206, 304."""
    for args in ((), ("--cache-immutable", "*.woff2", "--cache-immutable", "/static/*",
                      "--cache-default", "max-age=60"),
                 ("--cache-immutable", "/static/*", "--cache-revalidate", "app.5d41402a.js")):
        with Site(*args) as s:
            c = H2Client(s.srv.port)
            try:
                cases = []
                for t in ("/app.5d41402a.js", "/index.html", "/app.js", "/font.woff2",
                          "/static/x.txt", "/img.png"):
                    tag = s.srv.get(t).header("ETag")
                    cases += [("GET", t, []), ("GET", t, [("range", "bytes=0-3")]),
                              ("GET", t, [("if-none-match", tag)]),
                              ("GET", t, [("accept-encoding", "gzip")])]
                rs = both(s.srv, c, cases, " with %r" % (args,))
                assert all(r.has("cache-control") for r in rs), \
                    "expected cache-control on every answer with %r" % (args,)
            finally:
                c.close()


@test
def add_header_matches_http11():
    """--add-header fields on 200, HEAD, 206, multipart 206, 304, 301 (lowercased over HTTP/2,
    once each), not on 404, 416, 400."""
    added = [("Access-Control-Allow-Origin", "*"), ("X-Content-Type-Options", "nosniff")]
    args = []
    for name, value in added:
        args += ["--add-header", "%s: %s" % (name, value)]
    with Site(*args) as s:
        tag = s.srv.get("/tiny.txt").header("ETag")
        c = H2Client(s.srv.port)
        try:
            with_fields = both(s.srv, c, [
                ("GET", "/tiny.txt", []), ("HEAD", "/tiny.txt", []),
                ("GET", "/tiny.txt", [("range", "bytes=0-2")]),
                ("GET", "/tiny.txt", [("range", "bytes=0-1,4-5")]),
                ("GET", "/tiny.txt", [("if-none-match", tag)]), ("GET", "/dir", []),
                ("GET", "/", [])])
            without = both(s.srv, c, [("GET", "/nope", []),
                                      ("GET", "/tiny.txt", [("range", "bytes=999-")]),
                                      ("GET", "/../x", [])])
            for r in with_fields:
                for name, value in added:
                    assert r.header_all(name) == [value], \
                        "expected %s: %s once over HTTP/2, got %r" % (name.lower(), value, r)
            for r in without:
                for name, _ in added:
                    assert not r.has(name), "expected no %s on a %r, got %r" % (name, r.status,
                                                                                r)
        finally:
            c.close()


@test
def path_rules_match_http11():
    """Traversal in several encodings (400 or 404, never a byte from outside ROOT), dotfiles
    (404), symbolic links followed only inside ROOT, percent-decoding, the query ignored."""
    with tempfile.TemporaryDirectory() as top:
        root = os.path.join(top, "root")
        make_tree(root, {"real.txt": "real-content", "sub/inner.txt": "inner", "index.html": "i",
                         ".env": "SECRET=1", ".git/config": "gitcfg", "a/.hidden/x.txt": "hx"})
        make_tree(top, {"secret.txt": "TOP-SECRET-BYTES", "outdir/o.txt": "OUTDIR-SECRET"})
        os.symlink("real.txt", os.path.join(root, "link-in.txt"))
        os.symlink("../real.txt", os.path.join(root, "sub", "link-up.txt"))
        os.symlink("/etc/passwd", os.path.join(root, "passwd"))
        os.symlink("../secret.txt", os.path.join(root, "link-out.txt"))
        os.symlink(os.path.join(top, "outdir"), os.path.join(root, "outdir-link"))
        os.symlink("nowhere", os.path.join(root, "dangling.txt"))
        with Server(root) as srv:
            c = H2Client(srv.port)
            try:
                targets = ["/../secret.txt", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt",
                           "/a/../../secret.txt", "/..%2fsecret.txt", "/%252e%252e/secret.txt",
                           "//../secret.txt", "/./../secret.txt", "/..\\secret.txt",
                           "/.%2e/secret.txt", "/a/../../../../../../etc/passwd",
                           "/real.txt%00", "/%00", "/.env", "/.git/config", "/%2eenv",
                           "/a/.hidden/x.txt", "/.git/", "/link-in.txt", "/sub/link-up.txt",
                           "/passwd", "/link-out.txt", "/outdir-link/o.txt", "/dangling.txt",
                           "/real.txt?a=../../secret.txt", "/re%61l.txt", "/a/../real.txt",
                           "/" + "%2e%2e/" * 200 + "secret.txt"]
                rs = both(srv, c, [("GET", t, []) for t in targets])
                for t, r in zip(targets, rs):
                    for secret in (b"TOP-SECRET", b"OUTDIR-SECRET", b"root:", b"SECRET=1",
                                   b"gitcfg", b"hx"):
                        assert secret not in r.body, "expected no byte from outside ROOT or a " \
                            "dotfile for %s over HTTP/2, got %r" % (t, r)
                assert {400, 404, 200} <= {r.status for r in rs}, \
                    "expected 400, 404 and 200 among the path answers, got %r" % sorted(
                        {r.status for r in rs})
                r = c.get("/real.txt")
                assert r.status == 200 and r.body == b"real-content", \
                    "expected the connection usable after the path errors, got %r" % r
            finally:
                c.close()


# ---------------------------------------------------------------------------------------------
# HTTP/2 specifics


@test
def request_pseudo_headers_validated():
    """RFC 9113 §8.3.1 / §8.2: a malformed request (a pseudo-header missing, repeated, unknown or
    after a regular field, an uppercase name, a connection-specific field, TE other than
    trailers, :path not starting with '/') gets a stream error PROTOCOL_ERROR or a 400, never
    an answer as if it were well-formed; the connection goes on."""
    with Site() as s:
        port = s.srv.port
        auth = (":authority", "127.0.0.1:%d" % port)
        good = [(":method", "GET"), (":scheme", "http"), auth, (":path", "/tiny.txt")]
        bad = {
            "no :path": [(":method", "GET"), (":scheme", "http"), auth],
            "no :method": [(":scheme", "http"), auth, (":path", "/tiny.txt")],
            "no :scheme": [(":method", "GET"), auth, (":path", "/tiny.txt")],
            "two :path": good + [(":path", "/tiny.txt")],
            "unknown pseudo": good + [(":foo", "bar")],
            "pseudo after regular": good[:3] + [("accept", "*/*"), (":path", "/tiny.txt")],
            "response pseudo": good + [(":status", "200")],
            "uppercase name": good + [("Accept", "*/*")],
            "connection field": good + [("connection", "keep-alive")],
            "keep-alive field": good + [("keep-alive", "timeout=5")],
            "transfer-encoding": good + [("transfer-encoding", "chunked")],
            "te gzip": good + [("te", "gzip")],
            "empty :path": [(":method", "GET"), (":scheme", "http"), auth, (":path", "")],
            "relative :path": [(":method", "GET"), (":scheme", "http"), auth,
                               (":path", "tiny.txt")],
        }
        for what, hdrs in bad.items():
            c = RawH2(port)
            try:
                c.send(h2_frame(H2_HEADERS, H2_END_HEADERS | H2_END_STREAM, 1, c.block(hdrs)))
                c.get(3, "/tiny.txt")
                f = c.wait_for(lambda f: f.sid == 3 and f.flags & H2_END_STREAM or
                               f.type == 7, timeout=5)
                ans = [x for x in c.frames if x.sid == 1]
                status = None
                for x in ans:
                    if x.type == H2_HEADERS:
                        status = dict(c.decode(x)).get(":status")
                rst = [x for x in ans if x.type == H2_RST_STREAM]
                goaway = c.goaway()
                ok = (rst and rst[0].error_code() == H2_PROTOCOL_ERROR) or status == "400" or \
                    (goaway is not None and goaway.error_code() == H2_PROTOCOL_ERROR)
                assert ok, "expected RST_STREAM PROTOCOL_ERROR (or 400, or GOAWAY " \
                    "PROTOCOL_ERROR) for a request with %s, got status %r, frames %r" % (
                        what, status, c.frames)
                if goaway is None:
                    assert f is not None and f.sid == 3, "expected stream 3 answered after " \
                        "the malformed stream 1 (%s), got %r" % (what, c.frames)
            finally:
                c.close()


@test
def hpack_dynamic_table_respected():
    """The same header block bytes mean what the dynamic table says at the time (RFC 7541 §2.3):
    `be` (index 62) is /a.txt, then, after a block inserted /b.txt, it is /b.txt. A decoder that
    remembers a block's meaning across an insertion answers the wrong file."""
    with Site(files={"a.txt": b"file a\n", "b.txt": b"file b\n", "index.html": b"i"}) as s:
        c = RawH2(s.srv.port)
        try:
            auth = ("127.0.0.1:%d" % s.srv.port).encode()
            head = b"\x82\x86\x01" + bytes([len(auth)]) + auth  # GET, http, :authority w/o index

            def lit_path(p):  # :path, literal with incremental indexing (a new table entry)
                return b"\x44" + bytes([len(p)]) + p

            blocks = [(head + lit_path(b"/a.txt"), b"file a\n"),   # table: 62=/a.txt
                      (head + b"\xbe", b"file a\n"),                 # index 62: /a.txt
                      (head + b"\xbe", b"file a\n"),                 # the same bytes again
                      (head + lit_path(b"/b.txt"), b"file b\n"),   # table: 62=/b.txt 63=/a.txt
                      (head + b"\xbe", b"file b\n"),                 # same bytes, now /b.txt
                      (head + b"\xbe", b"file b\n"),
                      (head + b"\xbf", b"file a\n"),                 # index 63: /a.txt
                      (head + b"\xbe", b"file b\n")]
            for i, (block, want) in enumerate(blocks):
                sid = 1 + 2 * i
                c.send(h2_frame(H2_HEADERS, H2_END_HEADERS | H2_END_STREAM, sid, block))
                f = c.wait_for(lambda f, sid=sid: f.sid == sid and f.flags & H2_END_STREAM or
                               f.type in (H2_RST_STREAM, 7))
                body = b"".join(x.payload for x in c.frames if x.sid == sid and x.type == H2_DATA)
                assert f is not None and f.sid == sid and body == want, "expected %r for header " \
                    "block %d (%s), got %r (frames %r)" % (want, i, block.hex(), body,
                                                           c.frames[-3:])
        finally:
            c.close()


@test
def answer_frames_shape():
    """cachet-specific (issue 11 item 3): a 304 and a HEAD answer are one HEADERS frame with
    END_STREAM; a small body is HEADERS and one DATA frame with END_STREAM."""
    with Site() as s:
        tag = s.srv.get("/tiny.txt").header("ETag")
        c = RawH2(s.srv.port)
        try:
            for sid, path, method, extra, want in (
                    (1, "/tiny.txt", "GET", [("if-none-match", tag)], [H2_HEADERS]),
                    (3, "/tiny.txt", "HEAD", [], [H2_HEADERS]),
                    (5, "/tiny.txt", "GET", [], [H2_HEADERS, H2_DATA])):
                c.get(sid, path, method, extra)
                c.wait_for(lambda f, sid=sid: f.sid == sid and f.flags & H2_END_STREAM)
                got = [f for f in c.frames if f.sid == sid]
                assert [f.type for f in got] == want, "expected frames %r for %s %s %r, got " \
                    "%r" % (want, method, path, extra, got)
                assert got[-1].flags & H2_END_STREAM and got[0].flags & H2_END_HEADERS, \
                    "expected END_HEADERS on the HEADERS and END_STREAM on the last frame, got " \
                    "%r" % got
        finally:
            c.close()


@test
def post_body_consumed_connection_stays_usable():
    """A request body (1 MiB, more than the initial 64 KiB windows) is read, credited with
    WINDOW_UPDATE and dropped: the POST gets 405 and the connection goes on."""
    with Site() as s:
        c = H2Client(s.srv.port, timeout=10)
        try:
            for size in (0, 100, 70000, 1 << 20):
                sid = c.request("/app.js", method="POST", body=b"p" * size,
                                headers=[("content-length", str(size))])
                r = c.response(sid)
                assert r.status == 405, "expected 405 for a POST with %d body bytes, got %r" % (
                    size, r)
                r = c.get("/tiny.txt")
                assert r.status == 200 and r.body == FILES["tiny.txt"], \
                    "expected GET answered after a POST of %d bytes, got %r" % (size, r)
            # a GET that carries a body is answered too
            sid = c.request("/tiny.txt", body=b"g" * 50000)
            r = c.response(sid)
            assert r.status == 200 and r.body == FILES["tiny.txt"], \
                "expected a GET with a body answered, got %r" % r
            assert c.goaway is None, "expected no GOAWAY, got %r" % (c.goaway,)
        finally:
            c.close()


@test
def http11_without_preface_unchanged():
    """Without the preface the port speaks HTTP/1.1 as before, beside HTTP/2 connections."""
    with Site() as s:
        c = H2Client(s.srv.port)
        try:
            a = c.get("/app.js")
            b = s.srv.get("/app.js")
            assert b.version == "HTTP/1.1" and b.status == 200 and b.body == APP_JS, \
                "expected HTTP/1.1 200 beside an HTTP/2 connection, got %r" % b
            assert b.header("Content-Length") == str(len(APP_JS)) and b.header("Date")
            expect_same_answer(b, a, "GET /app.js")
        finally:
            c.close()


@test
def upgrade_h2c_answered_over_http11():
    """cachet-specific (issue 11 item 1, cachet's choice): `Upgrade: h2c` is not taken up; the
    request gets its normal HTTP/1.1 answer and the connection stays HTTP/1.1 (h2o would
    switch with a 101)."""
    from harness import read_response, request, send
    with Site() as s:
        sock = s.srv.connect()
        try:
            send(sock, request("GET", "/tiny.txt", [
                ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")]))
            r = read_response(sock)
            assert r.version == "HTTP/1.1" and r.status == 200, \
                "expected an HTTP/1.1 200 to a request with Upgrade: h2c, got %r" % r
            assert r.body == FILES["tiny.txt"] and not r.has("Upgrade"), \
                "expected the file and no Upgrade field, got %r" % r
            send(sock, request("GET", "/app.js"))
            r = read_response(sock)
            assert r.version == "HTTP/1.1" and r.status == 200 and r.body == APP_JS, \
                "expected the connection to go on in HTTP/1.1, got %r" % r
        finally:
            sock.close()


@test
def no_http2_option_gives_505():
    """--no-http2: the preface gets the HTTP/1.1 505 of before (cachet-specific)."""
    from harness import connect, read_until_close, send
    with Site("--no-http2") as s:
        sock = connect(s.srv.port)
        try:
            send(sock, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            data = read_until_close(sock)
        finally:
            sock.close()
        assert data.startswith(b"HTTP/1.1 505"), "expected HTTP/1.1 505 to the preface with " \
            "--no-http2, got %r" % data[:200]
        r = s.srv.get("/tiny.txt")
        assert r.status == 200, "expected HTTP/1.1 served with --no-http2, got %r" % r
    r = run_cachet(["--help"])
    assert "--no-http2" in r.stdout + r.stderr, "expected --help to list --no-http2"


@test
def server_settings_sane():
    """The server's SETTINGS: MAX_CONCURRENT_STREAMS given and at most 1000 (issue 11 item 6);
    it answers PING."""
    with Site() as s:
        c = H2Client(s.srv.port)
        try:
            c.get("/tiny.txt")
            mcs = c.remote_settings.get(3)
            assert mcs is not None and 1 <= mcs <= 1000, "expected " \
                "SETTINGS_MAX_CONCURRENT_STREAMS between 1 and 1000, got %r (settings %r)" % (
                    mcs, c.remote_settings)
            c.ping()
            c.wait(lambda: c.pings_acked == 1, what="the PING ACK")
        finally:
            c.close()


if __name__ == "__main__":
    main()
