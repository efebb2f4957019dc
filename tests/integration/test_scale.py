#!/usr/bin/env python3
"""Large bundles and hostile trees: special files in ROOT never block a scan, answers come before
variants are compressed and validate across the switch, reloads of an unchanged tree reread
nothing, and memory stays flat over reloads."""

import gzip
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Server, ServedTree, Skip, expect_status, main,  # noqa: E402
                     run_cachet, test)


class Site(ServedTree):
    """A temporary root and a server with a pid file of its own."""

    def __init__(self, files, *args, **kw):
        super().__init__(files, *args, pid_file=True, **kw)

    def reload(self, expect=0):
        r = run_cachet(["--reload", "--pid-file", self.pid_file], timeout=30)
        assert r.returncode == expect, "expected cachet --reload to exit %d, got %d: %r %r" % (
            expect, r.returncode, r.stdout, r.stderr)
        return r

    def path(self, rel):
        return os.path.join(self.root, rel)


@test
def fifo_in_root_blocks_neither_start_nor_reload():
    """A FIFO has no writer: opening it for reading would wait forever. The start and each
    reload must go by it (each bounded by the harness's start timeout and --reload's wait)."""
    with Site({"a.txt": "a"}) as s:
        os.mkfifo(s.path("pipe.txt"))
        os.mkfifo(s.path("pipe.txt.gz"))
        out = s.reload().stdout
        assert "generation 2" in out, "expected the reload to finish, got %r" % out
        expect_status(s.srv.get("/pipe.txt"), 404, "a FIFO is not served")
        expect_status(s.srv.get("/a.txt"), 200, "a file beside the FIFO")
    # and at start: a tree that holds a FIFO from the beginning
    with tempfile.TemporaryDirectory() as d:
        os.mkfifo(os.path.join(d, "pipe"))
        with open(os.path.join(d, "b.txt"), "w") as f:
            f.write("b")
        with Server(d) as srv:
            expect_status(srv.get("/b.txt"), 200, "a file beside a FIFO at start")
            expect_status(srv.get("/pipe"), 404, "a FIFO at start")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def text_tree(n, dirs=20, size=700):
    """n compressible text files in dirs directories."""
    files = {}
    for i in range(n):
        words = " ".join("w%d" % ((i * 7 + k) % 97) for k in range(size // 4))
        files["d%02d/f%05d.%s" % (i % dirs, i, ("js", "css", "html")[i % 3])] = words[:size]
    return files


@test
def unchanged_reload_rereads_nothing():
    files = text_tree(300)
    with Site(files) as s:
        out = s.reload().stdout
        assert "0 reread" in out and "0 changed" in out, \
            "expected an unchanged tree reloaded without reading a file, got %r" % out
        # a deploy rewrites two files: one with its own bytes (new inode, new mtime), one with
        # new bytes
        etag = s.srv.get("/d00/f00000.js").header("ETag")
        tmp = s.path("d00/f00000.js.tmp")
        with open(tmp, "w") as f:
            f.write(files["d00/f00000.js"])
        os.utime(tmp, (2000000000, 2000000000))
        os.rename(tmp, s.path("d00/f00000.js"))
        with open(s.path("d01/f00001.css"), "w") as f:
            f.write("changed")
        out = s.reload().stdout
        assert "1 changed" in out and "1 rewritten identical" in out and "2 reread" in out, \
            "expected 1 changed, 1 rewritten identical, 2 reread in %r" % out
        r = s.srv.get("/d00/f00000.js", [("If-None-Match", etag)])
        expect_status(r, 304, "a file rewritten with its own bytes keeps its ETag")
        line = [x for x in s.srv.stderr_lines if "reload: generation 3" in x]
        assert line and "2 reread" in line[0], "expected the log line to say it: %r" % line


@test
def rss_flat_over_reloads():
    """20 no-change reloads of a 2,000-file tree: RSS within 10% of what it was before."""
    if os.environ.get("CACHET_SANITIZED") == "1":
        raise Skip("sanitizer build: ASan's allocator and quarantine keep freed memory by design")
    with Site(text_tree(2000, dirs=40)) as s:
        s.reload()  # the first reload settles what start-up allocated once (arenas, caches)
        time.sleep(1.5)
        before = rss_kb(s.srv.proc.pid)
        for _ in range(20):
            s.reload()
        after = 0
        deadline = time.monotonic() + 20  # jemalloc purges freed pages over ~10 s
        while time.monotonic() < deadline:
            time.sleep(0.5)
            after = rss_kb(s.srv.proc.pid)
            if after <= before * 1.10:
                break
        assert after <= before * 1.10, "expected RSS within 10%% after 20 reloads: %d kB -> " \
            "%d kB" % (before, after)


def slow_tree(n=1500, size=8000, seed=7):
    """Text that takes seconds to compress three ways (about n * size bytes of words)."""
    rnd = random.Random(seed)
    vocab = ["%s%d" % (w, k) for w in ("alpha", "beta", "gamma", "delta", "omega")
             for k in range(400)]
    files = {}
    for i in range(n):
        files["s%02d/f%05d.js" % (i % 30, i)] = " ".join(rnd.choice(vocab)
                                                        for _ in range(size // 9))[:size]
    return files


def variants_done(srv):
    return any("cachet: variants complete" in x for x in srv.stderr_lines)


def check_answer(r, body, identity_etag, what):
    """A 200 to Accept-Encoding: gzip, before or after the variants: Vary from the first answer,
    identity under the identity ETag or gzip under its own, and the right bytes either way."""
    expect_status(r, 200, what)
    assert r.header_all("Vary") == ["Accept-Encoding"], "expected Vary on %s: %r" % (what, r)
    if r.header("Content-Encoding") == "gzip":
        assert r.header("ETag") != identity_etag, "expected the variant's own ETag: %r" % r
        got = gzip.decompress(r.body)
    else:
        assert r.header("Content-Encoding") is None, "unexpected coding: %r" % r
        assert r.header("ETag") == identity_etag, "expected the identity ETag: %r" % r
        got = r.body
    assert got == body, "expected the file's bytes for %s" % what
    return r.header("Content-Encoding") == "gzip"


@test
def answers_before_variants_validate_across_switch():
    files = slow_tree()
    site = Site(files)
    site.srv.wait_variants = False
    with site as s:
        target, body = "/s00/f00000.js", files["s00/f00000.js"].encode()
        identity = s.srv.get(target)
        expect_status(identity, 200, "identity at once")
        tag = identity.header("ETag")
        assert identity.header_all("Vary") == ["Accept-Encoding"], \
            "expected Vary from the first answer, before any variant exists: %r" % identity
        coded_before = check_answer(s.srv.get(target, [("Accept-Encoding", "gzip")]), body, tag,
                                    "the first coded request")
        assert not coded_before, "expected identity while variants are being made (the " \
            "tree takes seconds to compress); got gzip at once"
        answers, coded = 0, False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and answers < 5000:
            done = variants_done(s.srv)
            r = s.srv.get(target, [("If-None-Match", tag)])
            expect_status(r, 304, "the identity ETag validates, before and after the switch")
            coded = check_answer(s.srv.get(target, [("Accept-Encoding", "gzip")]), body, tag,
                                 "a coded request")
            answers += 1
            if done:
                break
            time.sleep(0.02)
        assert variants_done(s.srv), "expected the variants within 30 s: %r" % \
            s.srv.stderr_lines[-3:]
        assert coded, "expected gzip once the variants are complete"
        r = s.srv.get(target, [("Accept-Encoding", "gzip"), ("If-None-Match", tag)])
        expect_status(r, 200, "the identity ETag does not validate the gzip variant")


@test
def requests_during_background_compression_never_fail():
    files = slow_tree(seed=8)
    site = Site(files)
    site.srv.wait_variants = False
    errors, counts = [], [0]
    lock = threading.Lock()
    with site as s:
        paths = sorted(files)[:200]

        def client(k):
            rnd = random.Random(k)
            n = 0
            try:
                while not variants_done(s.srv) and n < 3000:
                    p = rnd.choice(paths)
                    ae = rnd.choice([None, "gzip", "br", "zstd", "br, gzip;q=0.5"])
                    r = s.srv.get("/" + p, [("Accept-Encoding", ae)] if ae else [])
                    if r.status != 200 or \
                            (r.header("Content-Encoding") is None and
                             r.body != files[p].encode()):
                        with lock:
                            errors.append("%s %s -> %d" % (p, ae, r.status))
                        return
                    n += 1
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                with lock:
                    errors.append(repr(e))
            with lock:
                counts[0] += n

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(35)
        assert not errors, "expected no failed request during compression: %r" % errors[:5]
        assert counts[0] > 0, "expected requests answered during compression"


@test
def stop_during_background_compression_is_prompt():
    """SIGTERM while the variants are being made: compression stops between two files, and the
    server exits within the harness's stop timeout with status 0."""
    site = Site(slow_tree(seed=9))
    site.srv.wait_variants = False
    with site as s:
        expect_status(s.srv.get("/s00/f00000.js"), 200, "served at once")
        assert not variants_done(s.srv), "expected compression still under way"


@test
def unchanged_entries_follow_what_the_bundle_says_on_reload():
    """An unchanged file shares its blocks across reloads only while what they say still holds:
    a manifest that appears makes an unchanged asset immutable, a preload Link and the 404 page
    stay, and all of it after the variants' generation too."""
    html = ('<!doctype html><script type="module" src="/assets/worker.js"></script>' +
            " " * 200)
    files = {"index.html": html, "assets/worker.js": "self.onmessage=null;" + "x" * 300,
             "404.html": "<h1>gone</h1>"}
    with Site(files, "--link-preload", "--error-page", "404=/404.html") as s:
        r = s.srv.get("/assets/worker.js")
        assert r.header("Cache-Control") == "no-cache", r
        tag = r.header("ETag")
        os.makedirs(s.path(".vite"))
        with open(s.path(".vite/manifest.json"), "w") as f:
            f.write('{"src/worker.ts": {"file": "assets/worker.js", "src": "src/worker.ts"}}')
        out = s.reload().stdout
        assert "0 reread" in out, "expected the unchanged files not reread: %r" % out
        r = s.srv.get("/assets/worker.js")
        assert "immutable" in (r.header("Cache-Control") or ""), \
            "expected the manifest's asset immutable after the reload, got %r" % r
        assert r.header("ETag") == tag, "expected the same ETag: %r" % r
        for _ in range(2):
            index = s.srv.get("/")
            assert index.header("Link") == "</assets/worker.js>; rel=modulepreload", \
                "expected the preload Link kept, got %r" % index
            missing = s.srv.get("/nowhere.txt")
            expect_status(missing, 404, "missing")
            assert missing.body == b"<h1>gone</h1>", "expected the error page: %r" % missing
            s.reload()


if __name__ == "__main__":
    sys.exit(main())
