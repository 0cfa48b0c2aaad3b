#!/usr/bin/env python3
"""Key-cell report from one peer_bench.json: medians, same-round paired ratios against the
issue's targets (1 loop vs mio, 2 loops vs tokio-mt), and the CPU split (server user/sys,
client user/sys) per message, per client tool.

  bench/key_cell.py DIR/peer_bench.json [--clients 50] [--size 512] > key_cell.md
Python 3 standard library only. Reads the fields peer_bench.py records: msgs_per_s,
server_cpu_us_per_msg, server_cpu_user_s / server_cpu_sys_s, client_cpu_user_s / client_cpu_sys_s.
"""

import argparse
import json
import statistics

RATIOS = [
    # (label, numerator: list of servers, best-of per round; denominator)
    ("1 loop best-of(lt,et) / mio", ["readyloop-epoll-lt-t1", "readyloop-epoll-et-t1"], "mio", 1.15),
    ("1 loop epoll-lt / mio", ["readyloop-epoll-lt-t1"], "mio", 1.15),
    ("1 loop epoll-et / mio", ["readyloop-epoll-et-t1"], "mio", 1.15),
    ("2 loops best-of(lt,et) / tokio-mt", ["readyloop-epoll-lt-t2", "readyloop-epoll-et-t2"], "tokio-mt", 1.2),
    ("2 loops epoll-lt / tokio-mt", ["readyloop-epoll-lt-t2"], "tokio-mt", 1.2),
    ("2 loops epoll-et / tokio-mt", ["readyloop-epoll-et-t2"], "tokio-mt", 1.2),
]


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--size", type=int, default=512)
    a = ap.parse_args()
    d = json.load(open(a.file))
    runs = [r for r in d["results"] if r["clients"] == a.clients and r["size"] == a.size
            and "msgs_per_s" in r]
    clients = sorted({r["client"] for r in runs})
    servers = []
    for r in runs:
        if r["server"] not in servers:
            servers.append(r["server"])
    servers.sort()
    L = ["# Key cell %d clients × %d B (%s)\n" % (a.clients, a.size, a.file)]
    summary = {}
    for cl in clients:
        rs = [r for r in runs if r["client"] == cl]
        dur = rs[0]["duration_s"]
        L.append("## Client %s\n" % cl)
        L.append("| server | runs | median msgs/s | min | max | server CPU µs/msg (user / sys) |"
                 " server CPU % of 1 core | client CPU µs/msg (user / sys) | client CPU % of 1 core |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for s in servers:
            x = [r for r in rs if r["server"] == s]
            if not x:
                continue
            rate = [r["msgs_per_s"] for r in x]
            msgs = [r["msgs_per_s"] * dur for r in x]

            def per(key):
                return med([r[key] * 1e6 / m for r, m in zip(x, msgs) if key in r])

            su, ss, cu, cs = (per(k) for k in ("server_cpu_user_s", "server_cpu_sys_s",
                                               "client_cpu_user_s", "client_cpu_sys_s"))
            scpu = med([(r["server_cpu_user_s"] + r["server_cpu_sys_s"]) / dur * 100 for r in x
                        if "server_cpu_user_s" in r])
            ccpu = med([(r["client_cpu_user_s"] + r["client_cpu_sys_s"]) / dur * 100 for r in x
                        if "client_cpu_user_s" in r])
            L.append("| %s | %d | %.0f | %.0f | %.0f | %.2f (%.2f / %.2f) | %.0f | %.2f (%.2f / %.2f) | %.0f |" % (
                s, len(x), med(rate), min(rate), max(rate), su + ss, su, ss, scpu, cu + cs, cu, cs, ccpu))
        L.append("\nCPU % of one core = CPU seconds over the run's nominal duration (the server's"
                 " includes connect and shutdown; the machine has 2 cores = 200 %).\n")
        L.append("| same-round paired ratio | rounds | median | range | per-round | target | met? |"
                 " server CPU/msg ratio (median) |")
        L.append("|---|---|---|---|---|---|---|---|")
        for label, nums, den, target in RATIOS:
            rat, crat = [], []
            for rnd in sorted({r["round"] for r in rs}):
                by = {r["server"]: r for r in rs if r["round"] == rnd}
                if den not in by or not all(n in by for n in nums):
                    continue
                best = max((by[n] for n in nums), key=lambda r: r["msgs_per_s"])
                rat.append(best["msgs_per_s"] / by[den]["msgs_per_s"])
                if "server_cpu_us_per_msg" in best and "server_cpu_us_per_msg" in by[den]:
                    crat.append(best["server_cpu_us_per_msg"] / by[den]["server_cpu_us_per_msg"])
            if not rat:
                continue
            m = med(rat)
            summary[cl, label] = (m, min(rat), max(rat), len(rat), target)
            L.append("| %s | %d | %.3f | %.3f–%.3f | %s | ≥ %.2f | %s | %s |" % (
                label, len(rat), m, min(rat), max(rat), " ".join("%.3f" % v for v in rat), target,
                "yes" if m >= target else "no (%.1f %% short)" % ((target / m - 1) * 100),
                "%.3f" % med(crat) if crat else "—"))
        L.append("")
    print("\n".join(L))


if __name__ == "__main__":
    main()
