"""Integration-test harness for cachet: server process control, raw HTTP helpers, a TAP runner.

Python 3 standard library only. Each tests/integration/test_<area>.py imports this module,
registers its tests with @test and calls main(). The binary is $CACHET_BIN (default build/cachet).
Only ever talks to 127.0.0.1 (and [::1] in the IPv6 test).
"""

import calendar
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SOCK_TIMEOUT = 5.0
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
TEST_TIMEOUT = 40  # seconds, per test (SIGALRM)

LISTEN_RE = re.compile(
    r"cachet: listening on (?P<host>\[[^\]]+\]|[^ :]+):(?P<port>\d+) "
    r"\((?P<threads>\d+) threads?, (?P<files>\d+) files?, (?P<bytes>\d+) bytes?\)"
)


def cachet_bin():
    b = os.environ.get("CACHET_BIN", os.path.join("build", "cachet"))
    if not os.path.isabs(b) and not os.path.exists(b):
        alt = os.path.join(REPO, b)
        if os.path.exists(alt):
            b = alt
    return os.path.abspath(b)


# ---------------------------------------------------------------------------------------------
# server process


class ServerError(AssertionError):
    pass


class Server:
    """Context manager running cachet on 127.0.0.1:0.

    Server(root, *extra_args, listen="127.0.0.1:0", threads=2, cwd=None, expect_exit=0)
    root=None leaves out --root. Exposes .port, .proc, .listen_line, .files, .bytes, .stderr_lines.
    On exit: SIGTERM, wait STOP_TIMEOUT; if it does not exit, kill it and fail; also fails when
    the exit status differs from expect_exit (None: do not check)."""

    def __init__(self, root, *extra_args, listen="127.0.0.1:0", threads=2, cwd=None,
                 expect_exit=0):
        self.root = root
        self.extra = [str(a) for a in extra_args]
        self.listen = listen
        self.threads = threads
        self.cwd = cwd
        self.expect_exit = expect_exit
        self.proc = None
        self.port = None
        self.host = None
        self.listen_line = None
        self.files = None
        self.bytes = None
        self.stderr_lines = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._reader = None
        self.returncode = None
        # cachet serves before its variants are compressed; tests see the settled state unless
        # they ask for the moment before (wait_variants = False)
        self.wait_variants = True

    def argv(self):
        args = [cachet_bin()]
        if self.root is not None:
            args += ["--root", str(self.root)]
        if self.listen is not None:
            args += ["--listen", self.listen]
        if self.threads is not None:
            args += ["--threads", str(self.threads)]
        return args + self.extra

    def _read_stderr(self):
        f = self.proc.stderr
        for raw in iter(f.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.stderr_lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def start(self):
        self._eof = False
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     cwd=self.cwd)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        with self._cond:
            while True:
                for line in self.stderr_lines:
                    m = LISTEN_RE.search(line)
                    if m:
                        self.listen_line = line
                        self.host = m.group("host").strip("[]")
                        self.port = int(m.group("port"))
                        self.files = int(m.group("files"))
                        self.bytes = int(m.group("bytes"))
                        if self._variants_settled(deadline):
                            return self
                if self._eof:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
        # failed to start
        self._terminate(record=False)
        raise ServerError("expected the line 'cachet: listening on ...' within %.0f s; argv=%r; "
                          "exit=%r; stderr=%r" % (START_TIMEOUT, self.argv(), self.returncode,
                                                 self.stderr_lines[-20:]))

    def _variants_settled(self, deadline):
        """Whether the variants announced as following (if any) are complete; waits for them
        until deadline (the condition's lock held)."""
        if not self.wait_variants or not any("follow in the background" in x
                                             for x in self.stderr_lines):
            return True
        while not any("cachet: variants " in x and "follow" not in x
                      for x in self.stderr_lines):
            left = deadline - time.monotonic()
            if left <= 0 or self._eof:
                return False
            self._cond.wait(min(left, 0.2))
        return True

    def _terminate(self, record=True):
        if self.proc is None:
            return None
        err = None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                err = "server did not exit within %.0f s of SIGTERM (killed)" % STOP_TIMEOUT
        self.returncode = self.proc.returncode
        if self._reader is not None:
            self._reader.join(2)
        if err is None and record and self.expect_exit is not None \
                and self.returncode != self.expect_exit:
            err = "expected server exit status %r after SIGTERM, got %r; stderr tail=%r" % (
                self.expect_exit, self.returncode, self.stderr_lines[-10:])
        return err

    def stop(self):
        """SIGTERM and wait; returns an error string or None."""
        return self._terminate(record=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, et, ev, tb):
        err = self._terminate(record=True)
        if err and et is None:
            raise ServerError(err)
        return False

    def connect(self, timeout=SOCK_TIMEOUT):
        return connect(self.port, timeout=timeout)

    def get(self, target, headers=(), method="GET"):
        """One request on a fresh connection; returns the Response."""
        s = self.connect()
        try:
            send(s, request(method, target, headers))
            return read_response(s, head_method=(method == "HEAD"))
        finally:
            s.close()


class ServedTree:
    """A temporary ROOT holding `files` (their mtime set when given) served by a cachet, as a
    context: on exit the server is stopped (its exit status checked) and the tree removed. With
    pid_file, the server gets a pid file of its own beside ROOT, for `cachet --reload`."""

    def __init__(self, files, *args, mtime=None, pid_file=False):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = os.path.join(self.tmp.name, "root")
        os.mkdir(self.root)
        make_tree(self.root, files)
        if mtime is not None:
            for rel in files:
                os.utime(os.path.join(self.root, rel), (mtime, mtime))
        self.pid_file = os.path.join(self.tmp.name, "cachet.pid") if pid_file else None
        extra = list(args) + (["--pid-file", self.pid_file] if pid_file else [])
        self.srv = Server(self.root, *extra)

    def __enter__(self):
        self.srv.start()
        return self

    def __exit__(self, et, ev, tb):
        try:
            err = self.srv.stop()
        finally:
            self.tmp.cleanup()
        if err and et is None:
            raise ServerError(err)
        return False


def run_cachet(args, timeout=5, cwd=None):
    """Run cachet with args to completion; returns CompletedProcess (text)."""
    return subprocess.run([cachet_bin()] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout, cwd=cwd, text=True,
                          errors="replace")


# ---------------------------------------------------------------------------------------------
# raw HTTP

_buffers = weakref.WeakKeyDictionary()


def connect(port, host="127.0.0.1", timeout=SOCK_TIMEOUT, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    _buffers[s] = bytearray()
    return s


def send(sock, data):
    if isinstance(data, str):
        data = data.encode("latin-1")
    sock.sendall(data)


def request(method, target, headers=(), version="HTTP/1.1", host="127.0.0.1", body=b""):
    """Build a request; a Host header is added for HTTP/1.1 unless host is None or headers
    already carries one. headers: list of (name, value) or of raw 'Name: value' strings."""
    lines = ["%s %s %s" % (method, target, version)]
    names = set()
    hl = []
    for h in headers:
        if isinstance(h, tuple):
            hl.append("%s: %s" % h)
            names.add(h[0].lower())
        else:
            hl.append(h)
            names.add(h.split(":", 1)[0].strip().lower())
    if host is not None and "host" not in names and version == "HTTP/1.1":
        lines.append("Host: %s" % host)
    lines += hl
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, str):
        body = body.encode("latin-1")
    return data + body


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), order and duplicates kept
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return None

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def has(self, name):
        return self.header(name) is not None

    def connection_tokens(self):
        toks = set()
        for v in self.header_all("Connection"):
            toks |= {t.strip().lower() for t in v.split(",") if t.strip()}
        return toks

    def __repr__(self):
        b = self.body
        return "<Response %s %d %s headers=%r body[%d]=%r>" % (
            self.version, self.status, self.reason, self.headers, len(b),
            b[:80] + (b"..." if len(b) > 80 else b""))


class ProtocolError(AssertionError):
    pass


def _buf(sock):
    b = _buffers.get(sock)
    if b is None:
        b = bytearray()
        _buffers[sock] = b
    return b


def _fill(sock, bufsize=65536):
    """recv once into the socket's buffer; returns the number of bytes (0 at EOF)."""
    try:
        d = sock.recv(bufsize)
    except ConnectionResetError:
        d = b""
    _buf(sock).extend(d)
    return len(d)


def _read_line(sock, limit=65536, bufsize=65536):
    buf = _buf(sock)
    while True:
        i = buf.find(b"\n")
        if i >= 0:
            line = bytes(buf[:i + 1])
            del buf[:i + 1]
            return line
        if len(buf) > limit:
            raise ProtocolError("response line over %d bytes" % limit)
        if _fill(sock, bufsize) == 0:
            if buf:
                raise ProtocolError("EOF in the middle of a line: %r" % bytes(buf[:200]))
            return b""


def _read_exact(sock, n, bufsize=65536):
    buf = _buf(sock)
    while len(buf) < n:
        if _fill(sock, bufsize) == 0:
            raise ProtocolError("EOF after %d of %d body bytes" % (len(buf), n))
    out = bytes(buf[:n])
    del buf[:n]
    return out


def read_response(sock, head_method=False, bufsize=65536):
    """Read one response: status line, headers, body (by Content-Length / chunked; none for
    HEAD, 1xx, 204 and 304). Raises ProtocolError on EOF before a status line (message says
    'connection closed') or on malformed responses; socket.timeout after SOCK_TIMEOUT."""
    line = _read_line(sock, bufsize=bufsize)
    if line == b"":
        raise ProtocolError("connection closed before a response (expected a status line)")
    raw = bytearray(line)
    m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?\r\n$", line)
    if not m:
        raise ProtocolError("bad status line %r" % line)
    version = m.group(1).decode()
    status = int(m.group(2))
    reason = (m.group(3) or b"").decode("latin-1")
    headers = []
    while True:
        line = _read_line(sock, bufsize=bufsize)
        if line == b"":
            raise ProtocolError("EOF inside the response header section: %r" % bytes(raw))
        raw += line
        if line == b"\r\n":
            break
        if not line.endswith(b"\r\n"):
            raise ProtocolError("response header line not ending in CRLF: %r" % line)
        hm = re.match(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*\r\n$", line)
        if not hm:
            raise ProtocolError("malformed response header line %r" % line)
        headers.append((hm.group(1).decode(), hm.group(2).decode("latin-1")))
    resp = Response(version, status, reason, headers, b"", bytes(raw))
    if head_method or status in (204, 304) or 100 <= status < 200:
        return resp
    te = resp.header("Transfer-Encoding")
    if te is not None and "chunked" in te.lower():
        body = bytearray()
        for _ in range(1000000):
            sz = _read_line(sock, bufsize=bufsize)
            n = int(sz.split(b";")[0].strip(), 16)
            if n == 0:
                while _read_line(sock, bufsize=bufsize) not in (b"\r\n", b""):
                    pass
                break
            body += _read_exact(sock, n, bufsize)
            _read_exact(sock, 2, bufsize)
        resp.body = bytes(body)
        return resp
    cls = resp.header_all("Content-Length")
    if cls:
        if len(set(cls)) != 1 or not cls[0].isdigit():
            raise ProtocolError("bad Content-Length in response: %r" % cls)
        resp.body = _read_exact(sock, int(cls[0]), bufsize)
        return resp
    # no framing: read until close
    resp.body = read_until_close(sock)
    return resp


def read_until_close(sock, timeout=SOCK_TIMEOUT, limit=64 << 20):
    """All bytes (buffered first) until EOF; raises socket.timeout if no EOF within timeout."""
    buf = _buf(sock)
    deadline = time.monotonic() + timeout
    while len(buf) <= limit:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no EOF within %.1f s" % timeout)
        sock.settimeout(left)
        if _fill(sock) == 0:
            break
    sock.settimeout(SOCK_TIMEOUT)
    out = bytes(buf)
    buf.clear()
    return out


def expect_closed(sock, timeout=SOCK_TIMEOUT, what=""):
    """Assert the peer closes the connection (recv -> b'' or reset) with no further bytes."""
    try:
        rest = read_until_close(sock, timeout=timeout)
    except socket.timeout:
        raise AssertionError("expected the server to close the connection%s within %.1f s, "
                             "it stayed open" % (what, timeout))
    if rest:
        raise AssertionError("expected the connection closed%s with no more bytes, got %r"
                             % (what, rest[:300]))


def is_open(sock, wait=0.3):
    """True when nothing (no EOF, no data) arrives within wait seconds."""
    if _buf(sock):
        return True
    r, _, _ = select.select([sock], [], [], wait)
    if not r:
        return True
    try:
        d = sock.recv(65536, socket.MSG_PEEK)
    except (ConnectionResetError, BrokenPipeError):
        return False
    return len(d) > 0


# ---------------------------------------------------------------------------------------------
# dates

IMF_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                    r"Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
LONG_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def imf_fixdate(ts):
    t = time.gmtime(int(ts))
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (DAYS[t.tm_wday], t.tm_mday,
                                                    MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour,
                                                    t.tm_min, t.tm_sec)


def rfc850_date(ts):
    t = time.gmtime(int(ts))
    return "%s, %02d-%s-%02d %02d:%02d:%02d GMT" % (LONG_DAYS[t.tm_wday], t.tm_mday,
                                                    MONTHS[t.tm_mon - 1], t.tm_year % 100,
                                                    t.tm_hour, t.tm_min, t.tm_sec)


def asctime_date(ts):
    t = time.gmtime(int(ts))
    return "%s %s %2d %02d:%02d:%02d %04d" % (DAYS[t.tm_wday], MONTHS[t.tm_mon - 1], t.tm_mday,
                                              t.tm_hour, t.tm_min, t.tm_sec, t.tm_year)


def parse_imf_fixdate(s):
    """Seconds since the epoch for a strict IMF-fixdate, else None (weekday checked)."""
    m = IMF_RE.match(s or "")
    if not m:
        return None
    day, mon, year = int(m.group(2)), MONTHS.index(m.group(3)) + 1, int(m.group(4))
    hh, mm, ss = int(m.group(5)), int(m.group(6)), int(m.group(7))
    try:
        ts = calendar.timegm((year, mon, day, hh, mm, ss, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    t = time.gmtime(ts)
    if (t.tm_mday, t.tm_mon, t.tm_year, t.tm_hour, t.tm_min, t.tm_sec) != (day, mon, year, hh,
                                                                           mm, ss):
        return None
    if DAYS[t.tm_wday] != m.group(1):
        return None
    return ts


def check_date_header(resp, what="response", slack=2.0):
    d = resp.header_all("Date")
    assert len(d) == 1, "expected exactly one Date header on the %s, got %r (%r)" % (
        what, d, resp)
    ts = parse_imf_fixdate(d[0])
    assert ts is not None, "expected Date to be an IMF-fixdate on the %s, got %r" % (what, d[0])
    now = time.time()
    assert abs(ts - now) <= slack + 1, (
        "expected Date within %.0f s of the local clock on the %s, got %r (now %s)"
        % (slack, what, d[0], imf_fixdate(now)))


# ---------------------------------------------------------------------------------------------
# files


def make_tree(root, files):
    """files: {relative path: bytes|str}; creates parents."""
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        with open(p, "wb") as f:
            f.write(data)


# ---------------------------------------------------------------------------------------------
# assertions


def expect_status(resp, status, what=""):
    ok = resp.status in status if isinstance(status, (tuple, list, set)) else resp.status == status
    assert ok, "expected status %r%s, got %r" % (status, (" for " + what) if what else "", resp)


# ---------------------------------------------------------------------------------------------
# TAP runner

_tests = []


def test(fn=None, *, skip_if=None):
    """Register a test function. It may raise Skip('reason') to be reported as skipped."""
    def deco(f):
        _tests.append(f)
        return f
    if fn is not None:
        return deco(fn)
    return deco


class Skip(Exception):
    pass


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout("test ran over %d s" % TEST_TIMEOUT)


def main():
    only = set(sys.argv[1:])
    tests = [t for t in _tests if not only or t.__name__ in only]
    out = sys.stdout
    print("1..%d" % len(tests), file=out, flush=True)
    if not os.path.exists(cachet_bin()):
        for i, t in enumerate(tests, 1):
            print("not ok %d - %s" % (i, t.__name__), file=out)
            print("# binary %s not found (set CACHET_BIN)" % cachet_bin(), file=out)
        out.flush()
        sys.exit(1)
    failed = 0
    signal.signal(signal.SIGALRM, _alarm)
    for i, t in enumerate(tests, 1):
        t0 = time.monotonic()
        signal.alarm(TEST_TIMEOUT)
        try:
            t()
            signal.alarm(0)
            print("ok %d - %s" % (i, t.__name__), file=out)
            print("# %s took %.2f s" % (t.__name__, time.monotonic() - t0), file=out)
        except Skip as e:
            signal.alarm(0)
            print("ok %d - %s # SKIP %s" % (i, t.__name__, e), file=out)
        except BaseException as e:  # noqa: B902 - report everything, KeyboardInterrupt too
            signal.alarm(0)
            if isinstance(e, KeyboardInterrupt):
                raise
            failed += 1
            print("not ok %d - %s" % (i, t.__name__), file=out)
            for line in traceback.format_exc().rstrip().splitlines():
                print("# " + line, file=out)
        out.flush()
    sys.exit(1 if failed else 0)
