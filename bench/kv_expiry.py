#!/usr/bin/env python3
"""Active expiry lateness under load: 1,000,000 keys with TTLs spread evenly over
1-10 s, inserted with `redis-cli --pipe`; while a `redis-benchmark -P 1 GET` load runs, DBSIZE
is sampled every 50 ms. DBSIZE never expires anything itself, so what it counts is what active
expiry has not removed yet.

Lateness bound per sample: with r keys left, the earliest TTL among them is at least
10000 - r * 9000 / N ms (TTLs are linear in the key number), and every key was inserted by T1
(end of the insert), so the oldest remaining deadline is at most T1 + that TTL; lateness =
now - that deadline. The maximum over all samples is reported (conservative: keys inserted
before T1 are later than this says, never earlier). The same -P 1 GET load is also run without
expiring keys as the p99 baseline.

Usage: bench/kv_expiry.py --server 'target/release/readyloop kv --backend epoll-lt' --out DIR
       [--keys 1000000] [--peer redis]   (--peer redis also runs redis-server 7.0 the same way)
Server pinned to CPU 0, clients to CPU 1. Writes DIR/kv_expiry.json and prints a summary.
"""
import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, within=10.0):
    end = time.time() + within
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def dbsize(sock):
    sock.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
    buf = b""
    while not buf.endswith(b"\r\n"):
        buf += sock.recv(64)
    return int(buf[1:-2])


def make_input(n, path):
    with open(path, "wb") as f:
        v = b"v" * 32
        for i in range(n):
            k = b"key:%012d" % i
            ttl = 1000 + (i * 9000) // n
            t = str(ttl).encode()
            f.write(b"*5\r\n$3\r\nSET\r\n$16\r\n" + k + b"\r\n$32\r\n" + v + b"\r\n$2\r\nPX\r\n$"
                    + str(len(t)).encode() + b"\r\n" + t + b"\r\n")


def bench_get(port, seconds):
    cmd = ["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-P", "1", "-c", "50",
           "-t", "get", "-n", str(int(seconds * 15000)), "-r", "1000000", "--csv"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 20).stdout
    line = [l for l in out.splitlines() if l.startswith('"GET"')][-1]
    f = [x.strip('"') for x in line.split(",")]
    return {"rps": float(f[1]), "p99_ms": float(f[6]), "cmd": " ".join(cmd)}


def run(name, server_cmd, port, n, inp):
    srv = subprocess.Popen(["taskset", "-c", "0"] + server_cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        baseline = bench_get(port, 4)
        t0 = time.time()
        with open(inp, "rb") as f:
            subprocess.run(["taskset", "-c", "1", "redis-cli", "-p", str(port), "--pipe"], stdin=f,
                           stdout=subprocess.DEVNULL, check=True)
        t1 = time.time()
        load = subprocess.Popen([sys.executable, __file__, "--get-load", str(port)],
                                stdout=subprocess.PIPE, text=True)
        sock = socket.create_connection(("127.0.0.1", port))
        worst = -1e9
        gone_at = None
        samples = []
        while time.time() < t1 + 14:
            r = dbsize(sock)
            now = time.time()
            samples.append((round(now - t1, 3), r))
            if r > 0:
                min_ttl = 10.0 - r * 9.0 / n
                worst = max(worst, now - (t1 + min_ttl))
            elif gone_at is None:
                gone_at = now - t1
            time.sleep(0.05)
        under = json.loads(load.communicate()[0])
        return {
            "server": name, "command": " ".join(server_cmd), "keys": n,
            "insert_seconds": round(t1 - t0, 3),
            "max_lateness_s_upper_bound": round(worst, 3),
            "all_gone_after_insert_end_s": None if gone_at is None else round(gone_at, 3),
            "get_baseline": baseline, "get_during_expiry": under,
            "p99_ratio": round(under["p99_ms"] / baseline["p99_ms"], 2),
            "samples": samples,
        }
    finally:
        srv.terminate()
        srv.wait(10)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--get-load":
        print(json.dumps(bench_get(int(sys.argv[2]), 10)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="target/release/readyloop kv --backend epoll-lt")
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--peer", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    inp = os.path.join(tempfile.mkdtemp(), "expiry.resp")
    make_input(a.keys, inp)
    results = []
    port = free_port()
    results.append(run("readyloop", shlex.split(a.server) + ["--port", str(port)], port, a.keys, inp))
    if a.peer == "redis":
        port = free_port()
        results.append(run("redis-server", ["redis-server", "--port", str(port), "--save", "",
                                            "--appendonly", "no"], port, a.keys, inp))
    with open(os.path.join(a.out, "kv_expiry.json"), "w") as f:
        json.dump({"argv": sys.argv, "results": results}, f, indent=1)
    for r in results:
        print(f"{r['server']}: max lateness <= {r['max_lateness_s_upper_bound']} s, all gone "
              f"{r['all_gone_after_insert_end_s']} s after insert end (last TTL 10 s); GET -P 1 "
              f"p99 {r['get_during_expiry']['p99_ms']} ms during vs {r['get_baseline']['p99_ms']} "
              f"ms baseline ({r['p99_ratio']}x)")


if __name__ == "__main__":
    main()
