#!/usr/bin/env python3
"""Resource limits: header / keep-alive / send timeouts, --max-connections, idle memory per
connection, --user privilege drop, graceful shutdown under load."""

import os
import pwd
import re
import resource
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Server, Skip, expect_status, main, make_tree,  # noqa: E402
                     read_response, request, run_cachet, send, test, vm_rss_kib)

KiB = 1 << 10
MiB = 1 << 20


def site(d, extra=None):
    files = {"index.html": "<h1>hello</h1>\n", "small.txt": "small\n"}
    files.update(extra or {})
    make_tree(d, files)


def drain(sock, timeout):
    """Bytes until EOF/reset or timeout; returns (data, closed, seconds)."""
    out = bytearray()
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(out), False, time.monotonic() - t0
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            d = sock.recv(262144)
        except (ConnectionResetError, BrokenPipeError):
            return bytes(out), True, time.monotonic() - t0
        if not d:
            return bytes(out), True, time.monotonic() - t0
        out += d


def timed_get(srv, target="/small.txt"):
    t0 = time.monotonic()
    r = srv.get(target)
    return r, time.monotonic() - t0


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def closed_or_408(data, what):
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), \
        "expected a bare close or a 408 %s, got %r" % (what, data[:300])
    if data:
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        assert b"connection: close" in head, \
            "expected the 408 %s to say Connection: close, got %r" % (what, data[:300])


# ---------------------------------------------------------------------------------------------
# options


@test
def help_lists_limit_options():
    r = run_cachet(["--help"])
    assert r.returncode == 0, "expected --help to exit 0, got %r" % r.returncode
    for opt, default in (("--header-timeout", "10"), ("--keepalive-timeout", "30"),
                         ("--send-timeout", "30"), ("--user", None),
                         ("--max-connections", "65536")):
        out = r.stdout.splitlines()
        idx = [i for i, ln in enumerate(out) if re.match(r"^\s*(-\w, )?%s\b" % opt, ln)]
        assert idx, "expected --help to list %s, got %r" % (opt, r.stdout)
        # the option's line and its continuation lines (those not starting with a dash)
        text = out[idx[0]]
        for ln in out[idx[0] + 1:]:
            if ln.lstrip().startswith("-") or not ln.strip():
                break
            text += " " + ln.strip()
        if default:
            assert re.search(r"\(default %s\)" % default, text), \
                "expected --help to give %s's default %s, got %r" % (opt, default, text)


@test
def bad_limit_values_exit_2():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        for args in (["--header-timeout", "0"], ["--header-timeout", "abc"],
                     ["--keepalive-timeout", "-1"], ["--send-timeout", ""],
                     ["--send-timeout", "99999999999999999999"],
                     ["--user", "no-such-user-cachet-xyz"]):
            r = run_cachet(["--root", d, "--listen", "127.0.0.1:0", "--pid-file", ""] + args)
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            assert r.returncode == 2, "expected exit status 2 for %r, got %r (stderr %r)" % (
                args, r.returncode, r.stderr)
            assert len(lines) == 1 and args[0] in lines[0], \
                "expected one stderr line naming %s for %r, got %r" % (args[0], args, lines)


# ---------------------------------------------------------------------------------------------
# header timeout


@test
def header_timeout_closes_incomplete_head():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d, "--header-timeout", "1") as srv:
            s = srv.connect()
            send(s, b"GET / HTTP/1.1\r\n")
            data, closed, dt = drain(s, 4.0)
            s.close()
            assert closed, "expected the server to close a connection with an incomplete head " \
                "within 4 s under --header-timeout 1, it stayed open (got %r)" % data[:200]
            assert 0.7 <= dt <= 3.2, "expected the close after about 1 s (0.7-3.2 s), took " \
                "%.2f s" % dt
            closed_or_408(data, "to an incomplete head")
            # a connection that sends nothing at all is also closed
            s = srv.connect()
            data, closed, dt = drain(s, 4.0)
            s.close()
            assert closed and dt <= 3.2, "expected a silent connection closed within 3.2 s " \
                "under --header-timeout 1 (closed=%r after %.2f s)" % (closed, dt)
            closed_or_408(data, "to a silent connection")
            r, dt = timed_get(srv)
            expect_status(r, 200, "GET after header timeouts")


@test
def slowloris_does_not_block_and_is_closed():
    timeout = 2
    n = 20
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d, "--header-timeout", str(timeout), threads=1) as srv:
            head = b"GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
            socks = []
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
                s.setblocking(False)
                socks.append(s)
            start = time.monotonic()
            pos = [0] * n
            closed_at = [None] * n
            got = [bytearray() for _ in range(n)]
            worst = 0.0
            gets = 0
            next_tick = start
            while time.monotonic() < start + timeout + 3 and any(c is None for c in closed_at):
                now = time.monotonic()
                if now >= next_tick:
                    next_tick += 0.3
                    for i, s in enumerate(socks):
                        if closed_at[i] is None and pos[i] < len(head):
                            try:
                                s.send(head[pos[i]:pos[i] + 1])
                                pos[i] += 1
                            except BlockingIOError:
                                pass
                            except OSError:
                                closed_at[i] = now - start
                    if gets < 8:  # a normal client meanwhile
                        r, dt = timed_get(srv)
                        expect_status(r, 200, "GET beside %d slowloris connections" % n)
                        worst = max(worst, dt)
                        gets += 1
                open_socks = [s for i, s in enumerate(socks) if closed_at[i] is None]
                r, _, _ = select.select(open_socks, [], [], 0.05)
                for s in r:
                    i = socks.index(s)
                    try:
                        dd = s.recv(4096)
                    except (ConnectionResetError, BrokenPipeError):
                        dd = b""
                    except BlockingIOError:
                        continue
                    if dd:
                        got[i] += dd
                    else:
                        closed_at[i] = time.monotonic() - start
            for s in socks:
                s.close()
            still = [i for i, c in enumerate(closed_at) if c is None]
            assert not still, "expected every slowloris connection (one byte per 0.3 s) " \
                "closed within --header-timeout %d + 2 s, %d of %d stayed open" % (
                    timeout, len(still), n)
            late = max(closed_at)
            assert late <= timeout + 2, "expected every slowloris connection closed within " \
                "%d s, the last took %.2f s" % (timeout + 2, late)
            early = min(closed_at)
            assert early >= timeout - 0.6, "expected no slowloris connection closed long " \
                "before %d s, one closed after %.2f s" % (timeout, early)
            for i in range(n):
                closed_or_408(bytes(got[i]), "to a slowloris connection")
            assert gets >= 5 and worst < 0.5, "expected normal GETs beside the slowloris " \
                "served under 0.5 s each, worst %.3f s over %d" % (worst, gets)
            r, _ = timed_get(srv)
            expect_status(r, 200, "GET after the slowloris")


# ---------------------------------------------------------------------------------------------
# keep-alive timeout


@test
def keepalive_timeout_closes_idle_connection():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d, "--keepalive-timeout", "1") as srv:
            s = srv.connect()
            send(s, request("GET", "/small.txt"))
            r = read_response(s)
            expect_status(r, 200, "GET /small.txt")
            assert "close" not in r.connection_tokens(), "expected a keep-alive response"
            data, closed, dt = drain(s, 4.0)
            s.close()
            assert closed, "expected an idle keep-alive connection closed within 4 s under " \
                "--keepalive-timeout 1, it stayed open (got %r)" % data[:200]
            assert 0.6 <= dt <= 3.2, "expected the idle close after about 1 s (0.6-3.2 s), " \
                "took %.2f s" % dt
            closed_or_408(data, "to an idle keep-alive connection")
            # a connection that keeps making requests more often than the timeout stays open
            s = srv.connect()
            for i in range(5):
                send(s, request("GET", "/small.txt"))
                expect_status(read_response(s), 200, "keep-alive GET %d every 0.5 s" % i)
                time.sleep(0.5)
            send(s, request("GET", "/small.txt"))
            expect_status(read_response(s), 200, "keep-alive GET after 2.5 s of activity")
            s.close()


# ---------------------------------------------------------------------------------------------
# send timeout


@test
def send_timeout_closes_stalled_reader():
    big = 32 * MiB
    with tempfile.TemporaryDirectory() as d:
        site(d, {"huge.bin": os.urandom(big)})
        with Server(d, "--send-timeout", "1") as srv:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(5)
            s.connect(("127.0.0.1", srv.port))
            send(s, request("GET", "/huge.bin"))
            # meanwhile another client is served normally
            t_end = time.monotonic() + 4.0
            worst = 0.0
            k = 0
            while time.monotonic() < t_end and k < 2000:
                r, dt = timed_get(srv)
                expect_status(r, 200, "GET beside a stalled 32 MiB reader")
                worst = max(worst, dt)
                k += 1
                time.sleep(0.05)
            assert worst < 0.5, "expected GETs beside a stalled reader under 0.5 s, worst " \
                "%.3f s" % worst
            data, closed, dt = drain(s, 5.0)
            s.close()
            assert closed, "expected the server to give up on a reader stalled for 4 s under " \
                "--send-timeout 1: no EOF/reset within 5 s more of reading (%d bytes read)" \
                % len(data)
            assert len(data) < big, "expected the stalled reader cut off before the full " \
                "32 MiB body, got %d bytes" % len(data)
            assert data.startswith(b"HTTP/1.1 200"), "expected the response to have started " \
                "(200), got %r" % data[:100]


# ---------------------------------------------------------------------------------------------
# max connections


def keepalive_get(s, what):
    send(s, request("GET", "/small.txt"))
    r = read_response(s)
    expect_status(r, 200, what)
    assert "close" not in r.connection_tokens(), "expected keep-alive for %s, got %r" % (what, r)


def refused_cleanly(s, what):
    """The over-limit connection: closed without a response, or a 503."""
    try:
        send(s, request("GET", "/small.txt"))
    except (BrokenPipeError, ConnectionResetError):
        return
    data, closed, _ = drain(s, 2.0)
    assert closed, "expected %s closed by the server within 2 s, it stayed open (got %r)" % (
        what, data[:200])
    assert data == b"" or data.startswith(b"HTTP/1.1 503"), \
        "expected %s closed without a response or with a 503, got %r" % (what, data[:300])


@test
def max_connections_refuses_extra_and_recovers():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d, "--max-connections", "4", threads=1) as srv:
            conns = [srv.connect() for _ in range(4)]
            for i, s in enumerate(conns):
                keepalive_get(s, "GET on connection %d of 4" % (i + 1))
            extra = srv.connect()
            refused_cleanly(extra, "a 5th connection over --max-connections 4")
            extra.close()
            for i, s in enumerate(conns):
                keepalive_get(s, "second GET on connection %d of 4 after a refused 5th"
                              % (i + 1))
            conns[0].close()
            conns[1].close()
            deadline = time.monotonic() + 2.0
            ok = 0
            last = None
            while time.monotonic() < deadline and ok < 2:
                s = srv.connect()
                try:
                    send(s, request("GET", "/small.txt", [("Connection", "close")]))
                    r = read_response(s)
                    expect_status(r, 200, "GET once two connections closed")
                    ok += 1
                except (AssertionError, OSError) as e:
                    last = e
                    time.sleep(0.05)
                finally:
                    s.close()
            assert ok >= 1, "expected new connections served within 2 s after closing 2 of " \
                "4, last error %r" % last
            # two held + two new held keep-alive fit again
            more = [srv.connect() for _ in range(2)]
            try:
                for i, s in enumerate(more):
                    deadline = time.monotonic() + 2.0
                    keepalive_get(s, "GET on a new connection %d after two closed" % (i + 1))
            finally:
                for s in more + conns[2:]:
                    s.close()


# ---------------------------------------------------------------------------------------------
# memory


@test
def idle_connection_memory_under_4k():
    n = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 200
    if hard != resource.RLIM_INFINITY and hard < 4096:
        raise Skip("RLIMIT_NOFILE hard limit %d < 4096" % hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want * 2, hard) if
                                                    hard != resource.RLIM_INFINITY else want * 2,
                                                    hard))
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d) as srv:
            pid = srv.proc.pid
            nofile = None
            with open("/proc/%d/limits" % pid) as f:
                for line in f:
                    if line.startswith("Max open files"):
                        nofile = int(line.split()[3])
            if nofile is not None and nofile < n + 64:
                raise Skip("server's RLIMIT_NOFILE %d < %d" % (nofile, n + 64))
            expect_status(srv.get("/small.txt"), 200, "warm-up GET")
            # a first batch warms allocators and rings, then measure a clean batch
            warm = [srv.connect() for _ in range(200)]
            for s in warm:
                s.close()
            time.sleep(0.5)
            fd0 = fd_count(pid)
            rss0 = vm_rss_kib(pid)
            socks = []
            try:
                for _ in range(n):
                    socks.append(srv.connect())
                deadline = time.monotonic() + 5
                while fd_count(pid) < fd0 + n and time.monotonic() < deadline:
                    time.sleep(0.05)
                fds = fd_count(pid)
                assert fds >= fd0 + n, "expected the server to accept all %d connections " \
                    "within 5 s (descriptors %d -> %d)" % (n, fd0, fds)
                time.sleep(0.3)
                rss1 = vm_rss_kib(pid)
                r, dt = timed_get(srv)
                expect_status(r, 200, "GET beside %d idle connections" % n)
            finally:
                for s in socks:
                    s.close()
            per = (rss1 - rss0) * 1024.0 / n
            print("# idle connections: VmRSS %d KiB -> %d KiB, %.0f bytes per connection"
                  % (rss0, rss1, per))
            assert per < 4096, "expected under 4 KiB of server RSS per idle connection, got " \
                "%.0f bytes (VmRSS %d KiB -> %d KiB for %d connections)" % (per, rss0, rss1, n)


# ---------------------------------------------------------------------------------------------
# --user


def world_readable_tree(top):
    os.chmod(top, 0o755)
    root = os.path.join(top, "root")
    os.makedirs(root)
    site(root)
    for dp, dns, fns in os.walk(root):
        os.chmod(dp, 0o755)
        for fn in fns:
            os.chmod(os.path.join(dp, fn), 0o644)
    return root


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


@test
def user_drops_privileges():
    if os.geteuid() != 0:
        raise Skip("needs root (--user drops privileges)")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user 'nobody'")
    uid, gid = nobody.pw_uid, nobody.pw_gid
    with tempfile.TemporaryDirectory() as top:
        root = world_readable_tree(top)
        with Server(root, "--user", "nobody", "--pid-file", "") as srv:
            st = proc_status(srv.proc.pid)
            uids = st["Uid"].split()
            gids = st["Gid"].split()
            assert uids == [str(uid)] * 4, "expected Uid: %d (real, effective, saved, fs), " \
                "got %r" % (uid, st["Uid"])
            assert gids == [str(gid)] * 4, "expected Gid: %d (all four), got %r" % (
                gid, st["Gid"])
            groups = st.get("Groups", "").split()
            assert groups in ([], [str(gid)]), "expected no supplementary groups (or only " \
                "%d), got %r" % (gid, st.get("Groups"))
            for tid in os.listdir("/proc/%d/task" % srv.proc.pid):
                tst = proc_status_task(srv.proc.pid, tid)
                assert tst["Uid"].split() == [str(uid)] * 4, \
                    "expected thread %s to run as %d too, got %r" % (tid, uid, tst["Uid"])
            expect_status(srv.get("/small.txt"), 200, "GET /small.txt as nobody")
            assert not [ln for ln in srv.stderr_lines if "root" in ln.lower()], \
                "expected no root warning with --user, got %r" % srv.stderr_lines

            # a rescan as nobody of a world-readable new file works
            p = os.path.join(root, "new.txt")
            with open(p, "w") as f:
                f.write("new\n")
            os.chmod(p, 0o644)
            srv.proc.send_signal(signal.SIGHUP)
            r = wait_for(lambda: srv.get("/new.txt").status == 200 and srv.get("/new.txt"), 5)
            assert r and r.status == 200 and r.body == b"new\n", \
                "expected /new.txt served within 5 s of SIGHUP, got %r" % (r,)

            # a root-only file: the rescan as nobody fails, the old content keeps serving
            q = os.path.join(root, "private.txt")
            with open(q, "w") as f:
                f.write("private\n")
            os.chmod(q, 0o600)
            n0 = len(srv.stderr_lines)
            srv.proc.send_signal(signal.SIGHUP)
            ok = wait_for(lambda: any("reload failed" in ln for ln in srv.stderr_lines[n0:]), 5)
            assert ok, "expected a 'reload failed' line within 5 s of SIGHUP with a mode-600 " \
                "root-owned file under ROOT, stderr tail %r" % srv.stderr_lines[-5:]
            expect_status(srv.get("/new.txt"), 200, "GET /new.txt after the failed rescan")
            expect_status(srv.get("/private.txt"), 404, "GET /private.txt (never loaded)")
            expect_status(srv.get("/small.txt"), 200, "GET /small.txt after the failed rescan")


def proc_status_task(pid, tid):
    out = {}
    with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


@test
def root_without_user_warns_once():
    with tempfile.TemporaryDirectory() as d:
        site(d)
        with Server(d, "--pid-file", "") as srv:
            expect_status(srv.get("/small.txt"), 200, "GET /small.txt")
            time.sleep(0.2)
            warn = [ln for ln in srv.stderr_lines if re.search(r"\broot\b", ln, re.I) and
                    not ln.startswith("cachet: listening on")]
            if os.geteuid() == 0:
                assert len(warn) == 1, "expected one warning line mentioning root when " \
                    "started as root without --user, got %r" % srv.stderr_lines
            else:
                assert not warn, "expected no root warning as uid %d, got %r" % (
                    os.geteuid(), warn)


# ---------------------------------------------------------------------------------------------
# graceful shutdown


@test
def sigterm_under_load_completes_responses():
    size = 256 * KiB
    body = os.urandom(size)
    with tempfile.TemporaryDirectory() as d:
        site(d, {"quarter.bin": body})
        srv = Server(d)
        srv.start()
        stop_at = [None]
        results = []
        lock = threading.Lock()

        def client(k):
            done = 0
            cut = 0
            err = None
            s = None
            t_end = time.monotonic() + 8
            buf = bytearray()
            try:
                while time.monotonic() < t_end and done < 100000:
                    if s is None:
                        try:
                            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                        except OSError:
                            break  # listener gone: the server is stopping
                        buf = bytearray()
                    try:
                        s.sendall(request("GET", "/quarter.bin"))
                    except OSError:
                        break
                    # status line, headers, then exactly Content-Length bytes
                    while b"\r\n\r\n" not in buf:
                        try:
                            dd = s.recv(65536)
                        except ConnectionResetError:
                            dd = b""
                        if not dd:
                            if buf:
                                err = "EOF inside a response head after %d bytes: %r" % (
                                    len(buf), bytes(buf[:200]))
                            else:
                                cut += 1
                            break
                        buf += dd
                    else:
                        i = buf.index(b"\r\n\r\n") + 4
                        head = bytes(buf[:i])
                        del buf[:i]
                        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                        if not head.startswith(b"HTTP/1.1 200") or not m:
                            err = "unexpected response head %r" % head[:300]
                            break
                        n = int(m.group(1))
                        while len(buf) < n:
                            try:
                                dd = s.recv(262144)
                            except ConnectionResetError:
                                dd = b""
                            if not dd:
                                err = "response cut short: %d of %d body bytes" % (len(buf), n)
                                break
                            buf += dd
                        if err:
                            break
                        if bytes(buf[:n]) != body:
                            err = "body differs"
                            break
                        del buf[:n]
                        done += 1
                        if b"connection: close" in head.lower():
                            s.close()
                            s = None
                        if stop_at[0] is not None and time.monotonic() > stop_at[0] + 6:
                            break
                        continue
                    # EOF before a response
                    s.close()
                    s = None
                    if stop_at[0] is not None:
                        break
                    if not err:
                        continue
                    break
            except socket.timeout:
                err = "timed out waiting for the server"
            except OSError as e:
                err = "socket error %r" % e
            finally:
                if s is not None:
                    s.close()
            with lock:
                results.append((k, done, cut, err))

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(16)]
        try:
            for t in threads:
                t.start()
            time.sleep(1.0)
            stop_at[0] = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            try:
                rc = srv.proc.wait(5)
            except Exception:  # noqa: B902 - TimeoutExpired
                rc = None
            exit_s = time.monotonic() - stop_at[0]
            for t in threads:
                t.join(8)
        finally:
            srv.stop()
        assert rc == 0, "expected exit status 0 within 5 s of SIGTERM under load, got %r " \
            "after %.2f s; stderr tail %r" % (rc, exit_s, srv.stderr_lines[-5:])
        assert len(results) == 16, "expected all 16 clients to finish, %d did" % len(results)
        errs = [r for r in results if r[3]]
        total = sum(r[1] for r in results)
        assert not errs, "expected every started response complete across SIGTERM, got %r" \
            % errs[:5]
        assert total >= 16, "expected at least 16 complete responses in 1 s, got %d" % total
        print("# %d complete responses, %d connections closed before a response, exit after "
              "%.2f s" % (total, sum(r[2] for r in results), exit_s))


if __name__ == "__main__":
    main()
