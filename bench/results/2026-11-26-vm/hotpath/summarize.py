#!/usr/bin/env python3
"""runs.json (hotpath.py) -> medians per cell and binary, and paired after/before ratios per round."""
import json, statistics, sys
from collections import defaultdict

recs = [r for r in json.load(open(sys.argv[1] if len(sys.argv) > 1 else "runs.json")) if "strace" not in r]
METRICS = [("msgs_per_s", "msgs/s", "%.0f"), ("syscalls_per_msg", "syscalls/msg", "%.4f"),
           ("reads_per_msg", "recv/msg", "%.4f"), ("writes_per_msg", "send/msg", "%.4f"),
           ("wakeups_per_msg", "waits/msg", "%.4f"), ("cpu_us_per_msg", "CPU µs/msg", "%.3f"),
           ("sched_us_per_msg", "sched µs/msg", "%.3f")]
cells = defaultdict(lambda: defaultdict(dict))  # cell -> round -> binary -> rec
for r in recs:
    cells[(r["backend"], r["conns"], r["size"])][r["round"]][r["binary"]] = r
med = statistics.median
out = []
out.append("| cell | n pairs | metric | before (median) | after (median) | after/before of medians | "
           "median of paired ratios | paired ratios min–max |")
out.append("|---|---|---|---|---|---|---|---|")
order = {"epoll-lt": 0, "epoll-et": 1, "poll": 2}
summary = {}
for cell in sorted(cells, key=lambda c: (c[2], order.get(c[0], 9))):
    rounds = cells[cell]
    pairs = [(v["before"], v["after"]) for _, v in sorted(rounds.items()) if "before" in v and "after" in v]
    name = "%s %d×%d B" % (cell[0], cell[1], cell[2])
    summary[name] = {}
    for key, label, fmt in METRICS:
        b = [p[0][key] for p in pairs]; a = [p[1][key] for p in pairs]
        ratios = [y / x for x, y in zip(b, a)]
        mb, ma, mr = med(b), med(a), med(ratios)
        summary[name][key] = {"before": b, "after": a, "ratios": ratios, "median_before": mb,
                              "median_after": ma, "median_ratio": mr}
        out.append("| %s | %d | %s | %s | %s | %.3f | %.3f | %.3f–%.3f |" % (
            name, len(pairs), label, fmt % mb, fmt % ma, ma / mb, mr, min(ratios), max(ratios)))
    # client vs server message count cross-check
    d = [p[i]["server_msgs"] - p[i]["messages"] for p in pairs for i in (0, 1)]
    summary[name]["server_minus_client_msgs"] = d
print("\n".join(out))
print()
print("server bytes_out/size minus client messages per run:",
      {k: (min(v["server_minus_client_msgs"]), max(v["server_minus_client_msgs"])) for k, v in summary.items()})
json.dump(summary, open("summary.json", "w"), indent=1)
