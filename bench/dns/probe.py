#!/usr/bin/python3
"""Helpers for bench/dns/run.sh (standard library only).

  probe.py freeport
      Prints a port that is free on 127.0.0.1 for both UDP and TCP.

  probe.py start --port P --name QNAME --result FILE [--any] [--timeout S] -- CMD...
      Execs CMD in this process (so a shell's $! is the server's pid), after
      forking a detached prober that sends an A query for QNAME to 127.0.0.1:P
      every 2 ms until the first answer arrives: one with an A record (NOERROR,
      ANCOUNT > 0), or any response at all with --any (the ceiling). The prober
      writes to FILE (atomically) the seconds from just before the exec to that
      answer, or "FAIL reason" if the server exits or the timeout passes.

  probe.py verify --port P --expected expected.tsv [--limit N] [--code 127.0.0.2]
      Sends the first N queries of expected.tsv (kind TAB name; 0 = all) to
      127.0.0.1:P, up to 256 outstanding, and checks every answer: listed_*
      must be NOERROR with exactly the A record CODE, unlisted_* NXDOMAIN with
      no answer. Prints one line per kind and the first wrong answers; exits 1
      if any answer was wrong or missing.
"""

import argparse
import os
import random
import select
import socket
import struct
import sys
import time


def freeport():
    for _ in range(200):
        port = random.randint(20000, 60000)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind(("127.0.0.1", port))
            t.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        print(port)
        return 0
    print("probe.py: no free port", file=sys.stderr)
    return 1


def query(qid, name):
    header = struct.pack("!HHHHHH", qid, 0x0000, 1, 0, 0, 0)  # RD off
    labels = b"".join(
        bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split(".")
    )
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)


def dead(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except FileNotFoundError:
        return True


def probe(args, server_pid, t0):
    """Runs in a detached grandchild: query until answered, write the result."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    qid = 0
    deadline = t0 + args.timeout
    result = None
    while result is None:
        qid = (qid + 1) & 0xFFFF
        try:
            sock.sendto(query(qid, args.name), ("127.0.0.1", args.port))
        except OSError:
            pass
        wait_until = time.monotonic() + 0.002
        while result is None:
            left = wait_until - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
            try:
                data = sock.recv(4096)
            except OSError:
                continue
            if len(data) < 12:
                continue
            _, flags, _, ancount = struct.unpack("!HHHH", data[:8])
            if not flags & 0x8000:
                continue
            if args.any or ((flags & 0x000F) == 0 and ancount > 0):
                result = f"{time.monotonic() - t0:.4f}"
        if result is None and dead(server_pid):
            result = "FAIL server exited before answering"
        if result is None and time.monotonic() > deadline:
            result = f"FAIL no answer for {args.name} within {args.timeout}s"
    tmp = args.result + ".tmp"
    with open(tmp, "w") as f:
        f.write(result + "\n")
    os.rename(tmp, args.result)


def start(args):
    """Forks a detached prober, then execs the server in this very process, so
    the caller's $! is the server's pid and the server has no child of ours."""
    server_pid = os.getpid()
    t0 = time.monotonic()
    child = os.fork()
    if child == 0:
        if os.fork() != 0:
            os._exit(0)
        try:
            probe(args, server_pid, t0)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    os.execvp(args.cmd[0], args.cmd)


def skip_name(data, off):
    while True:
        n = data[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def parse_answer(data):
    """-> (rcode, [A addresses]) of a response."""
    _, flags, qd, an = struct.unpack("!HHHH", data[:8])
    off = 12
    for _ in range(qd):
        off = skip_name(data, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(data, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(data[off:off + 4]))
        off += rdlen
    return flags & 0x000F, sorted(addrs)


RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def verify(args):
    todo = []
    with open(args.expected) as f:
        for line in f:
            kind, name = line.rstrip("\n").split("\t")
            todo.append((kind, name))
            if args.limit and len(todo) >= args.limit:
                break
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    dest = ("127.0.0.1", args.port)
    pending = {}  # qid -> (index, sent time, tries)
    results = [None] * len(todo)
    nxt = 0
    while nxt < len(todo) or pending:
        now = time.monotonic()
        while nxt < len(todo) and len(pending) < 256:
            qid = nxt & 0xFFFF
            if qid in pending:
                break
            sock.sendto(query(qid, todo[nxt][1]), dest)
            pending[qid] = (nxt, now, 1)
            nxt += 1
        r, _, _ = select.select([sock], [], [], 0.05)
        if r:
            while True:
                try:
                    data = sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    break
                if len(data) < 12:
                    continue
                qid = struct.unpack("!H", data[:2])[0]
                if qid not in pending:
                    continue
                i = pending.pop(qid)[0]
                try:
                    results[i] = parse_answer(data)
                except (IndexError, struct.error):
                    results[i] = ("unparsable", [])
        now = time.monotonic()
        for qid, (i, sent, tries) in list(pending.items()):
            if now - sent > 1.0:
                if tries < 3:
                    sock.sendto(query(qid, todo[i][1]), dest)
                    pending[qid] = (i, now, tries + 1)
                else:
                    del pending[qid]
                    results[i] = ("timeout", [])
    per = {}
    wrong = []
    for (kind, name), res in zip(todo, results):
        rcode, addrs = res
        if kind.startswith("listed"):
            ok = rcode == 0 and addrs == [args.code]
        else:
            ok = rcode == 3 and not addrs
        st = per.setdefault(kind, [0, 0])
        st[0 if ok else 1] += 1
        if not ok:
            wrong.append((kind, name, RCODES.get(rcode, rcode), addrs))
    for kind in sorted(per):
        good, bad = per[kind]
        print(f"{kind}: {good} ok, {bad} wrong")
    for kind, name, rc, addrs in wrong[:args.show]:
        print(f"  WRONG {kind} {name}: {rc} {' '.join(addrs)}")
    return 1 if wrong else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    sub.add_parser("freeport")
    st = sub.add_parser("start")
    st.add_argument("--port", type=int, required=True)
    st.add_argument("--name", required=True)
    st.add_argument("--result", required=True)
    st.add_argument("--any", action="store_true")
    st.add_argument("--timeout", type=float, default=600)
    st.add_argument("cmd", nargs=argparse.REMAINDER)
    vf = sub.add_parser("verify")
    vf.add_argument("--port", type=int, required=True)
    vf.add_argument("--expected", required=True)
    vf.add_argument("--limit", type=int, default=0)
    vf.add_argument("--code", default="127.0.0.2")
    vf.add_argument("--show", type=int, default=10)
    args = ap.parse_args()
    if args.cmd_name == "freeport":
        return freeport()
    if args.cmd_name == "verify":
        return verify(args)
    if args.cmd and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    if not args.cmd:
        ap.error("start needs a command after --")
    return start(args)


if __name__ == "__main__":
    sys.exit(main())
