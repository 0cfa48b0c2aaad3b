#!/usr/bin/env python3
"""readyloop kv vs redis-server 7.0, same run (SET/GET/INCR/MSET throughput, CPU per request, memory per key). python3 stdlib only.

Per round (server order rotated each round), every server is started fresh, pinned to CPU 0,
and redis-benchmark runs pinned to CPU 1 with 50 clients:
  -P 16: GET, SET, INCR, MSET      -P 1: GET, SET (p99 from --csv)
Server CPU per request = (utime+stime from /proc/PID/stat, after - before) / requests.
Memory per key: RSS (VmRSS) after `redis-cli --pipe` inserting 1,000,000 SETs of 16-byte keys and
32-byte values, minus RSS of the empty server, divided by the key count (DBSIZE checked).

Usage:
  bench/kv_bench.py --readyloop target/release/readyloop --out bench/results/2026-11-26-vm/kv/NAME
      [--servers redis,epoll-lt,epoll-et] [--rounds 3] [--n16 2000000] [--n1 200000] [--keys 1000000]
Writes OUT/kv_bench.json (every run, with its exact command) and OUT/kv_bench.md (medians, ratios).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
TESTS = [("get", 16), ("set", 16), ("incr", 16), ("mset", 16), ("get", 1), ("set", 1)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def resp(sock, *args):
    out = f"*{len(args)}\r\n"
    for a in args:
        out += f"${len(a)}\r\n{a}\r\n"
    sock.sendall(out.encode())
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("closed")
        data += chunk
    return data


def wait_ping(port, proc, within=10.0):
    deadline = time.time() + within
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if resp(s, "PING").startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not answer PING")


class Server:
    def __init__(self, name, readyloop):
        self.name = name
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="kvbench-")
        if name == "redis":
            self.cmd = ["taskset", "-c", "0", "redis-server", "--port", str(self.port),
                        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                        "--dir", self.dir]
        else:
            self.cmd = ["taskset", "-c", "0", readyloop, "kv", "--backend", name,
                        "--port", str(self.port)]
        env = dict(os.environ, RUST_LOG="warn")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env)
        wait_ping(self.port, self.proc)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def parse_csv(text):
    """redis-benchmark 7.0 --csv: header line, then one line per test."""
    lines = [l for l in text.splitlines() if l.startswith('"')]
    header = [h.strip('"') for h in lines[0].split(",")]
    row = [v.strip('"') for v in lines[-1].split(",")]
    return dict(zip(header, row))


def bench_one(server, test, pipeline, n):
    cmd = ["taskset", "-c", "1", "redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port),
           "-c", "50", "-n", str(n), "-P", str(pipeline), "-t", test, "--csv"]
    before = cpu_ticks(server.proc.pid)
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wall = time.time() - t0
    after = cpu_ticks(server.proc.pid)
    text = out.stdout + out.stderr
    errors = [l for l in text.splitlines() if "rror" in l or "ERR" in l]
    row = parse_csv(out.stdout)
    cpu_s = (after - before) / CLK_TCK
    return {
        "server": server.name, "test": test, "pipeline": pipeline, "requests": n,
        "command": " ".join(cmd), "server_command": " ".join(server.cmd),
        "rps": float(row["rps"]), "p50_ms": float(row.get("p50_latency_ms", "nan")),
        "p99_ms": float(row.get("p99_latency_ms", "nan")),
        "server_cpu_s": cpu_s, "cpu_us_per_req": cpu_s * 1e6 / n, "wall_s": wall,
        "errors": errors[:5], "exit": out.returncode,
    }


def mass_file(keys):
    path = os.path.join(tempfile.gettempdir(), f"kvbench-mass-{keys}.resp")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            buf = []
            for i in range(keys):
                k = f"key:{i:012d}"          # 16 bytes
                v = f"val:{i:028d}"          # 32 bytes, not a number
                buf.append(f"*3\r\n$3\r\nSET\r\n$16\r\n{k}\r\n$32\r\n{v}\r\n")
                if len(buf) == 100000:
                    f.write("".join(buf).encode())
                    buf = []
            f.write("".join(buf).encode())
    return path


def memory_one(server, keys):
    time.sleep(0.3)
    empty = rss_bytes(server.proc.pid)
    path = mass_file(keys)
    cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(server.port), "--pipe"]
    with open(path, "rb") as f:
        out = subprocess.run(cmd, stdin=f, capture_output=True, text=True, timeout=600)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        dbsize = int(resp(s, "DBSIZE").strip()[1:])
    time.sleep(0.3)
    full = rss_bytes(server.proc.pid)
    return {
        "server": server.name, "keys": keys, "dbsize": dbsize,
        "command": " ".join(cmd) + f" < {os.path.basename(path)}",
        "server_command": " ".join(server.cmd),
        "rss_empty": empty, "rss_full": full, "bytes_per_key": (full - empty) / keys,
        "pipe_summary": out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--readyloop", default="target/release/readyloop")
    ap.add_argument("--servers", default="redis,epoll-lt,epoll-et")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n16", type=int, default=2_000_000)
    ap.add_argument("--n1", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    # A SIGTERM must still run the finally blocks that kill the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    servers = a.servers.split(",")
    os.makedirs(a.out, exist_ok=True)
    runs, mems = [], []
    for rnd in range(a.rounds):
        order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
        for name in order:
            s = Server(name, a.readyloop)
            try:
                for test, p in TESTS:
                    r = bench_one(s, test, p, a.n16 if p > 1 else a.n1)
                    r["round"] = rnd
                    runs.append(r)
                    print(f"round {rnd} {name:9} {test:5} -P {p:2}: {r['rps']:>12,.0f} req/s "
                          f"{r['cpu_us_per_req']:.3f} us CPU/req p99 {r['p99_ms']} ms"
                          f"{' ERRORS ' + str(r['errors']) if r['errors'] else ''}", flush=True)
            finally:
                s.stop()
            s = Server(name, a.readyloop)
            try:
                m = memory_one(s, a.keys)
                m["round"] = rnd
                mems.append(m)
                print(f"round {rnd} {name:9} memory: {m['bytes_per_key']:.1f} B/key "
                      f"(dbsize {m['dbsize']}, {m['pipe_summary']})", flush=True)
            finally:
                s.stop()
    meta = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "argv": sys.argv, "redis_server": subprocess.run(["redis-server", "--version"],
                                                         capture_output=True, text=True).stdout.strip(),
        "kernel": os.uname().release, "cpus": os.cpu_count(),
    }
    with open(os.path.join(a.out, "kv_bench.json"), "w") as f:
        json.dump({"meta": meta, "runs": runs, "memory": mems}, f, indent=1)
    write_md(a, meta, servers, runs, mems)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def write_md(a, meta, servers, runs, mems):
    lines = [f"# readyloop kv vs redis-server, {meta['date_utc']}", "",
             f"`{' '.join(meta['argv'])}` ({a.rounds} rounds, server order rotated; medians).",
             f"{meta['redis_server']}; kernel {meta['kernel']}, {meta['cpus']} CPUs.", "",
             "Server: `" + next((r["server_command"] for r in runs if r["server"] == "redis"), "") + "` and `taskset -c 0 readyloop kv --backend B --port P` (RUST_LOG=warn).",
             "Client: `taskset -c 1 redis-benchmark -h 127.0.0.1 -p P -c 50 -n N -P {16|1} -t TEST --csv`.", "",
             "| test | server | req/s | ratio | CPU µs/req | ratio | p99 ms | ratio | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for test, p in TESTS:
        sel = lambda s: [r for r in runs if r["server"] == s and r["test"] == test and r["pipeline"] == p]
        base = sel("redis")
        b_rps, b_cpu, b_p99 = (med([r[k] for r in base]) for k in ("rps", "cpu_us_per_req", "p99_ms"))
        for s in servers:
            rs = sel(s)
            if not rs:
                continue
            rps, cpu, p99 = (med([r[k] for r in rs]) for k in ("rps", "cpu_us_per_req", "p99_ms"))
            errs = sum(1 for r in rs if r["errors"])
            ratio = lambda x, b: f"{x / b:.2f}" if base and b else "-"
            lines.append(f"| {test.upper()} -P {p} | {s} | {rps:,.0f} | {ratio(rps, b_rps)} | {cpu:.3f} | "
                         f"{ratio(cpu, b_cpu)} | {p99:.3f} | {ratio(p99, b_p99)} | {errs or ''} |")
    lines += ["", "Memory: `redis-cli --pipe` of "
              f"{a.keys:,} SETs (16-byte keys `key:%012d`, 32-byte values `val:%028d`); "
              "(RSS after − RSS empty) / keys.", "",
              "| server | B/key | ratio | RSS empty | RSS full | DBSIZE |", "|---|---:|---:|---:|---:|---:|"]
    base = med([m["bytes_per_key"] for m in mems if m["server"] == "redis"])
    for s in servers:
        ms = [m for m in mems if m["server"] == s]
        if not ms:
            continue
        bpk = med([m["bytes_per_key"] for m in ms])
        lines.append(f"| {s} | {bpk:.1f} | {bpk / base:.2f} | {med([m['rss_empty'] for m in ms]) / 2**20:.1f} MiB | "
                     f"{med([m['rss_full'] for m in ms]) / 2**20:.1f} MiB | {min(m['dbsize'] for m in ms):,} |"
                     if base == base else f"| {s} | {bpk:.1f} | - | | | |")
    with open(os.path.join(a.out, "kv_bench.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
