#!/usr/bin/env python3
"""Interleaved throughput matrix: readyloop against peer echo servers (tokio, mio).

Builds nothing: give it the binaries. For every (clients, size) cell and every round it starts
each server afresh on a free 127.0.0.1 port, waits for its start-up line, drives it with the
client tool(s) for a few seconds, stops it with SIGINT (SIGKILL if it lingers) and records the
client's count plus, for readyloop, the server's own exit counters. Servers run in an order that
rotates every round (A B C, B C A, ...) so slow drift on a shared machine hits everyone alike.

Output (default bench/results/<UTC date>-<host>/):
  peer_bench.json   every run: command lines, client output, messages/s, server counters
  peer_bench.md     medians per cell and server, ratios readyloop / each peer, the command line
  logs/             each server's stderr per run

Example (quick subset):
  bench/peer_bench.py --readyloop target/release/readyloop \\
      --tokio-echo bench/peers/target/release/tokio-echo \\
      --mio-echo bench/peers/target/release/mio-echo \\
      --clients 50,1000 --sizes 512 --rounds 3 --duration 3
Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
READY_RE = re.compile(r"listening on (\S+):(\d+)")
# readyloop's stats line (crates/server/src/stats.rs Display): `key=value ...` for every loop
# counter, then `syscalls=N events_per_wakeup=X examined_per_wakeup=Y`. Parsed by key, not by
# position, so a counter added to the table does not silently empty the cross-check again.
STATS_PAIR_RE = re.compile(r"(?<![\w.])([a-z_]+)=(\d+(?:\.\d+)?)(?![\w.])")
STATS_KEYS = {"bytes_in": "bytes_in", "bytes_out": "bytes_out", "wakeups": "wakeups",
              "events_per_wakeup": "events_per_wakeup", "examined_per_wakeup": "examined_per_wakeup",
              "ctl": "ctl", "accepts": "accept", "reads": "read", "writes": "write",
              "syscalls": "syscalls"}
TEB_TOTAL_RE = re.compile(r"Total: (\d+) requests, (\d+) responses")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def csv_ints(s):
    return [int(x) for x in s.split(",") if x.strip()]


def csv_strs(s):
    return [x.strip() for x in s.split(",") if x.strip()]


class Server:
    """One server variant: a name and an argv template with {port}."""

    def __init__(self, name, argv, is_readyloop=False):
        self.name = name
        self.argv = argv
        self.is_readyloop = is_readyloop
        self.skip_reason = None

    def command(self, port):
        return [a.replace("{port}", str(port)) for a in self.argv]


class Running:
    """A started server: the process, its port, and where its stderr goes."""

    def __init__(self, server, port, log_path, wrap=None, ready_timeout=10.0):
        self.server = server
        self.port = port
        self.log_path = log_path
        self.cmd = (wrap or []) + server.command(port)
        self.log = open(log_path, "w+b")
        # The server's stderr goes to the log file; we poll it for the start-up line.
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True,
        )
        self.error = None
        deadline = time.monotonic() + ready_timeout
        while True:
            text = self.text()
            if READY_RE.search(text):
                break
            if self.proc.poll() is not None:
                self.error = "exited with %s before listening: %s" % (
                    self.proc.returncode, " ".join(text.split())[-300:])
                break
            if time.monotonic() > deadline:
                self.error = "no 'listening on' line within %.0fs" % ready_timeout
                self.kill()
                break
            time.sleep(0.02)

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def target_pid(self):
        """The server's pid (the child of strace when wrapped)."""
        if self.cmd[0] != self.server.argv[0]:
            try:
                with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                    kids = f.read().split()
                if kids:
                    return int(kids[0])
            except OSError:
                pass
        return self.proc.pid

    def cpu_seconds(self):
        """user + system CPU the server (all its threads) has used so far, from /proc/PID/stat."""
        try:
            with open("/proc/%d/stat" % self.target_pid()) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields[0] is state (field 3); utime and stime are fields 14 and 15.
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def cpu_split(self):
        """(user, system) CPU seconds of the server so far, from /proc/PID/stat."""
        try:
            with open("/proc/%d/stat" % self.target_pid()) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tck = os.sysconf("SC_CLK_TCK")
            return int(fields[11]) / tck, int(fields[12]) / tck
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, grace=10.0):
        """SIGINT, wait (readyloop flushes and logs its counters), SIGKILL if it lingers."""
        self.cpu_at_stop = self.cpu_seconds() if self.proc.poll() is None else None
        self.cpu_split_at_stop = self.cpu_split() if self.proc.poll() is None else None
        if self.proc.poll() is None:
            try:
                os.kill(self.target_pid(), signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def parse_server_stats(text):
    """The last stats line in the server's log (the exit line), or None if there is none."""
    line = None
    for l in text.splitlines():
        if "wakeups=" in l and "syscalls=" in l:
            line = l
    if line is None:
        return None
    pairs = {k: v for k, v in STATS_PAIR_RE.findall(line)}
    missing = [k for k in STATS_KEYS if k not in pairs]
    if missing:
        raise ValueError("stats line lacks %s: %r" % (missing, line))
    d = {STATS_KEYS[k]: (float(pairs[k]) if "." in pairs[k] else int(pairs[k])) for k in STATS_KEYS}
    d["wait"] = d["wakeups"]
    if d["syscalls"] != d["wait"] + d["ctl"] + d["accept"] + d["read"] + d["write"]:
        raise ValueError("stats line's syscalls is not wait+ctl+accept+read+write: %r" % line)
    return d


def run_client(cmd, timeout):
    """subprocess.run plus the client's own user/system CPU (RUSAGE_CHILDREN delta: the server
    is still running, i.e. not yet reaped, so only the client is counted)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return p, {"client_cpu_user_s": round(r1.ru_utime - r0.ru_utime, 3),
               "client_cpu_sys_s": round(r1.ru_stime - r0.ru_stime, 3)}


def run_teb(teb, port, clients, size, duration):
    cmd = [teb, "-a", "127.0.0.1:%d" % port, "-c", str(clients), "-l", str(size), "-t", str(duration)]
    t0 = time.monotonic()
    p, ccpu = run_client(cmd, duration + 60)
    wall = time.monotonic() - t0
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    rec = {"client": "teb", "client_cmd": cmd, "client_rc": p.returncode, "client_stdout": out,
           "client_stderr": err[-2000:], "wall_s": round(wall, 3)}
    rec.update(ccpu)
    m = TEB_TOTAL_RE.search(out)
    if p.returncode == 0 and m:
        rec["requests"], rec["responses"] = int(m.group(1)), int(m.group(2))
        # tcp-echo-benchmark divides by its -t seconds; so do we, but keep the fraction.
        rec["msgs_per_s"] = rec["responses"] / duration
    else:
        rec["error"] = "tcp-echo-benchmark failed (rc %s)" % p.returncode
    return rec


DEFAULT_LOAD_ARGS = ("load --addr {addr} --connections {c} --active {c} --size {s} --duration {d}"
                     " --json {json}")


def run_load(load_argv, template, port, clients, size, duration, tmpdir):
    jpath = os.path.join(tmpdir, "load-%d.json" % port)
    subst = {"addr": "127.0.0.1:%d" % port, "c": str(clients), "s": str(size), "d": str(duration),
             "json": jpath}
    cmd = load_argv + [re.sub(r"\{(\w+)\}", lambda m: subst.get(m.group(1), m.group(0)), x)
                       for x in shlex.split(template)]
    t0 = time.monotonic()
    p, ccpu = run_client(cmd, duration + 60)
    wall = time.monotonic() - t0
    rec = {"client": "load", "client_cmd": cmd, "client_rc": p.returncode,
           "client_stdout": p.stdout.decode("utf-8", "replace")[-4000:],
           "client_stderr": p.stderr.decode("utf-8", "replace")[-2000:], "wall_s": round(wall, 3)}
    rec.update(ccpu)
    try:
        with open(jpath) as f:
            j = json.load(f)
        rec["load_json"] = j
        rec["msgs_per_s"] = float(j["throughput_msgs_per_s"])
    except (OSError, ValueError, KeyError) as e:
        rec["error"] = "readyloop load failed (rc %s): %s" % (p.returncode, e)
    return rec


def load_available(load_argv):
    try:
        p = subprocess.run(load_argv + ["load", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def build_servers(a):
    servers = []
    if a.readyloop:
        for backend in csv_strs(a.backends):
            for t in csv_ints(a.readyloop_threads):
                argv = [a.readyloop, "serve", "--backend", backend, "--port", "{port}"]
                if t != 1 or a.threads_always:
                    argv += shlex.split(a.threads_args.replace("{n}", str(t)))
                argv += shlex.split(a.readyloop_extra)
                servers.append(Server("readyloop-%s-t%d" % (backend, t), argv, is_readyloop=True))
    if a.tokio_echo:
        servers.append(Server("tokio-mt", [a.tokio_echo, "--port", "{port}"] + shlex.split(a.tokio_extra)))
        servers.append(Server("tokio-ct", [a.tokio_echo, "--port", "{port}", "--current-thread"]))
    if a.mio_echo:
        servers.append(Server("mio", [a.mio_echo, "--port", "{port}"]))
    if a.only:
        keep = set(csv_strs(a.only))
        servers = [s for s in servers if s.name in keep]
    return servers


def probe(servers, logdir):
    """Start each server once: a variant whose flags the binary rejects is skipped, not fatal."""
    for s in servers:
        r = Running(s, free_port(), os.path.join(logdir, "probe-%s.log" % s.name))
        if r.error:
            s.skip_reason = r.error
            print("skip %s: %s" % (s.name, r.error), file=sys.stderr)
        r.stop()


def median(xs):
    return statistics.median(xs) if xs else None


def fmt_rate(x):
    return "—" if x is None else "{:,.0f}".format(x)


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return "%.2f" % (a / b)


def write_summary(path, results, servers, a, meta):
    ran = [s.name for s in servers if not s.skip_reason]
    rl = [n for n in ran if n.startswith("readyloop-")]
    peers = [n for n in ran if not n.startswith("readyloop-")]
    L = []
    L.append("# Peer throughput: readyloop vs tokio / mio echo servers\n")
    L.append("Started %s on `%s` (%s CPUs, load average at start %s). Messages per second are"
             " echoed responses counted by the client divided by the run's duration; each cell"
             " is the **median over %d rounds** (servers restarted for every run, order rotated"
             " each round). Ratios are of medians within this one invocation."
             % (meta["started"], meta["host"], meta["cpus"], meta["loadavg"], a.rounds))
    L.append("")
    L.append("Command line:\n\n```\n%s\n```\n" % meta["argv"])
    L.append("Tools: %s\n" % "; ".join("%s: %s" % kv for kv in meta["versions"].items()))
    for s in servers:
        if s.skip_reason:
            L.append("- skipped **%s**: %s" % (s.name, s.skip_reason.replace("\n", " ")[:300]))
    L.append("")
    for client in meta["clients_used"]:
        L.append("## Client: %s\n" % {"teb": "tcp-echo-benchmark", "load": "readyloop load"}[client])
        hdr = ["clients", "size"] + ran
        L.append("Median messages/s:\n")
        L.append("| " + " | ".join(hdr) + " |")
        L.append("|" + "---|" * len(hdr))
        meds = {}
        for c in csv_ints(a.clients):
            for sz in csv_ints(a.sizes):
                for n in ran:
                    xs = [r["msgs_per_s"] for r in results if r["server"] == n and r["client"] == client
                          and r["clients"] == c and r["size"] == sz and "msgs_per_s" in r]
                    meds[c, sz, n] = median(xs)
                row = [str(c), str(sz)] + [fmt_rate(meds[c, sz, n]) for n in ran]
                L.append("| " + " | ".join(row) + " |")
        if rl and peers:
            L.append("")
            L.append("Ratios of medians, readyloop variant / peer (> 1: readyloop faster):\n")
            hdr = ["clients", "size", "readyloop"] + ["/ " + p_ for p_ in peers]
            L.append("| " + " | ".join(hdr) + " |")
            L.append("|" + "---|" * len(hdr))
            for c in csv_ints(a.clients):
                for sz in csv_ints(a.sizes):
                    for r_ in rl:
                        row = [str(c), str(sz), r_] + [fmt_ratio(meds[c, sz, r_], meds[c, sz, p_])
                                                      for p_ in peers]
                        L.append("| " + " | ".join(row) + " |")
        L.append("")
        L.append("Server CPU per message, median µs (user + system of all the server's threads over"
                 " the run, from /proc/PID/stat just before SIGINT, divided by messages echoed;"
                 " less sensitive to other load than msgs/s):\n")
        hdr = ["clients", "size"] + ran
        L.append("| " + " | ".join(hdr) + " |")
        L.append("|" + "---|" * len(hdr))
        cmeds = {}
        for c in csv_ints(a.clients):
            for sz in csv_ints(a.sizes):
                for n in ran:
                    xs = [r["server_cpu_us_per_msg"] for r in results if r["server"] == n
                          and r["client"] == client and r["clients"] == c and r["size"] == sz
                          and "server_cpu_us_per_msg" in r]
                    cmeds[c, sz, n] = median(xs)
                L.append("| " + " | ".join([str(c), str(sz)] + [
                    "—" if cmeds[c, sz, n] is None else "%.2f" % cmeds[c, sz, n] for n in ran]) + " |")
        if rl and peers:
            L.append("")
            L.append("CPU per message ratios, readyloop variant / peer (< 1: readyloop cheaper):\n")
            hdr = ["clients", "size", "readyloop"] + ["/ " + p_ for p_ in peers]
            L.append("| " + " | ".join(hdr) + " |")
            L.append("|" + "---|" * len(hdr))
            for c in csv_ints(a.clients):
                for sz in csv_ints(a.sizes):
                    for r_ in rl:
                        L.append("| " + " | ".join([str(c), str(sz), r_] + [
                            fmt_ratio(cmeds[c, sz, r_], cmeds[c, sz, p_]) for p_ in peers]) + " |")
        L.append("")
        L.append("Every run (msgs/s, in run order per cell):\n")
        for c in csv_ints(a.clients):
            for sz in csv_ints(a.sizes):
                parts = []
                for n in ran:
                    xs = [r.get("msgs_per_s") for r in results if r["server"] == n and r["client"] == client
                          and r["clients"] == c and r["size"] == sz]
                    parts.append("%s %s" % (n, "/".join("ERR" if x is None else "%.0f" % x for x in xs)))
                L.append("- %d × %d B: %s" % (c, sz, "; ".join(parts)))
        L.append("")
    errs = [r for r in results if "error" in r]
    if errs:
        L.append("## Failed runs\n")
        for r in errs:
            L.append("- %s %s %d×%d round %d: %s" % (r["server"], r["client"], r["clients"], r["size"],
                                                    r["round"], r["error"]))
        L.append("")
    rls = [r for r in results if r.get("server_stats")]
    if rls:
        L.append("## readyloop's own counters per run (from its exit log line)\n")
        L.append("| server | client | clients | size | round | client responses | server bytes out / size"
                 " | syscalls / msg (server count) | events/wakeup |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for r in rls:
            st = r["server_stats"]
            msgs = st["bytes_out"] / r["size"]
            L.append("| %s | %s | %d | %d | %d | %s | %.0f | %.3f | %.1f |" % (
                r["server"], r["client"], r["clients"], r["size"], r["round"],
                r.get("responses", "—"), msgs, st["syscalls"] / msgs if msgs else 0,
                st["events_per_wakeup"]))
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def tool_versions(a):
    v = {}
    cargo = shutil.which("cargo")
    if cargo:
        try:
            out = subprocess.run([cargo, "install", "--list"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=20).stdout.decode()
            m = re.search(r"^tcp-echo-benchmark (v[\d.]+)", out, re.M)
            if m:
                v["tcp-echo-benchmark"] = m.group(1)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if a.readyloop:
        try:
            v["readyloop"] = subprocess.run([a.readyloop, "--version"], stdout=subprocess.PIPE,
                                            timeout=10).stdout.decode().strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 timeout=10).stdout.decode().strip()
            if rev:
                v["git HEAD (bench dir)"] = rev
        except (OSError, subprocess.TimeoutExpired):
            pass
    v["kernel"] = platform.release()
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readyloop", help="path to the readyloop binary (release build)")
    ap.add_argument("--tokio-echo", help="path to bench/peers' tokio-echo")
    ap.add_argument("--mio-echo", help="path to bench/peers' mio-echo")
    ap.add_argument("--teb", default=shutil.which("tcp-echo-benchmark") or "tcp-echo-benchmark",
                    help="path to tcp-echo-benchmark (default: from PATH)")
    ap.add_argument("--load", help="binary providing `load` (default: --readyloop)")
    ap.add_argument("--client", choices=["teb", "load", "both"], default="teb",
                    help="client tool(s); 'load' is skipped with a note if `readyloop load` is missing")
    ap.add_argument("--load-args", default=DEFAULT_LOAD_ARGS,
                    help="argument template for the load client ({addr} {c} {s} {d} {json}); default: %(default)s")
    ap.add_argument("--backends", default="epoll-lt,epoll-et,poll", help="readyloop backends (csv)")
    ap.add_argument("--readyloop-threads", default="1,2", help="readyloop loop counts (csv)")
    ap.add_argument("--threads-args", default="--threads {n}",
                    help="extra readyloop args for N loops ({n} is replaced); not passed for 1 unless"
                         " --threads-always")
    ap.add_argument("--threads-always", action="store_true", help="pass --threads-args for 1 loop too")
    ap.add_argument("--readyloop-extra", default="", help="extra args for every readyloop server")
    ap.add_argument("--tokio-extra", default="", help="extra args for tokio-mt (e.g. '--workers 2')")
    ap.add_argument("--only", help="run only these server names (csv), e.g. readyloop-epoll-lt-t1,mio")
    ap.add_argument("--clients", default="1,50,150,300,500,1000", help="connection counts (csv)")
    ap.add_argument("--sizes", default="128,512,1000", help="message sizes in bytes (csv)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per run (integer: teb's -t)")
    ap.add_argument("--settle", type=float, default=0.5, help="pause between runs, seconds")
    ap.add_argument("--out", help="output dir (default bench/results/<UTC date>-<host>)")
    a = ap.parse_args()

    started = datetime.datetime.now(datetime.timezone.utc)
    host = socket.gethostname()
    out = a.out or os.path.join(HERE, "results", "%s-%s" % (started.strftime("%Y-%m-%d"), host))
    logdir = os.path.join(out, "logs")
    os.makedirs(logdir, exist_ok=True)

    servers = build_servers(a)
    if not servers:
        ap.error("no servers: give --readyloop, --tokio-echo and/or --mio-echo")
    probe(servers, logdir)
    active = [s for s in servers if not s.skip_reason]

    clients_used = []
    if a.client in ("teb", "both"):
        if not shutil.which(a.teb) and not os.path.exists(a.teb):
            ap.error("tcp-echo-benchmark not found: cargo install tcp-echo-benchmark")
        clients_used.append("teb")
    load_argv = [a.load or a.readyloop] if (a.load or a.readyloop) else None
    if a.client in ("load", "both"):
        if load_argv and load_available(load_argv):
            clients_used.append("load")
        else:
            print("note: `readyloop load` not available; --client %s runs teb only" % a.client,
                  file=sys.stderr)
            if "teb" not in clients_used:
                clients_used.append("teb")

    meta = {
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": host,
        "cpus": os.cpu_count(),
        "loadavg": " ".join("%.2f" % x for x in os.getloadavg()),
        "argv": " ".join(shlex.quote(x) for x in [sys.executable] + sys.argv),
        "cwd": os.getcwd(),
        "versions": tool_versions(a),
        "clients_used": clients_used,
        "servers": {s.name: {"argv": s.argv, "skipped": s.skip_reason} for s in servers},
    }
    results = []
    tmpdir = tempfile.mkdtemp(prefix="peer_bench-")
    cells = [(c, sz) for c in csv_ints(a.clients) for sz in csv_ints(a.sizes)]
    total = len(cells) * a.rounds * len(active) * len(clients_used)
    n = 0
    try:
        for c, sz in cells:
            for rnd in range(a.rounds):
                k = rnd % len(active)
                order = active[k:] + active[:k]
                for client in clients_used:
                    for s in order:
                        n += 1
                        log = os.path.join(logdir, "%s-%s-c%d-s%d-r%d.log" % (s.name, client, c, sz, rnd))
                        srv = Running(s, free_port(), log)
                        rec = {"server": s.name, "client": client, "clients": c, "size": sz,
                               "round": rnd, "duration_s": a.duration, "server_cmd": srv.cmd,
                               "server_log": os.path.relpath(log, out)}
                        if srv.error:
                            rec["error"] = "server: " + srv.error
                            srv.stop()
                        else:
                            if client == "teb":
                                rec.update(run_teb(a.teb, srv.port, c, sz, a.duration))
                            else:
                                rec.update(run_load(load_argv, a.load_args, srv.port, c, sz, a.duration, tmpdir))
                            rec["server_rc"] = srv.stop()
                            cpu = srv.cpu_at_stop
                            if srv.cpu_split_at_stop is not None:
                                rec["server_cpu_user_s"], rec["server_cpu_sys_s"] = srv.cpu_split_at_stop
                            if cpu is not None:
                                rec["server_cpu_s"] = cpu
                                if rec.get("msgs_per_s"):
                                    rec["server_cpu_us_per_msg"] = cpu * 1e6 / (rec["msgs_per_s"] * a.duration)
                            if s.is_readyloop:
                                rec["server_stats"] = parse_server_stats(srv.text())
                        results.append(rec)
                        print("[%d/%d] %-22s %-4s c=%-4d s=%-4d r=%d  %s" % (
                            n, total, s.name, client, c, sz, rnd,
                            rec.get("error") or "%.0f msg/s" % rec["msgs_per_s"]), file=sys.stderr)
                        time.sleep(a.settle)
    finally:
        meta["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(os.path.join(out, "peer_bench.json"), "w") as f:
            json.dump({"meta": meta, "args": vars(a), "results": results}, f, indent=1)
        write_summary(os.path.join(out, "peer_bench.md"), results, servers, a, meta)
        shutil.rmtree(tmpdir, ignore_errors=True)
    print("wrote %s/peer_bench.{json,md}" % out, file=sys.stderr)


if __name__ == "__main__":
    main()
