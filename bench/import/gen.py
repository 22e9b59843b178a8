#!/usr/bin/python3
"""Generates import benchmark inputs: a trap-hit CSV log and a trap Maildir.

gen.py traplog FILE LINES ADDRESSES   hits spread over ADDRESSES distinct relays
gen.py maildir DIR MESSAGES ADDRESSES  Postfix-style messages behind one trusted relay
"""
import os
import random
import sys
import time


def addr(i: int) -> str:
    return f"45.{(i >> 16) & 0xff}.{(i >> 8) & 0xff}.{i & 0xff or 1}"


def traplog(path, lines, addresses):
    rng = random.Random(1)
    now = int(time.time()) - 3600
    with open(path, "w") as f:
        f.write("time,address,trap,evidence\n")
        for i in range(lines):
            f.write(f"{now + i // 1000},{addr(rng.randrange(addresses))},trap-{i % 7},msg-{i}\n")


def maildir(path, messages, addresses):
    rng = random.Random(2)
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i in range(messages):
        a = addr(rng.randrange(addresses))
        body = (
            "Return-Path: <bounce@sender.example>\n"
            "Received: from relay (relay.example.org [10.1.1.1]) by mx.example.org (Postfix) "
            f"with ESMTP id A{i}; Sun, 22 Nov 2026 14:00:00 +0000\n"
            f"Received: from helo{i}.example (unknown [{a}]) by relay.example.org (Postfix) "
            f"with ESMTP id B{i}; Sun, 22 Nov 2026 13:59:59 +0000\n"
            f"From: Offer <deals@from{i % 100}.example>\nTo: trap@example.org\n"
            f"Subject: offer {i}\nMessage-Id: <{i}@spam.example>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n"
            f"Buy now at http://shop{i % 500}.example/item?{i}\n" + ("filler text line\n" * 40))
        with open(os.path.join(path, "new", f"{1795356000 + i}.M{i}P1.bench"), "w") as f:
            f.write(body)


if __name__ == "__main__":
    kind, target, n, addresses = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    (traplog if kind == "traplog" else maildir)(target, n, addresses)
