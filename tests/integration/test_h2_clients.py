#!/usr/bin/env python3
"""Real HTTP/2 clients against cachet: `curl --http2-prior-knowledge`, `nghttp -ns`, and h2load in
its default (HTTP/2) mode at -m1, -m16 and -m100; every request must succeed. A test whose tool
is missing is skipped (Debian: curl, nghttp2-client). Several URLs in one curl call are not
asked: Debian 12's curl 7.88.1 fails the second with "Error in the HTTP2 framing layer" against
nginx and h2o alike."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServedTree, Skip, main, test  # noqa: E402

FILES = {"index.html": b"<!doctype html><p>hi</p>\n" * 40, "app.js": b"let x = 1;\n" * 500,
         "big.bin": os.urandom(1 << 20)}


def need(tool):
    if shutil.which(tool) is None:
        raise Skip("%s is not installed" % tool)


def run(argv, timeout=60):
    return subprocess.run(argv, capture_output=True, timeout=timeout, text=True,
                          errors="replace", stdin=subprocess.DEVNULL)


@test
def curl_http2_prior_knowledge():
    need("curl")
    with ServedTree(FILES) as t, tempfile.TemporaryDirectory() as d:
        base = "http://127.0.0.1:%d" % t.srv.port
        for path in ("/", "/app.js", "/big.bin"):
            out = os.path.join(d, "body")
            p = run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "20", "-o", out,
                     "-D", os.path.join(d, "head"), "-w", "%{http_version} %{http_code}",
                     base + path])
            assert p.returncode == 0 and p.stdout == "2 200", \
                "expected curl --http2-prior-knowledge to get HTTP/2 200 for %s, got rc %d " \
                "%r %r" % (path, p.returncode, p.stdout, p.stderr)
            want = FILES["index.html" if path == "/" else path[1:]]
            with open(out, "rb") as f:
                assert f.read() == want, "expected the file's bytes from curl for %s" % path
        with open(os.path.join(d, "head")) as f:
            etag = re.search(r"^etag: (.*?)\r?$", f.read(), re.M | re.I).group(1)
        p = run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "20", "-o", "/dev/null",
                 "-H", "If-None-Match: " + etag, "-w", "%{http_version} %{http_code}",
                 base + "/big.bin"])
        assert p.stdout == "2 304", "expected HTTP/2 304 from curl with If-None-Match, got " \
            "%r %r" % (p.stdout, p.stderr)
        p = run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "20", "-I",
                 "-w", "%{http_version} %{http_code}", base + "/app.js"])
        assert p.returncode == 0 and p.stdout.endswith("2 200"), \
            "expected curl -I over HTTP/2 to get 200, got %r %r" % (p.stdout, p.stderr)


@test
def nghttp_ns():
    need("nghttp")
    with ServedTree(FILES) as t:
        base = "http://127.0.0.1:%d" % t.srv.port
        p = run(["nghttp", "-ns", "-t", "20", base + "/", base + "/app.js", base + "/big.bin"])
        assert p.returncode == 0, "expected nghttp -ns to succeed, rc %d: %r %r" % (
            p.returncode, p.stdout[-800:], p.stderr[-800:])
        rows = re.findall(r"^\s*\d+\s+\S+\s+\S+\s+\S+\s+(\d{3})\s+(\S+)\s+(/\S*)$", p.stdout,
                          re.M)
        got = sorted((path, code) for code, _, path in rows)
        assert got == [("/", "200"), ("/app.js", "200"), ("/big.bin", "200")], \
            "expected three 200s in nghttp's statistics, got %r\n%s" % (got, p.stdout[-800:])
        p = run(["nghttp", "-nv", "-t", "20", base + "/app.js"])
        assert p.returncode == 0 and ":status: 200" in p.stdout, \
            "expected nghttp -nv to show :status: 200, got %r" % p.stdout[-800:]


def h2load(port, m, n, extra=()):
    p = run(["h2load", "-n", str(n), "-c", "4", "-m", str(m), "-T", "20"] + list(extra) +
            ["http://127.0.0.1:%d/app.js" % port], timeout=90)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", p.stdout)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", p.stdout)
    assert p.returncode == 0 and req and codes, "expected h2load -m%d to run, rc %d: %r %r" % (
        m, p.returncode, p.stdout[-600:], p.stderr[-600:])
    return [int(x) for x in req.groups()], [int(x) for x in codes.groups()], p.stdout


@test
def h2load_default_mode_all_succeed():
    need("h2load")
    with ServedTree(FILES) as t:
        etag = t.srv.get("/app.js").header("ETag")
        for m in (1, 16, 100):
            n = 2000 if m > 1 else 400
            req, codes, out = h2load(t.srv.port, m, n)
            assert req[3] == n and req[4:] == [0, 0, 0], "expected all %d h2load -m%d " \
                "requests to succeed, got %r\n%s" % (n, m, req, out[-600:])
            assert codes == [n, 0, 0, 0], "expected %d 2xx from h2load -m%d, got %r" % (
                n, m, codes)
            req, codes, out = h2load(t.srv.port, m, n, ["-H", "if-none-match: " + etag])
            assert req[3] == n and codes == [0, n, 0, 0], "expected %d 304s from h2load -m%d " \
                "with If-None-Match, got %r %r" % (n, m, req, codes)


if __name__ == "__main__":
    main()
