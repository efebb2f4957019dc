#!/usr/bin/env python3
"""The file store: what is served, dotfiles, symlinks, index.html, redirects, ETag,
Last-Modified, Content-Type."""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Server, expect_status, imf_fixdate, main, make_tree, test)  # noqa: E402

ETAG_RE = re.compile(r'^"[\x21\x23-\x7e\x80-\xff]*"$')


@test
def serves_files_byte_identical():
    with tempfile.TemporaryDirectory() as d:
        files = {"a.txt": b"hello\n", "sub/b.bin": bytes(range(256)) * 4, "empty.txt": b"",
                 "deep/er/still/f.txt": b"deep"}
        make_tree(d, files)
        with Server(d) as srv:
            for rel, data in files.items():
                r = srv.get("/" + rel)
                expect_status(r, 200, "/" + rel)
                assert r.body == data, "expected the bytes of %s, got %r" % (rel, r.body[:60])
                assert r.header_all("Content-Length") == [str(len(data))], \
                    "expected one Content-Length %d for %s, got %r" % (
                        len(data), rel, r.header_all("Content-Length"))


@test
def missing_file_404():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"a.txt": "a"})
        with Server(d) as srv:
            for t in ("/nope.txt", "/a.txt/", "/a.txt/x", "/sub/nope", "/A.TXT"):
                r = srv.get(t)
                expect_status(r, 404, t)


@test
def dotfiles_not_served():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {".env": "SECRET=1", ".git/config": "gitcfg", "ok/.htpasswd": "pw",
                      "a/.hidden/x.txt": "hx", "visible.txt": "v"})
        with Server(d) as srv:
            for t in ("/.env", "/.git/config", "/ok/.htpasswd", "/a/.hidden/x.txt",
                      "/%2eenv", "/.git/", "/a/.hidden/"):
                r = srv.get(t)
                expect_status(r, 404, t)
                for secret in (b"SECRET", b"gitcfg", b"pw", b"hx"):
                    assert secret not in r.body, "expected no dotfile bytes in %s: %r" % (t, r)
            expect_status(srv.get("/visible.txt"), 200, "/visible.txt")


@test
def symlinks_inside_root_only():
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "root")
        make_tree(root, {"real.txt": "real-content", "sub/inner.txt": "inner"})
        make_tree(d, {"outside.txt": "OUTSIDE-SECRET", "outdir/o.txt": "OUTDIR-SECRET"})
        os.symlink("real.txt", os.path.join(root, "link-in.txt"))
        os.symlink("../real.txt", os.path.join(root, "sub", "link-up.txt"))
        os.symlink(os.path.join(root, "sub"), os.path.join(root, "subdir-link"))
        os.symlink("/etc/passwd", os.path.join(root, "passwd"))
        os.symlink("../outside.txt", os.path.join(root, "link-out.txt"))
        os.symlink(os.path.join(d, "outdir"), os.path.join(root, "outdir-link"))
        os.symlink("nowhere", os.path.join(root, "dangling.txt"))
        with Server(root) as srv:
            for t, body in (("/link-in.txt", b"real-content"), ("/sub/link-up.txt",
                                                                b"real-content")):
                r = srv.get(t)
                expect_status(r, 200, "symlink inside root " + t)
                assert r.body == body, "expected %r for %s, got %r" % (body, t, r.body)
            for t in ("/passwd", "/link-out.txt", "/outdir-link/o.txt", "/dangling.txt"):
                r = srv.get(t)
                expect_status(r, 404, "symlink leaving root " + t)
                for secret in (b"root:", b"OUTSIDE-SECRET", b"OUTDIR-SECRET"):
                    assert secret not in r.body, "expected no outside bytes for %s: %r" % (t, r)
            r = srv.get("/subdir-link/inner.txt")
            assert r.status in (200, 404), \
                "expected 200 (or 404) for a directory link inside root, got %r" % r
            if r.status == 200:
                assert r.body == b"inner", "expected 'inner', got %r" % r.body


@test
def index_html_and_no_listing():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"index.html": "<h1>root</h1>", "docs/index.html": "<h1>docs</h1>",
                      "empty/file.txt": "f", "nested/deeper/index.html": "<h1>deep</h1>"})
        with Server(d) as srv:
            for t, body in (("/", b"<h1>root</h1>"), ("/docs/", b"<h1>docs</h1>"),
                            ("/nested/deeper/", b"<h1>deep</h1>"),
                            ("/index.html", b"<h1>root</h1>")):
                r = srv.get(t)
                expect_status(r, 200, t)
                assert r.body == body, "expected %r for %s, got %r" % (body, t, r.body)
                assert (r.header("Content-Type") or "").startswith("text/html"), \
                    "expected text/html for %s, got %r" % (t, r.header("Content-Type"))
            for t in ("/empty/", "/nested/"):
                r = srv.get(t)
                expect_status(r, 404, "directory without index.html " + t)
                assert b"file.txt" not in r.body, "expected no listing for %s: %r" % (t, r)


@test
def root_without_index_404():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"a.txt": "a"})
        with Server(d) as srv:
            r = srv.get("/")
            expect_status(r, 404, "/ without index.html")
            assert b"a.txt" not in r.body, "expected no directory listing, got %r" % r


@test
def directory_without_slash_redirects():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"docs/index.html": "docs", "a/b/index.html": "ab", "noindex/x.txt": "x"})
        with Server(d) as srv:
            for t, loc in (("/docs", "/docs/"), ("/a/b", "/a/b/")):
                r = srv.get(t)
                expect_status(r, 301, t)
                assert r.header_all("Location") == [loc], \
                    "expected Location: %s for %s, got %r" % (loc, t, r.header_all("Location"))
                r = srv.get(t, method="HEAD")
                expect_status(r, 301, "HEAD " + t)
            r = srv.get("/docs?x=1")
            expect_status(r, 301, "/docs?x=1")
            assert (r.header("Location") or "").startswith("/docs/"), \
                "expected Location starting /docs/ for /docs?x=1, got %r" % r.header("Location")
            r = srv.get("/noindex")
            expect_status(r, 404, "/noindex (directory without index.html, no slash)")


@test
def etag_strong_quoted_content_based():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"a.txt": "same content", "b.txt": "same content", "c.txt": "other",
                      "d.txt": "same contenT"})
        with Server(d) as srv:
            tags = {}
            for n in ("a", "b", "c", "d"):
                r = srv.get("/%s.txt" % n)
                expect_status(r, 200)
                e = r.header_all("ETag")
                assert len(e) == 1, "expected one ETag for %s.txt, got %r" % (n, e)
                assert ETAG_RE.match(e[0]), "expected a strong quoted ETag, got %r" % e[0]
                assert len(e[0]) > 4, "expected a non-trivial ETag, got %r" % e[0]
                tags[n] = e[0]
                h = srv.get("/%s.txt" % n, method="HEAD")
                assert h.header("ETag") == e[0], "expected HEAD ETag %r, got %r" % (
                    e[0], h.header("ETag"))
            assert tags["a"] == tags["b"], "expected identical content -> same ETag: %r" % tags
            assert tags["a"] != tags["c"], "expected different content -> different ETag"
            assert tags["a"] != tags["d"], "expected one-byte change -> different ETag"


@test
def etag_is_xxh3_64():
    """etag.h: a quote, 16 lowercase hex digits of XXH3-64 (seed 0), a quote."""
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"empty.txt": b"", "hello.txt": b"hello\n"})
        with Server(d) as srv:
            for n, want in (("empty.txt", '"2d06800538d394c2"'),
                            ("hello.txt", '"99fc819aaba2462a"')):
                r = srv.get("/" + n)
                expect_status(r, 200, n)
                assert r.header("ETag") == want, "expected ETag %s (XXH3-64) for %s, got %r" % (
                    want, n, r.header("ETag"))


@test
def etag_stable_across_restart_and_mtime():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"a.txt": "stable bytes"})
        p = os.path.join(d, "a.txt")
        os.utime(p, (1000000000, 1000000000))
        with Server(d) as srv:
            r1 = srv.get("/a.txt")
        os.utime(p, (1600000000, 1600000000))
        with Server(d) as srv:
            r2 = srv.get("/a.txt")
        expect_status(r1, 200)
        expect_status(r2, 200)
        assert r1.header("ETag") and r1.header("ETag") == r2.header("ETag"), \
            "expected the same ETag after restart with a new mtime, got %r then %r" % (
                r1.header("ETag"), r2.header("ETag"))
        assert r1.header("Last-Modified") != r2.header("Last-Modified"), \
            "expected Last-Modified to follow the mtime, got %r twice" % r1.header("Last-Modified")
        with open(p, "wb") as f:
            f.write(b"changed bytes")
        with Server(d) as srv:
            r3 = srv.get("/a.txt")
        assert r3.header("ETag") != r1.header("ETag"), \
            "expected a new ETag after the content changed, got %r" % r3.header("ETag")


@test
def last_modified_exact():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
        stamps = {"a.txt": 784111777, "b.txt": 1700000000.75, "c.txt": 951782400}
        for n, ts in stamps.items():
            os.utime(os.path.join(d, n), (ts, ts))
        with Server(d) as srv:
            for n, ts in stamps.items():
                r = srv.get("/" + n)
                want = imf_fixdate(int(ts))
                assert r.header_all("Last-Modified") == [want], \
                    "expected Last-Modified %r for %s, got %r" % (
                        want, n, r.header_all("Last-Modified"))
        assert imf_fixdate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"


@test
def content_types():
    cases = {
        "p.html": ["text/html; charset=utf-8"],
        "p.htm": None,
        "s.css": ["text/css; charset=utf-8"],
        "a.js": ["text/javascript; charset=utf-8"],
        "d.json": "application/json",
        "i.png": ["image/png"],
        "m.wasm": ["application/wasm"],
        "f.woff2": ["font/woff2"],
        "v.svg": "image/svg+xml",
        "x.unknownext": ["application/octet-stream"],
        "noext": ["application/octet-stream"],
        "UPPER.HTML": ["text/html; charset=utf-8"],
    }
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {n: "data" for n in cases})
        with Server(d) as srv:
            for n, want in cases.items():
                r = srv.get("/" + n)
                expect_status(r, 200, "/" + n)
                ct = r.header_all("Content-Type")
                assert len(ct) == 1, "expected one Content-Type for %s, got %r" % (n, ct)
                got = ct[0]
                if want is None:
                    continue
                if isinstance(want, str):
                    assert got.lower().startswith(want), \
                        "expected Content-Type starting %r for %s, got %r" % (want, n, got)
                else:
                    assert got.lower().replace(" ", "") in [w.replace(" ", "") for w in want], \
                        "expected Content-Type %r for %s, got %r" % (want[0], n, got)
                h = srv.get("/" + n, method="HEAD")
                assert h.header("Content-Type") == got, \
                    "expected HEAD Content-Type %r for %s, got %r" % (got, n, h.header(
                        "Content-Type"))


@test
def file_names_with_spaces_and_utf8():
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"a b.txt": "space", "caf\u00e9.txt": "utf8", "100%.txt": "pct"})
        with Server(d) as srv:
            for t, body in (("/a%20b.txt", b"space"), ("/caf%C3%A9.txt", b"utf8"),
                            ("/caf%c3%a9.txt", b"utf8"), ("/100%25.txt", b"pct")):
                r = srv.get(t)
                expect_status(r, 200, t)
                assert r.body == body, "expected %r for %s, got %r" % (body, t, r.body)


if __name__ == "__main__":
    main()
