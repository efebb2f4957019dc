#!/usr/bin/env python3
"""Install (issue 13): `meson install` puts the binary, the man page and the systemd units in
place; the man page renders without a warning and documents exactly the options of --help; the
units pass `systemd-analyze verify`."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, cachet_bin, main, test  # noqa: E402

MAN = os.path.join(REPO, "man", "cachet.1")
UNITS = os.path.join(REPO, "contrib", "systemd")


def help_options():
    out = subprocess.run([cachet_bin(), "--help"], capture_output=True, text=True,
                         timeout=10).stdout
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", out))


def man_options():
    """Options the man page documents as entries (.TP then a line naming them)."""
    with open(MAN) as f:
        lines = f.read().splitlines()
    found = set()
    for prev, line in zip(lines, lines[1:]):
        if prev.strip() == ".TP":
            found.update(o.replace("\\", "") for o in re.findall(r"\\-\\-[a-z][a-z\\-]*", line))
    return found


@test
def man_page_renders_quietly():
    groff = shutil.which("groff")
    if not groff:
        raise Skip("groff not installed")
    r = subprocess.run([groff, "-man", "-ww", "-z", MAN], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), r


@test
def man_page_options_match_help():
    h, m = help_options(), man_options()
    assert h, "no options in --help"
    assert h == m, "in --help only: %r; in the man page only: %r" % (sorted(h - m),
                                                                     sorted(m - h))


@test
def man_page_has_the_sections():
    with open(MAN) as f:
        text = f.read()
    for section in ["NAME", "SYNOPSIS", "OPTIONS", "EXIT STATUS", "SIGNALS", "FILES", "EXAMPLES"]:
        assert "\n.SH " + section + "\n" in text or "\n.SH \"" + section + "\"\n" in text, section


@test
def systemd_units_verify():
    sa = shutil.which("systemd-analyze")
    if not sa:
        raise Skip("systemd-analyze not installed")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(UNITS, "cachet.service.in")) as f:
            unit = f.read().replace("@BINDIR@", os.path.dirname(cachet_bin()))
        with open(os.path.join(tmp, "cachet.service"), "w") as f:
            f.write(unit)
        shutil.copy(os.path.join(UNITS, "cachet.socket"), tmp)
        r = subprocess.run([sa, "verify", "--man=no", "./cachet.service", "./cachet.socket"],
                           cwd=tmp, capture_output=True, text=True, timeout=60)
        if r.returncode != 0 and ("Failed to" in r.stderr and "bus" in r.stderr.lower()):
            raise Skip("systemd-analyze cannot run here: " + r.stderr.strip()[:200])
        assert r.returncode == 0 and not r.stderr.strip(), r
    for needed in ["Type=notify", "ExecReload=", "DynamicUser=yes", "ProtectSystem=strict",
                   "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=",
                   "LimitNOFILE="]:
        assert needed in unit, needed


@test
def meson_install_puts_everything_in_place():
    meson = shutil.which("meson")
    build = os.path.dirname(cachet_bin())
    if not meson or not os.path.exists(os.path.join(build, "build.ninja")):
        raise Skip("meson or the build directory is not available")
    with tempfile.TemporaryDirectory() as dest:
        r = subprocess.run([meson, "install", "-C", build, "--no-rebuild", "--destdir", dest,
                            "--quiet"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r
        prefix = subprocess.run([meson, "introspect", build, "--buildoptions"],
                                capture_output=True, text=True, timeout=60).stdout
        m = re.search(r'"name": "prefix", "value": "([^"]+)"', prefix)
        root = dest + (m.group(1) if m else "/usr/local")
        for rel in ["bin/cachet", "share/man/man1/cachet.1", "lib/systemd/system/cachet.service",
                    "lib/systemd/system/cachet.socket"]:
            assert os.path.exists(os.path.join(root, rel)), (rel, sorted(
                os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs))
        with open(os.path.join(root, "lib/systemd/system/cachet.service")) as f:
            assert "ExecStart=" + (m.group(1) if m else "/usr/local") + "/bin/cachet " in f.read()


if __name__ == "__main__":
    main()
