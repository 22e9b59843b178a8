#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_wire into corpus/wire/ (next to this file).

Each seed is one DNS message for the fixture zones in fuzz_wire.cpp
(dnsbl.test: ip, rhsbl.test: domain, zen.test: combined): valid queries of
every kind the answerer handles, EDNS variants, and malformed messages that
must be answered FORMERR/NOTIMP or dropped. Run it again after changing it;
the files are committed, the script only documents how they were made.
"""
import os
import struct

A, NS, SOA, TXT, AAAA, OPT, AXFR, ANY = 1, 2, 6, 16, 28, 41, 252, 255
IN, CH = 1, 3
RD, QR = 0x0100, 0x8000


def name(text):
    out = b""
    for label in filter(None, text.split(".")):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(flags=RD, qd=1, an=0, ns=0, ar=0, qid=0x1234):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


def question(qname, qtype=A, qclass=IN):
    return name(qname) + struct.pack(">HH", qtype, qclass)


def opt(udp=1232, version=0, do=False, rdata=b""):
    ttl = (version << 16) | (0x8000 if do else 0)
    return b"\x00" + struct.pack(">HHIH", OPT, udp, ttl, len(rdata)) + rdata


def query(qname, qtype=A, qclass=IN, flags=RD, edns=None):
    ar = 1 if edns is not None else 0
    msg = header(flags, 1, 0, 0, ar) + question(qname, qtype, qclass)
    return msg + (edns if edns is not None else b"")


def v6_nibbles(addr_hex32):
    return ".".join(reversed(addr_hex32))


SEEDS = {
    "a_listed_v4": query("3.2.0.192.dnsbl.test"),
    "txt_listed_v4": query("3.2.0.192.dnsbl.test", TXT),
    "a_case_mixed": query("3.2.0.192.DnSbL.TeSt"),
    "any_listed_v6": query(v6_nibbles("20010db8000000000000000000000001") + ".dnsbl.test", ANY),
    "a_excluded": query("5.2.0.192.dnsbl.test"),
    "a_nxdomain": query("9.9.9.9.dnsbl.test"),
    "a_empty_nonterminal": query("2.0.192.dnsbl.test"),
    "a_rhsbl_subtree": query("www.spammer.example.rhsbl.test"),
    "txt_zen_combined": query("3.2.0.192.zen.test", TXT),
    "any_zen_testpoint": query("2.0.0.127.zen.test", ANY),
    "soa_apex": query("dnsbl.test", SOA),
    "ns_apex_zen": query("zen.test", NS),
    "a_refused_out_of_zone": query("example.com"),
    "axfr_refused": query("dnsbl.test", AXFR),
    "edns_do_4096": query("3.2.0.192.dnsbl.test", A, edns=opt(4096, do=True)),
    "edns_udp_below_512": query("3.2.0.192.zen.test", ANY, edns=opt(100)),
    "edns_badvers": query("3.2.0.192.dnsbl.test", A, edns=opt(1232, version=1)),
    "edns_cookie_option": query("3.2.0.192.dnsbl.test", A,
                                edns=opt(1232, rdata=b"\x00\x0a\x00\x08" + b"cookie!!")),
    "opcode15_notimp": header(RD | (15 << 11)) + question("dnsbl.test"),
    "qdcount0": header(RD, 0),
    "qdcount2": header(RD, 2) + question("a.dnsbl.test") + question("b.dnsbl.test"),
    "two_opts": header(RD, 1, 0, 0, 2) + question("dnsbl.test") + opt() + opt(),
    "opt_in_answer": header(RD, 1, 1) + question("dnsbl.test") + opt(),
    "trailing_bytes": query("3.2.0.192.dnsbl.test") + b"\x00\x00",
    "truncated_header": query("dnsbl.test")[:11],
    "truncated_question": query("3.2.0.192.dnsbl.test")[:-2],
    "compression_self_loop": header() + b"\xc0\x0c" + struct.pack(">HH", A, IN),
    "compression_forward": header() + b"\x01a\xc0\x12\x00" + b"\x00" + struct.pack(">HH", A, IN),
    "compression_valid_additional": header(RD, 1, 0, 0, 1) + question("3.2.0.192.dnsbl.test")
    + b"\xc0\x0c" + struct.pack(">HHIH", A, IN, 0, 4) + b"\x7f\x00\x00\x02",
    "response_qr_set": query("3.2.0.192.dnsbl.test", flags=QR | RD),
}


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")
    os.makedirs(out_dir, exist_ok=True)
    for seed, data in sorted(SEEDS.items()):
        with open(os.path.join(out_dir, seed), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out_dir}")


if __name__ == "__main__":
    main()
