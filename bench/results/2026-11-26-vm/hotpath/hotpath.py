#!/usr/bin/env python3
"""Issue 8 hot-path check: echo before vs after the Service API rewrite, interleaved ABBA.

For every round and cell, the two binaries run back to back (order A,B on even rounds, B,A on
odd ones), each on a fresh server:
  server: taskset -c 0 BIN serve --backend B --port 0      (stderr -> logs/)
  client: taskset -c 1 LOAD load --addr ADDR --connections C --size S --duration D --json FILE
Server CPU = utime+stime from /proc/PID/stat (all threads), delta from "listening" to just before
SIGINT; also the sum of /proc/PID/task/*/schedstat run time (ns resolution) over the same window.
Syscalls = the server's own exit counters: wakeups + ctl + accepts + reads + writes (the "after"
binary prints that sum as syscalls=; the "before" one does not, so it is summed here and checked
against syscalls= when present). Messages = the client's JSON count; bytes_out/size cross-checks.
Python 3 stdlib only.
"""
import argparse, glob, json, os, re, signal, statistics, subprocess, sys, time

READY = re.compile(r"listening on (\S+:\d+).*?pid (\d+)")
KV = re.compile(r"(\w+)=([\d.]+)")
TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fl = f.read().rsplit(")", 1)[1].split()
    return int(fl[11]), int(fl[12])


def sched_wait_ns(pid):
    """Time the server's threads spent runnable but waiting for a CPU (schedstat field 2)."""
    tot = 0
    for p in glob.glob("/proc/%d/task/*/schedstat" % pid):
        try:
            with open(p) as f:
                tot += int(f.read().split()[1])
        except OSError:
            pass
    return tot


def cpu_pressure_us():
    """System-wide /proc/pressure/cpu "some" total (µs some task waited for a CPU)."""
    try:
        with open("/proc/pressure/cpu") as f:
            return int(f.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def sched_ns(pid):
    tot = 0
    for p in glob.glob("/proc/%d/task/*/schedstat" % pid):
        try:
            with open(p) as f:
                tot += int(f.read().split()[0])
        except OSError:
            pass
    return tot


def exit_counters(text):
    line = [l for l in text.splitlines() if "stopped cleanly" in l]
    if not line:
        return None
    d = {k: (float(v) if "." in v else int(v)) for k, v in KV.findall(line[-1].split("stopped cleanly", 1)[1])}
    d["syscalls_sum"] = d["wakeups"] + d["ctl"] + d["accepts"] + d["reads"] + d["writes"]
    return d


def parse_strace(path):
    """strace -c summary -> {syscall: {"calls": n, "errors": n}} and the total call count."""
    rows, total = {}, None
    for line in open(path):
        f = line.split()
        if not f or not f[0][0].isdigit() or len(f) < 5:
            continue
        if f[-1] == "total":
            total = int(f[3])
            continue
        errors = int(f[4]) if len(f) == 6 else 0
        rows[f[-1]] = {"calls": int(f[3]), "errors": errors}
    return rows, total


def one_run(name, binary, load, backend, conns, size, duration, out, tag, strace=False):
    log = os.path.join(out, "logs", tag + ".log")
    jpath = os.path.join(out, "raw", tag + ".json")
    spath = os.path.join(out, "raw", tag + ".strace.txt")
    wrap = ["strace", "-f", "-c", "-o", spath] if strace else []
    scmd = ["taskset", "-c", "0"] + wrap + [binary, "serve", "--backend", backend, "--port", "0"]
    lf = open(log, "w+b")
    p = subprocess.Popen(scmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, start_new_session=True)
    deadline = time.monotonic() + 10
    m = None
    while time.monotonic() < deadline:
        with open(log, "rb") as f:
            m = READY.search(f.read().decode("utf-8", "replace"))
        if m or p.poll() is not None:
            break
        time.sleep(0.02)
    if not m:
        p.kill(); p.wait()
        raise SystemExit("%s: server did not start" % tag)
    addr, pid = m.group(1), int(m.group(2))
    assert strace or pid == p.pid, (pid, p.pid)  # taskset execs the server
    u0, s0 = cpu_ticks(pid); n0 = sched_ns(pid); w0 = sched_wait_ns(pid); q0 = cpu_pressure_us()
    ccmd = ["taskset", "-c", "1", load, "load", "--addr", addr, "--connections", str(conns),
            "--size", str(size), "--duration", str(duration), "--json", jpath]
    t0 = time.monotonic()
    cp = subprocess.run(ccmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=duration + 60)
    wall = time.monotonic() - t0
    time.sleep(0.3)  # let the server see every EOF
    u1, s1 = cpu_ticks(pid); n1 = sched_ns(pid); w1 = sched_wait_ns(pid); q1 = cpu_pressure_us()
    threads = len(os.listdir("/proc/%d/task" % pid))
    os.kill(pid, signal.SIGINT)
    rc = p.wait(timeout=30)  # under strace: strace's status, which is the server's
    lf.close()
    with open(log) as f:
        text = f.read()
    st = exit_counters(text)
    with open(jpath) as f:
        cj = json.load(f)
    msgs = cj["messages"]
    rec = {"binary": name, "backend": backend, "conns": conns, "size": size, "tag": tag,
           "server_cmd": " ".join(scmd), "client_cmd": " ".join(ccmd), "server_rc": rc,
           "client_rc": cp.returncode, "client_stdout": cp.stdout, "client_wall_s": wall,
           "server_threads": threads, "messages": msgs, "msgs_per_s": cj["throughput_msgs_per_s"],
           "client_errors": cj["errors"], "latency_us": cj["latency_us"],
           "cpu_user_s": (u1 - u0) / TCK, "cpu_sys_s": (s1 - s0) / TCK, "sched_ns": n1 - n0,
           "server_runqueue_wait_ns": w1 - w0, "cpu_pressure_some_us": (q1 - q0) if q0 is not None else None,
           "server": st}
    rec["cpu_s"] = rec["cpu_user_s"] + rec["cpu_sys_s"]
    rec["cpu_us_per_msg"] = rec["cpu_s"] * 1e6 / msgs
    rec["sched_us_per_msg"] = rec["sched_ns"] / 1e3 / msgs
    if st:
        rec["server_msgs"] = st["bytes_out"] / size
        rec["syscalls_per_msg"] = st["syscalls_sum"] / msgs
        rec["reads_per_msg"] = st["reads"] / msgs
        rec["writes_per_msg"] = st["writes"] / msgs
        rec["wakeups_per_msg"] = st["wakeups"] / msgs
        if "syscalls" in st and st["syscalls"] != st["syscalls_sum"]:
            rec["warning"] = "syscalls=%d != sum %d" % (st["syscalls"], st["syscalls_sum"])
    if strace:
        rows, total = parse_strace(spath)
        rec["strace"] = rows
        rec["strace_total"] = total
        rec["strace_total_per_msg"] = total / msgs
        rec["strace_per_msg"] = {k: v["calls"] / msgs for k, v in rows.items()}
        print("%s strace: %s" % (tag, ", ".join("%s %.4f" % (k, v) for k, v in sorted(
            rec["strace_per_msg"].items(), key=lambda kv: -kv[1]) if v > 0.0005)), file=sys.stderr)
    print("%-28s %8d msgs %8.0f/s  sys/msg %.4f  cpu %.3f us/msg (sched %.3f)  rq wait %.2f s  max %d us  rc=%s" % (
        tag, msgs, rec["msgs_per_s"], rec.get("syscalls_per_msg", -1), rec["cpu_us_per_msg"],
        rec["sched_us_per_msg"], rec["server_runqueue_wait_ns"] / 1e9, cj["latency_us"]["max"], rc),
        file=sys.stderr, flush=True)
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--load", required=True, help="binary with the `load` subcommand")
    ap.add_argument("--cells", default="epoll-lt:50:64,epoll-et:50:64,epoll-lt:50:512,epoll-et:50:512",
                    help="backend:connections:size,...")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--first-round", type=int, default=0)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--results", default="runs.json", help="file in --out to append records to")
    ap.add_argument("--strace", action="store_true", help="run the server under strace -f -c")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "logs"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "raw"), exist_ok=True)
    rpath = os.path.join(a.out, a.results)
    recs = json.load(open(rpath)) if os.path.exists(rpath) else []
    bins = [("before", a.before), ("after", a.after)]
    for r in range(a.first_round, a.first_round + a.rounds):
        for cell in a.cells.split(","):
            b, c, s = cell.split(":")
            order = bins if r % 2 == 0 else bins[::-1]
            for name, binary in order:
                tag = "%s-%s-c%s-s%s-r%d" % (name, b, c, s, r)
                rec = one_run(name, binary, a.load, b, int(c), int(s), a.duration, a.out,
                              tag + ("-strace" if a.strace else ""), strace=a.strace)
                rec["round"] = r
                rec["position"] = order.index((name, binary))
                rec["utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                recs.append(rec)
                with open(rpath, "w") as f:
                    json.dump(recs, f, indent=1)
                time.sleep(0.5)


if __name__ == "__main__":
    main()
