#!/usr/bin/env python3
"""Asset-bundle semantics: coded variants (gzip/br/zstd) and their negotiation, sidecars, byte
ranges and If-Range, If-Match / If-Unmodified-Since, Cache-Control policy, reload of variants.

br and zstd bodies are decoded with the Debian CLI tools `brotli` and `zstd`; when one is missing
the checks that need it are skipped (the rest of the test still runs)."""

import gzip
import os
import zlib
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ServedTree, Skip, expect_status, imf_fixdate, is_open, main,  # noqa: E402
                     read_response, request, run_cachet, send, test)

MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
HAVE_BROTLI = shutil.which("brotli") is not None
HAVE_ZSTD = shutil.which("zstd") is not None
CODINGS = ("zstd", "br", "gzip")


def js_text(n, tag):
    return "".join("export function %s_%d(a, b) { return a * %d + b - %d; }\n" % (tag, i, i, i * 7)
                   for i in range(n)).encode()


def css_text(n, tag):
    return "".join(".%s-%d { margin: %dpx; padding: %dpx %dpx; color: #%06x; }\n"
                   % (tag, i, i % 17, i % 5, i % 9, i * 2654435 % 0xffffff)
                   for i in range(n)).encode()


APP_JS = js_text(120, "app")
INDEX = b"<!doctype html>\n<html><body>\n" + b"".join(
    b"<p class=\"row\">paragraph %d of the index page</p>\n" % i for i in range(80)) + \
    b"</body></html>\n"
STYLE = css_text(90, "s")
DATA_JSON = b"[" + b",".join(b'{"id": %d, "name": "item %d"}' % (i, i) for i in range(100)) + b"]"
SVG = b"<svg xmlns=\"http://www.w3.org/2000/svg\">" + b"".join(
    b"<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\"/>" % (i, i) for i in range(60)) + b"</svg>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 4000  # compresses very well, yet an image: no variants
JPG = b"\xff\xd8\xff\xe0" + b"\0" * 4000
TINY = b"tiny text, well under 64 bytes\n"
RANDOM_TXT = os.urandom(3000)  # a text type that does not compress: no variants
SIDE = css_text(120, "side")



def worth_below(ref):
    """A size comfortably under the largest cachet keeps beside a representation of ref bytes
    (10% and 64 bytes smaller), with 5% to spare."""
    return min(ref - 64, ref - ref // 10) * 19 // 20


def graded(body):
    """Sidecars .gz and .br for body such that cachet keeps all three variants: it judges gzip,
    br, zstd in that order, each against the smallest of the file and those kept before it, and
    its zstd (level 12) rarely beats brotli 9 by 10%; so gzip and br come from weaker settings,
    the largest each worth keeping over the one before, which leaves zstd the most room (real
    encodings: they decode to body). {} without the brotli and zstd tools."""
    if not (HAVE_BROTLI and HAVE_ZSTD):
        return {}
    gzs = []
    for strategy in (zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE):
        for level in range(1, 10):
            for wbits in range(9, 16):
                c = zlib.compressobj(level, zlib.DEFLATED, 16 + wbits, 8, strategy)
                out = c.compress(body) + c.flush()
                if len(out) <= worth_below(len(body)):
                    gzs.append(out)
    gz = max(gzs, key=len)
    brs = []
    for q in range(12):
        for w in (10, 12, 16, 22):
            out = subprocess.run(["brotli", "-q", str(q), "-w", str(w), "-c"], input=body,
                                 capture_output=True, timeout=10).stdout
            if len(out) <= worth_below(len(gz)):
                brs.append(out)
    br = max(brs, key=len)
    # zstd's CLI output is only near what cachet's level 12 makes (10% apart on small files)
    z = len(subprocess.run(["zstd", "-12", "-c", "-q"], input=body, capture_output=True,
                           timeout=10).stdout)
    assert z <= worth_below(worth_below(len(br))), \
        "expected a file large and compressible enough for three variants"
    return {".gz": gz, ".br": br}


def with_graded(files, names):
    """files, with graded sidecars for each of names."""
    out = dict(files)
    for n in names:
        out.update({n + suffix: data for suffix, data in graded(files[n]).items()})
    return out


def need_graded():
    if not (HAVE_BROTLI and HAVE_ZSTD):
        raise Skip("brotli or zstd CLI missing: no graded sidecars for three variants")


PLAIN_FILES = {
    "app.js": APP_JS,
    "index.html": INDEX,
    "style.css": STYLE,
    "data.json": DATA_JSON,
    "app.5d41402a.js": js_text(60, "hashed"),
    "chunk-B2x9Kq1z.css": css_text(60, "chunk"),
    "logo-1a2b3c4d.svg": SVG,
    "jquery-3.7.1.min.js": js_text(50, "jq"),
    "img.png": PNG,
    "photo.jpg": JPG,
    "tiny.txt": TINY,
    "random.txt": RANDOM_TXT,
    "side.css": SIDE,
    "side.css.gz": gzip.compress(SIDE, 1),
    "font.woff2": b"wOF2" + b"\1" * 500,
    "empty.txt": b"",
    "static/x.txt": js_text(30, "static"),
    "static/sub/y.css": css_text(30, "y"),
}
# The files whose every variant the tests below ask for.
ALL_VARIANTS = ("app.js", "index.html", "style.css", "data.json", "logo-1a2b3c4d.svg")
FILES = with_graded(PLAIN_FILES, ALL_VARIANTS)


# ---------------------------------------------------------------------------------------------
# helpers


def decode(enc, body):
    """The decoded body, or None when the decoder is not installed."""
    if enc is None:
        return body
    if enc == "gzip":
        return gzip.decompress(body)
    tool = {"br": ("brotli", HAVE_BROTLI), "zstd": ("zstd", HAVE_ZSTD)}[enc]
    if not tool[1]:
        return None
    p = subprocess.run([tool[0], "-d", "-c"], input=body, capture_output=True, timeout=10)
    assert p.returncode == 0, "expected %s -d to decode the %s body, rc %d: %r" % (
        tool[0], enc, p.returncode, p.stderr[:200])
    return p.stdout


def check_decodes(r, want, what):
    enc = r.header("Content-Encoding")
    got = decode(enc, r.body)
    if got is not None:
        assert got == want, "expected the %s body of %s to decode to the file (%d bytes), got " \
            "%d bytes" % (enc, what, len(want), len(got))


class Site(ServedTree):
    """A temporary tree with FILES (mtime MTIME) and a server on it."""

    def __init__(self, *args, files=None, pid_file=False):
        self.files = dict(FILES if files is None else files)
        super().__init__(self.files, *args, mtime=MTIME, pid_file=pid_file)

    def get(self, target, headers=(), method="GET"):
        return self.srv.get(target, headers, method=method)

    def expect(self, target, headers, status, what="", method="GET"):
        r = self.get(target, headers, method)
        expect_status(r, status, "%s %s %r %s" % (method, target, headers, what))
        return r

    def ae(self, target, coding, headers=(), method="GET"):
        """GET with Accept-Encoding: coding (None: no header)."""
        h = list(headers)
        if coding is not None:
            h.append(("Accept-Encoding", coding))
        return self.get(target, h, method)


def send_pipelined(site, reqs, head_at, what):
    """Sends reqs in one write on one connection and reads their answers (request head_at is a
    HEAD); the connection must still be open after them."""
    c = site.srv.connect()
    try:
        send(c, b"".join(reqs))
        out = [read_response(c, head_method=(i == head_at)) for i in range(len(reqs))]
        assert is_open(c), "expected the connection open after %s" % what
    finally:
        c.close()
    return out


def variants(site, target):
    """{coding or 'identity': 200 response} for each coding requested alone."""
    out = {"identity": site.get(target)}
    for c in CODINGS:
        out[c] = site.ae(target, c)
    return out


def expect_vary(r, present, what):
    v = r.header_all("Vary")
    if present:
        assert v == ["Accept-Encoding"], "expected Vary: Accept-Encoding on %s, got %r (%r)" % (
            what, v, r)
    else:
        assert v == [], "expected no Vary on %s, got %r" % (what, v)


# ---------------------------------------------------------------------------------------------
# variants and negotiation


@test
def variants_exist_with_own_strong_etags():
    need_graded()
    with Site() as s:
        for tgt, body in (("/app.js", APP_JS), ("/index.html", INDEX), ("/style.css", STYLE),
                          ("/data.json", DATA_JSON), ("/logo-1a2b3c4d.svg", SVG)):
            vs = variants(s, tgt)
            tags = {}
            for c, r in vs.items():
                expect_status(r, 200, "%s with Accept-Encoding %s" % (tgt, c))
                want_enc = [] if c == "identity" else [c]
                assert r.header_all("Content-Encoding") == want_enc, \
                    "expected Content-Encoding %r for %s as %s, got %r" % (
                        want_enc, tgt, c, r.header_all("Content-Encoding"))
                assert r.header("Content-Length") == str(len(r.body))
                assert r.header("Accept-Ranges") == "bytes", \
                    "expected Accept-Ranges: bytes on the 200, got %r" % r
                expect_vary(r, True, "%s as %s" % (tgt, c))
                etag = r.header("ETag")
                assert etag and etag.startswith('"') and etag.endswith('"'), \
                    "expected a strong ETag on %s as %s, got %r" % (tgt, c, etag)
                tags[c] = etag
                check_decodes(r, body, "%s as %s" % (tgt, c))
                if c != "identity":
                    assert len(r.body) < len(body), \
                        "expected the %s variant of %s smaller than the file" % (c, tgt)
            assert len(set(tags.values())) == 4, \
                "expected 4 distinct ETags for %s, got %r" % (tgt, tags)


@test
def negotiation_table():
    need_graded()
    table = [
        (None, None), ("", None), ("identity", None), ("gzip", "gzip"), ("br", "br"),
        ("zstd", "zstd"), ("gzip, br, zstd", "zstd"), ("gzip, br", "br"), ("br, gzip", "br"),
        ("gzip, deflate", "gzip"), ("deflate", None), ("compress, deflate", None),
        ("GZIP", "gzip"), ("x-gzip", "gzip"), ("Br", "br"), ("*", "zstd"),
        ("*, zstd;q=0", "br"), ("*;q=0.5, gzip", "gzip"),
        ("gzip;q=1, br;q=0.5", "gzip"), ("gzip;q=0.8, br;q=0.9, zstd;q=0.7", "br"),
        ("zstd;q=0.9, br;q=0.9, gzip;q=0.9", "zstd"), ("br;q=0, gzip", "gzip"),
        ("zstd;q=0, br;q=0, gzip;q=0", None), ("gzip;q=0", None),
        ("gzip;q=0.5, identity;q=1", None), ("identity;q=0, gzip;q=0.1", "gzip"),
        ("gzip;q=0.001", "gzip"), ("br ; q=0.5 , gzip ; q=0.4", "br"),
        ("gzip, gzip;q=0", None), ("zstd;q=2, gzip", "gzip"),
    ]
    with Site() as s:
        ids = {c: r.header("ETag") for c, r in variants(s, "/app.js").items()}
        for ae, want in table:
            r = s.ae("/app.js", ae)
            what = "/app.js with Accept-Encoding %r" % (ae,)
            expect_status(r, 200, what)
            got = r.header("Content-Encoding")
            assert got == want, "expected Content-Encoding %r for %s, got %r" % (want, what, got)
            assert r.header("ETag") == ids[want or "identity"], \
                "expected the ETag of the %s variant for %s, got %r" % (want, what,
                                                                       r.header("ETag"))
            expect_vary(r, True, what)
            check_decodes(r, APP_JS, what)
        # Accept-Encoding on two lines reads as one list.
        r = s.get("/app.js", [("Accept-Encoding", "gzip"), ("Accept-Encoding", "br")])
        assert r.header("Content-Encoding") == "br", \
            "expected br from Accept-Encoding on two lines (gzip / br), got %r" % r
        r = s.get("/app.js", [("Accept-Encoding", "gzip, br"), ("Accept-Encoding", "br;q=0")])
        assert r.header("Content-Encoding") == "gzip", \
            "expected gzip when the second line refuses br, got %r" % r


@test
def head_of_variant():
    need_graded()
    with Site() as s:
        full = s.ae("/style.css", "br")
        r = s.ae("/style.css", "br", method="HEAD")
        expect_status(r, 200, "HEAD /style.css br")
        assert r.body == b""
        for h in ("Content-Encoding", "Content-Length", "ETag", "Vary", "Cache-Control"):
            assert r.header_all(h) == full.header_all(h), \
                "expected HEAD's %s %r equal to GET's, got %r" % (h, full.header_all(h),
                                                                 r.header_all(h))


@test
def no_variants_for_images_tiny_and_incompressible():
    with Site() as s:
        for tgt, body in (("/img.png", PNG), ("/photo.jpg", JPG), ("/tiny.txt", TINY),
                          ("/random.txt", RANDOM_TXT)):
            for ae in (None, "gzip", "br", "zstd", "zstd, br, gzip", "*"):
                r = s.ae(tgt, ae)
                what = "%s with Accept-Encoding %r" % (tgt, ae)
                expect_status(r, 200, what)
                assert not r.has("Content-Encoding"), \
                    "expected no Content-Encoding on %s, got %r" % (what, r)
                expect_vary(r, False, what)
                assert r.body == body, "expected the file's bytes for %s" % what
            r = s.get(tgt, [("If-None-Match", s.get(tgt).header("ETag"))])
            expect_status(r, 304, "INM on %s" % tgt)
            expect_vary(r, False, "the 304 of %s" % tgt)


@test
def sidecar_gzip_used_verbatim():
    with Site() as s:
        sidecar = FILES["side.css.gz"]
        assert sidecar != gzip.compress(SIDE, 9)  # level 1 differs from what cachet makes
        r = s.ae("/side.css", "gzip")
        expect_status(r, 200, "/side.css gzip")
        assert r.header("Content-Encoding") == "gzip"
        assert r.body == sidecar, "expected the bytes of side.css.gz (%d) served, got %d bytes" \
            % (len(sidecar), len(r.body))
        assert gzip.decompress(r.body) == SIDE
        # Ranges and HEAD apply to the sidecar's bytes too.
        r = s.ae("/side.css", "gzip", [("Range", "bytes=10-29")])
        expect_status(r, 206, "range of the gzip sidecar")
        assert r.body == sidecar[10:30]
        assert r.header("Content-Range") == "bytes 10-29/%d" % len(sidecar)
        # The other codings are still made by cachet (zstd, which saves its clients too little
        # beside br, where it is judged against the gzip sidecar alone).
        r = s.ae("/side.css", "br")
        assert r.header("Content-Encoding") == "br", "expected br for side.css, got %r" % r
        check_decodes(r, SIDE, "side.css as br")
    with Site("--compress", "zstd,gzip") as s:
        assert s.ae("/side.css", "gzip").body == FILES["side.css.gz"]
        r = s.ae("/side.css", "zstd")
        assert r.header("Content-Encoding") == "zstd", "expected zstd for side.css, got %r" % r
        check_decodes(r, SIDE, "side.css as zstd")


@test
def sidecars_br_and_zstd_used_verbatim():
    if not (HAVE_BROTLI and HAVE_ZSTD):
        raise Skip("brotli or zstd CLI missing")
    files = {"b.js": APP_JS}
    br = subprocess.run(["brotli", "-q", "1", "-c"], input=APP_JS, capture_output=True,
                        timeout=10).stdout
    zs = subprocess.run(["zstd", "-1", "-c", "-q"], input=APP_JS, capture_output=True,
                        timeout=10).stdout
    files["b.js.br"] = br
    files["b.js.zst"] = zs
    with Site(files=files) as s:
        r = s.ae("/b.js", "br")
        assert r.header("Content-Encoding") == "br" and r.body == br, \
            "expected b.js.br's bytes (%d) for br, got %r" % (len(br), r)
        r = s.ae("/b.js", "zstd")
        assert r.header("Content-Encoding") == "zstd" and r.body == zs, \
            "expected b.js.zst's bytes (%d) for zstd, got %r" % (len(zs), r)


@test
def no_compress_option():
    with Site("--no-compress") as s:
        for tgt, body in (("/app.js", APP_JS), ("/index.html", INDEX)):
            for ae in ("gzip", "zstd, br, gzip", "*"):
                r = s.ae(tgt, ae)
                expect_status(r, 200, "%s %r --no-compress" % (tgt, ae))
                assert not r.has("Content-Encoding"), "expected identity, got %r" % r
                expect_vary(r, False, "%s with --no-compress" % tgt)
                assert r.body == body


@test
def compress_gzip_only():
    with Site("--compress", "gzip") as s:
        for ae, want in (("zstd, br, gzip", "gzip"), ("gzip", "gzip"), ("br", None),
                         ("zstd", None), ("br, zstd", None), ("*", "gzip")):
            r = s.ae("/app.js", ae)
            expect_status(r, 200, "--compress gzip, AE %r" % ae)
            assert r.header("Content-Encoding") == want, \
                "expected Content-Encoding %r with --compress gzip and AE %r, got %r" % (
                    want, ae, r)
            expect_vary(r, True, "--compress gzip, AE %r" % ae)
            check_decodes(r, APP_JS, "--compress gzip, AE %r" % ae)


@test
def compress_order_is_preference():
    with Site("--compress", "gzip,br") as s:
        for ae, want in (("br, gzip", "gzip"), ("zstd, br, gzip", "gzip"), ("br", "br"),
                         ("zstd", None), ("br;q=1, gzip;q=0.5", "br")):
            r = s.ae("/app.js", ae)
            assert r.header("Content-Encoding") == want, \
                "expected %r with --compress gzip,br and AE %r, got %r" % (want, ae, r)


# ---------------------------------------------------------------------------------------------
# conditionals against variants; If-Match, If-Unmodified-Since


@test
def inm_against_selected_variant():
    need_graded()
    with Site() as s:
        vs = variants(s, "/app.js")
        tid, tgz, tbr = (vs[c].header("ETag") for c in ("identity", "gzip", "br"))
        cc = vs["identity"].header("Cache-Control")
        for ae, tag, status, enc in (
                ("gzip", tgz, 304, None), (None, tid, 304, None), ("br", tbr, 304, None),
                ("gzip", tid, 200, "gzip"),  # identity's tag does not validate the gzip one
                (None, tgz, 200, None), ("br", tgz, 200, "br"), ("zstd", tbr, 200, "zstd"),
                ("gzip", "W/" + tgz, 304, None), ("gzip", '"x", %s' % tgz, 304, None),
                ("gzip", "%s, %s" % (tid, tbr), 200, "gzip"), ("gzip", "*", 304, None)):
            r = s.ae("/app.js", ae, [("If-None-Match", tag)])
            what = "If-None-Match %s with Accept-Encoding %r" % (tag, ae)
            expect_status(r, status, what)
            expect_vary(r, True, what)
            assert r.header("Cache-Control") == cc, "expected Cache-Control %r on %s, got %r" % (
                cc, what, r)
            if status == 304:
                want_tag = vs[ae or "identity"].header("ETag")
                assert r.header_all("ETag") == [want_tag], \
                    "expected the selected variant's ETag %r on the 304 for %s, got %r" % (
                        want_tag, what, r.header_all("ETag"))
                assert r.body == b"" and not r.has("Content-Type")
            else:
                assert r.header("Content-Encoding") == enc, "expected %r for %s, got %r" % (
                    enc, what, r)
                check_decodes(r, APP_JS, what)


@test
def if_match_strong():
    with Site() as s:
        vs = variants(s, "/app.js")
        tid, tgz = vs["identity"].header("ETag"), vs["gzip"].header("ETag")
        for ae, hdrs, status in (
                (None, [("If-Match", tid)], 200),
                (None, [("If-Match", "*")], 200),
                (None, [("If-Match", '"a", %s' % tid)], 200),
                (None, [("If-Match", '"a"'), ("If-Match", tid)], 200),
                (None, [("If-Match", '"a"'), ("If-Match", '"b"')], 412),
                (None, [("If-Match", "W/" + tid)], 412),
                (None, [("If-Match", '"nope"')], 412),
                (None, [("If-Match", tgz)], 412),
                ("gzip", [("If-Match", tgz)], 200),
                ("gzip", [("If-Match", tid)], 412),
                ("gzip", [("If-Match", "W/" + tgz)], 412),
                ("gzip", [("If-Match", "*")], 200),
                ("gzip", [("If-Match", "%s, %s" % (tid, tgz))], 200)):
            r = s.ae("/app.js", ae, hdrs)
            what = "%r with Accept-Encoding %r" % (hdrs, ae)
            expect_status(r, status, what)
            if status == 200:
                assert r.header("Content-Encoding") == ae
                check_decodes(r, APP_JS, what)
        r = s.get("/app.js", [("If-Match", '"nope"')], method="HEAD")
        expect_status(r, 412, "HEAD with a failing If-Match")
        assert r.body == b""
        # The connection stays usable after a 412.
        c = s.srv.connect()
        try:
            send(c, request("GET", "/app.js", [("If-Match", '"nope"')]))
            r1 = read_response(c)
            send(c, request("GET", "/app.js"))
            r2 = read_response(c)
            assert is_open(c), "expected the connection open after a 412"
        finally:
            c.close()
        expect_status(r1, 412, "If-Match failing")
        expect_status(r2, 200, "GET after a 412")
        assert r2.body == APP_JS


@test
def if_unmodified_since_and_order():
    with Site() as s:
        tid = s.get("/app.js").header("ETag")
        for hdrs, status, what in (
                ([("If-Unmodified-Since", imf_fixdate(MTIME - 1))], 412, "IUS 1 s before LM"),
                ([("If-Unmodified-Since", imf_fixdate(MTIME - 86400))], 412, "IUS a day before"),
                ([("If-Unmodified-Since", imf_fixdate(MTIME))], 200, "IUS equal to LM"),
                ([("If-Unmodified-Since", imf_fixdate(MTIME + 60))], 200, "IUS after LM"),
                ([("If-Unmodified-Since", "garbage")], 200, "IUS invalid: ignored"),
                ([("If-Match", tid), ("If-Unmodified-Since", imf_fixdate(MTIME - 1))], 200,
                 "If-Match true: IUS ignored"),
                ([("If-Match", "*"), ("If-Unmodified-Since", imf_fixdate(MTIME - 1))], 200,
                 "If-Match * true: IUS ignored"),
                ([("If-Match", '"x"'), ("If-Unmodified-Since", imf_fixdate(MTIME + 60))], 412,
                 "If-Match false, IUS true"),
                ([("If-Match", '"x"'), ("If-None-Match", tid)], 412,
                 "If-Match false beats If-None-Match match (step 1 before 3)"),
                ([("If-Unmodified-Since", imf_fixdate(MTIME - 1)), ("If-None-Match", tid)], 412,
                 "IUS false beats If-None-Match match"),
                ([("If-Match", tid), ("If-None-Match", tid)], 304, "If-Match true, INM match"),
                ([("If-Unmodified-Since", imf_fixdate(MTIME)),
                  ("If-Modified-Since", imf_fixdate(MTIME))], 304, "IUS true, IMS -> 304"),
                ([("If-Match", '"x"'), ("Range", "bytes=0-9")], 412, "412 beats Range"),
                ([("If-Unmodified-Since", imf_fixdate(MTIME + 60)), ("Range", "bytes=0-9")],
                 206, "IUS true then Range")):
            r = s.get("/app.js", hdrs)
            expect_status(r, status, "%s %r" % (what, hdrs))
            if status == 200:
                assert r.body == APP_JS


@test
def missing_file_stays_404():
    with Site() as s:
        for hdrs in ([("If-Match", '"x"')], [("If-Match", "*")],
                     [("If-Unmodified-Since", imf_fixdate(0))], [("If-None-Match", "*")],
                     [("Range", "bytes=0-5")], [("Range", "bytes=0-5"), ("If-Range", '"x"')],
                     [("Accept-Encoding", "gzip"), ("If-None-Match", '"x"')]):
            r = s.get("/missing.js", hdrs)
            expect_status(r, 404, "/missing.js with %r" % hdrs)
            assert not r.has("Content-Range") and not r.has("Content-Encoding")


# ---------------------------------------------------------------------------------------------
# ranges


@test
def single_ranges_identity():
    n = len(APP_JS)
    with Site() as s:
        base = s.get("/app.js")
        for spec, a, b in (("0-0", 0, 0), ("0-99", 0, 99), ("100-199", 100, 199),
                           ("%d-" % (n - 10), n - 10, n - 1), ("5-", 5, n - 1),
                           ("-1", n - 1, n - 1), ("-200", n - 200, n - 1),
                           ("-%d" % (n + 100), 0, n - 1), ("0-%d" % (n * 10), 0, n - 1),
                           ("%d-%d" % (n - 3, n + 3), n - 3, n - 1), ("0-%d" % (n - 1), 0, n - 1),
                           (" 7-8 ", 7, 8)):
            r = s.get("/app.js", [("Range", "bytes=" + spec)])
            what = "Range bytes=%s on %d bytes" % (spec, n)
            expect_status(r, 206, what)
            assert r.header_all("Content-Range") == ["bytes %d-%d/%d" % (a, b, n)], \
                "expected Content-Range bytes %d-%d/%d for %s, got %r" % (
                    a, b, n, what, r.header_all("Content-Range"))
            assert r.header_all("Content-Length") == [str(b - a + 1)], \
                "expected Content-Length %d for %s, got %r" % (b - a + 1, what, r)
            assert r.body == APP_JS[a:b + 1], "expected bytes %d-%d for %s" % (a, b, what)
            assert not r.has("Content-Encoding")
            for h in ("ETag", "Cache-Control", "Vary", "Content-Type", "Last-Modified"):
                assert r.header_all(h) == base.header_all(h), \
                    "expected %s on the 206 equal to the 200's %r, got %r" % (
                        h, base.header_all(h), r.header_all(h))


@test
def range_unit_case_and_image():
    with Site() as s:
        r = s.get("/img.png", [("Range", "BYTES=1-3")])
        expect_status(r, 206, "BYTES=1-3 on png")
        assert r.body == PNG[1:4] and r.header("Content-Range") == "bytes 1-3/%d" % len(PNG)
        expect_vary(r, False, "206 of png")


@test
def unsatisfiable_ranges_416():
    n = len(APP_JS)
    with Site() as s:
        for spec in ("%d-" % n, "%d-%d" % (n, n + 10), "%d-" % (n + 1000), "-0",
                     "99999999999-"):
            r = s.get("/app.js", [("Range", "bytes=" + spec)])
            what = "Range bytes=%s on %d bytes" % (spec, n)
            expect_status(r, 416, what)
            assert r.header_all("Content-Range") == ["bytes */%d" % n], \
                "expected Content-Range bytes */%d for %s, got %r" % (n, what, r)
            assert r.body == b""
            expect_vary(r, True, "the 416 of a resource with variants")
        r = s.get("/img.png", [("Range", "bytes=%d-" % len(PNG))])
        expect_status(r, 416, "past the end of img.png")
        expect_vary(r, False, "the 416 of png")
        # The connection goes on after a 416.
        c = s.srv.connect()
        try:
            send(c, request("GET", "/app.js", [("Range", "bytes=%d-" % n)]))
            r1 = read_response(c)
            send(c, request("GET", "/tiny.txt"))
            r2 = read_response(c)
        finally:
            c.close()
        expect_status(r1, 416, "first on the connection")
        expect_status(r2, 200, "GET after a 416")
        assert r2.body == TINY


@test
def invalid_or_multi_ranges_give_200():
    """Invalid Range values, and sets a server may ignore (RFC 9110 §14.3): overlapping,
    descending, more than 16 ranges."""
    seventeen = "bytes=" + ",".join("%d-%d" % (2 * i, 2 * i) for i in range(17))
    with Site() as s:
        for v in ("bytes=5-2", "bytes=abc", "bytes=", "bytes=-", "bytes=1-2-3", "bytes 0-5",
                  "items=0-5", "bytes=0-5,3-8", "bytes=100-199,0-9", "bytes=0-,-1",
                  "bytes=0-5,x", "bytes=--5", "bytes=0x10-20", "bytes=+1-2", "0-5",
                  "bytes=99999999999999999999999-", seventeen):
            r = s.get("/app.js", [("Range", v)])
            expect_status(r, 200, "Range %r" % v)
            assert r.body == APP_JS, "expected the whole body for Range %r" % v
            assert not r.has("Content-Range"), "expected no Content-Range for %r" % v


def parse_multipart(r, what):
    """The parts of a multipart/byteranges 206 as [(Content-Type, Content-Range, bytes)], after
    checking its framing byte for byte: CRLF "--" boundary before each part, the close
    delimiter last, Content-Length equal to the body."""
    ctype = r.header("Content-Type") or ""
    prefix = "multipart/byteranges; boundary="
    assert ctype.startswith(prefix), "expected a multipart Content-Type for %s, got %r" % (
        what, ctype)
    boundary = ctype[len(prefix):].encode()
    assert boundary and len(boundary) <= 70, "bad boundary %r" % boundary
    assert r.header_all("Content-Length") == [str(len(r.body))], \
        "expected Content-Length %d for %s, got %r" % (len(r.body), what, r)
    assert not r.has("Content-Range"), "no Content-Range on a multipart 206 (%s)" % what
    delim = b"\r\n--" + boundary
    close = delim + b"--\r\n"
    assert r.body.startswith(delim + b"\r\n") and r.body.endswith(close), \
        "expected the body framed by %r for %s: %r ... %r" % (delim, what, r.body[:60],
                                                             r.body[-60:])
    parts = []
    for chunk in r.body[:-len(close)].split(delim)[1:]:
        assert chunk.startswith(b"\r\n"), "bad delimiter line in %s" % what
        head, sep, data = chunk[2:].partition(b"\r\n\r\n")
        assert sep, "part without an empty line in %s" % what
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
        assert set(fields) == {b"Content-Type", b"Content-Range"}, \
            "unexpected part fields %r in %s" % (fields, what)
        parts.append((fields[b"Content-Type"].decode(), fields[b"Content-Range"].decode(), data))
    return parts


@test
def multiple_ranges_multipart():
    """Several ranges: one 206 multipart/byteranges (RFC 9110 §14.6), parts in the order asked,
    unsatisfiable ones left out; the other fields as on the 200."""
    n = len(APP_JS)
    with Site() as s:
        base = s.get("/app.js")
        for spec, want in (("0-9,20-29", [(0, 9), (20, 29)]),
                           ("0-0, -1", [(0, 0), (n - 1, n - 1)]),
                           ("0-4,5-9", [(0, 4), (5, 9)]),
                           ("10-19,%d-,30-39" % (n + 100), [(10, 19), (30, 39)]),
                           ("100-199,300-,-0", [(100, 199), (300, n - 1)]),
                           (",".join("%d-%d" % (7 * i, 7 * i + 2) for i in range(16)),
                            [(7 * i, 7 * i + 2) for i in range(16)])):
            what = "Range bytes=%s on %d bytes" % (spec, n)
            r = s.get("/app.js", [("Range", "bytes=" + spec)])
            expect_status(r, 206, what)
            parts = parse_multipart(r, what)
            assert [(ct, cr) for ct, cr, _ in parts] == [
                (base.header("Content-Type"), "bytes %d-%d/%d" % (a, b, n)) for a, b in want], \
                "unexpected parts for %s: %r" % (what, [(ct, cr) for ct, cr, _ in parts])
            for (a, b), (_, _, data) in zip(want, parts):
                assert data == APP_JS[a:b + 1], "expected bytes %d-%d in %s" % (a, b, what)
            for h in ("ETag", "Cache-Control", "Vary", "Last-Modified", "Accept-Ranges"):
                assert r.header_all(h) == base.header_all(h), \
                    "expected %s on the multipart 206 equal to the 200's %r, got %r" % (
                        h, base.header_all(h), r.header_all(h))
            assert not r.has("Content-Encoding")
        # One satisfiable range among several: a plain 206. None: 416.
        r = s.get("/app.js", [("Range", "bytes=%d-,5-9" % n)])
        expect_status(r, 206, "one satisfiable of two")
        assert r.header("Content-Range") == "bytes 5-9/%d" % n and r.body == APP_JS[5:10]
        r = s.get("/app.js", [("Range", "bytes=%d-,-0" % n)])
        expect_status(r, 416, "no satisfiable range of two")
        # A coded variant is not sent in parts: the whole coded 200.
        r = s.ae("/app.js", "gzip", [("Range", "bytes=0-9,20-29")])
        expect_status(r, 200, "two ranges with Accept-Encoding: gzip")
        assert r.header("Content-Encoding") == "gzip" and gzip.decompress(r.body) == APP_JS
        # If-Range that does not match: the whole 200.
        r = s.get("/app.js", [("Range", "bytes=0-9,20-29"), ("If-Range", '"other"')])
        expect_status(r, 200, "two ranges, If-Range false")
        assert r.body == APP_JS


@test
def multipart_large_parts_pipelined():
    """Parts far above the copy threshold go out from store memory, one send each, and
    pipelined requests before and after are answered in order on the same connection."""
    big = os.urandom(3 << 20)
    files = dict(FILES)
    files["big.bin"] = big
    n = len(big)
    with Site(files=files) as s:
        spec = "bytes=0-99,1000-1048575,2000000-2999999,-100"
        want = [(0, 99), (1000, 1048575), (2000000, 2999999), (n - 100, n - 1)]
        reqs = [request("GET", "/tiny.txt"),
                request("GET", "/big.bin", [("Range", spec)]),
                request("GET", "/app.js", [("Range", "bytes=1-2,4-5")]),
                request("HEAD", "/big.bin", [("Range", spec)]),
                request("GET", "/tiny.txt")]
        out = send_pipelined(s, reqs, 3, "multipart answers")
        assert out[0].status == 200 and out[0].body == TINY
        expect_status(out[1], 206, "multipart of big.bin")
        parts = parse_multipart(out[1], "big.bin")
        assert [cr for _, cr, _ in parts] == ["bytes %d-%d/%d" % (a, b, n) for a, b in want]
        for (a, b), (_, _, data) in zip(want, parts):
            assert data == big[a:b + 1], "expected bytes %d-%d of big.bin" % (a, b)
        expect_status(out[2], 206, "small multipart right after")
        assert [d for _, _, d in parse_multipart(out[2], "app.js")] == [APP_JS[1:3], APP_JS[4:6]]
        expect_status(out[3], 200, "HEAD with several ranges")
        assert out[3].header("Content-Length") == str(n)
        assert out[4].status == 200 and out[4].body == TINY


@test
def range_ignored_on_head():
    with Site() as s:
        for ae in (None, "gzip"):
            full = s.ae("/app.js", ae)
            r = s.ae("/app.js", ae, [("Range", "bytes=0-9")], method="HEAD")
            expect_status(r, 200, "HEAD with Range (AE %r)" % ae)
            assert not r.has("Content-Range")
            assert r.header("Content-Length") == full.header("Content-Length"), \
                "expected the full Content-Length on HEAD with Range, got %r" % r
            r = s.ae("/app.js", ae, [("Range", "bytes=999999-")], method="HEAD")
            expect_status(r, 200, "HEAD with an unsatisfiable Range (AE %r)" % ae)


@test
def if_range():
    with Site() as s:
        vs = variants(s, "/app.js")
        tid, tgz = vs["identity"].header("ETag"), vs["gzip"].header("ETag")
        gz = vs["gzip"].body
        for ae, ir, status in (
                (None, tid, 206), (None, "W/" + tid, 200), (None, '"other"', 200),
                (None, tgz, 200), (None, imf_fixdate(MTIME), 206),
                (None, imf_fixdate(MTIME + 1), 200), (None, imf_fixdate(MTIME - 1), 200),
                (None, "garbage", 200), ("gzip", tgz, 206), ("gzip", tid, 200),
                ("gzip", imf_fixdate(MTIME), 206), ("gzip", "W/" + tgz, 200)):
            r = s.ae("/app.js", ae, [("Range", "bytes=0-49"), ("If-Range", ir)])
            what = "If-Range %r with Accept-Encoding %r" % (ir, ae)
            expect_status(r, status, what)
            want = gz if ae == "gzip" else APP_JS
            if status == 206:
                assert r.body == want[:50], "expected the first 50 bytes for %s" % what
            else:
                assert r.body == want, "expected the full body for %s" % what
            assert r.header("Content-Encoding") == ae


@test
def inm_match_beats_range():
    with Site() as s:
        tid = s.get("/app.js").header("ETag")
        r = s.get("/app.js", [("If-None-Match", tid), ("Range", "bytes=0-9")])
        expect_status(r, 304, "INM match with Range")
        r = s.get("/app.js", [("If-None-Match", tid), ("Range", "bytes=999999-")])
        expect_status(r, 304, "INM match with an unsatisfiable Range")
        r = s.get("/app.js", [("If-None-Match", '"x"'), ("Range", "bytes=0-9")])
        expect_status(r, 206, "INM no match with Range")
        assert r.body == APP_JS[:10]


@test
def ranges_on_coded_variants():
    need_graded()
    with Site() as s:
        vs = variants(s, "/index.html")
        for c in CODINGS:
            full = vs[c].body
            n = len(full)
            for spec, a, b in (("0-19", 0, 19), ("-15", n - 15, n - 1), ("30-", 30, n - 1),
                               ("10-%d" % (n + 500), 10, n - 1)):
                r = s.ae("/index.html", c, [("Range", "bytes=" + spec)])
                what = "%s Range bytes=%s (%d coded bytes)" % (c, spec, n)
                expect_status(r, 206, what)
                assert r.header("Content-Encoding") == c, "expected Content-Encoding %s on %s, " \
                    "got %r" % (c, what, r)
                assert r.header("Content-Range") == "bytes %d-%d/%d" % (a, b, n), \
                    "expected Content-Range bytes %d-%d/%d on %s, got %r" % (a, b, n, what, r)
                assert r.body == full[a:b + 1], "expected coded bytes %d-%d for %s" % (a, b, what)
                for h in ("ETag", "Cache-Control", "Vary"):
                    assert r.header_all(h) == vs[c].header_all(h), \
                        "expected %s %r on %s, got %r" % (h, vs[c].header_all(h), what,
                                                         r.header_all(h))
            # Within the identity length but past the coded one: 416 against the coded size.
            assert n < len(INDEX)
            r = s.ae("/index.html", c, [("Range", "bytes=%d-" % n)])
            expect_status(r, 416, "%s range past the coded end" % c)
            assert r.header("Content-Range") == "bytes */%d" % n, \
                "expected bytes */%d (the %s size), got %r" % (n, c, r)
            expect_vary(r, True, "416 of %s" % c)
        # The pieces put together decode to the file.
        full = vs["gzip"].body
        pieces = b""
        for a in range(0, len(full), 100):
            r = s.ae("/index.html", "gzip", [("Range", "bytes=%d-%d" % (a, a + 99))])
            expect_status(r, 206, "gzip piece at %d" % a)
            pieces += r.body
        assert gzip.decompress(pieces) == INDEX


@test
def pipelined_range_requests():
    with Site() as s:
        gz = s.ae("/style.css", "gzip").body
        reqs = [request("GET", "/style.css", [("Range", "bytes=0-9")]),
                request("GET", "/style.css", [("Range", "bytes=10-19"),
                                              ("Accept-Encoding", "gzip")]),
                request("GET", "/style.css", [("Range", "bytes=999999-")]),
                request("HEAD", "/style.css", [("Range", "bytes=0-9")]),
                request("GET", "/style.css", [("Range", "-5")]),
                request("GET", "/style.css", [("Range", "bytes=-5")])]
        out = send_pipelined(s, reqs, 3, "pipelined ranges")
        expect_status(out[0], 206, "pipelined #1")
        assert out[0].body == STYLE[0:10]
        expect_status(out[1], 206, "pipelined #2 (gzip)")
        assert out[1].body == gz[10:20] and out[1].header("Content-Encoding") == "gzip"
        expect_status(out[2], 416, "pipelined #3")
        expect_status(out[3], 200, "pipelined #4 (HEAD)")
        assert out[3].header("Content-Length") == str(len(STYLE))
        expect_status(out[4], 200, "pipelined #5 (bad Range)")
        assert out[4].body == STYLE
        expect_status(out[5], 206, "pipelined #6")
        assert out[5].body == STYLE[-5:]


@test
def range_edge_cases():
    with Site() as s:
        for v in ("bytes=0-", "bytes=0-0", "bytes=-5"):
            r = s.get("/empty.txt", [("Range", v)])
            expect_status(r, 416, "Range %r on an empty file" % v)
            assert r.header("Content-Range") == "bytes */0", "expected bytes */0, got %r" % r
        r = s.get("/app.js", [("Range", "bytes=0-9"), ("Range", "bytes=20-29")])
        expect_status(r, 200, "Range on two lines (several ranges)")
        assert r.body == APP_JS
        tid = s.get("/app.js").header("ETag")
        r = s.get("/app.js", [("Range", "bytes=0-9"), ("If-Range", tid), ("If-Range", tid)])
        expect_status(r, 200, "If-Range on two lines")
        assert r.body == APP_JS
        r = s.get("/app.js", [("If-Range", tid)])
        expect_status(r, 200, "If-Range without Range")
        assert r.body == APP_JS


@test
def accept_encoding_too_many_lines_identity():
    with Site() as s:
        hdrs = [("Accept-Encoding", "gzip")] * 12
        r = s.get("/app.js", hdrs)
        expect_status(r, 200, "12 Accept-Encoding lines")
        assert not r.has("Content-Encoding"), \
            "expected identity when Accept-Encoding lines were dropped, got %r" % r
        expect_vary(r, True, "identity after dropped lines")
        assert r.body == APP_JS



# ---------------------------------------------------------------------------------------------
# Cache-Control


IMMUTABLE = "public, max-age=31536000, immutable"


@test
def cache_policy_defaults():
    with Site() as s:
        for tgt, want in (("/app.5d41402a.js", IMMUTABLE), ("/chunk-B2x9Kq1z.css", IMMUTABLE),
                          ("/logo-1a2b3c4d.svg", IMMUTABLE), ("/index.html", "no-cache"),
                          ("/", "no-cache"), ("/app.js", "no-cache"),
                          ("/jquery-3.7.1.min.js", "no-cache"), ("/font.woff2", "no-cache"),
                          ("/static/x.txt", "no-cache"), ("/img.png", "no-cache")):
            for ae in (None, "gzip"):
                r = s.ae(tgt, ae)
                expect_status(r, 200, tgt)
                assert r.header_all("Cache-Control") == [want], \
                    "expected Cache-Control %r on %s (AE %r), got %r" % (
                        want, tgt, ae, r.header_all("Cache-Control"))
                r2 = s.ae(tgt, ae, [("Range", "bytes=0-3")])
                expect_status(r2, 206, "%s range" % tgt)
                assert r2.header_all("Cache-Control") == [want], \
                    "expected Cache-Control %r on the 206 of %s, got %r" % (want, tgt, r2)
                r3 = s.ae(tgt, ae, [("If-None-Match", r.header("ETag"))])
                expect_status(r3, 304, "%s INM" % tgt)
                assert r3.header_all("Cache-Control") == [want], \
                    "expected Cache-Control %r on the 304 of %s, got %r" % (want, tgt, r3)


@test
def cache_policy_options():
    with Site("--cache-immutable", "*.woff2", "--cache-immutable", "/static/*",
              "--cache-default", "max-age=60") as s:
        for tgt, want in (("/font.woff2", IMMUTABLE), ("/static/x.txt", IMMUTABLE),
                          ("/static/sub/y.css", IMMUTABLE), ("/app.5d41402a.js", IMMUTABLE),
                          ("/app.js", "max-age=60"), ("/index.html", "max-age=60"),
                          ("/img.png", "max-age=60")):
            r = s.get(tgt)
            expect_status(r, 200, tgt)
            assert r.header_all("Cache-Control") == [want], \
                "expected Cache-Control %r on %s with the options, got %r" % (
                    want, tgt, r.header_all("Cache-Control"))
            r = s.get(tgt, [("If-None-Match", r.header("ETag"))])
            assert r.header_all("Cache-Control") == [want], "on the 304 of %s: %r" % (tgt, r)
    with Site("--cache-immutable", "*.woff2") as s:
        assert s.get("/font.woff2").header("Cache-Control") == IMMUTABLE
        assert s.get("/static/x.txt").header("Cache-Control") == "no-cache"
    # --cache-revalidate wins over the hash rule and over --cache-immutable
    with Site("--cache-immutable", "/static/*", "--cache-revalidate", "app.5d41402a.js",
              "--cache-revalidate", "/static/sub/*") as s:
        for tgt, want in (("/app.5d41402a.js", "no-cache"), ("/static/x.txt", IMMUTABLE),
                          ("/static/sub/y.css", "no-cache"), ("/font.woff2", "no-cache")):
            r = s.get(tgt)
            expect_status(r, 200, tgt)
            assert r.header_all("Cache-Control") == [want], \
                "expected Cache-Control %r on %s with --cache-revalidate, got %r" % (
                    want, tgt, r.header_all("Cache-Control"))
            r = s.get(tgt, [("If-None-Match", r.header("ETag"))])
            expect_status(r, 304, "%s INM" % tgt)
            assert r.header_all("Cache-Control") == [want], "on the 304 of %s: %r" % (tgt, r)


# ---------------------------------------------------------------------------------------------
# reload


@test
def reload_makes_new_variants():
    need_graded()
    with Site(pid_file=True) as s:
        before = {t: variants(s, t) for t in ("/app.js", "/style.css")}
        new = js_text(150, "reloaded")
        for suffix, data in [("", new)] + list(graded(new).items()):
            p = os.path.join(s.root, "app.js" + suffix)
            with open(p, "wb") as f:
                f.write(data)
            os.utime(p, (MTIME + 100, MTIME + 100))
        rc = run_cachet(["--reload", "--pid-file", s.pid_file], timeout=10)
        assert rc.returncode == 0, "expected cachet --reload to exit 0, got %d: %r" % (
            rc.returncode, rc.stderr)
        after = {t: variants(s, t) for t in ("/app.js", "/style.css")}
        for c in ("identity",) + CODINGS:
            old_tag = before["/app.js"][c].header("ETag")
            r = after["/app.js"][c]
            assert r.header("ETag") != old_tag, \
                "expected a new %s ETag for the changed app.js, still %r" % (c, old_tag)
            assert r.header("Content-Encoding") == (None if c == "identity" else c)
            check_decodes(r, new, "reloaded app.js as %s" % c)
            assert after["/style.css"][c].header("ETag") == \
                before["/style.css"][c].header("ETag"), \
                "expected the unchanged style.css to keep its %s ETag" % c
            assert after["/style.css"][c].body == before["/style.css"][c].body
        # The old variant's tag no longer validates; the new one does.
        r = s.ae("/app.js", "gzip", [("If-None-Match", before["/app.js"]["gzip"].header("ETag"))])
        expect_status(r, 200, "old gzip ETag after reload")
        r = s.ae("/app.js", "gzip", [("If-None-Match", after["/app.js"]["gzip"].header("ETag"))])
        expect_status(r, 304, "new gzip ETag after reload")
        r = s.get("/app.js", [("Range", "bytes=0-9"),
                              ("If-Range", before["/app.js"]["identity"].header("ETag"))])
        expect_status(r, 200, "If-Range with the pre-reload ETag")
        assert r.body == new


@test
def reload_picks_up_changed_and_removed_sidecars():
    with Site(pid_file=True) as s:
        old = s.ae("/side.css", "gzip")
        assert old.body == FILES["side.css.gz"]
        tid = s.get("/side.css").header("ETag")
        side2 = gzip.compress(SIDE, 6)
        assert side2 != FILES["side.css.gz"]
        p = os.path.join(s.root, "side.css.gz")
        with open(p, "wb") as f:
            f.write(side2)
        os.utime(p, (MTIME + 50, MTIME + 50))
        rc = run_cachet(["--reload", "--pid-file", s.pid_file], timeout=10)
        assert rc.returncode == 0, "expected --reload to exit 0, got %d: %r" % (rc.returncode,
                                                                               rc.stderr)
        r = s.ae("/side.css", "gzip")
        assert r.body == side2, "expected the new sidecar's bytes after reload, got %d bytes " \
            "(old sidecar %d, new %d)" % (len(r.body), len(old.body), len(side2))
        assert r.header("ETag") != old.header("ETag"), "expected a new gzip ETag"
        assert s.get("/side.css").header("ETag") == tid, "expected the identity ETag kept"
        os.unlink(p)
        rc = run_cachet(["--reload", "--pid-file", s.pid_file], timeout=10)
        assert rc.returncode == 0
        r2 = s.ae("/side.css", "gzip")
        assert r2.header("Content-Encoding") == "gzip", "expected gzip made by cachet, got %r" % r2
        assert r2.body != side2 and gzip.decompress(r2.body) == SIDE, \
            "expected cachet's own gzip once the sidecar is gone"
        assert r2.header("ETag") not in (old.header("ETag"), r.header("ETag"))
        expect_status(s.get("/side.css.gz"), 404, "the removed sidecar")


if __name__ == "__main__":
    main()
