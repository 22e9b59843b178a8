"""The operator CLI (rblzone) and rblzoned --check-config, black-box: exit
codes (0 done/listed, 1 not listed/not found, 2 bad input with one line on
stderr and nothing changed), --json output, history, bulk load, and two
processes writing one store at once.
"""

from __future__ import annotations

import datetime
import json
import time
import subprocess

import pytest

from harness import RBLZONED, write_zones


def iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_line(stderr: str) -> bool:
    lines = stderr.rstrip("\n").split("\n")
    return len(lines) == 1 and lines[0].strip() != ""


@pytest.fixture
def seeded(env):
    env.ok("listing", "add", "dnsbl.test", "192.0.2.1", "--reason", "spam seen")
    env.ok("listing", "add", "dnsbl.test", "198.51.100.0/24", "--code", "trap")
    env.ok("listing", "add", "dnsbl.test", "198.51.100.9", "--exclude")
    env.ok("listing", "add", "dnsbl.test", "2001:db8:dead::/48", "--permanent")
    env.ok("listing", "add", "rhsbl.test", "*.spammer.example", "--for", "7d")
    return env


def snapshot(cli):
    """Everything a bad command could have changed: listings and serials."""
    return {
        "dnsbl": cli.listings("dnsbl.test"),
        "pbl": cli.listings("pbl.test"),
        "rhsbl": cli.listings("rhsbl.test"),
        "zones": cli.json("zone", "list"),
        "history": cli.json("history", "dnsbl.test", "192.0.2.1"),
    }


def test_exit_codes(seeded):
    cli = seeded
    cases = [
        (("zone", "list"), 0),
        (("listing", "add", "dnsbl.test", "192.0.2.2"), 0),
        (("listing", "add", "dnsbl.test", "192.0.2.2", "--reason", "again"), 0),  # update
        (("listing", "show", "dnsbl.test", "192.0.2.2"), 0),
        (("check", "dnsbl.test", "192.0.2.2"), 0),
        (("check", "dnsbl.test", "198.51.100.77"), 0),      # inside the /24
        (("check", "dnsbl.test", "198.51.100.9"), 1),       # excluded
        (("check", "dnsbl.test", "127.0.0.2"), 0),          # test point
        (("check", "dnsbl.test", "127.0.0.1"), 1),
        (("check", "zen.test", "192.0.2.2"), 0),            # through the combined zone
        (("check", "dnsbl.test", "192.0.2.3"), 1),
        (("check", "rhsbl.test", "host.spammer.example"), 0),
        (("check", "rhsbl.test", "spammer.example.org"), 1),
        (("listing", "show", "dnsbl.test", "192.0.2.3"), 1),
        (("listing", "show", "dnsbl.test", "198.51.100.77"), 1),  # no listing for exactly this
        (("listing", "remove", "dnsbl.test", "192.0.2.3"), 1),
        (("history", "dnsbl.test", "192.0.2.3"), 1),
        (("history", "dnsbl.test", "192.0.2.2"), 0),
        (("listing", "remove", "dnsbl.test", "192.0.2.2"), 0),
        (("listing", "remove", "dnsbl.test", "192.0.2.2"), 1),
        (("check", "dnsbl.test", "192.0.2.2"), 1),
        (("listing", "list", "dnsbl.test"), 0),
        (("listing", "add", "dnsbl.test", "192.0.2.300"), 2),
        (("check", "dnsbl.test", "192.0.2.300"), 2),
        (("frobnicate",), 2),
        (("listing", "add", "dnsbl.test"), 2),
    ]
    wrong = []
    for args, want in cases:
        r = cli.run(*args)
        if r.returncode != want:
            wrong.append((" ".join(args), want, r.returncode, r.stderr.strip()))
        if want == 2 and not one_line(r.stderr):
            wrong.append((" ".join(args), "one line on stderr", r.stderr))
    assert not wrong, wrong


def test_json_output_parses(seeded):
    cli = seeded
    zones = cli.json("zone", "list")
    assert {z["name"] for z in zones} >= {"dnsbl.test", "pbl.test", "zen.test", "rhsbl.test"}
    kinds = {z["name"]: z["kind"] for z in zones}
    assert kinds["zen.test"] == "combined" and kinds["rhsbl.test"] == "domain"

    added = cli.json("listing", "add", "dnsbl.test", "192.0.2.5", "--code", "desk", "--reason", "why")
    assert added["subject"] == "192.0.2.5" and added["zone"] == "dnsbl.test"
    assert added["listing"]["codes"] == ["127.0.0.4"] and added["listing"]["reason"] == "why"
    assert added["listing"]["expires"] > added["listing"]["first_seen"]

    shown = cli.json("listing", "show", "dnsbl.test", "192.0.2.5")
    assert shown["listing"]["codes"] == ["127.0.0.4"]

    listed = cli.listings("dnsbl.test")
    subjects = {item["subject"] for item in listed}
    assert {"192.0.2.1", "192.0.2.5", "198.51.100.0/24", "198.51.100.9", "2001:db8:dead::/48"} <= subjects
    by_subject = {item["subject"]: item["listing"] for item in listed}
    assert by_subject["198.51.100.9"]["exclusion"] is True
    assert by_subject["2001:db8:dead::/48"]["permanent"] is True

    check = cli.json("check", "zen.test", "198.51.100.77")
    assert check["listed"] is True and check["codes"] == ["127.0.0.3"]
    r = cli.run("check", "dnsbl.test", "192.0.2.99", as_json=True)
    assert r.returncode == 1 and json.loads(r.stdout)["listed"] is False

    r = cli.run("listing", "show", "dnsbl.test", "192.0.2.99", as_json=True)
    assert r.returncode == 1 and "error" in json.loads(r.stdout)

    events = cli.json("history", "dnsbl.test", "192.0.2.5")
    assert [e["action"] for e in events] == ["list"]

    removed = cli.json("listing", "remove", "dnsbl.test", "192.0.2.5", "--reason", "done")
    assert removed["removed"] is True


BAD = [
    ("malformed-v4", ("listing", "add", "dnsbl.test", "192.0.2.300")),
    ("short-v4", ("listing", "add", "dnsbl.test", "192.0.2")),
    ("malformed-v6", ("listing", "add", "dnsbl.test", "2001:db8::g")),
    ("prefix-33", ("listing", "add", "dnsbl.test", "192.0.2.0/33")),
    ("prefix-129", ("listing", "add", "dnsbl.test", "2001:db8::/129")),
    ("host-bits", ("listing", "add", "dnsbl.test", "192.0.2.1/24")),
    ("unknown-zone", ("listing", "add", "nosuch.test", "192.0.2.1")),
    ("code-127.0.0.1", ("listing", "add", "dnsbl.test", "192.0.2.1", "--code", "127.0.0.1")),
    ("code-outside-127", ("listing", "add", "dnsbl.test", "192.0.2.1", "--code", "128.0.0.2")),
    ("code-error-range", ("listing", "add", "dnsbl.test", "192.0.2.1", "--code", "127.255.255.254")),
    ("code-unknown-name", ("listing", "add", "dnsbl.test", "192.0.2.1", "--code", "nosuchcode")),
    ("broad-v4", ("listing", "add", "dnsbl.test", "1.0.0.0/8")),
    ("broad-v6", ("listing", "add", "dnsbl.test", "2001:d00::/24")),
    ("special-10/8", ("listing", "add", "dnsbl.test", "10.0.0.0/8")),
    ("special-10-host", ("listing", "add", "dnsbl.test", "10.1.2.3")),
    ("special-192.168", ("listing", "add", "dnsbl.test", "192.168.1.1")),
    ("special-fe80", ("listing", "add", "dnsbl.test", "fe80::1")),
    ("test-point-127.0.0.1", ("listing", "add", "dnsbl.test", "127.0.0.1")),
    ("delist-test-point", ("listing", "remove", "dnsbl.test", "127.0.0.2")),
    ("bad-duration", ("listing", "add", "dnsbl.test", "192.0.2.1", "--for", "2x")),
    ("zero-duration", ("listing", "add", "dnsbl.test", "192.0.2.1", "--for", "0s")),
    ("for-and-permanent", ("listing", "add", "dnsbl.test", "192.0.2.1", "--for", "1h", "--permanent")),
    ("bad-source", ("listing", "add", "dnsbl.test", "192.0.2.1", "--source", "bogus")),
    ("huge-reason", ("listing", "add", "dnsbl.test", "192.0.2.1", "--reason", "x" * 5000)),
    ("domain-in-ip-zone", ("listing", "add", "dnsbl.test", "spammer.example")),
    ("ip-in-domain-zone", ("listing", "add", "rhsbl.test", "192.0.2.1")),
    ("empty-label", ("listing", "add", "rhsbl.test", "bad..example")),
    ("domain-test-point", ("listing", "add", "rhsbl.test", "invalid")),
    ("combined-zone", ("listing", "add", "zen.test", "192.0.2.1")),
    ("remove-malformed", ("listing", "remove", "dnsbl.test", "192.0.2.300")),
    ("load-missing-file", ("listing", "load", "dnsbl.test", "/nonexistent/listings.txt")),
    ("history-bad-time", ("history", "dnsbl.test", "192.0.2.1", "--at", "yesterday")),
]


@pytest.mark.parametrize("args", [b[1] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_changes_nothing(seeded, args):
    before = snapshot(seeded)
    for as_json in (False, True):
        r = seeded.run(*args, as_json=as_json)
        assert r.returncode == 2, f"exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}"
        assert one_line(r.stderr), f"want one line on stderr, got {r.stderr!r}"
        assert r.stderr.startswith("rblzone: "), r.stderr
    assert snapshot(seeded) == before


def test_history_list_update_remove(env):
    assert env.run("history", "dnsbl.test", "192.0.2.50").returncode == 1
    listed = env.json("listing", "add", "dnsbl.test", "192.0.2.50", "--reason", "first")
    t_list = listed["listing"]["first_seen"]
    # while it is listed, "was it listed at the time it was listed?" is yes
    during = env.run("history", "dnsbl.test", "192.0.2.50", "--at", iso(t_list), as_json=True)
    assert during.returncode == 0, during
    assert json.loads(during.stdout)["listed"] is True
    assert env.run("history", "dnsbl.test", "192.0.2.50", "--at", str(t_list)).returncode == 0
    env.ok("listing", "add", "dnsbl.test", "192.0.2.50", "--reason", "second", "--code", "trap")
    env.ok("listing", "remove", "dnsbl.test", "192.0.2.50", "--reason", "third")

    events = env.json("history", "dnsbl.test", "192.0.2.50")
    assert [e["action"] for e in events] == ["list", "update", "delist"], events
    assert [e["reason"] for e in events] == ["first", "second", "third"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    times = [e["time"] for e in events]
    assert times == sorted(times)
    assert events[0]["before"] is None and events[0]["after"]["codes"] == ["127.0.0.2"]
    assert events[1]["before"]["codes"] == ["127.0.0.2"] and events[1]["after"]["codes"] == ["127.0.0.3"]
    assert events[2]["before"]["codes"] == ["127.0.0.3"] and events[2]["after"] is None
    assert all(e["subject"] == "192.0.2.50" for e in events)

    before = env.run("history", "dnsbl.test", "192.0.2.50", "--at", "2020-01-01T00:00:00Z", as_json=True)
    assert before.returncode == 1 and json.loads(before.stdout)["listed"] is False
    after = env.run("history", "dnsbl.test", "192.0.2.50", "--at", iso(times[-1] + 1), as_json=True)
    assert after.returncode == 1 and json.loads(after.stdout)["listed"] is False
    text = env.ok("history", "dnsbl.test", "192.0.2.50")
    assert [line.split()[1] for line in text.strip().split("\n")] == ["list", "update", "delist"]


def test_history_at_finds_the_covering_prefix(env):
    listed = env.json("listing", "add", "dnsbl.test", "192.0.2.64/27", "--reason", "range")
    t = listed["listing"]["first_seen"]
    time.sleep(1.1)  # history is to the second: remove it a second later
    env.ok("listing", "remove", "dnsbl.test", "192.0.2.64/27", "--reason", "gone")
    got = env.run("history", "dnsbl.test", "192.0.2.70", "--at", str(t), as_json=True)
    assert got.returncode == 0, got.stderr
    body = json.loads(got.stdout)
    assert body["listed"] is True and body["matched"] == "192.0.2.64/27"
    assert body["event"]["reason"] == "range"


def test_load_reports_bad_lines_and_loads_the_rest(env, tmp_path):
    f = tmp_path / "feed.txt"
    f.write_text("\n".join([
        "# a comment",
        "203.0.113.1 127.0.0.3 trap hit",         # 2
        "203.0.113.400 broken address",           # 3: bad
        "",
        "203.0.113.2",                            # 5
        "!203.0.113.3",                           # 6: exclusion
        "203.0.113.4 desk listed by hand",        # 7
        "203.0.113.5 127.0.0.1 never this code",  # 8: bad
        "10.0.0.0/8",                             # 9: bad (special, broad)
        "2001:db8:beef::/48 127.0.0.5",           # 10
    ]) + "\n")
    r = env.run("listing", "load", "dnsbl.test", f)
    assert r.returncode == 0, r
    errors = r.stderr.strip().split("\n")
    for line in (3, 8, 9):
        assert any(e.startswith(f"{f}:{line}:") for e in errors), (line, r.stderr)
    assert len(errors) == 3, r.stderr
    got = {i["subject"]: i["listing"] for i in env.listings("dnsbl.test")}
    assert set(got) == {"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "2001:db8:beef::/48"}
    assert got["203.0.113.1"]["codes"] == ["127.0.0.3"] and got["203.0.113.1"]["reason"] == "trap hit"
    assert got["203.0.113.3"]["exclusion"] is True
    assert got["203.0.113.4"]["codes"] == ["127.0.0.4"] and got["203.0.113.4"]["reason"] == "listed by hand"
    assert got["2001:db8:beef::/48"]["codes"] == ["127.0.0.5"]
    assert env.run("check", "dnsbl.test", "203.0.113.2").returncode == 0
    assert env.run("check", "dnsbl.test", "203.0.113.5").returncode == 1


def test_load_from_stdin(env):
    r = env.run("listing", "load", "rhsbl.test", "-", stdin="spammer.example\n*.phish.example 127.0.0.6 phishing\n")
    assert r.returncode == 0, r
    assert env.run("check", "rhsbl.test", "login.phish.example").returncode == 0
    assert env.run("check", "rhsbl.test", "host.spammer.example").returncode == 1


def test_two_writers_concurrently(env, tmp_path):
    """Two CLI processes load 500 listings each into one store at the same
    time (LMDB: one writer at a time across processes, no lost update); a
    burst of single adds runs alongside."""
    files = []
    for k in range(2):
        f = tmp_path / f"batch{k}.txt"
        f.write_text("".join(f"198.18.{k * 2 + i // 250}.{i % 250 + 1} 127.0.0.3 batch {k}\n" for i in range(500)))
        files.append(f)
    procs = [subprocess.Popen(env.argv("listing", "load", "--force", "dnsbl.test", f),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    singles = [subprocess.Popen(env.argv("listing", "add", "dnsbl.test", f"203.0.113.{i}"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(1, 41)]
    for p in procs + singles:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (p.args, out, err)
    got = {i["subject"]: i["listing"] for i in env.listings("dnsbl.test")}
    want = {f"198.18.{k * 2 + i // 250}.{i % 250 + 1}" for k in range(2) for i in range(500)}
    missing = want - set(got)
    assert not missing, f"{len(missing)} listings lost, e.g. {sorted(missing)[:5]}"
    assert {f"203.0.113.{i}" for i in range(1, 41)} <= set(got)
    assert len(got) == 1040
    assert all(got[s]["codes"] == ["127.0.0.3"] for s in want)


@pytest.mark.parametrize("name,text,line", [
    ("bad-ttl", 'name = "bad.test"\nkind = "ip"\nttl = 0\n', 3),
    ("ttl-string", 'name = "bad.test"\nkind = "ip"\n\nttl = "900"\n', 4),
    ("unknown-key", 'name = "bad.test"\nkind = "ip"\n[soa]\nminimun = 60\n', 4),
    ("syntax", 'name = "bad.test"\nkind = \n', 2),
    ("bad-code", 'name = "bad.test"\n[codes]\nlisted = "127.0.0.2"\nfoo = "127.0.0.1"\n', 4),
])
def test_check_config_bad_zone_names_file_and_line(tmp_path, name, text, line):
    zones = write_zones(tmp_path / "zones", ["dnsbl.test"])
    ok = subprocess.run([str(RBLZONED), "--zones", str(zones), "--data-dir", str(tmp_path / "data"),
                         "--check-config"], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok
    bad = zones / "bad.test.toml"
    bad.write_text(text)
    for args in (["--check-config"], ["--dns-listen", "127.0.0.1:0", "--http-listen", ""]):
        r = subprocess.run([str(RBLZONED), "--zones", str(zones), "--data-dir", str(tmp_path / "data"),
                            *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (args, r)
        out = r.stderr + r.stdout
        assert f"bad.test.toml:{line}:" in out, out


def test_check_config_bad_daemon_file(tmp_path):
    zones = write_zones(tmp_path / "zones", ["dnsbl.test"])
    cfg = tmp_path / "rblzoned.toml"
    cfg.write_text('[dns]\ntcp_max_connections = 2\n\ntcp_idle_timeout = "soon"\n')
    r = subprocess.run([str(RBLZONED), "--config", str(cfg), "--zones", str(zones), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "rblzoned.toml:4:" in r.stderr + r.stdout, r


def test_full_disk_gives_a_clear_error_and_loses_nothing(tmp_path):
    """A data directory on a full filesystem: the write fails with exit 3 and a
    message naming the path and the cause; everything committed before is still
    there, and the store keeps working once there is room again."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    try:
        from harness import Cli
        cli = Cli(mnt / "data", write_zones(tmp_path / "zones"))
        cli.ok("listing", "add", "dnsbl.test", "192.0.2.1", "--reason", "committed before")
        before = cli.listings("dnsbl.test")
        # About 5 MB of listings and history into a 1 MB filesystem.
        bulk = tmp_path / "bulk.txt"
        bulk.write_text("".join(f"198.18.{i // 256}.{i % 256} 127.0.0.2 {'x' * 300}\n"
                                for i in range(8000)))
        r = cli.run("listing", "load", "dnsbl.test", str(bulk), "--force")
        assert r.returncode == 3, f"rc {r.returncode}: {r.stdout} {r.stderr}"
        assert one_line(r.stderr), r.stderr
        assert str(mnt / "data") in r.stderr, r.stderr
        assert "space" in r.stderr.lower(), r.stderr
        assert cli.listings("dnsbl.test") == before
        # Room again: the same store takes writes.
        cli.ok("listing", "remove", "dnsbl.test", "192.0.2.1")
        cli.ok("listing", "add", "dnsbl.test", "192.0.2.2")
        assert [x["subject"] for x in cli.listings("dnsbl.test")] == ["192.0.2.2"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
