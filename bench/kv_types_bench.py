#!/usr/bin/env python3
"""readyloop kv vs redis-server 7.0, same run: the data-type performance targets (plus the core
-P 16 SET/INCR re-run). python3 stdlib only; builds bench/pubsub_fanout.c with cc.

Per round (server order rotated each round) every server is started fresh for each of three
measurement kinds, pinned `taskset -c 0`; every client runs pinned `taskset -c 1`:
  throughput  redis-benchmark -c 50 -P 16 -n N, one invocation per test so each has its own
              server CPU figure: SET, INCR, LPUSH, LRANGE_100, LPOP, SADD, HSET, ZADD.
              LRANGE_100 is `redis-benchmark ... LRANGE mylist 0 99` (the command -t lrange_100
              sends) run right after LPUSH filled mylist with N elements, because `-t lrange_100`
              first runs N LPUSHes whose CPU would be counted with it; LPOP then empties mylist.
  memory      `redis-cli --pipe` of 1,000,000 `HSET hash:%07d field0 v.. field9 v..` (10 fields,
              6-byte names, 8-byte non-numeric values); RSS growth (VmRSS after - empty) and
              INFO used_memory growth, per hash; HLEN and OBJECT ENCODING of one hash checked.
  pubsub      bench/pubsub_fanout: 1,000 subscribers on one channel reading and counting, one
              publisher pipelining PUBLISH (32-byte payload, <= 256 outstanding) for D seconds,
              then drained: messages delivered per second; every subscriber must get them all.
Server CPU per request = (utime+stime from /proc/PID/stat, after - before) / requests (100 Hz
ticks). `uptime`'s load averages are recorded before and after every measurement.

Usage (one command reproduces the whole table):
  python3 bench/kv_types_bench.py [--readyloop target/release/readyloop]
      [--out bench/results/2026-11-27-vm/kv-types/run] [--servers redis,epoll-lt] [--rounds 5]
      [--n 1000000] [--hashes 1000000] [--subscribers 1000] [--pubsub-seconds 5]
      [--only throughput,memory,pubsub]
Writes OUT/kv_types.json (every measurement with its exact commands) and OUT/kv_types.md.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from kv_bench import CLK_TCK, Server, cpu_ticks, parse_csv, rss_bytes  # noqa: E402

# (name, redis-benchmark arguments after the common ones)
TESTS = [
    ("SET", ["-t", "set"]),
    ("INCR", ["-t", "incr"]),
    ("LPUSH", ["-t", "lpush"]),
    ("LRANGE_100", ["LRANGE", "mylist", "0", "99"]),
    ("LPOP", ["-t", "lpop"]),
    ("SADD", ["-t", "sadd"]),
    ("HSET", ["-t", "hset"]),
    ("ZADD", ["-t", "zadd"]),
]
# The data-type targets (the core ones for SET/INCR), as throughput ratios to redis-server.
TARGETS = {"SET": 1.2, "INCR": 1.2, "LPUSH": 1.2, "LPOP": 1.2, "SADD": 1.2, "HSET": 1.2,
           "ZADD": 1.2, "LRANGE_100": 1.0}


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def command(port, *args):
    """One RESP command over a fresh connection; the reply's raw bytes (up to the first CRLF
    of a simple reply, or the whole bulk)."""
    out = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(out.encode())
        data = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"$"):
                head, _, rest = data.partition(b"\r\n")
                n = int(head[1:])
                if n < 0 or len(rest) >= n + 2:
                    return rest[:n] if n >= 0 else None
            elif data.endswith(b"\r\n"):
                return data[:-2]
    return data


def info_field(port, section, field):
    text = command(port, "INFO", section).decode()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    raise RuntimeError(f"INFO {section} has no {field}")


def bench_one(server, name, extra, n):
    cmd = ["taskset", "-c", "1", "redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port),
           "-c", "50", "-n", str(n), "-P", "16", "--csv"] + extra
    la = load()
    before = cpu_ticks(server.proc.pid)
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wall = time.time() - t0
    after = cpu_ticks(server.proc.pid)
    text = out.stdout + out.stderr
    errors = [line for line in text.splitlines() if "rror" in line or "ERR" in line]
    row = parse_csv(out.stdout)
    cpu_s = (after - before) / CLK_TCK
    return {
        "server": server.name, "test": name, "requests": n, "command": " ".join(cmd),
        "server_command": " ".join(server.cmd), "rps": float(row["rps"]),
        "p50_ms": float(row.get("p50_latency_ms", "nan")),
        "p99_ms": float(row.get("p99_latency_ms", "nan")),
        "server_cpu_s": cpu_s, "cpu_us_per_req": cpu_s * 1e6 / n, "wall_s": wall,
        "load_before": la, "load_after": load(), "errors": errors[:5], "exit": out.returncode,
    }


def hash_file(hashes):
    path = os.path.join(tempfile.gettempdir(), f"kvtypes-hashes-{hashes}.resp")
    if not os.path.exists(path):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            buf = []
            for i in range(hashes):
                parts = ["HSET", f"hash:{i:07d}"]
                for k in range(10):
                    parts += [f"field{k}", f"v{k}{i % 1000000:06d}"]
                buf.append(f"*{len(parts)}\r\n" + "".join(f"${len(p)}\r\n{p}\r\n" for p in parts))
                if len(buf) == 50000:
                    f.write("".join(buf).encode())
                    buf = []
            f.write("".join(buf).encode())
        os.rename(tmp, path)
    return path


def memory_one(server, hashes):
    time.sleep(0.3)
    rss0 = rss_bytes(server.proc.pid)
    used0 = info_field(server.port, "memory", "used_memory")
    path = hash_file(hashes)
    cmd = ["taskset", "-c", "1", "redis-cli", "-h", "127.0.0.1", "-p", str(server.port), "--pipe"]
    la = load()
    before = cpu_ticks(server.proc.pid)
    with open(path, "rb") as f:
        out = subprocess.run(cmd, stdin=f, capture_output=True, text=True, timeout=900)
    after = cpu_ticks(server.proc.pid)
    dbsize = int(command(server.port, "DBSIZE")[1:])
    hlen = int(command(server.port, "HLEN", "hash:0000007")[1:])
    enc = command(server.port, "OBJECT", "ENCODING", "hash:0000007").decode()
    time.sleep(0.3)
    rss1 = rss_bytes(server.proc.pid)
    used1 = info_field(server.port, "memory", "used_memory")
    return {
        "server": server.name, "hashes": hashes, "dbsize": dbsize, "hlen": hlen, "encoding": enc,
        "command": " ".join(cmd) + f" < {os.path.basename(path)}",
        "server_command": " ".join(server.cmd), "rss_empty": rss0, "rss_full": rss1,
        "rss_per_hash": (rss1 - rss0) / hashes, "used_empty": used0, "used_full": used1,
        "used_per_hash": (used1 - used0) / hashes,
        "cpu_us_per_hset": (after - before) / CLK_TCK * 1e6 / hashes,
        "load_before": la, "load_after": load(),
        "pipe_summary": out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr,
    }


def fanout_binary():
    src = os.path.join(HERE, "pubsub_fanout.c")
    exe = os.path.join(tempfile.gettempdir(), "kvtypes-pubsub_fanout")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        subprocess.run(["cc", "-O2", "-Wall", "-o", exe, src], check=True)
    return exe


def pubsub_one(server, subscribers, seconds):
    cmd = ["taskset", "-c", "1", fanout_binary(), str(server.port), str(subscribers), str(seconds)]
    la = load()
    before = cpu_ticks(server.proc.pid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    after = cpu_ticks(server.proc.pid)
    try:
        r = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {"delivered_per_s": float("nan"), "delivered": 0, "error": out.stderr[-500:]}
    cpu_s = (after - before) / CLK_TCK
    r.update({
        "server": server.name, "command": " ".join(cmd).replace(fanout_binary(), "pubsub_fanout"),
        "server_command": " ".join(server.cmd), "exit": out.returncode, "stderr": out.stderr[-500:],
        "server_cpu_s": cpu_s,
        "cpu_us_per_delivery": cpu_s * 1e6 / r["delivered"] if r.get("delivered") else float("nan"),
        "load_before": la, "load_after": load(),
    })
    return r


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--readyloop", default="target/release/readyloop")
    ap.add_argument("--servers", default="redis,epoll-lt")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--pubsub-seconds", type=float, default=5)
    ap.add_argument("--only", default="throughput,memory,pubsub")
    ap.add_argument("--out", default="bench/results/2026-11-27-vm/kv-types/run")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    servers = a.servers.split(",")
    kinds = a.only.split(",")
    os.makedirs(a.out, exist_ok=True)
    rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    meta = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv,
            "git": rev, "redis_server": subprocess.run(["redis-server", "--version"],
                                                       capture_output=True, text=True).stdout.strip(),
            "kernel": os.uname().release, "cpus": os.cpu_count(), "load_start": load()}
    runs, mems, pubs = [], [], []
    try:
        for rnd in range(a.rounds):
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            for name in order:
                if "throughput" in kinds:
                    s = Server(name, a.readyloop)
                    try:
                        for test, extra in TESTS:
                            r = bench_one(s, test, extra, a.n)
                            r["round"] = rnd
                            runs.append(r)
                            print(f"round {rnd} {name:9} {test:10} {r['rps']:>12,.0f} req/s "
                                  f"{r['cpu_us_per_req']:.3f} us CPU/req load {r['load_before']}"
                                  f"{' ERRORS ' + str(r['errors']) if r['errors'] else ''}", flush=True)
                    finally:
                        s.stop()
                if "memory" in kinds and rnd < 3:
                    s = Server(name, a.readyloop)
                    try:
                        m = memory_one(s, a.hashes)
                        m["round"] = rnd
                        mems.append(m)
                        print(f"round {rnd} {name:9} memory: RSS {m['rss_per_hash']:.1f} B/hash, "
                              f"used_memory {m['used_per_hash']:.1f} B/hash ({m['encoding']}, "
                              f"dbsize {m['dbsize']}, hlen {m['hlen']}) load {m['load_before']}",
                              flush=True)
                    finally:
                        s.stop()
                if "pubsub" in kinds:
                    s = Server(name, a.readyloop)
                    try:
                        p = pubsub_one(s, a.subscribers, a.pubsub_seconds)
                        p["round"] = rnd
                        pubs.append(p)
                        print(f"round {rnd} {name:9} pubsub: {p['delivered_per_s']:,.0f} msg/s "
                              f"{p['cpu_us_per_delivery']:.3f} us CPU/delivery (exit {p['exit']}, "
                              f"short {p.get('short_subscribers')}) load {p['load_before']}",
                              flush=True)
                    finally:
                        s.stop()
    finally:
        meta["load_end"] = load()
        with open(os.path.join(a.out, "kv_types.json"), "w") as f:
            json.dump({"meta": meta, "runs": runs, "memory": mems, "pubsub": pubs}, f, indent=1)
        write_md(a, meta, servers, runs, mems, pubs)


def write_md(a, meta, servers, runs, mems, pubs):
    ratio = lambda x, b: f"{x / b:.2f}" if b == b and b and x == x else "-"
    L = [f"# readyloop kv vs redis-server (data-type targets), {meta['date_utc']}", "",
         f"`{' '.join(meta['argv'])}` at git {meta['git']}; {a.rounds} rounds, server order "
         "rotated, medians (memory: first 3 rounds).",
         f"{meta['redis_server']}; kernel {meta['kernel']}, {meta['cpus']} CPUs; load average "
         f"{meta['load_start']} at start, {meta['load_end']} at end.", ""]
    if runs:
        rcmd = next((r["server_command"] for r in runs if r["server"] == "redis"), "")
        L += ["Server: `" + rcmd + "` / `taskset -c 0 readyloop kv --backend B --port P`; client: "
              "`taskset -c 1 redis-benchmark -h 127.0.0.1 -p P -c 50 -n N -P 16 --csv -t TEST` "
              "(LRANGE_100: `... LRANGE mylist 0 99` after LPUSH filled it).", "",
              "| -P 16 | server | req/s (median) | ratio | target | CPU µs/req | ratio (lower is better) | "
              "req/s per round | load before |",
              "|---|---|---:|---:|---:|---:|---:|---|---|"]
        for test, _ in TESTS:
            sel = lambda s: [r for r in runs if r["server"] == s and r["test"] == test]
            base = sel("redis")
            b_rps, b_cpu = med([r["rps"] for r in base]), med([r["cpu_us_per_req"] for r in base])
            for s in servers:
                rs = sel(s)
                if not rs:
                    continue
                rps, cpu = med([r["rps"] for r in rs]), med([r["cpu_us_per_req"] for r in rs])
                per = " ".join(f"{r['rps'] / 1000:.0f}k" for r in rs)
                lds = " / ".join(r["load_before"].split()[0] for r in rs)
                tgt = f"≥ {TARGETS[test]}×" if s != "redis" else ""
                errs = " ERRORS" if any(r["errors"] for r in rs) else ""
                L.append(f"| {test} | {s} | {rps:,.0f}{errs} | {ratio(rps, b_rps)} | {tgt} | {cpu:.3f} | "
                         f"{ratio(cpu, b_cpu)} | {per} | {lds} |")
        L.append("")
    if mems:
        L += [f"Memory: `{mems[0]['command']}` ({a.hashes:,} hashes × 10 fields); growth over the "
              "empty server, per hash.", "",
              "| server | RSS B/hash | ratio (target ≤ 0.8) | used_memory B/hash | ratio | encoding | "
              "DBSIZE | RSS full | CPU µs/HSET |",
              "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
        b_rss = med([m["rss_per_hash"] for m in mems if m["server"] == "redis"])
        b_used = med([m["used_per_hash"] for m in mems if m["server"] == "redis"])
        for s in servers:
            ms = [m for m in mems if m["server"] == s]
            if not ms:
                continue
            rss, used = med([m["rss_per_hash"] for m in ms]), med([m["used_per_hash"] for m in ms])
            L.append(f"| {s} | {rss:.1f} | {ratio(rss, b_rss)} | {used:.1f} | {ratio(used, b_used)} | "
                     f"{ms[0]['encoding']} | {min(m['dbsize'] for m in ms):,} | "
                     f"{med([m['rss_full'] for m in ms]) / 2**20:.0f} MiB | "
                     f"{med([m['cpu_us_per_hset'] for m in ms]):.2f} |")
        L.append("")
    if pubs:
        L += [f"PUBLISH fan-out: `{pubs[0]['command']}` ({a.subscribers} subscribers, one publisher, "
              "32-byte payload, ≤ 256 PUBLISH outstanding).", "",
              "| server | delivered msg/s (median) | ratio (target ≥ 1.0) | CPU µs/delivery | ratio | "
              "per round | complete? |",
              "|---|---:|---:|---:|---:|---|---|"]
        b_rate = med([p["delivered_per_s"] for p in pubs if p["server"] == "redis"])
        b_cpu = med([p["cpu_us_per_delivery"] for p in pubs if p["server"] == "redis"])
        for s in servers:
            ps = [p for p in pubs if p["server"] == s]
            if not ps:
                continue
            rate, cpu = med([p["delivered_per_s"] for p in ps]), med([p["cpu_us_per_delivery"] for p in ps])
            per = " ".join(f"{p['delivered_per_s'] / 1000:.0f}k" for p in ps)
            ok = all(p["exit"] == 0 for p in ps)
            L.append(f"| {s} | {rate:,.0f} | {ratio(rate, b_rate)} | {cpu:.3f} | {ratio(cpu, b_cpu)} | "
                     f"{per} | {'every message to every subscriber' if ok else 'NO: see json'} |")
        L.append("")
    with open(os.path.join(a.out, "kv_types.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
