#!/usr/bin/env python3
"""RSS per element of one large collection: a sorted set, a set and a hash of N members
(default 1,000,000, members "member:<k>", scores random), measured as the server's VmRSS
growth from an empty server, divided by N. Compare two builds by running it with each --bin.

Usage: bench/collection_memory.py --bin target/release/readyloop [--n 1000000] [--port 21303]
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from complexity import Conn  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fill(c, kind, n):
    rnd = random.Random(1)
    batch = []
    for start in range(0, n, 1000):
        ks = range(start, min(n, start + 1000))
        if kind == "zset":
            args = ["ZADD", "k"]
            for k in ks:
                args += [str(rnd.randrange(1_000_000)), "member:%d" % k]
        elif kind == "set":
            args = ["SADD", "k"] + ["member:%d" % k for k in ks]
        else:
            args = ["HSET", "k"]
            for k in ks:
                args += ["member:%d" % k, "v%d" % (k % 1000)]
        batch.append(args)
        if len(batch) == 50:
            c.pipeline(batch)
            batch = []
    if batch:
        c.pipeline(batch)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--port", type=int, default=21303)
    a = ap.parse_args()
    for kind in ("zset", "set", "hash"):
        proc = subprocess.Popen([a.bin, "kv", "--port", str(a.port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", a.port)).close()
                    break
                except OSError:
                    time.sleep(0.05)
            c = Conn(a.port)
            c.call("PING")
            before = rss_kib(proc.pid)
            fill(c, kind, a.n)
            assert c.call({"zset": "ZCARD", "set": "SCARD", "hash": "HLEN"}[kind], "k") == a.n
            time.sleep(0.2)
            after = rss_kib(proc.pid)
            print("%-5s %s: %d members, RSS +%.1f MiB, %.1f B/member" % (
                kind, c.call("OBJECT", "ENCODING", "k").decode(), a.n,
                (after - before) / 1024, (after - before) * 1024 / a.n))
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
