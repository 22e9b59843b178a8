"""Fixtures for the integration tests: a temporary data directory and zones
directory per test (or per module), the operator CLI bound to them, and
rblzoned processes that are stopped with SIGTERM at teardown and must exit 0.

Run with Debian's python3 (python3-dnspython, python3-pytest); ctest sets
RBLZONE_BIN_DIR (rblzone, rblzoned) and RBLZONE_SOURCE_DIR.
"""

from __future__ import annotations

import pytest

from harness import RBLZONE, RBLZONED, Cli, DaemonPool, write_zones


@pytest.fixture(scope="session", autouse=True)
def binaries():
    missing = [str(p) for p in (RBLZONE, RBLZONED) if not p.is_file()]
    assert not missing, f"build first (cmake --build build), or set RBLZONE_BIN_DIR: missing {missing}"


@pytest.fixture
def pool(tmp_path):
    """Starts daemons in tmp_path; stops each at teardown, failing if one did
    not exit 0 on SIGTERM."""
    p = DaemonPool(tmp_path)
    yield p
    p.close()


@pytest.fixture
def env(tmp_path):
    """A fresh zones directory (all test zones) and data directory, with the CLI."""
    zones = write_zones(tmp_path / "zones")
    return Cli(tmp_path / "data", zones)


# The listings the shared DNS server starts with (zone, subject, extra args).
SEED = [
    ("dnsbl.test", "192.0.2.1", ["--reason", "spam seen"]),
    ("dnsbl.test", "192.0.2.7", ["--code", "trap", "--reason", "trap hits"]),
    ("pbl.test", "192.0.2.7", ["--reason", "dynamic range"]),
    ("dnsbl.test", "192.0.2.8", ["--code", "127.0.0.5", "--reason", "reports"]),
    ("dnsbl.test", "192.0.2.20", ["--reason", "r" * 300]),
    ("dnsbl.test", "2001:db8:dead::25", ["--reason", "v6 spam"]),
    ("dnsbl.test", "10.1.0.0/16", ["--force", "--reason", "range"]),
    ("dnsbl.test", "10.1.2.3", ["--exclude", "--force"]),
    ("rhsbl.test", "spammer.example", ["--reason", "exact domain"]),
    ("rhsbl.test", "*.subtree.example", ["--reason", "whole subtree"]),
    ("acl.test", "192.0.2.1", []),
    ("aclcode.test", "192.0.2.1", []),
    ("dqs.test", "192.0.2.10", ["--reason", "keyed"]),
]

# A domain of 235 characters (wire name with rhsbl.test: 248 bytes) whose
# TXT (255 bytes) does not fit a 512-byte answer: R32.
LONG_DOMAIN = ".".join(["a" * 58, "b" * 58, "c" * 58, "d" * 58])
SEED.append(("rhsbl.test", LONG_DOMAIN, ["--reason", "L" * 300]))


class Served:
    """The module-wide server: port, CLI, paths."""

    def __init__(self, daemon, cli, workdir):
        self.daemon = daemon
        self.port = daemon.port
        self.cli = cli
        self.workdir = workdir


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One rblzoned over the standard test zones and SEED, for read-only tests."""
    work = tmp_path_factory.mktemp("served")
    cli = Cli(work / "data", write_zones(work / "zones"))
    for zone, subject, extra in SEED:
        cli.ok("listing", "add", zone, subject, *extra)
    p = DaemonPool(work)
    try:
        d = p.start()
        yield Served(d, cli, work)
    finally:
        p.close()
