"""Real DNS secondaries for the transfer tests: Knot (knotd) and NSD from
Debian, each started in its own temporary directory on a free loopback port,
pulling zones from rblzoned by AXFR/IXFR and taking its NOTIFY.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.rcode

from harness import HOST, free_port, query  # noqa: F401 (free_port: test_transfer imports it from here)

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
NSD = shutil.which("nsd") or "/usr/sbin/nsd"


class Secondary:
    name = "secondary"

    def __init__(self, workdir: Path, zones: list[str], primary_port: int, port: int,
                 key: tuple[str, str] | None = None, source: str | None = None):
        """key: (name, base64 secret) of a TSIG key (hmac-sha256) the
        secondary signs its SOA, AXFR and IXFR queries with and requires on
        NOTIFY. source: the loopback address it sends its queries from (so
        the primary's log tells the secondaries apart)."""
        self.dir = Path(workdir) / self.name
        self.key = key
        self.source = source
        self.dir.mkdir(parents=True, exist_ok=True)
        self.zones = zones
        self.primary_port = primary_port
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "out.log"

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        extra = self.dir / "nsd.log"
        if extra.exists():
            text += extra.read_text(errors="replace")
        return text

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout=20.0):
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)
        self.wait_serials(None, timeout)
        return self

    def serial(self, zone: str):
        try:
            r = query(self.port, zone, "SOA", timeout=0.5)
        except (dns.exception.Timeout, OSError):
            return None
        if r.rcode() != dns.rcode.NOERROR or not r.answer:
            return None
        return r.answer[0][0].serial

    def wait_serials(self, serials: dict | None, timeout: float):
        """Until every zone is served (at the given serials, if any)."""
        deadline = time.monotonic() + timeout
        while True:
            now = {z: self.serial(z) for z in self.zones}
            if all(v is not None for v in now.values()) and (
                    serials is None or all(now[z] == serials[z] for z in serials)):
                return now
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} serials {now}, want {serials}:\n"
                                     f"{self.log()[-4000:]}")
            time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Knot(Secondary):
    name = "knot"

    def argv(self):
        d = self.dir
        (d / "db").mkdir(exist_ok=True)
        (d / "zones").mkdir(exist_ok=True)
        zones = "".join(f"  - domain: {z}\n    master: primary\n    acl: notify_from_primary\n"
                        for z in self.zones)
        key_section = key_line = ""
        if self.key:
            key_section = (f"key:\n  - id: {self.key[0]}\n    algorithm: hmac-sha256\n"
                           f"    secret: {self.key[1]}\n")
            key_line = f"    key: {self.key[0]}\n"
        via = f"    via: {self.source}\n" if self.source else ""
        (d / "knot.conf").write_text(f"""\
server:
    rundir: "{d}"
    listen: {HOST}@{self.port}
    tcp-workers: 2
    udp-workers: 2
    background-workers: 2
log:
  - target: stdout
    any: info
database:
    storage: "{d / 'db'}"
{key_section}remote:
  - id: primary
    address: {HOST}@{self.primary_port}
{key_line}{via}acl:
  - id: notify_from_primary
    address: 127.0.0.0/8
{key_line}    action: notify
template:
  - id: default
    storage: "{d / 'zones'}"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: none
    semantic-checks: off
zone:
{zones}""")
        return [KNOTD, "-c", str(d / "knot.conf")]


class Nsd(Secondary):
    name = "nsd"

    def argv(self):
        d = self.dir
        key = self.key[0] if self.key else "NOKEY"
        source = f"    outgoing-interface: {self.source}\n" if self.source else ""
        zones = "".join(f"""\
zone:
    name: {z}
    allow-notify: {HOST} {key}
    request-xfr: {HOST}@{self.primary_port} {key}
{source}""" for z in self.zones)
        if self.key:
            zones = (f'key:\n    name: {self.key[0]}\n    algorithm: hmac-sha256\n'
                     f'    secret: "{self.key[1]}"\n') + zones
        (d / "nsd.conf").write_text(f"""\
server:
    ip-address: {HOST}@{self.port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{d}"
    zonelistfile: "{d / 'zone.list'}"
    database: ""
    pidfile: "{d / 'nsd.pid'}"
    xfrdfile: "{d / 'xfrd.state'}"
    xfrdir: "{d}"
    logfile: "{d / 'nsd.log'}"
    xfrd-reload-timeout: 0
    zonefiles-write: 0
    verbosity: 2
remote-control:
    control-enable: no
{zones}""")
        return [NSD, "-d", "-c", str(d / "nsd.conf")]
