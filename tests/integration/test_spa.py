#!/usr/bin/env python3
"""Built front ends: /.well-known/, --fallback, --error-page, --link-preload, bad input at start
and on reload, Expect, and a tree laid out like `vite build` output end to end."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LISTEN_RE, ServedTree, Server, connect, expect_closed,  # noqa: E402
                     expect_status, is_open, main, make_tree, read_response, request,
                     run_cachet, send, test)

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


if __name__ == "__main__":
    main()
