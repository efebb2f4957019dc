#!/usr/bin/env python3
"""h2spec 2.6.0, the HTTP/2 conformance suite, over cleartext against cachet: all 146 cases must
pass (issue 11; h2o 2.2.5 passes 144, nginx 1.22 119). h2spec is built by
../shared/tools/h2spec-install into /usr/local/bin (tools/dev test and .ci/run call it); without
it the test is skipped."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ServedTree, Skip, main, test  # noqa: E402

CASES = 146
H2SPEC_TIMEOUT = 240  # a case with no answer costs h2spec's -o 2 s: 146 of them fit
INDEX = b"<!doctype html>\n<html><body>" + b"<p>h2spec</p>\n" * 40 + b"</body></html>\n"


def h2spec_bin():
    b = shutil.which("h2spec") or ("/usr/local/bin/h2spec"
                                   if os.access("/usr/local/bin/h2spec", os.X_OK) else None)
    if b is None:
        raise Skip("h2spec is not installed (../shared/tools/h2spec-install)")
    return b


def failures(report):
    """(section, case, message) of each failed case in h2spec's JUnit report."""
    out = []
    for suite in ET.parse(report).getroot().iter("testsuite"):
        for case in suite.iter("testcase"):
            for bad in list(case.findall("failure")) + list(case.findall("error")):
                out.append((suite.get("name"), case.get("classname"),
                            (bad.text or bad.get("message") or "").strip()))
    return out


@test
def h2spec_all_cases_pass():
    h2spec = h2spec_bin()
    with ServedTree({"index.html": INDEX}) as t, tempfile.TemporaryDirectory() as d:
        report = os.path.join(d, "report.xml")
        argv = [h2spec, "-h", "127.0.0.1", "-p", str(t.srv.port), "-P", "/index.html", "-o", "2",
                "-j", report]
        try:
            p = subprocess.run(argv, capture_output=True, timeout=H2SPEC_TIMEOUT, text=True,
                               errors="replace", stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (
                e.stdout or "")
            for line in [ln for ln in out.splitlines() if "\u00d7" in ln][:40]:
                print("# " + line.strip())
            raise AssertionError("expected h2spec to finish within %d s (each case that gets "
                                 "no answer waits 2 s)" % H2SPEC_TIMEOUT)
        m = re.search(r"(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed", p.stdout)
        assert m, "expected h2spec's summary line, rc %d: %r %r" % (p.returncode,
                                                                   p.stdout[-1500:],
                                                                   p.stderr[-500:])
        total, passed, skipped, failed = (int(x) for x in m.groups())
        print("# h2spec: %s" % m.group(0))
        bad = failures(report) if os.path.exists(report) else []
        for section, case, msg in bad[:40]:
            print("# FAILED %s / %s: %s" % (section, case, " | ".join(msg.splitlines())[:300]))
        assert total == CASES, "expected h2spec to run %d cases, it ran %d" % (CASES, total)
        assert passed == CASES and failed == 0 and skipped == 0, \
            "expected %d/%d h2spec cases passed, got %s" % (CASES, CASES, m.group(0))
        assert p.returncode == 0, "expected h2spec to exit 0, got %d" % p.returncode
        r = t.srv.get("/index.html")
        assert r.status == 200 and r.body == INDEX, "expected the server alive after h2spec"


if __name__ == "__main__":
    harness.TEST_TIMEOUT = H2SPEC_TIMEOUT + 40
    main()
