#!/usr/bin/env python3
"""Built front ends: /.well-known/, --fallback, --error-page, --link-preload, bad input at start
and on reload, Expect, and a tree laid out like `vite build` output end to end."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LISTEN_RE, ServedTree, Server, connect, expect_closed,  # noqa: E402
                     expect_status, is_open, main, make_tree, read_response, request,
                     run_cachet, send, Skip, test)

IMMUTABLE = "public, max-age=31536000, immutable"


@test
def well_known_served_other_dot_paths_hidden():
    files = {".well-known/security.txt": "Contact: mailto:sec@example.com\n",
             ".well-known/assetlinks.json": "[]",
             ".well-known/.secret": "WK-SECRET", ".env": "SECRET=1",
             "sub/.well-known/x.txt": "NESTED-SECRET", "index.html": "<p>hi</p>"}
    with ServedTree(files) as t:
        r = t.srv.get("/.well-known/security.txt")
        expect_status(r, 200, "/.well-known/security.txt")
        assert r.body.startswith(b"Contact:"), "expected security.txt bytes, got %r" % r.body
        expect_status(t.srv.get("/.well-known/assetlinks.json"), 200, "assetlinks.json")
        for path in ("/.well-known/.secret", "/.env", "/sub/.well-known/x.txt", "/%2eenv",
                     "/.well-known/"):
            r = t.srv.get(path)
            expect_status(r, 404, path)
            assert b"SECRET" not in r.body, "expected no hidden bytes for %s" % path


@test
def expect_100_continue_answered_at_once_then_closed():
    with ServedTree({"a.txt": "alpha"}) as t:
        s = t.srv.connect()
        try:
            # the body is held back, as a client waiting for 100 Continue does
            send(s, request("GET", "/a.txt", [("Expect", "100-continue"),
                                               ("Content-Length", "5")]))
            r = read_response(s)
            expect_status(r, 200, "GET with Expect: 100-continue")
            assert r.body == b"alpha", "expected the file, got %r" % r.body
            assert "close" in r.connection_tokens(), \
                "expected Connection: close after an unread body, got %r" % r
            expect_closed(s, what="after the Expect answer")
        finally:
            s.close()
        s = t.srv.connect()
        try:  # without a body to wait for, nothing changes: keep-alive
            send(s, request("GET", "/a.txt", [("Expect", "100-continue")]))
            expect_status(read_response(s), 200, "Expect without a body")
            assert is_open(s), "expected the connection kept open without a body"
        finally:
            s.close()
        r = t.srv.get("/a.txt", [("Expect", "200-ok")])
        expect_status(r, 417, "Expect other than 100-continue")
        assert "close" in r.connection_tokens(), "expected the 417 to close, got %r" % r


@test
def relative_globs_and_unmatched_warning():
    files = {"vendor/lib.js": "lib", "app.js": "app"}
    with ServedTree(files, "--cache-immutable", "vendor/*", "--cache-immutable", "nope/*",
                    "--cache-revalidate", "*.nothing") as t:
        r = t.srv.get("/vendor/lib.js")
        expect_status(r, 200, "/vendor/lib.js")
        assert r.header("Cache-Control") == IMMUTABLE, \
            "expected 'vendor/*' to match /vendor/lib.js (relative to ROOT), got %r" % r
        expect_status(t.srv.get("/app.js"), 200, "/app.js")
        warnings = [ln for ln in t.srv.stderr_lines if "warning" in ln and "matches no file" in ln]
        assert len(warnings) == 2, "expected one warning per unmatched glob, got %r" % (
            t.srv.stderr_lines,)
        assert any("'nope/*'" in w for w in warnings) and any("'*.nothing'" in w
                                                             for w in warnings), warnings


INDEX = "<!doctype html><html><head><title>app</title></head><body>" + "x" * 400 + "</body></html>"


@test
def fallback_serves_index_for_routes():
    files = {"index.html": INDEX, "assets/app.js": "console.log(1)", "sub/index.html": "sub"}
    with ServedTree(files, "--fallback", "/index.html") as t:
        plain = t.srv.get("/index.html")
        expect_status(plain, 200, "/index.html")
        for path in ("/dashboard/settings", "/dashboard", "/a/b/c/", "/users/42?tab=1"):
            r = t.srv.get(path)
            expect_status(r, 200, path)
            assert r.body == plain.body, "expected index.html for %s" % path
            for h in ("ETag", "Cache-Control", "Content-Type"):
                assert r.header(h) == plain.header(h), "expected the %s of index.html for %s, " \
                    "got %r" % (h, path, r.header(h))
        # variants and conditionals are the file's own
        gz = t.srv.get("/route", [("Accept-Encoding", "gzip")])
        expect_status(gz, 200, "gzip /route")
        assert gz.header("Content-Encoding") == "gzip" and gz.header("Vary") == "Accept-Encoding", \
            "expected the gzip variant with Vary, got %r" % gz
        r = t.srv.get("/route", [("If-None-Match", plain.header("ETag"))])
        expect_status(r, 304, "conditional GET of a route")
        expect_status(t.srv.get("/route", method="HEAD"), 200, "HEAD of a route")
        # what keeps its answer
        for path, status in (("/assets/app.0ld1234.js", 404), ("/missing.css", 404),
                             ("/.env", 404), ("/.git/config", 404), ("/sub", 301),
                             ("/sub/", 200), ("/%2e%2e/x", 400)):
            expect_status(t.srv.get(path), status, path)
        expect_status(t.srv.get("/route", method="POST"), 405, "POST /route")
        expect_status(t.srv.get("/route", method="BREW"), 501, "BREW /route")


def curl_h2(port, path, *args):
    """(status, {lower-case name: value}, body) of one HTTP/2 (prior knowledge) request by curl."""
    try:
        if "HTTP2" not in subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout:
            raise Skip("curl without HTTP/2")
        r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--max-time", "5", "-D", "-",
                            "-o", "/dev/null", *args, "http://127.0.0.1:%d%s" % (port, path)],
                           capture_output=True, timeout=10)
        body = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--max-time", "5",
                               *args, "http://127.0.0.1:%d%s" % (port, path)],
                              capture_output=True, timeout=10).stdout
    except FileNotFoundError:
        raise Skip("curl is not installed")
    lines = r.stdout.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/2 "), "expected an HTTP/2 answer to %s, got %r" % (path,
                                                                                     r.stdout)
    fields = dict(ln.split(": ", 1) for ln in lines[1:] if ": " in ln)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in fields.items()}, body


@test
def fallback_over_http2():
    # The same answers as over HTTP/1.1: the fallback's own 200 (ETag, Link, variants, Vary,
    # 304, HEAD), 404 with the error page for a missing path with an extension, 405/501 kept.
    page = INDEX.replace("</head>", '<script src="/assets/app.js"></script></head>')
    files = {"index.html": page, "assets/app.js": "console.log(1)", "404.html": "<h1>lost</h1>"}
    with ServedTree(files, "--fallback", "/index.html", "--error-page", "404=/404.html",
                    "--link-preload") as t:
        port = t.srv.port
        st, plain, body = curl_h2(port, "/index.html")
        assert st == 200 and body == page.encode(), (st, plain, body)
        st, h, body = curl_h2(port, "/dashboard/settings")
        assert st == 200 and body == page.encode(), "expected index.html for a route over " \
            "HTTP/2, got %r %r %r" % (st, h, body)
        for k in ("etag", "cache-control", "content-type", "link"):
            assert h.get(k) == plain.get(k), "expected the %s of index.html, got %r" % (k, h)
        assert h.get("link") == "</assets/app.js>; rel=preload; as=script", h
        st, h, _ = curl_h2(port, "/route", "-H", "accept-encoding: gzip")
        assert st == 200 and h.get("content-encoding") == "gzip" and \
            h.get("vary") == "Accept-Encoding", "expected the gzip variant with Vary, got %r" % h
        st, h, _ = curl_h2(port, "/route", "-H", "if-none-match: " + plain["etag"])
        assert st == 304, "expected 304 for a route over HTTP/2, got %r %r" % (st, h)
        st, h, _ = curl_h2(port, "/route", "-I")
        assert st == 200 and h.get("content-length") == str(len(page)), (st, h)
        st, h, body = curl_h2(port, "/assets/app.0ld1234.js")
        assert st == 404 and body == b"<h1>lost</h1>", "expected the error page, got %r %r %r" % (
            st, h, body)
        assert st == 404 and "cache-control" not in h, h
        for method, want in (("POST", 405), ("BREW", 501)):
            st, h, _ = curl_h2(port, "/route", "-X", method)
            assert st == want, "expected %d for %s /route over HTTP/2, got %r" % (want, method, st)


@test
def error_page_is_the_404_body_and_reloads():
    files = {"index.html": "home", "404.html": "<h1>lost</h1>"}
    with ServedTree(files, "--error-page", "404=404.html", pid_file=True) as t:
        r = t.srv.get("/nope.png")
        expect_status(r, 404, "/nope.png")
        assert r.body == b"<h1>lost</h1>", "expected the error page, got %r" % r.body
        assert r.header("Content-Type") == "text/html; charset=utf-8", r
        assert r.header("Cache-Control") is None, "expected no Cache-Control on a 404, got %r" % r
        h = t.srv.get("/nope.png", method="HEAD")
        expect_status(h, 404, "HEAD /nope.png")
        assert h.header("Content-Length") == str(len(b"<h1>lost</h1>")), h
        with open(os.path.join(t.root, "404.html"), "w") as f:
            f.write("<h1>gone</h1>!")
        reload(t, 0)
        r = t.srv.get("/nope.png")
        assert r.status == 404 and r.body == b"<h1>gone</h1>!", \
            "expected the new page after reload, got %r" % r


def reload(t, want):
    r = run_cachet(["--reload", "--pid-file", t.pid_file], timeout=30)
    assert r.returncode == want, "expected --reload to exit %d, got %d: %r %r" % (
        want, r.returncode, r.stdout, r.stderr)
    return r


@test
def rescan_losing_fallback_or_error_page_fails_and_keeps_serving():
    for opt, rel in (("--fallback", "index.html"), ("--error-page", "404.html")):
        files = {"index.html": "home", "404.html": "lost", "a.txt": "a"}
        arg = "404=/404.html" if opt == "--error-page" else "/index.html"
        with ServedTree(files, opt, arg, pid_file=True) as t:
            os.unlink(os.path.join(t.root, rel))
            with open(os.path.join(t.root, "b.txt"), "w") as f:
                f.write("b")
            r = reload(t, 1)
            assert "no such file" in r.stderr and rel in r.stderr, \
                "expected the reason from --reload, got %r" % r.stderr
            expect_status(t.srv.get("/a.txt"), 200, "old generation after a failed rescan")
            expect_status(t.srv.get("/b.txt"), 404, "the failed rescan's new file")
            r = t.srv.get("/route" if opt == "--fallback" else "/gone.png")
            assert r.body in (b"home", b"lost"), "expected the old %s to keep serving, got %r" % (
                opt, r)


def expect_start_refused(args, what):
    with tempfile.TemporaryDirectory() as d:
        make_tree(d, {"index.html": "home"})
        r = run_cachet(["--root", d, "--listen", "127.0.0.1:0", "--pid-file", ""] + args)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2, "expected exit 2 for %s, got %r: %r" % (what, r.returncode,
                                                                        r.stderr)
        assert len(lines) == 1 and not LISTEN_RE.search(r.stderr), \
            "expected one line for %s, got %r" % (what, r.stderr)
        return lines[0]


@test
def bad_input_refused_at_start():
    line = expect_start_refused(["--fallback", "/app.html"], "a missing fallback")
    assert "--fallback /app.html" in line, line
    line = expect_start_refused(["--error-page", "404=/404.html"], "a missing error page")
    assert "--error-page" in line, line
    expect_start_refused(["--fallback", "../index.html"], "a fallback outside ROOT")
    expect_start_refused(["--error-page", "404=/../../etc/passwd"], "an error page outside ROOT")
    line = expect_start_refused(["--error-page", "418=/index.html"], "an unknown status")
    assert "418" in line, line
    expect_start_refused(["--error-page", "x=/index.html"], "a status that is no number")


@test
def link_preload_on_html_200s():
    html = ('<!doctype html><head><script type="module" crossorigin src="/js/app.js"></script>'
            '<link rel="stylesheet" href="css/site.css"><script src="https://cdn.example/x.js">'
            '</script><link rel=stylesheet href=/missing.css><!-- <script src=/js/old.js> -->'
            '</head><body></body>')
    files = {"index.html": html, "js/app.js": "1", "js/old.js": "2", "css/site.css": "a{}",
             "plain.html": "<p>no refs</p>"}
    want = "</js/app.js>; rel=modulepreload; crossorigin, </css/site.css>; rel=preload; as=style"
    with ServedTree(files, "--link-preload", "--fallback", "/index.html") as t:
        for path in ("/", "/index.html", "/some/route"):
            r = t.srv.get(path)
            expect_status(r, 200, path)
            assert r.header_all("Link") == [want], "expected one Link %r on %s, got %r" % (
                want, path, r.header_all("Link"))
        gz = t.srv.get("/index.html", [("Accept-Encoding", "gzip")])
        assert gz.header_all("Link") == [want], "expected the Link on variants too, got %r" % gz
        r = t.srv.get("/plain.html")
        assert r.header("Link") is None, "expected no Link without references, got %r" % r
        r = t.srv.get("/js/app.js")
        assert r.header("Link") is None, "expected no Link on a script, got %r" % r
    with ServedTree(files) as t:
        r = t.srv.get("/index.html")
        assert r.header("Link") is None, "expected no Link without --link-preload, got %r" % r


def vite_build_tree():
    """A tree laid out as `vite build` (Vite 5, build.manifest on) writes it: hashed assets
    under assets/ (base64url hashes, one with '-' and '_', one without a digit), the manifest
    under .vite/, and the public/ files copied as they are."""
    js, css, lazy, logo = ("index-yKV9Tz_-.js", "index-aMrppxEQ.css", "About-Bq1x_a9Z.js",
                           "logo-CkR2hZ0u.svg")
    html = ('<!doctype html>\n<html lang="en">\n  <head>\n    <meta charset="UTF-8" />\n'
            '    <link rel="icon" type="image/x-icon" href="/favicon.ico" />\n'
            '    <title>Vite App</title>\n'
            '    <script type="module" crossorigin src="/assets/%s"></script>\n'
            '    <link rel="stylesheet" crossorigin href="/assets/%s">\n  </head>\n'
            '  <body>\n    <div id="app"></div>\n  </body>\n</html>\n' % (js, css))
    manifest = ('{"index.html": {"file": "assets/%s", "name": "index", "src": "index.html", '
                '"isEntry": true, "dynamicImports": ["src/About.vue"], "css": ["assets/%s"], '
                '"assets": ["assets/%s"]}, "src/About.vue": {"file": "assets/%s", '
                '"src": "src/About.vue", "isDynamicEntry": true}, "src/worker.ts": '
                '{"file": "assets/worker.js", "src": "src/worker.ts"}}' % (js, css, logo, lazy))
    files = {"index.html": html, "assets/" + js: "import('./%s');" % lazy + "x" * 300,
             "assets/" + css: "#app{color:red}" + " " * 300, "assets/" + lazy: "export default 1",
             "assets/" + logo: "<svg></svg>", "assets/worker.js": "self.onmessage=null",
             ".vite/manifest.json": manifest, "404.html": "<h1>Not found</h1>",
             "favicon.ico": "\x00\x00\x01\x00", "robots.txt": "User-agent: *\n"}
    return files, js, css, lazy, logo


@test
def vite_build_served_end_to_end():
    files, js, css, lazy, logo = vite_build_tree()
    link = ("</assets/%s>; rel=modulepreload; crossorigin, </assets/%s>; rel=preload; as=style; "
            "crossorigin" % (js, css))
    with ServedTree(files, "--fallback", "/index.html", "--error-page", "404=/404.html",
                    "--link-preload") as t:
        index = t.srv.get("/")
        expect_status(index, 200, "/")
        assert index.header("Cache-Control") == "no-cache", index
        assert index.header_all("Link") == [link], "expected the preload Link, got %r" % (
            index.header_all("Link"),)
        # every bundler output is immutable: by name, and worker.js by the manifest
        for name in (js, css, lazy, logo, "worker.js"):
            r = t.srv.get("/assets/" + name)
            expect_status(r, 200, name)
            assert r.header("Cache-Control") == IMMUTABLE, "expected %s immutable, got %r" % (
                name, r.header("Cache-Control"))
            r304 = t.srv.get("/assets/" + name, [("If-None-Match", r.header("ETag"))])
            expect_status(r304, 304, "revalidating " + name)
        for path in ("/favicon.ico", "/robots.txt"):
            r = t.srv.get(path)
            expect_status(r, 200, path)
            assert r.header("Cache-Control") == "no-cache", "expected %s no-cache, got %r" % (
                path, r)
        # client-side routes: index.html itself, its ETag, its Link, its 304
        for route in ("/about", "/users/42/settings", "/dashboard/"):
            r = t.srv.get(route)
            expect_status(r, 200, route)
            assert r.body == index.body and r.header("ETag") == index.header("ETag"), route
            assert r.header_all("Link") == [link], route
            r = t.srv.get(route, [("If-None-Match", index.header("ETag"))])
            expect_status(r, 304, "revalidating " + route)
        # an asset of the previous deploy, the manifest (a dot directory): the 404 page
        for path in ("/assets/index-0ld1234a.js", "/.vite/manifest.json", "/missing.png"):
            r = t.srv.get(path)
            expect_status(r, 404, path)
            assert r.body == b"<h1>Not found</h1>", "expected the 404 page for %s" % path
            assert r.header("Content-Type") == "text/html; charset=utf-8", r


if __name__ == "__main__":
    main()
