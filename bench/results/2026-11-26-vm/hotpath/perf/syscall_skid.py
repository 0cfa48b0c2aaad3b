#!/usr/bin/env python3
"""Split perf cpu-clock user samples into 'on the instruction right after a syscall' (where a timer
that fired during the syscall is delivered on return: kernel time seen as user) and the rest."""
import collections, glob, json, re, subprocess, sys
PERIOD_US = 200.0

def post_syscall(path):
    """{(demangled symbol, offset)} of instructions that follow a `syscall` in path."""
    syms = {}
    for line in subprocess.run(["nm", "-C", "--defined-only", path], capture_output=True, text=True).stdout.splitlines():
        p = line.split(" ", 2)
        if len(p) == 3 and p[1] in "tTwW":
            syms.setdefault(p[2], []).append(int(p[0], 16))
    after = set()
    prev_sys = False
    for line in subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(\S+)", line)
        if not m:
            continue
        if prev_sys:
            after.add(int(m.group(1), 16))
        prev_sys = m.group(2) == "syscall"
    return syms, after

cache = {}
def is_skid(dso, sym, off):
    if dso not in cache:
        cache[dso] = post_syscall(dso)
    syms, after = cache[dso]
    return any(a + off in after for a in syms.get(sym, []))

pooled = collections.defaultdict(lambda: [0, 0, 0, 0, 0])
for f in sorted(glob.glob("*.perf.data")):
    tag = f[:-len(".perf.data")]
    b, be = tag.split("-")[0], "-".join(tag.split("-")[1:3])
    msgs = json.load(open(tag + ".load.json"))["messages"]
    out = subprocess.run(["perf", "script", "-i", f, "-F", "ip,sym,symoff,dso"], capture_output=True, text=True).stdout
    skid = rest = kern = 0
    for line in out.splitlines():
        if "kernel.kallsyms" in line:
            kern += 1
            continue
        m = re.match(r"\s*[0-9a-f]+\s+(.*)\+0x([0-9a-f]+)\s+\((.*)\)\s*$", line)
        if m and is_skid(m.group(3), m.group(1), int(m.group(2), 16)):
            skid += 1
        elif line.strip():
            rest += 1
    p = pooled[(b, be)]
    for i, v in enumerate((1, msgs, skid, rest, kern)):
        p[i] += v
print("| binary | backend | runs | messages | user µs/msg, all | of which right after a syscall | user µs/msg excluding those | kernel µs/msg |")
print("|---|---|---|---|---|---|---|---|")
for (b, be), (n, m, s, r, k) in sorted(pooled.items(), key=lambda kv: (kv[0][1], kv[0][0] != "before")):
    print("| %s | %s | %d | %d | %.4f | %.4f | %.4f | %.3f |" % (b, be, n, m, (s + r) * PERIOD_US / m,
          s * PERIOD_US / m, r * PERIOD_US / m, k * PERIOD_US / m))
