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
import struct
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
# HTTP/2 (RFC 9113) with prior knowledge: H2Client speaks it correctly through Debian's python3-h2
# (the client side of h2.connection.H2Connection); RawH2 writes frames by hand, for the peers a
# correct client library refuses to be.

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# frame types (§6)
H2_DATA, H2_HEADERS, H2_PRIORITY, H2_RST_STREAM, H2_SETTINGS, H2_PUSH_PROMISE, H2_PING, \
    H2_GOAWAY, H2_WINDOW_UPDATE, H2_CONTINUATION = range(10)
# flags
H2_END_STREAM = 0x1
H2_ACK = 0x1
H2_END_HEADERS = 0x4
H2_PADDED = 0x8
H2_PRIORITY_FLAG = 0x20
# error codes (§7)
H2_ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
             "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
             "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY",
             "HTTP_1_1_REQUIRED"]
H2_NO_ERROR, H2_PROTOCOL_ERROR, H2_INTERNAL_ERROR, H2_FLOW_CONTROL_ERROR, _, H2_STREAM_CLOSED, \
    H2_FRAME_SIZE_ERROR, H2_REFUSED_STREAM, H2_CANCEL, H2_COMPRESSION_ERROR, _, \
    H2_ENHANCE_YOUR_CALM = range(12)
# settings (§6.5.2)
H2_HEADER_TABLE_SIZE, H2_ENABLE_PUSH, H2_MAX_CONCURRENT_STREAMS, H2_INITIAL_WINDOW_SIZE, \
    H2_MAX_FRAME_SIZE, H2_MAX_HEADER_LIST_SIZE = range(1, 7)
# fields that are connection-specific in HTTP/1.1 and malformed in HTTP/2 (§8.2.2)
H2_CONNECTION_FIELDS = ("connection", "keep-alive", "proxy-connection", "transfer-encoding",
                        "upgrade")


def h2_error_name(code):
    return H2_ERRORS[code] if code is not None and 0 <= code < len(H2_ERRORS) else repr(code)


def h2_modules():
    """(h2.connection, h2.config, h2.events, h2.exceptions, hpack); Debian's python3-h2 lives in
    /usr/lib/python3/dist-packages, which a python3 of another installation (pyenv) lacks."""
    try:
        import h2.connection  # noqa: F401
    except ImportError:
        for p in ("/usr/lib/python3/dist-packages", "/usr/lib/python3-dist-packages"):
            if os.path.isdir(p) and p not in sys.path:
                sys.path.append(p)
        try:
            import h2.connection  # noqa: F401
        except ImportError:
            raise Skip("python3-h2 is not installed (apt-get install python3-h2)")
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import hpack
    return h2.connection, h2.config, h2.events, h2.exceptions, hpack


def h2_frame(ftype, flags=0, sid=0, payload=b""):
    """One frame (§4.1): 24-bit length, type, flags, 31-bit stream id, payload."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid & 0x7fffffff) + payload


def h2_read_frames(s, until_stream_end=None, limit=64):
    """Frames read from socket s until END_STREAM (HEADERS or DATA) on stream until_stream_end,
    EOF or limit frames: [(type, flags, stream, payload)]. Bounded by a 5 s socket timeout."""
    buf, out = b"", []
    s.settimeout(5)
    while len(out) < limit:
        while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
            chunk = s.recv(65536)
            if not chunk:
                return out
            buf += chunk
        n = int.from_bytes(buf[:3], "big")
        f = (buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff, buf[9:9 + n])
        buf = buf[9 + n:]
        out.append(f)
        if until_stream_end is not None and f[2] == until_stream_end and f[1] & 1 and \
                f[0] in (0, 1):
            return out
    return out


def h2_settings(pairs=(), ack=False):
    return h2_frame(H2_SETTINGS, H2_ACK if ack else 0, 0,
                    b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def h2_window_update(sid, n):
    return h2_frame(H2_WINDOW_UPDATE, 0, sid, struct.pack(">I", n))


def h2_rst(sid, code=H2_CANCEL):
    return h2_frame(H2_RST_STREAM, 0, sid, struct.pack(">I", code))


def h2_ping(data=b"12345678", ack=False):
    return h2_frame(H2_PING, H2_ACK if ack else 0, 0, data)


class H2Frame:
    def __init__(self, ftype, flags, sid, payload):
        self.type, self.flags, self.sid, self.payload = ftype, flags, sid, payload

    def error_code(self):
        """GOAWAY's or RST_STREAM's error code."""
        if self.type == H2_GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        if self.type == H2_RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        return None

    def last_stream_id(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7fffffff

    def __repr__(self):
        names = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
                 "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
        t = names[self.type] if self.type < len(names) else "type%d" % self.type
        extra = ""
        if self.type == H2_GOAWAY:
            extra = " last=%d %s %r" % (self.last_stream_id(), h2_error_name(self.error_code()),
                                        self.payload[8:80])
        elif self.type == H2_RST_STREAM:
            extra = " " + h2_error_name(self.error_code())
        return "<%s flags=%#x sid=%d len=%d%s>" % (t, self.flags, self.sid, len(self.payload),
                                                  extra)


def h2_split_frames(buf):
    """Whole frames at the front of bytearray buf, removed from it: [H2Frame]."""
    out = []
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + n:
            break
        sid = int.from_bytes(buf[5:9], "big") & 0x7fffffff
        out.append(H2Frame(buf[3], buf[4], sid, bytes(buf[9:9 + n])))
        del buf[:9 + n]
    return out


class RawH2:
    """One HTTP/2 connection written frame by frame. Sends the preface and a SETTINGS frame
    (unless preface=False), acknowledges the server's SETTINGS when read (ack_settings), encodes
    header lists with one HPACK encoder per connection and decodes the server's with one decoder.
    Every read is bounded by a deadline."""

    def __init__(self, port, settings=(), preface=True, ack_settings=True, timeout=SOCK_TIMEOUT,
                 rcvbuf=None, keep_data=True):
        hp = h2_modules()[4]
        self.keep_data = keep_data  # False: DATA payloads are dropped (their length kept)
        self.reset_seen = False
        self.port = port
        self.enc = hp.Encoder()
        self.dec = hp.Decoder()
        self.ack_settings = ack_settings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = bytearray()
        self.frames = []  # every frame read, in order
        self.closed = False
        if preface:  # a server over its connection limit may have closed already
            self.try_send(H2_PREFACE + h2_settings(settings))

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """sendall that reports a connection the server has closed as False."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return False

    def block(self, headers):
        return self.enc.encode([(k.encode() if isinstance(k, str) else k,
                                 v.encode() if isinstance(v, str) else v) for k, v in headers])

    def request_headers(self, path="/", method="GET", extra=()):
        return [(":method", method), (":scheme", "http"),
                (":authority", "127.0.0.1:%d" % self.port), (":path", path)] + list(extra)

    def get(self, sid, path="/", method="GET", extra=(), end_stream=True):
        self.send(h2_frame(H2_HEADERS, H2_END_HEADERS | (H2_END_STREAM if end_stream else 0), sid,
                           self.block(self.request_headers(path, method, extra))))

    def decode(self, frame):
        return [(k.decode("latin-1") if isinstance(k, bytes) else k,
                 v.decode("latin-1") if isinstance(v, bytes) else v)
                for k, v in self.dec.decode(frame.payload)]

    def read(self, timeout=SOCK_TIMEOUT):
        """Frames that arrive within timeout, until EOF (self.closed) or the first wait longer
        than timeout; returns the new frames."""
        start = len(self.frames)
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not self._recv(left):
                break
        return self.frames[start:]

    def _recv(self, wait):
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return False
        try:
            d = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            d = b""
            self.reset_seen = True
        if not d:
            self.closed = True
            return True
        self.buf.extend(d)
        for f in h2_split_frames(self.buf):
            f.length = len(f.payload)
            if f.type == H2_DATA and not self.keep_data:
                f.payload = b""
            self.frames.append(f)
            if f.type == H2_SETTINGS and not f.flags & H2_ACK and self.ack_settings:
                self.try_send(h2_settings(ack=True))
        return True

    def wait_for(self, pred, timeout=SOCK_TIMEOUT):
        """The first frame read (from now on or already read since mark) for which pred holds,
        or None at EOF or after timeout."""
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            for f in self.frames[seen:]:
                if pred(f):
                    return f
            seen = len(self.frames)
            left = deadline - time.monotonic()
            if self.closed or left <= 0:
                return None
            self._recv(left)

    def goaway(self):
        """The last GOAWAY read so far, or None."""
        g = [f for f in self.frames if f.type == H2_GOAWAY]
        return g[-1] if g else None

    def wait_goaway_and_close(self, timeout=SOCK_TIMEOUT, drain_limit=64 << 20):
        """Read (discarding payloads beyond the frame list) until EOF; returns (GOAWAY frame or
        None, closed). A server that keeps the connection open past timeout gives closed=False."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._recv(deadline - time.monotonic())
        return self.goaway(), self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class H2Response:
    """One stream's answer as H2Client saw it."""

    def __init__(self, sid):
        self.sid = sid
        self.status = None
        self.headers = []  # (name, value) as received (names as sent, case kept), no pseudo
        self.pseudo = []
        self.informational = []
        self.body = b""
        self.trailers = None
        self.ended = False
        self.reset = None  # RST_STREAM error code

    def header(self, name):
        v = self.header_all(name)
        return v[0] if v else None

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def has(self, name):
        return bool(self.header_all(name))

    @property
    def done(self):
        return self.ended or self.reset is not None

    def __repr__(self):
        b = self.body
        return "<H2Response sid=%d %r headers=%r body[%d]=%r%s%s>" % (
            self.sid, self.status, self.headers, len(b), b[:80] + (b"..." if len(b) > 80 else b""),
            "" if self.ended else " (not ended)",
            "" if self.reset is None else " reset %s" % h2_error_name(self.reset))


class H2Client:
    """An HTTP/2 client over prior knowledge (python3-h2's H2Connection, client side).

    Header validation on input is off so that the tests, not the library, judge what the server
    sent (lowercase names, no connection-specific fields). Received DATA is acknowledged (WINDOW
    UPDATE) as it arrives unless auto_ack=False. `settings` are our SETTINGS (e.g. a 1 KiB
    INITIAL_WINDOW_SIZE); conn_window adds that much to the connection's receive window at
    start. Streams below a GOAWAY's last-stream-id keep being read (RFC 9113 §6.8): h2 4.1 would
    treat any frame after GOAWAY as an error, so frames are fed one at a time and its connection
    state machine is put back to open after a GOAWAY."""

    def __init__(self, port, settings=None, auto_ack=True, conn_window=0, timeout=SOCK_TIMEOUT,
                 rcvbuf=None, authority=None):
        h2c, h2cfg, self.ev, self.exc, _ = h2_modules()
        cfg = h2cfg.H2Configuration(client_side=True, header_encoding=None,
                                    validate_inbound_headers=False,
                                    normalize_inbound_headers=False,
                                    validate_outbound_headers=False,
                                    normalize_outbound_headers=False)
        self.conn = h2c.H2Connection(config=cfg)
        self.port = port
        self.authority = authority or "127.0.0.1:%d" % port
        self.auto_ack = auto_ack
        self.timeout = timeout
        self.streams = {}
        self.goaway = None  # (error code, last stream id, debug data)
        self.closed = False
        self.protocol_error = None  # what h2 refused in the server's bytes
        self.pings_acked = 0
        self.remote_settings = {}
        self.buf = bytearray()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(dict(settings))
        if conn_window:
            self.conn.increment_flow_control_window(conn_window)
        self.flush()

    def flush(self):
        d = self.conn.data_to_send()
        if d:
            try:
                self.sock.sendall(d)
            except (BrokenPipeError, ConnectionResetError):
                self.closed = True

    def request(self, path, headers=(), method="GET", body=None, end_stream=True, pseudo=None):
        """Opens a stream; returns its id. headers: (name, value) pairs, names lowercased.
        pseudo replaces the four request pseudo-header fields when given."""
        sid = self.conn.get_next_available_stream_id()
        ph = pseudo if pseudo is not None else [
            (":method", method), (":scheme", "http"), (":authority", self.authority),
            (":path", path)]
        hdrs = list(ph) + [(k.lower(), v) for k, v in headers]
        self.streams[sid] = H2Response(sid)
        self.conn.send_headers(sid, hdrs, end_stream=end_stream and body is None)
        self.flush()
        if body is not None:
            self.send_body(sid, body, end_stream=end_stream)
        return sid

    def send_body(self, sid, body, end_stream=True, timeout=None):
        """DATA frames for body, waiting for window as needed. Stops early when the server
        ends the stream first (an answer and RST_STREAM NO_ERROR, RFC 9113 §8.1); returns the
        number of body bytes sent."""
        deadline = time.monotonic() + (timeout or self.timeout)
        pos = 0
        r = self.streams[sid]
        while True:
            if r.reset is not None or self.closed:
                return pos
            try:
                room = min(self.conn.local_flow_control_window(sid),
                           self.conn.max_outbound_frame_size, len(body) - pos)
            except self.exc.StreamClosedError:
                return pos
            if room > 0 or pos == len(body):
                last = pos + room == len(body)
                self.conn.send_data(sid, body[pos:pos + room], end_stream=last and end_stream)
                self.flush()
                pos += room
                if last:
                    return pos
                continue
            if time.monotonic() > deadline or self.closed:
                raise AssertionError("expected flow-control window to send a %d-byte body on "
                                     "stream %d, stuck at %d bytes" % (len(body), sid, pos))
            self.pump(0.2)

    def pump(self, wait):
        """Reads once (waiting up to wait s) and feeds h2; False when nothing came."""
        if self.closed:
            return False
        r, _, _ = select.select([self.sock], [], [], max(wait, 0))
        if not r:
            return False
        try:
            d = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            d = b""
        if not d:
            self.closed = True
            return True
        self.buf.extend(d)
        while not self.protocol_error:
            if len(self.buf) < 9:
                break
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                break
            one = bytes(self.buf[:9 + n])
            del self.buf[:9 + n]
            try:
                events = self.conn.receive_data(one)
            except self.exc.ProtocolError as e:
                self.protocol_error = "%s: %s" % (type(e).__name__, e)
                break
            for e in events:
                self._event(e)
            if self.goaway is not None:
                # keep reading the streams the GOAWAY lets finish (see the class comment)
                from h2.connection import ConnectionState
                self.conn.state_machine.state = ConnectionState.CLIENT_OPEN
        self.flush()
        return True

    def _event(self, e):
        ev = self.ev
        sid = getattr(e, "stream_id", None)
        r = self.streams.get(sid)
        if r is None and sid:
            r = self.streams[sid] = H2Response(sid)
        if isinstance(e, (ev.ResponseReceived, ev.InformationalResponseReceived)):
            hdrs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in e.headers]
            pseudo = [(k, v) for k, v in hdrs if k.startswith(":")]
            plain = [(k, v) for k, v in hdrs if not k.startswith(":")]
            if isinstance(e, ev.InformationalResponseReceived):
                r.informational.append(hdrs)
            else:
                r.pseudo, r.headers = pseudo, plain
                st = [v for k, v in pseudo if k == ":status"]
                r.status = int(st[0]) if len(st) == 1 and st[0].isdigit() else st
        elif isinstance(e, ev.TrailersReceived):
            r.trailers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in e.headers]
        elif isinstance(e, ev.DataReceived):
            r.body += e.data
            if self.auto_ack and e.flow_controlled_length:
                try:
                    self.conn.acknowledge_received_data(e.flow_controlled_length, sid)
                except self.exc.StreamClosedError:
                    pass
        elif isinstance(e, ev.StreamEnded):
            r.ended = True
        elif isinstance(e, ev.StreamReset):
            r.reset = e.error_code
        elif isinstance(e, ev.ConnectionTerminated):
            self.goaway = (int(e.error_code), e.last_stream_id, e.additional_data)
        elif isinstance(e, ev.PingAckReceived):
            self.pings_acked += 1
        elif isinstance(e, ev.RemoteSettingsChanged):
            for k, v in e.changed_settings.items():
                self.remote_settings[int(k)] = v.new_value

    def wait(self, pred, timeout=None, what="the condition"):
        """pump until pred() holds; AssertionError naming `what` at EOF or after timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not pred():
            if self.protocol_error:
                raise AssertionError("waiting for %s: the server broke HTTP/2 (%s)" % (
                    what, self.protocol_error))
            if self.closed:
                raise AssertionError("waiting for %s: the server closed the connection "
                                     "(GOAWAY %r)" % (what, self.goaway))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("waiting for %s: nothing within %.1f s" % (
                    what, timeout or self.timeout))
            self.pump(left)

    def response(self, sid, timeout=None):
        r = self.streams[sid]
        self.wait(lambda: r.done, timeout, "the answer on stream %d" % sid)
        return r

    def get(self, path, headers=(), method="GET", timeout=None):
        return self.response(self.request(path, headers, method), timeout)

    def ping(self, data=b"cachet!!"):
        self.conn.ping(data)
        self.flush()

    def wait_closed(self, timeout=None):
        """True once the server closed the connection within timeout (everything read)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.closed and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        return self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False


def check_h2_fields(r, what):
    """RFC 9113 §8.2: lowercase names; §8.2.2: no connection-specific fields; §8.3.2: only
    :status as pseudo-header, once, before the others."""
    for k, _ in r.headers:
        assert k == k.lower(), "expected lowercase field names over HTTP/2 on %s, got %r (%r)" % (
            what, k, r)
        assert k not in H2_CONNECTION_FIELDS, "expected no connection-specific field over " \
            "HTTP/2 (RFC 9113 §8.2.2) on %s, got %r" % (what, k)
    names = [k for k, _ in r.pseudo]
    assert names == [":status"], "expected exactly one pseudo-header :status on %s, got %r" % (
        what, r.pseudo)


def expect_same_answer(h1, h2r, what):
    """The HTTP/2 answer h2r says what the HTTP/1.1 answer h1 says: the same status, the same
    fields (names lowercased) but for Date and the HTTP/1.1 connection fields, the same body.
    Content-Length is optional in HTTP/2 (§8.1.1); when sent it must agree."""
    check_h2_fields(h2r, what)
    assert h2r.reset is None and h2r.ended, "expected a whole answer over HTTP/2 for %s, got " \
        "%r" % (what, h2r)
    assert h2r.status == h1.status, "expected :status %d over HTTP/2 as over HTTP/1.1 for %s, " \
        "got %r\n  HTTP/1.1: %r" % (h1.status, what, h2r, h1)
    drop = {"date", "connection", "keep-alive", "transfer-encoding"}
    a = sorted((k.lower(), v) for k, v in h1.headers if k.lower() not in drop)
    b = sorted((k, v) for k, v in h2r.headers if k != "date")
    if "content-length" not in [k for k, _ in b]:
        a = [(k, v) for k, v in a if k != "content-length"]
    assert a == b, "expected the same fields over HTTP/2 as over HTTP/1.1 for %s:\n  HTTP/1.1 " \
        "%r\n  HTTP/2   %r" % (what, a, b)
    assert h2r.body == h1.body, "expected the same body over HTTP/2 as over HTTP/1.1 for %s: " \
        "%d bytes %r vs %d bytes %r" % (what, len(h2r.body), h2r.body[:80], len(h1.body),
                                        h1.body[:80])
    if h1.has("Date"):
        check_date_header(h2r, "HTTP/2 answer for " + what)


def h2_served(port, path="/", status=200, timeout=3.0, what="another connection"):
    """A new HTTP/2 connection gets `status` for GET path within timeout (a bound, not a
    timing): the server still serves others."""
    c = H2Client(port, timeout=timeout)
    try:
        r = c.get(path, timeout=timeout)
    finally:
        c.close()
    assert r.status == status and r.ended, "expected %s served (%d for %s) within %.0f s, got " \
        "%r" % (what, status, path, timeout, r)
    return r


def sanitized(pid):
    """Whether the server runs under ASan/TSan (whose quarantine makes RSS figures meaningless)."""
    with open("/proc/%d/maps" % pid) as f:
        return any("libasan" in line or "libtsan" in line for line in f)


def vm_rss_kib(pid):
    """The resident set of pid in KiB; an AssertionError when it has none (the process is gone)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


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
