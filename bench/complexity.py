#!/usr/bin/env python3
"""Complexity check: each command at N = 1,000 and N = 1,000,000 elements, and the growth of
its cost against the Big-O Redis documents for it.

A command's cost at a size is the mean time of a pipelined batch of calls (so a round trip
is not what is measured); the check is the ratio cost(N=1M) / cost(N=1k), compared with what
the documented complexity allows: O(1) and O(M) (M fixed here) may not grow, O(log N) may
double, O(N) may grow a thousandfold. A ratio is allowed SLACK times the model (cache misses
grow with the data even when the work does not), so what fails is a wrong Big-O (an O(N)
walk where O(log N) is promised shows ~1000x), never a slow machine.

Usage: bench/complexity.py [--bin target/release/readyloop | --port P] [--backend epoll-lt]
Prints a table and exits 1 if any command grows faster than its documented complexity.
Against redis-server for reference: --port of a running redis-server (--save '' ...).
"""

import argparse
import math
import os
import socket
import subprocess
import sys
import time

SMALL, LARGE = 1_000, 1_000_000
SLACK = 4.0
LOG_RATIO = math.log(LARGE) / math.log(SMALL)  # 2.0


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.at = 0

    @staticmethod
    def enc(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    # The buffer is read through an offset (`self.at`), never sliced per reply: slicing
    # would copy the rest of a big pipelined answer once per line (quadratic in Python).
    def _fill(self, need):
        while len(self.buf) - self.at < need:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed")
            if self.at:
                self.buf, self.at = self.buf[self.at:], 0
            self.buf += chunk

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.at)
            if end >= 0:
                line, self.at = self.buf[self.at:end], end + 2
                return line
            self._fill(len(self.buf) - self.at + 1)

    def _exact(self, n):
        self._fill(n + 2)
        data = self.buf[self.at:self.at + n]
        self.at += n + 2
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b":"):
            return int(rest) if t == b":" else rest
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)

    def pipeline(self, cmds):
        return self.send_encoded(self.encode_all(cmds), len(cmds))

    def encode_all(self, cmds):
        return b"".join(self.enc(c) for c in cmds)

    def send_encoded(self, payload, n):
        self.s.sendall(payload)
        return [self.read() for _ in range(n)]

    def call(self, *args):
        return self.pipeline([args])[0]


def fill_zset(c, key, n, same_score=False):
    c.call("DEL", key)
    batch = []
    for start in range(0, n, 1000):
        args = ["ZADD", key]
        for k in range(start, min(n, start + 1000)):
            args += ["0" if same_score else str(k), "m%09d" % k]
        batch.append(args)
        if len(batch) == 50:
            c.pipeline(batch)
            batch = []
    if batch:
        c.pipeline(batch)


def fill_set(c, key, n):
    c.call("DEL", key)
    batch = []
    for start in range(0, n, 1000):
        batch.append(["SADD", key] + ["m%09d" % k for k in range(start, min(n, start + 1000))])
        if len(batch) == 50:
            c.pipeline(batch)
            batch = []
    if batch:
        c.pipeline(batch)


def fill_hash(c, key, n):
    c.call("DEL", key)
    batch = []
    for start in range(0, n, 1000):
        args = ["HSET", key]
        for k in range(start, min(n, start + 1000)):
            args += ["f%09d" % k, "v"]
        batch.append(args)
        if len(batch) == 50:
            c.pipeline(batch)
            batch = []
    if batch:
        c.pipeline(batch)


def fill_list(c, key, n, every=2):
    """Every `every`-th element is "x" (the LREM target), the rest distinct."""
    c.call("DEL", key)
    batch = []
    for start in range(0, n, 1000):
        vals = ["x" if k % every == 0 else "e%d" % k for k in range(start, min(n, start + 1000))]
        batch.append(["RPUSH", key] + vals)
        if len(batch) == 50:
            c.pipeline(batch)
            batch = []
    if batch:
        c.pipeline(batch)


def per_call(c, make_batch, rounds=3, calls=2000):
    """Median over `rounds` of the mean seconds per call of a pipelined batch."""
    times = []
    for r in range(rounds):
        cmds = make_batch(r, calls)
        # A case may say how many operations its batch is (LREM's refill is part of one).
        cmds, ops = cmds if isinstance(cmds, tuple) else (cmds, len(cmds))
        payload = c.encode_all(cmds)
        t0 = time.perf_counter()
        c.send_encoded(payload, len(cmds))
        times.append((time.perf_counter() - t0) / ops)
    times.sort()
    return times[len(times) // 2]


# (name, documented Big-O, model ratio 1M/1k, setup(c, n), batch(n) -> (r, calls) -> cmds)
def cases():
    mid = lambda n: n // 2
    return [
        ("ZSCORE", "O(1)", 1.0, lambda c, n: fill_zset(c, "z", n),
         lambda n: lambda r, k: [["ZSCORE", "z", "m%09d" % ((i * 7919) % n)] for i in range(k)]),
        ("ZADD (update)", "O(log N)", LOG_RATIO, None,
         lambda n: lambda r, k: [["ZADD", "z", str((i * 31) % n), "m%09d" % ((i * 7919) % n)] for i in range(k)]),
        ("ZRANK", "O(log N)", LOG_RATIO, None,
         lambda n: lambda r, k: [["ZRANK", "z", "m%09d" % ((i * 7919) % n)] for i in range(k)]),
        ("ZCOUNT", "O(log N)", LOG_RATIO, None,
         lambda n: lambda r, k: [["ZCOUNT", "z", str(n // 4), str(3 * n // 4)] for _ in range(k)]),
        ("ZRANGE rank 10", "O(log N + M)", LOG_RATIO, None,
         lambda n: lambda r, k: [["ZRANGE", "z", mid(n), mid(n) + 9] for _ in range(k)]),
        ("ZRANGEBYSCORE LIMIT 10", "O(log N + M)", LOG_RATIO, None,
         lambda n: lambda r, k: [["ZRANGEBYSCORE", "z", mid(n), "+inf", "LIMIT", "0", "10"] for _ in range(k)]),
        ("ZREVRANGEBYSCORE LIMIT 10", "O(log N + M)", LOG_RATIO, None,
         lambda n: lambda r, k: [["ZREVRANGEBYSCORE", "z", mid(n), "-inf", "LIMIT", "0", "10"] for _ in range(k)]),
        ("ZRANDMEMBER", "O(1)", 1.0, None,
         lambda n: lambda r, k: [["ZRANDMEMBER", "z"] for _ in range(k)]),
        ("ZRANDMEMBER 10", "O(M)", 1.0, None,
         lambda n: lambda r, k: [["ZRANDMEMBER", "z", "10"] for _ in range(k)]),
        ("ZREMRANGEBYRANK 10 (+ZADD back)", "O(log N + M)", LOG_RATIO, None,
         lambda n: lambda r, k: [c for i in range(k // 2) for c in (
             ["ZREMRANGEBYRANK", "z", mid(n), mid(n) + 9],
             ["ZADD", "z"] + [x for j in range(10) for x in (str(mid(n) + j), "m%09d" % (mid(n) + j))])]),
        ("ZLEXCOUNT", "O(log N)", LOG_RATIO, lambda c, n: fill_zset(c, "zl", n, same_score=True),
         lambda n: lambda r, k: [["ZLEXCOUNT", "zl", "[m%09d" % (n // 4), "(m%09d" % (3 * n // 4)] for _ in range(k)]),
        ("ZRANGEBYLEX LIMIT 10", "O(log N + M)", LOG_RATIO, None,
         lambda n: lambda r, k: [["ZRANGEBYLEX", "zl", "[m%09d" % mid(n), "+", "LIMIT", "0", "10"] for _ in range(k)]),
        ("SRANDMEMBER", "O(1)", 1.0, lambda c, n: fill_set(c, "s", n),
         lambda n: lambda r, k: [["SRANDMEMBER", "s"] for _ in range(k)]),
        ("SRANDMEMBER 10", "O(M)", 1.0, None,
         lambda n: lambda r, k: [["SRANDMEMBER", "s", "10"] for _ in range(k)]),
        ("SRANDMEMBER -10", "O(M)", 1.0, None,
         lambda n: lambda r, k: [["SRANDMEMBER", "s", "-10"] for _ in range(k)]),
        ("SPOP 10 (+SADD back)", "O(M)", 1.0, None,
         lambda n: lambda r, k: [c for i in range(k // 2) for c in (
             ["SPOP", "s", "10"], ["SADD", "s"] + ["n%d-%d-%d" % (r, i, j) for j in range(10)])]),
        ("HRANDFIELD 10", "O(M)", 1.0, lambda c, n: fill_hash(c, "h", n),
         lambda n: lambda r, k: [["HRANDFIELD", "h", "10"] for _ in range(k // 20 or 1)]),
        ("APPEND 16 B", "O(1)", 1.0, lambda c, n: (c.call("SET", "str", "x" * n)),
         lambda n: lambda r, k: [["APPEND", "str", "0123456789abcdef"] for _ in range(k)]),
        ("GETRANGE 16 B", "O(M)", 1.0, None,
         lambda n: lambda r, k: [["GETRANGE", "str", mid(n), mid(n) + 15] for _ in range(k)]),
        ("SETRANGE 16 B", "O(M)", 1.0, None,
         lambda n: lambda r, k: [["SETRANGE", "str", mid(n), "0123456789abcdef"] for _ in range(k)]),
        ("RENAME zset", "O(1)", 1.0, None,
         lambda n: lambda r, k: [["RENAME", "z", "z2"] if i % 2 == 0 else ["RENAME", "z2", "z"]
                                 for i in range(k // 10 * 2 or 2)]),
        ("MOVE zset (+back)", "O(1)", 1.0, None,
         lambda n: lambda r, k: [c for _ in range(k // 20 or 1) for c in (
             ["MOVE", "z", "1"], ["SELECT", "1"], ["MOVE", "z", "0"], ["SELECT", "0"])]),
        ("LREM 0 (half match, +refill)", "O(N)", float(LARGE // SMALL), lambda c, n: fill_list(c, "l", n),
         lambda n: lambda r, k: ([["LREM", "l", "0", "x"]] + [
             ["LPUSH", "l"] + ["x"] * min(1000, n // 2 - j) for j in range(0, n // 2, 1000)], 1)),
    ]


def measure(port, only=None):
    c = Conn(port)
    c.call("FLUSHALL")
    results = {}
    for size in (SMALL, LARGE):
        c.call("FLUSHALL")
        for name, big_o, model, setup, batch in cases():
            if only and only not in name:
                continue
            if setup is not None:
                setup(c, size)
            results.setdefault(name, (big_o, model, {}))[2][size] = per_call(c, batch(size))
    return results


def report(results):
    bad = 0
    linear = LARGE / SMALL
    print("%-34s %-14s %12s %12s %9s %9s  %s" % (
        "command", "documented", "N=1k us", "N=1M us", "ratio", "allowed", "verdict"))
    for name, (big_o, model, t) in results.items():
        ratio = t[LARGE] / t[SMALL]
        # The models were written for the default sizes: rescale them to the sizes run.
        allowed = (linear if model > LOG_RATIO else min(model, LOG_RATIO)) * SLACK
        ok = ratio <= allowed
        bad += not ok
        print("%-34s %-14s %12.2f %12.2f %9.2f %9.1f  %s" % (
            name, big_o, t[SMALL] * 1e6, t[LARGE] * 1e6, ratio, allowed, "ok" if ok else "TOO FAST GROWTH"))
    return bad


def main():
    global LARGE, LOG_RATIO
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/readyloop")
    ap.add_argument("--port", type=int, help="use a server already listening here")
    ap.add_argument("--listen", type=int, default=21302, help="port for the server this starts")
    ap.add_argument("--backend", default="epoll-lt")
    ap.add_argument("--only", help="only commands whose name contains this")
    ap.add_argument("--large", type=int, default=LARGE, help="the large N (a quick smoke run)")
    a = ap.parse_args()
    LARGE = a.large
    LOG_RATIO = math.log(LARGE) / math.log(SMALL)
    proc = None
    port = a.port
    if port is None:
        port = a.listen
        proc = subprocess.Popen([a.bin, "kv", "--backend", a.backend, "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
    try:
        print("# complexity check: N=%d vs N=%d, slack %.0fx, load %s" % (
            SMALL, LARGE, SLACK, os.getloadavg()))
        bad = report(measure(port, a.only))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
