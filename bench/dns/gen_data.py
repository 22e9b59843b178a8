#!/usr/bin/python3
"""Generate the DNS benchmark's data set (bench/dns/run.sh; see README.md).

Deterministic for a given seed and sizes. Writes into OUT:

  listings.txt          rblzone bulk-load file, one `SUBJECT CODE REASON` a line
  zones/bl.bench.toml   the rblzoned zone config (one ip zone)
  rbldnsd/v4.txt        rbldnsd ip4trie/ip4set dataset ($SOA, $NS, $TTL, default value)
  rbldnsd/v6.txt        rbldnsd ip6trie dataset
  queries.txt           dnsperf input: K A queries, half listed, half unlisted, shuffled
  expected.tsv          the same queries with their kind (listed_* / unlisted_*)
  samples.tsv           a few names per kind, for the dig sanity check
  meta.json             the parameters and counts

The data:
  * N distinct single IPv4 addresses (default 1M), drawn without a set by a
    seeded bijection of the 32-bit space (murmur3's fmix32, which is
    invertible, so "is this address one of the N?" costs one inverse);
  * 50k distinct IPv4 CIDR prefixes, lengths uniform in /16../30;
  * 10k distinct IPv6 /64 prefixes in 2000::/3.
Nothing overlaps special-purpose space (SPECIAL_V4, SPECIAL_V6_TOP16 below):
rblzone refuses such listings without --force, and rbldnsd must get the same set.

The queries: half listed (a listed single, an address inside a listed IPv4
prefix, or an address inside a listed /64), half unlisted (random addresses
checked against all three sets), every one an A query of the reversed-octet
(IPv4) or reversed-nibble (IPv6) name under the zone.
"""

import argparse
import ipaddress
import json
import os
import random
import sys

M32 = 0xFFFFFFFF
C1 = 0x85EBCA6B
C2 = 0xC2B2AE35
C1_INV = pow(C1, -1, 1 << 32)
C2_INV = pow(C2, -1, 1 << 32)


def fmix32(h):
    h ^= h >> 16
    h = (h * C1) & M32
    h ^= h >> 13
    h = (h * C2) & M32
    h ^= h >> 16
    return h


def fmix32_inv(h):
    h ^= h >> 16
    h = (h * C2_INV) & M32
    h ^= (h >> 13) ^ (h >> 26)
    h = (h * C1_INV) & M32
    h ^= h >> 16
    return h


# IPv4 special-purpose space (RFC 6890 and the IANA registry, plus multicast
# and class E): nothing listed or queried here overlaps it, so rblzone's
# special-purpose check (core::is_special_purpose) never skips a listing and
# rblzoned and rbldnsd serve exactly the same data.
SPECIAL_V4 = [
    ("0.0.0.0", 8), ("10.0.0.0", 8), ("100.64.0.0", 10), ("127.0.0.0", 8),
    ("169.254.0.0", 16), ("172.16.0.0", 12), ("192.0.0.0", 24), ("192.0.2.0", 24),
    ("192.31.196.0", 24), ("192.52.193.0", 24), ("192.88.99.0", 24), ("192.168.0.0", 16),
    ("192.175.48.0", 24), ("198.18.0.0", 15), ("198.51.100.0", 24), ("203.0.113.0", 24),
    ("224.0.0.0", 4), ("240.0.0.0", 4),
]
SPECIAL_V4 = [(int(ipaddress.IPv4Address(a)), n) for a, n in SPECIAL_V4]
SPECIAL_OCTETS = set()
for _net, _len in SPECIAL_V4:
    _span = 1 << max(0, 8 - _len)
    SPECIAL_OCTETS.update(range(_net >> 24, (_net >> 24) + _span))
# IPv6: everything is drawn from 2000::/3 (outside ::/8, fc00::/7, fe80::/10);
# the first 16 bits also avoid 2001::/16 (Teredo, benchmarking, ORCHID,
# documentation 2001:db8::/32, ...), 2002::/16 (6to4) and 3fff::/16 (documentation).
SPECIAL_V6_TOP16 = {0x2001, 0x2002, 0x3FFF}


def special(a, plen=32):
    """True if the IPv4 prefix a/plen overlaps special-purpose space."""
    if (a >> 24) not in SPECIAL_OCTETS:
        return False
    for net, n in SPECIAL_V4:
        m = min(n, plen)
        if (a >> (32 - m)) == (net >> (32 - m)):
            return True
    return False


def v6_top64():
    """A random /64 in 2000::/3 outside SPECIAL_V6_TOP16 (uses the global rng)."""
    while True:
        top = (1 << 61) | RNG.getrandbits(61)
        if (top >> 48) not in SPECIAL_V6_TOP16:
            return top


def v4str(a):
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


def v4qname(a, zone):
    return f"{a & 255}.{(a >> 8) & 255}.{(a >> 16) & 255}.{a >> 24}.{zone}"


def v6qname(a, zone):
    nibbles = f"{a:032x}"
    return ".".join(reversed(nibbles)) + "." + zone


def parse_count(text):
    t = text.strip().upper()
    mult = 1
    if t.endswith("K"):
        mult, t = 1000, t[:-1]
    elif t.endswith("M"):
        mult, t = 1000000, t[:-1]
    return int(float(t) * mult)


RNG = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--singles", default="1M", help="single IPv4 addresses (1M, 10M, 250k, ...)")
    ap.add_argument("--cidrs", default="50k", help="IPv4 CIDR prefixes, /16../30")
    ap.add_argument("--v6", default="10k", help="IPv6 /64 prefixes")
    ap.add_argument("--queries", default="200k", help="queries in queries.txt")
    ap.add_argument("--v6-query-share", type=float, default=0.05,
                    help="share of IPv6 (nibble) queries among listed and among unlisted")
    ap.add_argument("--cidr-query-share", type=float, default=0.2,
                    help="share of listed IPv4 queries that hit a CIDR prefix, not a single")
    ap.add_argument("--zone", default="bl.bench")
    ap.add_argument("--code", default="127.0.0.2")
    ap.add_argument("--reason", default="bench")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()

    n_single = parse_count(args.singles)
    n_cidr = parse_count(args.cidrs)
    n_v6 = parse_count(args.v6)
    n_query = parse_count(args.queries)
    zone = args.zone.rstrip(".").lower()
    global RNG
    rng = RNG = random.Random(args.seed)
    key = rng.getrandbits(32)  # selects the bijection

    def h(i):
        return fmix32(i ^ key)

    def h_inv(a):
        return fmix32_inv(a) ^ key

    out = args.out
    os.makedirs(os.path.join(out, "rbldnsd"), exist_ok=True)
    os.makedirs(os.path.join(out, "zones"), exist_ok=True)
    tail = f" {args.code} {args.reason}\n"

    lst = open(os.path.join(out, "listings.txt"), "w", buffering=1 << 20)
    v4 = open(os.path.join(out, "rbldnsd", "v4.txt"), "w", buffering=1 << 20)
    v6 = open(os.path.join(out, "rbldnsd", "v6.txt"), "w", buffering=1 << 20)

    # rbldnsd headers: the same SOA/NS/TTLs as rblzoned's zone defaults
    # (core/config.hpp: A TTL 900, NS TTL 86400, SOA TTL 300, minimum 60).
    v4.write(f"$SOA 300 ns1.{zone} hostmaster.{zone} 1 300 60 172800 60\n")
    v4.write(f"$NS 86400 ns1.{zone}\n")
    for f in (v4, v6):
        f.write("$TTL 900\n")
        f.write(f":{args.code}:{args.reason}\n")

    # 1. singles: indices 0..imax-1 of the bijection, skipping special-purpose ones.
    i = 0
    made = 0
    chunk_l, chunk_r = [], []
    while made < n_single:
        a = h(i)
        i += 1
        if special(a):
            continue
        s = v4str(a)
        chunk_l.append(s + tail)
        chunk_r.append(s + "\n")
        made += 1
        if len(chunk_l) >= 65536:
            lst.write("".join(chunk_l))
            v4.write("".join(chunk_r))
            chunk_l, chunk_r = [], []
    lst.write("".join(chunk_l))
    v4.write("".join(chunk_r))
    imax = i

    def is_single(a):
        return not special(a) and h_inv(a) < imax

    # 2. IPv4 CIDR prefixes, network-aligned, /16../30.
    cidrs = set()
    cidr_list = []
    while len(cidr_list) < n_cidr:
        plen = rng.randint(16, 30)
        a = rng.getrandbits(32) & (M32 << (32 - plen)) & M32
        if special(a, plen) or (a, plen) in cidrs:
            continue
        cidrs.add((a, plen))
        cidr_list.append((a, plen))
        s = f"{v4str(a)}/{plen}"
        lst.write(s + tail)
        v4.write(s + "\n")

    def in_cidr(a):
        for plen in range(16, 31):
            if (a & (M32 << (32 - plen)) & M32, plen) in cidrs:
                return True
        return False

    # 3. IPv6 /64 prefixes in 2000::/3.
    v6set = set()
    v6_list = []
    while len(v6_list) < n_v6:
        top = v6_top64()
        if top in v6set:
            continue
        v6set.add(top)
        v6_list.append(top)
        s = str(ipaddress.IPv6Network((top << 64, 64)))
        lst.write(s + tail)
        v6.write(s + "\n")
    for f in (lst, v4, v6):
        f.close()

    # 4. Queries.
    def listed_single():
        while True:
            a = h(rng.randrange(imax))
            if not special(a):
                return a

    def listed_cidr():
        a, plen = cidr_list[rng.randrange(len(cidr_list))]
        return a | rng.getrandbits(32 - plen)

    def listed_v6():
        top = v6_list[rng.randrange(len(v6_list))]
        return (top << 64) | rng.getrandbits(64)

    def unlisted_v4():
        while True:
            a = rng.getrandbits(32)
            if not special(a) and not is_single(a) and not in_cidr(a):
                return a

    def unlisted_v6():
        while True:
            top = v6_top64()
            if top not in v6set:
                return (top << 64) | rng.getrandbits(64)

    n_listed = n_query // 2
    n_unlisted = n_query - n_listed
    queries = []
    kinds = {"listed_single": 0, "listed_cidr": 0, "listed_v6": 0,
             "unlisted_v4": 0, "unlisted_v6": 0}
    samples = {k: [] for k in kinds}

    def add(kind, name):
        kinds[kind] += 1
        queries.append((name, kind))
        if len(samples[kind]) < 3:
            samples[kind].append(name)

    for _ in range(n_listed):
        if rng.random() < args.v6_query_share:
            add("listed_v6", v6qname(listed_v6(), zone))
        elif rng.random() < args.cidr_query_share:
            add("listed_cidr", v4qname(listed_cidr(), zone))
        else:
            add("listed_single", v4qname(listed_single(), zone))
    for _ in range(n_unlisted):
        if rng.random() < args.v6_query_share:
            add("unlisted_v6", v6qname(unlisted_v6(), zone))
        else:
            add("unlisted_v4", v4qname(unlisted_v4(), zone))
    rng.shuffle(queries)
    with open(os.path.join(out, "queries.txt"), "w") as f:
        f.write("".join(name + " A\n" for name, _ in queries))
    with open(os.path.join(out, "expected.tsv"), "w") as f:
        f.write("".join(f"{kind}\t{name}\n" for name, kind in queries))

    with open(os.path.join(out, "samples.tsv"), "w") as f:
        for kind, names in samples.items():
            for name in names:
                f.write(f"{kind}\t{name}\n")

    with open(os.path.join(out, "zones", f"{zone}.toml"), "w") as f:
        f.write(f'name = "{zone}"\nkind = "ip"\n')

    meta = {
        "zone": zone, "seed": args.seed, "code": args.code, "reason": args.reason,
        "singles": n_single, "cidrs": n_cidr, "v6_prefixes": n_v6,
        "listings": n_single + n_cidr + n_v6,
        "queries": n_query, "query_kinds": kinds,
    }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta), file=sys.stderr)


if __name__ == "__main__":
    main()
