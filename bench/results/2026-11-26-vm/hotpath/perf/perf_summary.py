#!/usr/bin/env python3
"""Per run: perf cpu-clock samples split user (the server binary, libc, vdso) vs kernel, per message;
pooled per binary and backend, and the user-space symbols pooled. Period = 1/5000 s (perf -F 5000)."""
import collections, glob, json, re, subprocess
PERIOD_US = 200.0
rows = []
symtot = collections.defaultdict(collections.Counter)
for f in sorted(glob.glob("*.perf.data")):
    tag = f[:-len(".perf.data")]
    b, backend = tag.split("-")[0], "-".join(tag.split("-")[1:3])
    msgs = json.load(open(tag + ".load.json"))["messages"]
    out = subprocess.run(["perf", "script", "-i", f, "-F", "ip,sym,dso"], capture_output=True, text=True).stdout
    user = kern = 0
    for line in out.splitlines():
        if "[kernel.kallsyms]" in line or "[unknown]" in line and line.strip().startswith("ffff"):
            kern += 1
        elif line.strip():
            user += 1
            m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
            sym = m.group(1) if m else line.strip()
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            symtot[(b, backend)][sym] += 1
    rows.append((b, backend, tag, msgs, user, kern))
print("| run | messages | user samples | kernel samples | user µs/msg | kernel µs/msg |")
print("|---|---|---|---|---|---|")
for b, be, tag, msgs, u, k in rows:
    print("| %s | %d | %d | %d | %.4f | %.3f |" % (tag, msgs, u, k, u * PERIOD_US / msgs, k * PERIOD_US / msgs))
print()
print("| binary | backend | runs | messages | user µs/msg (pooled) | kernel µs/msg (pooled) |")
print("|---|---|---|---|---|---|")
pooled = collections.defaultdict(lambda: [0, 0, 0, 0])
for b, be, tag, msgs, u, k in rows:
    p = pooled[(b, be)]; p[0] += 1; p[1] += msgs; p[2] += u; p[3] += k
for (b, be), (n, m, u, k) in sorted(pooled.items(), key=lambda kv: (kv[0][1], kv[0][0] != "before")):
    print("| %s | %s | %d | %d | %.4f | %.3f |" % (b, be, n, m, u * PERIOD_US / m, k * PERIOD_US / m))
print()
for key in sorted(symtot, key=lambda k: (k[1], k[0] != "before")):
    m = pooled[key][1]
    print("%s %s: user-space symbols, ns/msg (pooled)" % key)
    for sym, c in symtot[key].most_common(12):
        print("  %8.1f  %s" % (c * PERIOD_US * 1000 / m, sym))
