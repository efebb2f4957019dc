#!/usr/bin/env python3
"""Reload: `cachet --reload`, SIGHUP and --watch rescan ROOT and swap content in, no request lost."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ServedTree, Skip, connect, expect_status, main,  # noqa: E402
                     read_response, request, run_cachet, sanitized, send, test, vm_rss_kib)


class Site(ServedTree):
    """A temporary root and a server with a pid file of its own."""

    def __init__(self, files, *args):
        super().__init__(files, *args, pid_file=True)

    def reload(self, expect=0):
        r = run_cachet(["--reload", "--pid-file", self.pid_file], timeout=30)
        assert r.returncode == expect, "expected cachet --reload to exit %d, got %d: %r %r" % (
            expect, r.returncode, r.stdout, r.stderr)
        return r

    def etag(self, path):
        r = self.srv.get(path)
        expect_status(r, 200, "GET " + path)
        return r.header("ETag")

    def write(self, rel, data):
        with open(os.path.join(self.root, rel), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


@test
def reload_swaps_changed_added_removed():
    with Site({"keep.txt": "same", "change.txt": "old", "gone.txt": "bye"}) as s:
        keep, old = s.etag("/keep.txt"), s.etag("/change.txt")
        s.write("change.txt", "new content")
        s.write("added.txt", "hello")
        os.unlink(os.path.join(s.root, "gone.txt"))
        out = s.reload().stdout
        assert "generation 2" in out, "expected generation 2 in %r" % out
        assert "1 added, 1 changed, 1 removed" in out, "expected the diff counts in %r" % out
        r = s.srv.get("/change.txt")
        expect_status(r, 200, "changed file")
        assert r.body == b"new content", "expected the new bytes, got %r" % r.body
        assert r.header("ETag") != old, "expected a new ETag for changed bytes"
        r = s.srv.get("/change.txt", [("If-None-Match", old)])
        expect_status(r, 200, "the old ETag must no longer validate")
        assert s.etag("/keep.txt") == keep, "expected the unchanged file to keep its ETag"
        expect_status(s.srv.get("/added.txt"), 200, "added file")
        expect_status(s.srv.get("/gone.txt"), 404, "deleted file")
        assert any("reload: generation 2" in line for line in s.srv.stderr_lines), \
            "expected one log line per reload, got %r" % s.srv.stderr_lines[-5:]


@test
def plain_sighup_rescans():
    with Site({"a.txt": "one"}) as s:
        s.write("a.txt", "two")
        os.kill(s.srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        body = None
        while time.monotonic() < deadline:
            body = s.srv.get("/a.txt").body
            if body == b"two":
                break
            time.sleep(0.05)
        assert body == b"two", "expected the new content after SIGHUP, got %r" % body


@test
def keepalive_connection_survives_reload():
    with Site({"a.txt": "one"}) as s:
        c = s.srv.connect()
        try:
            send(c, request("GET", "/a.txt"))
            assert read_response(c).body == b"one"
            s.write("a.txt", "two")
            s.reload()
            send(c, request("GET", "/a.txt"))
            r = read_response(c)
            assert r.body == b"two", "expected the same connection to see new content, got %r" \
                % r.body
        finally:
            c.close()


@test
def multipart_answer_survives_reload():
    """A multipart 206 sent slowly across two reloads that replace its file: every part comes
    from the content the answer started with (the answer pins its generation), and the next
    request sees the new content."""
    # 15 MB of parts: more than a socket's send buffer takes, so sends are still in flight
    old, new = os.urandom(16 << 20), os.urandom(16 << 20)
    spec = "bytes=0-4999999,6000000-13999999,-2000000"
    parts = [old[0:5000000], old[6000000:14000000], old[-2000000:]]
    with Site({"big.bin": old}) as s:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.settimeout(10)
        c.connect(("127.0.0.1", s.srv.port))
        try:
            c.sendall(request("GET", "/big.bin", [("Range", spec)]))
            got = bytearray(c.recv(4096))
            assert got.startswith(b"HTTP/1.1 206"), "expected a 206, got %r" % bytes(got[:40])
            s.write("big.bin", new)
            s.reload()
            s.write("big.bin", old[:10] + new[10:])
            s.reload()
            head_end = -1
            t0 = time.monotonic()
            while True:
                assert time.monotonic() - t0 < 20, "expected the multipart body within 20 s"
                if head_end < 0 and b"\r\n\r\n" in got:
                    head_end = got.index(b"\r\n\r\n") + 4
                    length = int(re.search(rb"Content-Length: (\d+)", got).group(1))
                if head_end >= 0 and len(got) >= head_end + length:
                    break
                chunk = c.recv(65536)
                assert chunk, "expected the rest of the multipart body, EOF at %d" % len(got)
                got += chunk
            body = bytes(got[head_end:head_end + length])
            for i, part in enumerate(parts):
                assert part in body, "expected part %d from the content before the reloads" % i
            assert new[0:1000] not in body, "expected no byte of the new content in the answer"
            c.sendall(request("GET", "/big.bin", [("Range", "bytes=5-9,20-29")]))
            r = read_response(c)
            expect_status(r, 206, "multipart after the reloads")
            assert old[5:10] in r.body and new[20:30] in r.body, \
                "expected the new content on the next request"
        finally:
            c.close()


@test
def failed_rescan_keeps_serving_then_recovers():
    with Site({"a.txt": "x" * 1000}, "--max-memory", "4K") as s:
        etag = s.etag("/a.txt")
        s.write("big.bin", b"y" * 8192)
        r = s.reload(expect=1)
        assert "max-memory" in r.stderr, "expected the reason in %r" % r.stderr
        assert s.etag("/a.txt") == etag, "expected the old generation to keep serving"
        expect_status(s.srv.get("/big.bin"), 404, "content of a failed rescan")
        os.unlink(os.path.join(s.root, "big.bin"))
        s.write("c.txt", "c")
        s.reload()
        expect_status(s.srv.get("/c.txt"), 200, "after recovery")
        # ROOT gone: fails, keeps serving
        moved = s.root + ".away"
        os.rename(s.root, moved)
        try:
            s.reload(expect=1)
            expect_status(s.srv.get("/a.txt"), 200, "while ROOT is missing")
        finally:
            os.rename(moved, s.root)
        s.reload()


@test
def reload_without_server_exits_2():
    with tempfile.TemporaryDirectory() as d:
        pid_file = os.path.join(d, "none.pid")
        r = run_cachet(["--reload", "--pid-file", pid_file])
        assert r.returncode == 2, "expected 2 with no pid file, got %d %r" % (r.returncode,
                                                                               r.stderr)
        p = subprocess.Popen(["true"])
        p.wait()
        with open(pid_file, "w") as f:
            f.write("%d\n" % p.pid)  # a pid that has exited: stale
        r = run_cachet(["--reload", "--pid-file", pid_file])
        assert r.returncode == 2, "expected 2 with a stale pid file, got %d %r" % (r.returncode,
                                                                                   r.stderr)


@test
def hundred_reloads_keep_memory_flat():
    files = {"f%02d.bin" % i: os.urandom(64 * 1024) for i in range(32)}  # 2 MiB of content
    content_kib = sum(len(v) for v in files.values()) // 1024
    with Site(files) as s:
        if sanitized(s.srv.proc.pid):
            # ASan's quarantine keeps freed memory resident on purpose; there, LeakSanitizer at
            # exit (the harness requires exit status 0) is what proves nothing leaks.
            raise Skip("RSS is not meaningful under AddressSanitizer")
        for _ in range(10):  # warm up allocator caches
            s.reload()
        before = vm_rss_kib(s.srv.proc.pid)
        for i in range(100):
            os.kill(s.srv.proc.pid, signal.SIGHUP)
            if i % 10 == 9:
                s.reload()  # also waits for the rescans before it to finish
        after = vm_rss_kib(s.srv.proc.pid)
        assert after - before <= content_kib, \
            "expected RSS flat within the content size (%d KiB): %d -> %d KiB" % (
                content_kib, before, after)


@test
def no_request_lost_under_reloads():
    """Validating clients on keep-alive connections while reloads run every 100 ms."""
    files = {"a.js": "x" * 2000, "b.css": "y" * 20000, "c.bin": os.urandom(300000)}
    with Site(files) as s:
        tags = {p: s.etag("/" + p) for p in files}
        stop = time.monotonic() + 3.0
        errors, counts = [], [0]
        lock = threading.Lock()

        def client(paths):
            try:
                c = connect(s.srv.port)
                n = 0
                while time.monotonic() < stop and n < 200000:
                    p = paths[n % len(paths)]
                    conditional = n % 2 == 0
                    hdrs = [("If-None-Match", tags[p])] if conditional else []
                    send(c, request("GET", "/" + p, hdrs))
                    r = read_response(c)
                    want = 304 if conditional else 200
                    if r.status != want or (want == 200 and len(r.body) != len(files[p])):
                        with lock:
                            errors.append("%s %s -> %d" % (p, conditional, r.status))
                        return
                    n += 1
                c.close()
                with lock:
                    counts[0] += n
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                with lock:
                    errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(list(files),)) for _ in range(8)]
        for t in threads:
            t.start()
        reloads = 0
        while time.monotonic() < stop and reloads < 100:
            s.write("touched.txt", str(reloads))  # a real change: a new generation each time
            os.kill(s.srv.proc.pid, signal.SIGHUP)
            reloads += 1
            time.sleep(0.1)
        for t in threads:
            t.join(10)
        assert not errors, "expected no failed request during %d reloads: %r" % (reloads,
                                                                                  errors[:5])
        assert counts[0] > 100, "expected the clients to make progress, got %d" % counts[0]


@test
def wrk_validating_through_reloads():
    """wrk revalidates (If-None-Match -> 304) for 4 s while a reload runs every 200 ms."""
    wrk = shutil.which("wrk")
    if not wrk:
        raise Skip("wrk is not installed (tools/dev installs it)")
    lua = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "etag.lua")
    with Site({"app.js": "x" * 5000}) as s:
        etag = s.etag("/app.js")
        p = subprocess.Popen([wrk, "-t1", "-c16", "-d4s", "-s", lua,
                              "http://127.0.0.1:%d/app.js" % s.srv.port, "--", etag],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        reloads = 0
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline and reloads < 40:
            s.write("touched.txt", str(reloads))  # a real change: a new generation each time
            os.kill(s.srv.proc.pid, signal.SIGHUP)
            reloads += 1
            time.sleep(0.2)
        out, _ = p.communicate(timeout=20)
        assert p.returncode == 0, "wrk failed: %r" % out
        assert "Socket errors" not in out, "expected no socket errors during reloads: %r" % out
        assert "Non-2xx or 3xx" not in out, "expected only 304s during reloads: %r" % out
        assert "requests in" in out and reloads >= 10, "expected wrk to run: %r" % out


@test
def watch_rescans_on_change():
    with Site({"w.txt": "before"}, "--watch", "--watch-debounce", "100") as s:
        s.write("w.txt", "after")
        os.makedirs(os.path.join(s.root, "newdir"))
        deadline = time.monotonic() + 10
        body = None
        while time.monotonic() < deadline:
            body = s.srv.get("/w.txt").body
            if body == b"after":
                break
            time.sleep(0.05)
        assert body == b"after", "expected --watch to pick up the change, got %r" % body
        time.sleep(0.3)  # the new directory is watched after the rescan it triggered
        s.write("newdir/n.txt", "nested")
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            status = s.srv.get("/newdir/n.txt").status
            if status == 200:
                break
            time.sleep(0.05)
        assert status == 200, "expected a file in a new directory to appear, got %r" % status


if __name__ == "__main__":
    sys.exit(main())
