"""`rblzone import` as an operator uses it: a trap log and a trap Maildir into
a zone rblzoned serves, listings that appear (also under --watch) and expire,
reruns that import nothing twice, bad lines named with their file, and
rbldnsd data files that answer the same from rbldnsd and from rblzoned.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import dns.rcode
import pytest

from harness import Cli, a_values, qn, query, txt_records, wait_until, write_zones

IMPORT_ZONES = {
    "bl.test": """\
name = "bl.test"
kind = "ip"
txt = "{reason}"

[policy]
base_duration = "6s"
max_duration = "6s"
""",
    "dbl.test": """\
name = "dbl.test"
kind = "domain"
txt = "{reason}"
""",
    "mig.test": """\
name = "mig.test"
kind = "ip"
txt = "{reason}"
""",
    "migd.test": """\
name = "migd.test"
kind = "domain"
txt = "{reason}"
""",
}

MX = ("from relay (relay.example.org [10.1.1.1]) by mx.example.org (Postfix) with ESMTP id A1; "
      "Sun, 22 Nov 2026 14:00:00 +0000")


def zones(tmp_path: Path) -> Cli:
    z = write_zones(tmp_path / "zones", names=[], extra=IMPORT_ZONES)
    return Cli(tmp_path / "data", z)


def message(relay_hop: str, msgid: str) -> str:
    return (f"Return-Path: <bounce@envelope.example>\nReceived: {MX}\nReceived: {relay_hop}\n"
            f"From: <x@from.example>\nTo: trap@example.org\nSubject: hi\nMessage-Id: <{msgid}>\n"
            "Content-Type: text/plain\n\nvisit http://shop.spam.example/now\n")


def txts(msg):
    return sorted(b"".join(r.strings).decode() for r in txt_records(msg))


def test_trap_log_lists_once_and_names_bad_lines(tmp_path, pool):
    cli = zones(tmp_path)
    now = int(time.time())
    log = tmp_path / "traps.csv"
    log.write_text("time,address,trap,evidence\n"
                   f"{now},45.1.2.3,trap-a,first\n"
                   "yesterday,45.1.2.4,trap-a,bad time\n"
                   f"{now},2a01:4f8::5,trap-b,v6\n")
    r = cli.run("import", "traplog", "bl.test", log)
    assert r.returncode == 0, r.stderr
    assert "reports 2, new listings 2" in r.stdout
    assert f"{log}:3: bad time 'yesterday'" in r.stderr
    assert cli.run("check", "bl.test", "45.1.2.3").returncode == 0
    assert cli.run("check", "bl.test", "45.1.2.4").returncode == 1

    again = cli.json("import", "traplog", "bl.test", log)
    assert again["reports"] == 0 and again["read"] == 0 and again["already_imported"] == 4
    # Each report stored once.
    hist = cli.json("history", "bl.test", "45.1.2.3")
    assert hist

    d = pool.start(tmp_path / "data", tmp_path / "zones", probe_zone="bl.test")
    # Trap listings answer the zone's "trap" code.
    assert a_values(query(d.port, qn("45.1.2.3", "bl.test"))) == ["127.0.0.3"]
    assert a_values(query(d.port, qn("2a01:4f8::5", "bl.test"))) == ["127.0.0.3"]
    # base_duration is 6 s in this zone: the listing expires on its own.
    wait_until(lambda: query(d.port, qn("45.1.2.3", "bl.test")).rcode() == dns.rcode.NXDOMAIN,
               15, interval=0.2, what="the trap listing to expire")


def test_bad_input_is_a_clear_error(tmp_path):
    cli = zones(tmp_path)
    r = cli.run("import", "traplog", "bl.test", tmp_path / "missing.csv")
    assert r.returncode == 2 and "no such file" in r.stderr
    (tmp_path / "x.csv").write_text("")
    r = cli.run("import", "traplog", "nope.test", tmp_path / "x.csv")
    assert r.returncode == 2 and "unknown zone" in r.stderr
    r = cli.run("import", "rbldnsd", "mig.test", tmp_path / "x.csv")
    assert r.returncode == 2 and "--type" in r.stderr
    r = cli.run("import", "postfix", "dbl.test", tmp_path / "x.csv")
    assert r.returncode == 2
    r = cli.run("import", "maildir", "bl.test", tmp_path / "x.csv")
    assert r.returncode == 3 and "not a Maildir" in r.stderr
    cfg = tmp_path / "src.toml"
    cfg.write_text('trusted = ["10.1.0.0/33"]\n')
    r = cli.run("import", "mbox", "bl.test", tmp_path / "x.csv", "--source-config", cfg)
    assert r.returncode == 2 and "bad trusted prefix" in r.stderr


def test_maildir_watch_lists_relays_as_mail_arrives(tmp_path, pool):
    cli = zones(tmp_path)
    md = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "new" / "1.M1.host").write_text(
        message("from fake (unknown [45.2.0.1]) by relay.example.org (Postfix) id B", "m1@spam"))
    cfg = tmp_path / "traps.toml"
    cfg.write_text('name = "mailtrap"\ntrusted = ["10.1.0.0/16"]\ntrusted_hosts = ["relay.example.org"]\n')
    d = pool.start(tmp_path / "data", tmp_path / "zones", probe_zone="dbl.test")
    watcher = subprocess.Popen(cli.argv("import", "maildir", "dbl.test", md, "--source-config", cfg,
                                        "--watch"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        for name in ("envelope.example", "from.example", "shop.spam.example"):
            wait_until(lambda: a_values(query(d.port, f"{name}.dbl.test")) == ["127.0.0.3"], 10,
                       interval=0.1, what=f"{name} listed")
        # New mail while watching: written to tmp/, moved to new/ as MTAs do.
        (md / "tmp" / "2.M2.host").write_text(
            "Return-Path: <b@late.example>\n" + message("from x (unknown [45.2.0.2]) by r id C",
                                                        "m2@spam").split("\n", 1)[1])
        os.rename(md / "tmp" / "2.M2.host", md / "new" / "2.M2.host")
        wait_until(lambda: a_values(query(d.port, "late.example.dbl.test")) == ["127.0.0.3"], 10,
                   interval=0.1, what="late.example listed under --watch")
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=10)
    assert watcher.returncode == 0, err
    assert "read 1, reports 3, new listings 3" in out
    # The IP zone from the same mailbox: the first untrusted relay only.
    r = cli.run("import", "maildir", "bl.test", md, "--source-config", cfg)
    assert r.returncode == 0, r.stderr
    assert "read 2, reports 2, new listings 2" in r.stdout
    assert cli.run("check", "bl.test", "45.2.0.1").returncode == 0
    assert cli.run("check", "bl.test", "10.1.1.1").returncode == 1


# --- rbldnsd round trip --------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rbldnsd:
    def __init__(self, workdir: Path, datasets: list[str]):
        self.port = free_port()
        self.log = workdir / "rbldnsd.log"
        # rbldnsd drops root for its own user, which must read the files.
        os.chmod(workdir, 0o755)
        self.proc = subprocess.Popen(
            ["rbldnsd", "-n", "-b", f"127.0.0.1/{self.port}", "-w", str(workdir), *datasets],
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        wait_until(lambda: "started" in self.log.read_text() or self.proc.poll() is not None, 10,
                   what="rbldnsd to start")
        assert self.proc.poll() is None, self.log.read_text()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def ip4set_sample(rng: random.Random):
    """An ip4set with the spellings, ranges, exclusions and values rbldnsd
    accepts, and the addresses to ask about."""
    lines = ["$SOA 1w ns1.mig.test admin.mig.test 0 2h 2h 1w 1h", ":127.0.0.2:Listed for spam"]
    probes = set()
    for i in range(40):
        a, b, c = rng.randrange(1, 120), rng.randrange(256), rng.randrange(256)
        kind = i % 8
        if kind == 0:
            lines.append(f"45.{a}.{b}.{c}")
            probes.add(f"45.{a}.{b}.{c}")
        elif kind == 1:
            lines.append(f"45.{a}.{b} :3:Dynamic range")
            probes |= {f"45.{a}.{b}.0", f"45.{a}.{b}.255", f"45.{a}.{b}.{c}"}
        elif kind == 2:
            lines.append(f"46.{a}.{b}.0/24 :4:")
            probes |= {f"46.{a}.{b}.1", f"46.{a}.{(b + 1) % 256}.1"}
        elif kind == 3:
            hi = min(255, b + rng.randrange(1, 30))
            lines.append(f"47.{a}.{b}-{hi}")
            probes |= {f"47.{a}.{b}.0", f"47.{a}.{hi}.255", f"47.{a}.{hi + 1 if hi < 255 else 0}.3"}
        elif kind == 4:
            lines.append(f"48.{a}.{b}.{c & 0xf0}-48.{a}.{b}.{(c & 0xf0) + 9} Range with text")
            probes |= {f"48.{a}.{b}.{(c & 0xf0) + k}" for k in (0, 9, 10)}
        elif kind == 5:
            lines.append(f"49.{a}/16 :127.0.0.5:Whole /16")
            lines.append(f"!49.{a}.{b}.{c}")
            probes |= {f"49.{a}.{b}.{c}", f"49.{a}.{b}.{(c + 1) % 256}"}
        elif kind == 6:
            lines.append(f"50.{a}.{b}.{c} :6")
            probes.add(f"50.{a}.{b}.{c}")
        else:
            probes.add(f"51.{a}.{b}.{c}")  # not listed
    return lines, sorted(probes)


def compare(port_a: int, port_b: int, names: list[str]):
    mismatches = []
    for name in names:
        ra, rb = query(port_a, name), query(port_b, name)
        a_a, a_b = sorted(a_values(ra)), sorted(a_values(rb))
        ta, tb = txts(query(port_a, name, "TXT")), txts(query(port_b, name, "TXT"))
        # rbldnsd answers no TXT for ":A:" entries; rblzone always has one.
        if not ta and a_a:
            tb = []
        # An excluded name: rbldnsd says NXDOMAIN, rblzoned NODATA (the
        # exclusion is a stored name); neither lists it.
        if (a_a, ta) != (a_b, tb):
            mismatches.append((name, a_a, a_b, ta, tb, ra.rcode(), rb.rcode()))
    return mismatches


def test_rbldnsd_files_answer_the_same_from_both(tmp_path, pool):
    rng = random.Random(5782)
    cli = zones(tmp_path)
    work = tmp_path / "rbl"
    work.mkdir()
    lines, probes = ip4set_sample(rng)
    (work / "mig.ip4set").write_text("\n".join(lines) + "\n")
    (work / "mig.ip6trie").write_text(
        ":127.0.0.2:IPv6 listed\n2a01:4f8:c000/36\n2a01:4f9:1:2 :3:A /64\n!2a01:4f8:c000::bad\n"
        "2a02:1::/32 :4:\n")
    probes6 = ["2a01:4f8:c000::1", "2a01:4f8:cfff::1", "2a01:4f8:d000::1", "2a01:4f8:c000::bad",
               "2a01:4f9:1:2::77", "2a01:4f9:1:3::1", "2a02:1:ffff::1", "2a02:2::1"]
    (work / "mig.dnset").write_text(
        ":2:Domain listed\nspam.example\n.sub.example :3:Subtree\n!ok.sub.example\nx.other.example\n")
    names_d = ["spam.example", "www.spam.example", "sub.example", "a.b.sub.example",
               "ok.sub.example", "x.other.example", "other.example", "clean.example"]
    for f in ("mig.ip4set", "mig.ip6trie", "mig.dnset"):
        os.chmod(work / f, 0o644)

    for f, t, z in (("mig.ip4set", "ip4set", "mig.test"), ("mig.ip6trie", "ip6trie", "mig.test"),
                    ("mig.dnset", "dnset", "migd.test")):
        r = cli.run("import", "rbldnsd", z, work / f, "--type", t)
        assert r.returncode == 0, r.stderr
        assert "skipped 0" in r.stdout, r.stdout + r.stderr
    # A second import changes nothing.
    again = cli.json("import", "rbldnsd", "mig.test", work / "mig.ip4set", "--type", "ip4set")
    assert again["new_listings"] == 0 and again["already_imported"] > 0

    peer = Rbldnsd(work, ["mig.test:ip4set:mig.ip4set", "mig.test:ip6trie:mig.ip6trie",
                          "migd.test:dnset:mig.dnset"])
    try:
        d = pool.start(tmp_path / "data", tmp_path / "zones", probe_zone="mig.test")
        names = [qn(p, "mig.test") for p in probes + probes6] + [f"{n}.migd.test" for n in names_d]
        assert len(names) > 60
        listed = sum(1 for n in names if a_values(query(peer.port, n)))
        assert listed > 30  # the sample really exercises listings
        assert compare(peer.port, d.port, names) == []
    finally:
        peer.stop()


def test_rbldnsd_reimport_follows_the_file(tmp_path, pool):
    """An rbldnsd file imported again after it changed: entries removed from
    it leave the zone, as they leave rbldnsd, and the two answer the same
    again; a listing the desk changed since the import stays; a file with no
    entries and --keep-removed remove nothing."""
    rng = random.Random(6471)
    cli = zones(tmp_path)
    work = tmp_path / "rbl"
    work.mkdir()
    lines, probes = ip4set_sample(rng)
    f = work / "mig.ip4set"
    f.write_text("\n".join(lines) + "\n")
    os.chmod(f, 0o644)
    imp = ("import", "rbldnsd", "mig.test", f, "--type", "ip4set")
    first = cli.json(*imp)
    assert first["new_listings"] > 20 and first["removed"] == 0, first
    before = {x["subject"] for x in cli.listings("mig.test")}

    # Drop every third entry, give one kept entry another value, add two.
    head, body = lines[:2], lines[2:]
    dropped = [x for i, x in enumerate(body) if i % 3 == 0]
    kept = [x for i, x in enumerate(body) if i % 3 != 0]
    singles = [x for x in dropped if x.startswith("45.") and " " not in x]
    assert singles, "the sample drops a single address"
    desk = singles[0]  # the desk lists it by hand before the file loses it
    cli.ok("listing", "add", "mig.test", desk, "--reason", "confirmed by the desk")
    changed = next(x for x in kept if x.startswith("50."))
    kept[kept.index(changed)] = changed.split(" ")[0] + " :7:Changed value"
    kept += ["52.1.2.3 :2:New entry", "52.1.3.0/24"]
    f.write_text("\n".join(head + kept) + "\n")

    again = cli.json(*imp)
    after = {x["subject"] for x in cli.listings("mig.test")}
    gone = before - after
    assert again["removed"] == len(gone) > 0, (again, gone)
    assert desk in after and desk not in gone
    assert any(desk in p and "changed since" in p for p in again["problems"]), again["problems"]
    assert again["skipped"].get("changed since imported, kept") == 1, again
    history = cli.json("history", "mig.test", sorted(gone)[0])
    assert history[-1]["action"] == "delist" and "removed from rbldnsd file" in history[-1]["reason"]

    # The same answers as rbldnsd reading the edited file (the desk's own
    # listing aside).
    probes = [p for p in probes if p != desk] + ["52.1.2.3", "52.1.3.9", "52.1.4.1"]
    peer = Rbldnsd(work, ["mig.test:ip4set:mig.ip4set"])
    try:
        d = pool.start(tmp_path / "data", tmp_path / "zones", probe_zone="mig.test")
        names = [qn(p, "mig.test") for p in probes]
        assert sum(1 for n in names if a_values(query(peer.port, n))) > 20
        assert compare(peer.port, d.port, names) == []
        assert a_values(query(d.port, qn(desk, "mig.test"))) == ["127.0.0.2"]
        assert not a_values(query(peer.port, qn(desk, "mig.test")))

        # A file with no entries (a truncated copy) removes nothing.
        listed = after
        f.write_text("$SOA 1w ns1.mig.test admin.mig.test 0 2h 2h 1w 1h\n")
        empty = cli.json(*imp)
        assert empty["removed"] == 0 and {x["subject"] for x in cli.listings("mig.test")} == listed
        assert any("no entries (nothing removed)" in p for p in empty["problems"]), empty
        # --keep-removed keeps what left the file; the same file imported
        # again without it removes.
        f.write_text("\n".join(head + kept[1:]) + "\n")
        keep = cli.json(*imp, "--keep-removed")
        assert keep["removed"] == 0 and {x["subject"] for x in cli.listings("mig.test")} == listed
        follow = cli.json(*imp)
        assert follow["removed"] > 0
        left = {x["subject"] for x in cli.listings("mig.test")}
        assert left < listed
    finally:
        peer.stop()


def test_postfix_volume_watch(tmp_path):
    cli = zones(tmp_path)  # mig.test: the default 24 h listings
    stamp = time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() - 60))
    lines = [f"{stamp} mx postfix/smtpd[7]: Q{i}: client=busy.example[45.3.0.1], "
             "sasl_method=PLAIN, sasl_username=bob" for i in range(205)]
    lines += [f"{stamp} mx postfix/smtpd[7]: R{i}: client=quiet.example[45.3.0.2]" for i in range(20)]
    lines += [f"{stamp} mx postfix/qmgr[8]: Q1: from=<a@b.example>, size=1"]
    log = tmp_path / "mail.log"
    log.write_text("\n".join(lines) + "\n")
    s = cli.json("import", "postfix", "mig.test", log, "--threshold", "200", "--window", "1d",
                 "--feed", "outbound")
    assert s["reports"] == 1 and s["new_listings"] == 1, s
    assert cli.run("check", "mig.test", "45.3.0.1").returncode == 0
    assert cli.run("check", "mig.test", "45.3.0.2").returncode == 1
    assert cli.json("import", "postfix", "mig.test", log)["reports"] == 0
