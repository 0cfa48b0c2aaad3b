#!/usr/bin/env python3
"""Pool several peer_bench.json files for one cell: medians and per-round paired ratios.

A paired ratio compares two servers within the same invocation and round (they ran seconds
apart), which cancels much of the slow drift on a shared machine; the median of the paired
ratios is the most robust figure these files give.

  bench/pool_results.py --clients 50 --size 512 --ref readyloop-epoll-lt-t1 FILE.json ...
Python 3 standard library only.
"""

import argparse
import json
import statistics


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--client", default="teb")
    ap.add_argument("--ref", default="readyloop-epoll-lt-t1", help="numerator of the ratios")
    a = ap.parse_args()

    rates, cpus, pairs, cpu_pairs = {}, {}, {}, {}
    for path in a.files:
        runs = [r for r in json.load(open(path))["results"]
                if r["clients"] == a.clients and r["size"] == a.size and r["client"] == a.client
                and "msgs_per_s" in r]
        for r in runs:
            rates.setdefault(r["server"], []).append(r["msgs_per_s"])
            if "server_cpu_us_per_msg" in r:
                cpus.setdefault(r["server"], []).append(r["server_cpu_us_per_msg"])
        for rnd in sorted({r["round"] for r in runs}):
            by = {r["server"]: r for r in runs if r["round"] == rnd}
            ref = by.get(a.ref)
            if not ref:
                continue
            for name, r in by.items():
                if name == a.ref:
                    continue
                pairs.setdefault(name, []).append(ref["msgs_per_s"] / r["msgs_per_s"])
                if "server_cpu_us_per_msg" in ref and "server_cpu_us_per_msg" in r:
                    cpu_pairs.setdefault(name, []).append(
                        ref["server_cpu_us_per_msg"] / r["server_cpu_us_per_msg"])

    print("%d clients x %d B, client %s, %d files\n" % (a.clients, a.size, a.client, len(a.files)))
    print("| server | runs | median msgs/s | min | max | median CPU µs/msg (runs) |")
    print("|---|---|---|---|---|---|")
    for name, xs in sorted(rates.items()):
        c = cpus.get(name, [])
        print("| %s | %d | %.0f | %.0f | %.0f | %s |" % (
            name, len(xs), statistics.median(xs), min(xs), max(xs),
            "%.2f (%d)" % (statistics.median(c), len(c)) if c else "—"))
    print("\n| %s / | paired rounds | median msgs/s ratio | range | CPU/msg ratio median (rounds) |" % a.ref)
    print("|---|---|---|---|---|")
    for name, xs in sorted(pairs.items()):
        c = cpu_pairs.get(name, [])
        print("| %s | %d | %.2f | %.2f–%.2f | %s |" % (
            name, len(xs), statistics.median(xs), min(xs), max(xs),
            "%.2f (%d)" % (statistics.median(c), len(c)) if c else "—"))


if __name__ == "__main__":
    main()
