#!/usr/bin/env python3
"""Conditional requests: If-None-Match, If-Modified-Since, and what a 304 carries."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ServedTree, asctime_date, check_date_header, expect_status,  # noqa: E402
                     imf_fixdate, is_open, main, read_response, request,
                     rfc850_date, send, test)

MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
BODY = b"conditional content\n" * 10


class Site(ServedTree):
    def __init__(self):
        super().__init__({"f.txt": BODY, "p.html": "<p>x</p>", "s.css": "a{}"}, mtime=MTIME)

    def __enter__(self):
        super().__enter__()
        self.base = self.srv.get("/f.txt")
        expect_status(self.base, 200, "plain GET /f.txt")
        self.etag = self.base.header("ETag")
        assert self.etag, "expected an ETag on the 200"
        assert self.base.header("Last-Modified") == imf_fixdate(MTIME), \
            "expected Last-Modified %r, got %r" % (imf_fixdate(MTIME),
                                                   self.base.header("Last-Modified"))
        return self

    def get(self, headers, target="/f.txt", method="GET"):
        return self.srv.get(target, headers, method=method)

    def expect(self, headers, status, what, target="/f.txt", method="GET"):
        r = self.get(headers, target, method)
        expect_status(r, status, "%s (%s %s, headers %r)" % (what, method, target, headers))
        if status == 200 and method == "GET" and target == "/f.txt":
            assert r.body == BODY, "expected the full body for %s, got %r" % (what, r)
        if status == 304:
            assert r.body == b"", "expected no body on 304"
        return r


@test
def inm_exact_match_304():
    with Site() as s:
        s.expect([("If-None-Match", s.etag)], 304, "exact ETag")
        s.expect([("If-None-Match", s.etag)], 304, "exact ETag, HEAD", method="HEAD")


@test
def inm_weak_comparison_304():
    with Site() as s:
        s.expect([("If-None-Match", "W/" + s.etag)], 304, "W/ ETag (weak comparison)")


@test
def inm_list_304():
    with Site() as s:
        s.expect([("If-None-Match", '"x", %s' % s.etag)], 304, "list with the tag second")
        s.expect([("If-None-Match", '%s,"y"' % s.etag)], 304, "list with the tag first, no space")
        s.expect([("If-None-Match", '"a" ,  W/"b",%s  ' % s.etag)], 304, "list with odd spacing")


@test
def inm_across_two_lines_304():
    with Site() as s:
        s.expect([("If-None-Match", '"nope"'), ("If-None-Match", s.etag)], 304,
                 "tag on the second If-None-Match line")


@test
def inm_star_304():
    with Site() as s:
        s.expect([("If-None-Match", "*")], 304, "If-None-Match: *")


@test
def inm_non_matching_200():
    with Site() as s:
        s.expect([("If-None-Match", '"deadbeef"')], 200, "non-matching tag")
        s.expect([("If-None-Match", s.etag[:-2] + '"')], 200, "truncated tag")
        s.expect([("If-None-Match", s.etag.strip('"'))], 200, "unquoted tag (not an entity-tag)")
        other = s.srv.get("/p.html").header("ETag")
        s.expect([("If-None-Match", other)], 200, "ETag of another file")
        s.expect([("If-None-Match", s.etag)], 200, "this ETag on another file",
                 target="/p.html")


@test
def ims_equal_later_future_304():
    with Site() as s:
        for ts, what in ((MTIME, "equal"), (MTIME + 1, "1 s later"), (MTIME + 86400 * 365,
                                                                     "a year later"),
                         (4102444800, "future (2100)")):
            s.expect([("If-Modified-Since", imf_fixdate(ts))], 304,
                     "If-Modified-Since %s" % what)


@test
def ims_earlier_200():
    with Site() as s:
        for ts in (MTIME - 1, MTIME - 86400, 0):
            s.expect([("If-Modified-Since", imf_fixdate(ts))], 200,
                     "If-Modified-Since earlier: %s" % imf_fixdate(ts))


@test
def ims_invalid_200():
    with Site() as s:
        for v in ("garbage", "", "Sun, 06 Nov 1994 08:49:37", "Sun, 32 Nov 1994 08:49:37 GMT",
                  "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                  "1994-11-06T08:49:37Z", "784111777"):
            s.expect([("If-Modified-Since", v)], 200, "invalid If-Modified-Since %r" % v)


@test
def ims_three_date_forms():
    with Site() as s:
        for fmt in (imf_fixdate, rfc850_date, asctime_date):
            s.expect([("If-Modified-Since", fmt(MTIME))], 304, "equal date as %s" % fmt.__name__)
            s.expect([("If-Modified-Since", fmt(MTIME - 3600))], 200,
                     "earlier date as %s" % fmt.__name__)
        assert rfc850_date(MTIME) == "Sunday, 06-Nov-94 08:49:37 GMT"
        assert asctime_date(MTIME) == "Sun Nov  6 08:49:37 1994"


@test
def ims_ignored_when_inm_present():
    with Site() as s:
        s.expect([("If-None-Match", '"nomatch"'), ("If-Modified-Since", imf_fixdate(MTIME))],
                 200, "INM non-matching + IMS that alone would 304")
        s.expect([("If-Modified-Since", imf_fixdate(MTIME)), ("If-None-Match", '"nomatch"')],
                 200, "IMS first, then INM non-matching")
        s.expect([("If-None-Match", s.etag), ("If-Modified-Since", imf_fixdate(MTIME - 100))],
                 304, "INM matching + IMS that alone would 200")


@test
def conditionals_on_missing_file_404():
    with Site() as s:
        r = s.get([("If-Modified-Since", imf_fixdate(MTIME))], target="/missing")
        expect_status(r, 404, "If-Modified-Since on a missing file")
        r = s.get([("If-None-Match", "*")], target="/missing")
        expect_status(r, 404, "If-None-Match: * on a missing file")


@test
def conditional_on_index_and_html():
    with Site() as s:
        r = s.srv.get("/p.html")
        s.expect([("If-None-Match", r.header("ETag"))], 304, "INM on p.html", target="/p.html")
        s.expect([("If-None-Match", r.header("ETag"))], 304, "INM on p.html?q",
                 target="/p.html?q=1")
        s.expect([("If-None-Match", r.header("ETag")), ("Connection", "close")], 304,
                 "INM with Connection: close", target="/p.html")


@test
def not_modified_headers():
    with Site() as s:
        for tgt in ("/f.txt", "/p.html", "/s.css"):
            base = s.srv.get(tgt)
            expect_status(base, 200, tgt)
            for hdrs in ([("If-None-Match", base.header("ETag"))],
                         [("If-Modified-Since", imf_fixdate(MTIME))]):
                r = s.get(hdrs, target=tgt)
                expect_status(r, 304, "%s %r" % (tgt, hdrs))
                check_date_header(r, "304")
                assert r.header_all("ETag") == [base.header("ETag")], \
                    "expected the 304's ETag %r, got %r" % (base.header("ETag"),
                                                             r.header_all("ETag"))
                assert not r.has("Content-Type"), \
                    "expected no Content-Type on 304, got %r" % r.header("Content-Type")
                cl = r.header_all("Content-Length")
                assert cl == [] or cl == base.header_all("Content-Length"), \
                    "expected Content-Length absent or %r on 304, got %r" % (
                        base.header_all("Content-Length"), cl)
                for name in ("Cache-Control", "Vary", "Expires", "Content-Location",
                             "Last-Modified"):
                    if name == "Last-Modified" and not r.has(name):
                        continue  # optional on a 304 when ETag is sent
                    assert r.header_all(name) == base.header_all(name), \
                        "expected %s on the 304 equal to the 200's %r, got %r" % (
                            name, base.header_all(name), r.header_all(name))


@test
def not_modified_no_body_on_keepalive():
    """A 304 must carry no body bytes: the next response on the connection parses right after."""
    with Site() as s:
        c = s.srv.connect()
        try:
            send(c, request("GET", "/f.txt", [("If-None-Match", s.etag)]))
            r1 = read_response(c)
            send(c, request("GET", "/s.css"))
            r2 = read_response(c)
            send(c, request("HEAD", "/f.txt", [("If-Modified-Since", imf_fixdate(MTIME))]))
            r3 = read_response(c, head_method=True)
            send(c, request("GET", "/f.txt"))
            r4 = read_response(c)
            assert is_open(c), "expected the connection open after 304s"
        finally:
            c.close()
        expect_status(r1, 304, "INM")
        expect_status(r2, 200, "GET after a 304")
        assert r2.body == b"a{}", "expected s.css bytes after a 304, got %r" % r2
        expect_status(r3, 304, "HEAD IMS")
        expect_status(r4, 200, "GET after HEAD 304")
        assert r4.body == BODY, "expected the body, got %r" % r4


if __name__ == "__main__":
    main()
