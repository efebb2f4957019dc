#!/usr/bin/env python3
"""Running in production (issue 13): the access log (both formats, escaping, SIGUSR1 rotation,
nothing lost through SIGTERM), the metrics listener (exact counts across 2 workers, promtool,
/healthz through a drain), systemd notifications and socket activation, and the rolling
--replace under load."""

import json
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
from harness import (H2_PREFACE, ProtocolError, Server, ServedTree, Skip,  # noqa: E402
                     cachet_bin, connect, expect_status, h2_frame, h2_read_frames, main,
                     read_response, request, send, test)

FILES = {"index.html": "<!doctype html><p>hello</p>\n", "app.js": "console.log(1);\n" * 64,
         "a.txt": "x" * 1024}

COMBINED_RE = re.compile(
    r'^(?P<remote>\S+) - - \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" '
    r'"(?P<ua>[^"]*)"$')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def log_lines(path, n, timeout=5.0):
    """The log's lines once it holds at least n (the writer flushes at least once a second)."""
    def ready():
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return lines if len(lines) >= n else None
    return wait_for(ready, timeout, "%d log lines in %s" % (n, path))


def http_get(port, target, headers=(), method="GET"):
    s = connect(port)
    try:
        send(s, request(method, target, headers))
        return read_response(s, head_method=(method == "HEAD"))
    finally:
        s.close()


def raw_exchange(port, data):
    s = connect(port)
    try:
        send(s, data)
        return read_response(s)
    finally:
        s.close()


# --------------------------------------------------------------------------------------------
# access log

@test
def access_log_combined_every_status():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "access.log")
        with ServedTree(FILES, "--access-log", log) as t:
            port = t.srv.port
            r = http_get(port, "/a.txt", [("User-Agent", "curl/8"), ("Referer", "http://r/")])
            expect_status(r, 200)
            etag = r.header("ETag")
            expect_status(http_get(port, "/a.txt", [("If-None-Match", etag)]), 304)
            expect_status(http_get(port, "/missing"), 404)
            expect_status(http_get(port, "/a.txt", method="HEAD"), 200)
            expect_status(http_get(port, "/a.txt", method="DELETE"), 405)
            expect_status(http_get(port, "/a.txt", [("Range", "bytes=0-9")]), 206)
            expect_status(raw_exchange(port, b"GET /a.txt HTTP/1.0\r\n\r\n"), 200)
            expect_status(raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
                          400)
            lines = log_lines(log, 8)
        assert len(lines) == 8, lines
        parsed = [COMBINED_RE.match(line) for line in lines]
        assert all(parsed), lines
        got = sorted((m.group("request"), m.group("status"), m.group("bytes")) for m in parsed)
        want = [("GET /a.txt HTTP/1.1", "200", "1024"), ("GET /a.txt HTTP/1.1", "304", "0"),
                ("GET /missing HTTP/1.1", "404", None), ("HEAD /a.txt HTTP/1.1", "200", "0"),
                ("DELETE /a.txt HTTP/1.1", "405", None), ("GET /a.txt HTTP/1.1", "206", "10"),
                ("GET /a.txt HTTP/1.0", "200", "1024"), ("-", "400", None)]
        for req, status, nbytes in want:
            match = [g for g in got if g[0] == req and g[1] == status and
                     (nbytes is None or g[2] == nbytes)]
            assert match, "no line for %r %r %r in %r" % (req, status, nbytes, lines)
        first = [m for m in parsed if m.group("referer") == "http://r/"]
        assert first and first[0].group("ua") == "curl/8", lines
        assert all(m.group("remote") == "127.0.0.1" for m in parsed), lines
        # the time is now, in UTC
        now = time.strftime("%d/%b/%Y:%H", time.gmtime())
        assert any(m.group("time").startswith(now) for m in parsed), (now, lines)


@test
def access_log_escapes_no_injection():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "access.log")
        jlog = os.path.join(tmp, "access.json")
        ua = b'evil" \\ \xe9\t!'  # the parser refuses other controls (400) before the log
        req = (b"GET /a.txt?q=\"x\" HTTP/1.1\r\nHost: a\r\nUser-Agent: " + ua +
               b"\r\nReferer: -\" 200 0 \"\r\n\r\n")
        with ServedTree(FILES, "--access-log", log) as t:
            expect_status(raw_exchange(t.srv.port, req), 200)
            line = log_lines(log, 1)[0]
        with ServedTree(FILES, "--access-log", jlog, "--log-format", "json") as t:
            expect_status(raw_exchange(t.srv.port, req), 200)
            jline = log_lines(jlog, 1)[0]
        assert '"GET /a.txt?q=\\x22x\\x22 HTTP/1.1"' in line, line
        assert '"evil\\x22 \\x5C \\xE9\\x09!"' in line, line
        assert '"-\\x22 200 0 \\x22"' in line, line
        m = COMBINED_RE.match(line)
        assert m and m.group("status") == "200", line
        obj = json.loads(jline)
        assert obj["user_agent"] == 'evil" \\ \xe9\t!', obj
        assert obj["path"] == '/a.txt?q="x"', obj


@test
def access_log_json_fixed_keys():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "access.json")
        with ServedTree(FILES, "--access-log", log, "--log-format", "json") as t:
            r = http_get(t.srv.port, "/app.js", [("Accept-Encoding", "gzip"),
                                                 ("User-Agent", "ua/1")])
            expect_status(r, 200)
            expect_status(http_get(t.srv.port, "/nope"), 404)
            lines = log_lines(log, 2)
        objs = [json.loads(line) for line in lines]
        keys = ["time", "remote", "method", "path", "protocol", "status", "bytes", "referer",
                "user_agent", "encoding", "duration_us"]
        for o in objs:
            assert list(o.keys()) == keys, o
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", o["time"]), o
            assert o["remote"] == "127.0.0.1" and o["protocol"] == "HTTP/1.1", o
            assert isinstance(o["duration_us"], int), o
        js = [o for o in objs if o["path"] == "/app.js"][0]
        assert js["status"] == 200 and js["encoding"] == "gzip" and js["user_agent"] == "ua/1", js
        assert js["bytes"] == int(r.header("Content-Length")), (js, r)
        nf = [o for o in objs if o["path"] == "/nope"][0]
        assert nf["status"] == 404 and nf["encoding"] == "", nf


@test
def access_log_to_standard_output():
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "a.txt"), "w") as f:
            f.write("x" * 1024)
        p = subprocess.Popen([cachet_bin(), "--root", tmp, "--listen", "127.0.0.1:%d" % port,
                              "--threads", "2", "--pid-file", "", "--access-log", "-"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: _connectable(port), 10, "cachet to listen")
            expect_status(http_get(port, "/a.txt"), 200)
        finally:
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=10)
        assert p.returncode == 0, err
        lines = out.decode().splitlines()
        assert len(lines) == 1 and COMBINED_RE.match(lines[0]), lines
        assert '"GET /a.txt HTTP/1.1" 200 1024 ' in lines[0], lines


def _connectable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@test
def access_log_reopens_on_sigusr1():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "access.log")
        with ServedTree(FILES, "--access-log", log) as t:
            expect_status(http_get(t.srv.port, "/a.txt"), 200)
            log_lines(log, 1)
            os.rename(log, log + ".1")
            t.srv.proc.send_signal(signal.SIGUSR1)
            # the writer reopens before its next write: lines after the signal land in the new
            # file (those already handed over may still go to the old one)
            def rotated():
                expect_status(http_get(t.srv.port, "/index.html"), 200)
                return os.path.exists(log) and os.path.getsize(log) > 0
            wait_for(rotated, 5, "a new access.log after SIGUSR1")
        with open(log + ".1") as f:
            assert "GET /a.txt " in f.read()
        with open(log) as f:
            assert "GET /index.html " in f.read()


@test
def access_log_nothing_lost_through_sigterm():
    """Requests on 8 connections, then SIGTERM at once: every answered request has its line."""
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "access.log")
        t = ServedTree(FILES, "--access-log", log)
        with t:
            port = t.srv.port
            counts = [0] * 8

            def client(i):
                s = connect(port)
                for _ in range(250):
                    send(s, request("GET", "/a.txt"))
                    if read_response(s).status == 200:
                        counts[i] += 1
                s.close()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(30)
            err = t.srv.stop()  # SIGTERM right after the last answer
            assert err is None, err
        with open(log) as f:
            n = sum(1 for line in f if " 200 1024 " in line)
        assert sum(counts) == 2000 and n == 2000, (sum(counts), n)


def h2_get_block(path, user_agent):
    """GET http://localhost<path> with a User-Agent: static indexes and literals (RFC 7541)."""
    blk = bytes([0x82, 0x86, 0x04, len(path)]) + path + bytes([0x01, 9]) + b"localhost"
    return blk + bytes([0x00, 10]) + b"user-agent" + bytes([len(user_agent)]) + user_agent


@test
def access_log_and_metrics_count_http2():
    """An HTTP/2 stream is logged (protocol HTTP/2.0, its User-Agent) and counted."""
    mport = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "access.json")
        with ServedTree(FILES, "--access-log", log, "--log-format", "json",
                        "--metrics", "127.0.0.1:%d" % mport) as t:
            s = socket.create_connection(("127.0.0.1", t.srv.port))
            try:
                send(s, H2_PREFACE + h2_frame(4, 0, 0) +
                     h2_frame(1, 5, 1, h2_get_block(b"/a.txt", b"h2-client/1")))
                frames = h2_read_frames(s, 1)
                assert any(f[0] == 1 and f[2] == 1 for f in frames), frames
                # a header block in two pieces 0.3 s apart: the duration runs from its HEADERS
                blk = h2_get_block(b"/a.txt", b"h2-client/2")
                send(s, h2_frame(1, 1, 3, blk[:3]))  # END_STREAM, not END_HEADERS
                time.sleep(0.3)
                send(s, h2_frame(9, 4, 3, blk[3:]))  # CONTINUATION, END_HEADERS
                frames = h2_read_frames(s, 3)
                assert any(f[0] == 1 and f[2] == 3 for f in frames), frames
            finally:
                s.close()
            lines = [json.loads(x) for x in log_lines(log, 2)]
            obj = lines[0]
            m = series(scrape(mport).body.decode())
        slow = lines[1]
        assert slow["user_agent"] == "h2-client/2", slow
        # bounds set by the sleep and by sanity (a start of 0 would give the uptime), not a timing
        assert 250000 <= slow["duration_us"] < 60000000, slow
        assert obj["protocol"] == "HTTP/2.0" and obj["path"] == "/a.txt", obj
        assert obj["status"] == 200 and obj["bytes"] == 1024, obj
        assert obj["user_agent"] == "h2-client/1" and obj["method"] == "GET", obj
        assert m['cachet_requests_total{code="200",protocol="HTTP/2.0"}'] == 2, m


# --------------------------------------------------------------------------------------------
# metrics

def scrape(port, path="/metrics"):
    s = connect(port)
    try:
        send(s, request("GET", path))
        return read_response(s)
    finally:
        s.close()


def series(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


@test
def metrics_exact_across_workers():
    mport = free_port()
    with ServedTree(FILES, "--metrics", "127.0.0.1:%d" % mport) as t:
        n = 0
        for _ in range(60):  # new connections: the kernel spreads them over both workers
            expect_status(http_get(t.srv.port, "/a.txt"), 200)
            n += 1
        s = connect(t.srv.port)
        for _ in range(40):
            send(s, request("GET", "/nope"))
            expect_status(read_response(s), 404)
        s.close()
        r = scrape(mport)
        expect_status(r, 200)
        assert r.header("Content-Type").startswith("text/plain; version=0.0.4"), r
        m = series(r.body.decode())
        assert m['cachet_requests_total{code="200",protocol="HTTP/1.1"}'] == 60, m
        assert m['cachet_requests_total{code="404",protocol="HTTP/1.1"}'] == 40, m
        assert m["cachet_response_body_bytes_total"] >= 60 * 1024, m
        assert m["cachet_connections_accepted_total"] >= 61, m
        assert m["cachet_store_files"] == 3 and m["cachet_store_generation"] == 1, m
        assert m['cachet_build_info{version="0.1.0"}'] == 1, m
        for name in ["cachet_connections_open", "cachet_connections_rejected_total",
                     'cachet_timeouts_total{kind="header"}', 'cachet_reloads_total{result="ok"}',
                     "cachet_reload_duration_seconds", "cachet_access_log_dropped_total",
                     "cachet_store_bytes", "process_resident_memory_bytes",
                     "process_cpu_seconds_total", "process_open_fds",
                     "process_start_time_seconds"]:
            assert name in m, (name, m)
        # a rescan is counted
        t.srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: series(scrape(mport).body.decode()).get(
            'cachet_reloads_total{result="ok"}') == 1, 10, "the reload to be counted")
        expect_status(scrape(mport, "/healthz"), 200)
        expect_status(scrape(mport, "/"), 404)
        expect_status(scrape(mport, "/metrics/x"), 404)


@test
def metrics_promtool_clean():
    promtool = shutil.which("promtool")
    if not promtool:
        raise Skip("promtool not installed (Debian package prometheus)")
    mport = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        with ServedTree(FILES, "--metrics", "127.0.0.1:%d" % mport,
                        "--access-log", os.path.join(tmp, "log")) as t:
            expect_status(http_get(t.srv.port, "/a.txt"), 200)
            expect_status(http_get(t.srv.port, "/nope"), 404)
            body = scrape(mport).body
    r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                       timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r


@test
def metrics_healthz_through_a_drain():
    mport = free_port()
    with ServedTree(FILES, "--metrics", "127.0.0.1:%d" % mport) as t:
        expect_status(scrape(mport, "/healthz"), 200)
        # a half-sent request keeps the server draining (answered when complete)
        s = connect(t.srv.port)
        send(s, b"GET /a.txt HTTP/1.1\r\nHost: a\r\n")
        time.sleep(0.1)
        t.srv.proc.send_signal(signal.SIGTERM)
        r = wait_for(lambda: (lambda x: x if x.status == 503 else None)(
            scrape(mport, "/healthz")), 3, "/healthz 503 while draining")
        assert r.body == b"draining\n", r
        send(s, b"\r\n")
        resp = read_response(s)
        expect_status(resp, 200)
        assert "close" in resp.connection_tokens(), resp
        s.close()
        t.srv.proc.wait(10)
        assert t.srv.proc.returncode == 0


@test
def metrics_refuses_the_content_address():
    port = free_port()
    r = subprocess.run([cachet_bin(), "--root", ".", "--listen", "127.0.0.1:%d" % port,
                        "--metrics", "127.0.0.1:%d" % port, "--pid-file", ""],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "content address" in r.stderr, r


# --------------------------------------------------------------------------------------------
# systemd

class NotifySocket:
    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(10)

    def next(self):
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()
        self.tmp.cleanup()


@test
def notify_ready_reloading_stopping():
    ns = NotifySocket()
    os.environ["NOTIFY_SOCKET"] = ns.path
    try:
        t = ServedTree(FILES, pid_file=True)
        with t:
            m = ns.next()
            assert m.startswith("READY=1\nSTATUS=serving 3 files"), m
            t.srv.proc.send_signal(signal.SIGHUP)
            m = ns.next()
            assert re.match(r"^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=", m), m
            m = ns.next()
            assert m.startswith("READY=1\nSTATUS=serving generation 2"), m
            shutil.rmtree(t.root)  # a failed rescan says so
            t.srv.proc.send_signal(signal.SIGHUP)
            assert ns.next().startswith("RELOADING=1"), m
            m = ns.next()
            assert m.startswith("READY=1\nSTATUS=reload failed"), m
            os.mkdir(t.root)
            t.srv.proc.send_signal(signal.SIGTERM)
            m = ns.next()
            assert m.startswith("STOPPING=1"), m
    finally:
        del os.environ["NOTIFY_SOCKET"]
        ns.close()


@test
def socket_activation():
    sa = shutil.which("systemd-socket-activate")
    if not sa:
        raise Skip("systemd-socket-activate not installed")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        with open(os.path.join(root, "a.txt"), "w") as f:
            f.write("activated\n")
        # --listen names another port: the inherited socket replaces it
        p = subprocess.Popen([sa, "-l", "127.0.0.1:%d" % port, cachet_bin(), "--root", root,
                              "--listen", "127.0.0.1:1", "--threads", "2", "--pid-file", ""],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(0.3)
            bodies = set()
            for _ in range(20):  # both workers accept on the one socket
                r = http_get(port, "/a.txt")
                expect_status(r, 200)
                bodies.add(r.body)
            assert bodies == {b"activated\n"}, bodies
        finally:
            p.send_signal(signal.SIGTERM)
            err = p.communicate(timeout=10)[1].decode()
        assert p.returncode == 0, (p.returncode, err)
        assert "listening on 127.0.0.1:%d " % port in err, err


# --------------------------------------------------------------------------------------------
# --replace

class Load:
    """Clients on keep-alive connections in a loop, bounded in time; counts every failure.

    One case is not a failure, as for any HTTP client (RFC 9112 §9.3.1): a connection reused
    for keep-alive that the server closed while idle, found closed before a byte of the answer.
    The request is idempotent and is retried once on a new connection (counted in `retried`).
    Draining closes connections idle for 2 s; on a loaded machine a client thread can stall
    that long between two requests."""

    def __init__(self, port, clients=8, seconds=8.0):
        self.port = port
        self.start = time.monotonic()
        self.deadline = self.start + seconds
        self.ok = 0
        self.retried = 0
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]
        for th in self.threads:
            th.start()

    def one(self, s):
        send(s, request("GET", "/a.txt"))
        r = read_response(s)
        if r.status != 200:
            raise AssertionError("status %d" % r.status)
        return "close" in r.connection_tokens()

    def run(self):
        s = None
        ok = retried = 0
        while time.monotonic() < self.deadline:
            reused = s is not None
            try:
                if s is None:
                    s = connect(self.port)
                try:
                    closing = self.one(s)
                except ProtocolError as e:
                    if not reused or "before a response" not in str(e):
                        raise
                    s.close()
                    s = None
                    retried += 1
                    s = connect(self.port)
                    closing = self.one(s)
                ok += 1
                if closing:
                    s.close()
                    s = None
            except Exception as e:  # noqa: B902 - every failure is counted and reported
                with self.lock:
                    self.errors.append("%.2f s: %r" % (time.monotonic() - self.start, e))
                if s is not None:
                    s.close()
                s = None
        if s is not None:
            s.close()
        with self.lock:
            self.ok += ok
            self.retried += retried

    def join(self):
        for th in self.threads:
            th.join(60)


@test
def replace_rolling_under_load():
    """Two --replace restarts while 8 clients loop: no connection error, no bad status."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        with open(os.path.join(root, "a.txt"), "w") as f:
            f.write("x" * 1024)
        pid_file = os.path.join(tmp, "cachet.pid")
        args = ("--pid-file", pid_file)
        listen = "127.0.0.1:%d" % port
        first = Server(root, *args, listen=listen).start()
        servers = [first]
        try:
            load = Load(port, clients=8, seconds=7.0)
            for _ in range(2):
                time.sleep(2.0)
                old = servers[-1]
                new = Server(root, *args, "--replace", listen=listen).start()
                servers.append(new)
                old.proc.wait(10)  # it drains and exits by itself
                assert old.proc.returncode == 0, old.stderr_lines
                with open(pid_file) as f:
                    assert int(f.read()) == new.proc.pid
            load.join()
        finally:
            for s in reversed(servers):
                s.stop()
        assert not load.errors, (len(load.errors), load.errors[:5], load.ok)
        assert load.ok > 100, load.ok
        print("# %d answers, %d idle keep-alive connections closed and retried" % (
            load.ok, load.retried))


@test
def replace_without_a_server_just_starts():
    with tempfile.TemporaryDirectory() as tmp:
        pid_file = os.path.join(tmp, "none.pid")
        with Server(tmp, "--pid-file", pid_file, "--replace") as srv:
            expect_status(http_get(srv.port, "/nope"), 404)


@test
def busy_port_without_replace_is_exit_2():
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        with Server(tmp, "--pid-file", os.path.join(tmp, "a.pid"),
                    listen="127.0.0.1:%d" % port):
            r = subprocess.run([cachet_bin(), "--root", tmp, "--listen", "127.0.0.1:%d" % port,
                                "--pid-file", os.path.join(tmp, "b.pid")],
                               capture_output=True, text=True, timeout=10)
            assert r.returncode == 2, r


if __name__ == "__main__":
    main()
