"""Shared pieces of the reliability drivers (crash.py, soak.py): the daemon
on a persistent data directory, an HTTP client that tells "no answer" from an
answer, and a reader of the store's raw LMDB databases through mdb_dump
(lmdb-utils), so the checks see the bytes on disk, not what the daemon says.

The drivers are plain Python (Debian's /usr/bin/python3 with dnspython); the
pytest wrappers live in tests/integration/test_crash.py and test_soak.py.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

import harness  # noqa: E402  (tests/integration/harness.py: Daemon, Cli, DNS helpers)

HOST = harness.HOST

# Rate limits off: the drivers send hundreds of delist requests from 127.0.0.1.
DAEMON_CONFIG = """\
[http]
public_per_minute = 0
delist_per_hour = 0
auth_failures_per_minute = 0
"""


def ip_zone(name: str) -> str:
    return (f'name = "{name}"\nkind = "ip"\n\n[transfer]\nallow = ["127.0.0.0/8"]\n'
            'journal_max_entries = 100000000\njournal_max_age = "366d"\n')


class NoAnswer(Exception):
    """The request got no HTTP response (refused, reset, timed out): it may or
    may not have been applied."""


def call(port: int, method: str, path: str, body=None, token: str | None = None,
         timeout: float = 5.0):
    """One request on a fresh connection: (status, parsed JSON or text).
    Raises NoAnswer when no complete response arrived."""
    h = {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode()
    except (OSError, http.client.HTTPException) as e:
        raise NoAnswer(f"{method} {path}: {e!r}") from e
    finally:
        c.close()
    ctype = r.getheader("Content-Type", "")
    return r.status, (json.loads(text) if ctype.startswith("application/json") and text else text)


class Session:
    """Requests over one kept-alive connection (reopened after an error), for
    clients that must keep a rate."""

    def __init__(self, port: int, token: str | None, timeout: float = 5.0):
        self.port, self.token, self.timeout = port, token, timeout
        self.conn: http.client.HTTPConnection | None = None

    def __call__(self, method: str, path: str, body=None):
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
            text = r.read().decode()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = None
            raise NoAnswer(f"{method} {path}: {e!r}") from e
        if r.will_close:
            self.conn.close()
            self.conn = None
        ctype = r.getheader("Content-Type", "")
        return r.status, (json.loads(text) if ctype.startswith("application/json") and text
                          else text)


# --- the raw store ----------------------------------------------------------------

def mdb_dump(data_dir: Path, db: str) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of one named database, read by mdb_dump in its own
    read transaction (safe while rblzoned or an importer writes)."""
    r = subprocess.run(["mdb_dump", "-s", db, str(data_dir)], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"mdb_dump -s {db} {data_dir}: rc {r.returncode}: {r.stderr}")
    out = []
    lines = r.stdout.splitlines()
    i = lines.index("HEADER=END") + 1
    while lines[i] != "DATA=END":
        out.append((bytes.fromhex(lines[i].strip()), bytes.fromhex(lines[i + 1].strip())))
        i += 2
    return out


def zone_ids(data_dir: Path) -> dict[str, tuple[int, int]]:
    """zone name -> (id, serial) from the `zones` database."""
    return {k.decode(): (int.from_bytes(v[0:2], "big"), int.from_bytes(v[2:6], "big"))
            for k, v in mdb_dump(data_dir, "zones")}


def ip_key_subject(key: bytes) -> str:
    """addr[16] | len[1] (schema.hpp) as the subject's canonical text."""
    addr, length = ipaddress.IPv6Address(key[:16]), key[16]
    if addr.ipv4_mapped is not None and length >= 96:
        v4, plen = addr.ipv4_mapped, length - 96
        return str(v4) if plen == 32 else f"{v4}/{plen}"
    return str(addr) if length == 128 else f"{addr}/{length}"


def _str(buf: bytes, pos: int) -> tuple[bytes, int]:
    n = int.from_bytes(buf[pos:pos + 2], "big")
    return buf[pos + 2:pos + 2 + n], pos + 2 + n


def journal(data_dir: Path, zone_id: int) -> list[tuple[int, int, str, bytes]]:
    """The zone's journal in serial order: (serial, op 1 put / 2 del, subject,
    listing bytes)."""
    out = []
    for k, v in mdb_dump(data_dir, "journal"):
        if int.from_bytes(k[0:2], "big") != zone_id:
            continue
        serial = int.from_bytes(k[2:6], "big")
        op, kind = v[8], v[9]
        assert kind == 4, f"journal entry {serial}: kind {kind} in an IP zone"
        key, pos = _str(v, 10)
        listing, _ = _str(v, pos)
        out.append((serial, op, ip_key_subject(key), listing))
    return out


def ip_listings(data_dir: Path, zone_id: int) -> dict[str, bytes]:
    """subject -> stored listing bytes (without the parent byte) of one zone."""
    out = {}
    for k, v in mdb_dump(data_dir, "ip"):
        if int.from_bytes(k[0:2], "big") == zone_id:
            out[ip_key_subject(k[2:])] = v[1:]
    return out


def replay(entries) -> dict[str, bytes]:
    """The listing set the journal describes: each put sets, each del removes."""
    state: dict[str, bytes] = {}
    for _serial, op, subject, listing in entries:
        if op == 1:
            state[subject] = listing
        elif op == 2:
            state.pop(subject, None)
        else:
            raise AssertionError(f"journal op {op}")
    return state


def aux_count(data_dir: Path, prefix: bytes) -> int:
    return sum(1 for k, _ in mdb_dump(data_dir, "aux") if k.startswith(prefix))


def import_cursor(data_dir: Path, zone_id: int) -> dict | None:
    """The importer's committed cursor ('i' 'c' ZONE ...) for the zone's one
    source, or None before its first commit."""
    prefix = b"ic" + zone_id.to_bytes(2, "big")
    found = [json.loads(v) for k, v in mdb_dump(data_dir, "aux") if k.startswith(prefix)]
    assert len(found) <= 1, f"more than one cursor in zone {zone_id}: {found}"
    return found[0] if found else None


# --- process figures ----------------------------------------------------------------

def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, RssShmem in KiB from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


# The trap-log subject of line `line` (0-based): 45.0.0.1, 45.0.0.2, ...
def trap_subject(line: int) -> str:
    n = line + 1
    return f"45.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class Failure(AssertionError):
    pass
