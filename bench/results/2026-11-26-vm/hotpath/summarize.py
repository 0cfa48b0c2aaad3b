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

# Server CPU (sched run time) per message, all cells' pairs pooled: geometric mean of the paired
# after/before ratios with a bootstrap 95% interval; and user/system split from /proc ticks, pooled.
import math, random
pairs = [(v["before"], v["after"]) for rounds in cells.values() for v in rounds.values() if len(v) == 2]
for key in ("sched_us_per_msg", "cpu_us_per_msg"):
    rat = [a[key] / b[key] for b, a in pairs]
    g = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))
    random.seed(1)
    bs = sorted(g([random.choice(rat) for _ in rat]) for _ in range(10000))
    print("%s, all %d pairs: geometric mean of after/before %.4f (bootstrap 95%% %.4f-%.4f); after > before in %d"
          % (key, len(rat), g(rat), bs[250], bs[9750], sum(x > 1 for x in rat)))
print()
print("| cell | binary | runs | messages | user µs/msg (ticks, pooled) | system µs/msg (ticks, pooled) |")
print("|---|---|---|---|---|---|")
for cell in sorted(cells, key=lambda c: (c[2], order.get(c[0], 9))):
    for b in ("before", "after"):
        xs = [v[b] for v in cells[cell].values() if b in v]
        m = sum(x["messages"] for x in xs)
        print("| %s %d×%d B | %s | %d | %d | %.3f | %.3f |" % (cell[0], cell[1], cell[2], b, len(xs), m,
              sum(x["cpu_user_s"] for x in xs) * 1e6 / m, sum(x["cpu_sys_s"] for x in xs) * 1e6 / m))
