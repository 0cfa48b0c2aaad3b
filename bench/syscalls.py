#!/usr/bin/env python3
"""Syscalls per echoed message, counted by strace, for readyloop and the peer servers.

For each server: run it under `strace -f -c -o FILE`, drive it with tcp-echo-benchmark
(default 50 connections x 64 B for 5 s), stop it with SIGINT (sent to the server, not to
strace, so strace writes its summary), and divide strace's total call count by the messages
echoed (the client's response count). For readyloop the server's exit line (bytes out, syscalls
by kind) is the cross-check. With --plain-too, readyloop is also run without strace, where
only its own counters are available but timing (and so wake-up batching) is undisturbed.

Output (default bench/results/<UTC date>-<host>/): strace-<server>-r<N>.txt (strace's summary),
syscalls.json (everything), syscalls.md (table + command lines), logs/ (server stderr).
Python 3 standard library only; needs strace and tcp-echo-benchmark.
"""

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_bench as pb  # noqa: E402

WAIT_CALLS = {"epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll"}
READ_CALLS = {"recvfrom", "read", "recvmsg", "readv", "recv"}
WRITE_CALLS = {"sendto", "write", "sendmsg", "writev", "send"}
CONN_CALLS = {"accept4", "accept", "close", "setsockopt", "epoll_ctl", "shutdown"}


def parse_strace(path):
    """strace -c summary -> {syscall: {"calls": n, "errors": e}}, total calls."""
    rows = {}
    total = None
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or parts[0].startswith(("%", "-")):
                continue
            try:
                float(parts[0])
            except ValueError:
                continue
            name = parts[-1]
            calls = int(parts[3])
            errors = int(parts[4]) if len(parts) == 6 else 0
            if name == "total":
                total = calls
            else:
                rows[name] = {"calls": calls, "errors": errors}
    if total is None:
        total = sum(r["calls"] for r in rows.values())
    return rows, total


def group(rows):
    g = {"wait": 0, "read": 0, "write": 0, "conn": 0, "other": 0}
    for name, r in rows.items():
        k = ("wait" if name in WAIT_CALLS else "read" if name in READ_CALLS else
             "write" if name in WRITE_CALLS else "conn" if name in CONN_CALLS else "other")
        g[k] += r["calls"]
    return g


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readyloop", help="path to readyloop (release)")
    ap.add_argument("--backends", default="epoll-lt,epoll-et,poll")
    ap.add_argument("--tokio-echo")
    ap.add_argument("--mio-echo")
    ap.add_argument("--teb", default=shutil.which("tcp-echo-benchmark") or "tcp-echo-benchmark")
    ap.add_argument("--strace", default=shutil.which("strace") or "strace")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--plain-too", action="store_true",
                    help="also run readyloop without strace (its own counters only)")
    ap.add_argument("--only", help="comma-separated server names to keep, e.g. readyloop-epoll-lt,tokio-mt")
    ap.add_argument("--out")
    a = ap.parse_args()

    started = datetime.datetime.now(datetime.timezone.utc)
    out = a.out or os.path.join(pb.HERE, "results", "%s-%s" % (started.strftime("%Y-%m-%d"),
                                                                socket.gethostname()))
    logdir = os.path.join(out, "logs")
    os.makedirs(logdir, exist_ok=True)

    servers = []
    if a.readyloop:
        for b in pb.csv_strs(a.backends):
            servers.append(pb.Server("readyloop-" + b, [a.readyloop, "serve", "--backend", b,
                                                        "--port", "{port}"], is_readyloop=True))
    if a.tokio_echo:
        servers.append(pb.Server("tokio-mt", [a.tokio_echo, "--port", "{port}"]))
        servers.append(pb.Server("tokio-ct", [a.tokio_echo, "--port", "{port}", "--current-thread"]))
    if a.mio_echo:
        servers.append(pb.Server("mio", [a.mio_echo, "--port", "{port}"]))
    if a.only:
        keep = set(pb.csv_strs(a.only))
        servers = [s for s in servers if s.name in keep]

    results = []
    for rnd in range(a.rounds):
        for s in servers:
            modes = ["strace"] + (["plain"] if a.plain_too and s.is_readyloop else [])
            for mode in modes:
                tag = "%s-r%d" % (s.name, rnd) + ("" if mode == "strace" else "-plain")
                spath = os.path.join(out, "strace-%s.txt" % tag)
                wrap = [a.strace, "-f", "-c", "-o", spath] if mode == "strace" else None
                log = os.path.join(logdir, "syscalls-%s.log" % tag)
                srv = pb.Running(s, pb.free_port(), log, wrap=wrap)
                rec = {"server": s.name, "mode": mode, "round": rnd, "server_cmd": srv.cmd,
                       "clients": a.clients, "size": a.size}
                if srv.error:
                    rec["error"] = srv.error
                    srv.stop()
                    results.append(rec)
                    continue
                rec.update(pb.run_teb(a.teb, srv.port, a.clients, a.size, a.duration))
                time.sleep(0.3)  # let the server see every EOF before it is told to stop
                rec["server_rc"] = srv.stop(grace=20)
                msgs = rec.get("responses")
                if s.is_readyloop:
                    st = pb.parse_server_stats(srv.text())
                    rec["server_stats"] = st
                    if st:
                        rec["server_msgs"] = st["bytes_out"] / a.size
                        rec["server_syscalls_per_msg"] = st["syscalls"] / rec["server_msgs"]
                if mode == "strace":
                    rows, total = parse_strace(spath)
                    rec["strace_file"] = os.path.relpath(spath, out)
                    rec["strace"] = rows
                    rec["strace_total"] = total
                    rec["groups"] = group(rows)
                    if msgs:
                        rec["syscalls_per_msg"] = total / msgs
                results.append(rec)
                print("%-18s %-6s r%d: responses %s, %s" % (
                    s.name, mode, rnd, msgs,
                    "%.4f syscalls/msg (strace)" % rec["syscalls_per_msg"] if "syscalls_per_msg" in rec
                    else "%.4f syscalls/msg (server counters)" % rec.get("server_syscalls_per_msg", 0)),
                    file=sys.stderr)

    meta = {"started": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "host": socket.gethostname(),
            "cpus": os.cpu_count(), "argv": " ".join(shlex.quote(x) for x in [sys.executable] + sys.argv),
            "versions": pb.tool_versions(argparse.Namespace(readyloop=a.readyloop))}
    try:
        meta["strace_version"] = os.popen(shlex.quote(a.strace) + " -V").readline().strip()
    except OSError:
        pass
    with open(os.path.join(out, "syscalls.json"), "w") as f:
        json.dump({"meta": meta, "args": vars(a), "results": results}, f, indent=1)
    write_md(os.path.join(out, "syscalls.md"), results, a, meta)
    print("wrote %s/syscalls.{json,md}" % out, file=sys.stderr)


def write_md(path, results, a, meta):
    L = ["# Syscalls per echoed message (%d clients x %d B, tcp-echo-benchmark, %d s per run)\n"
         % (a.clients, a.size, a.duration)]
    L.append("Started %s on `%s` (%s CPUs); %s; %s.\n" % (
        meta["started"], meta["host"], meta["cpus"], meta.get("strace_version", "strace"),
        "; ".join("%s: %s" % kv for kv in meta["versions"].items())))
    L.append("Command line:\n\n```\n%s\n```\n" % meta["argv"])
    L.append("Each server ran as `strace -f -c -o strace-<server>-r<N>.txt <server> ...`, was driven by"
             " `tcp-echo-benchmark -a 127.0.0.1:PORT -c %d -l %d -t %d`, then got SIGINT. Messages ="
             " the client's response count. *per msg* columns divide strace's call counts by that."
             " The totals include start-up/shutdown calls (mmap, threads, signal set-up) and the"
             " per-connection calls (accept4, setsockopt, epoll_ctl, close, the EOF read).\n"
             % (a.clients, a.size, a.duration))
    L.append("| server | round | messages | total syscalls | **syscalls / msg** | wait / msg | read / msg"
             " | write / msg | conn setup+teardown / msg | other / msg | steady: (wait+read+write) / msg |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["mode"] != "strace" or "syscalls_per_msg" not in r:
            continue
        m = r["responses"]
        g = r["groups"]
        L.append("| %s | %d | %d | %d | **%.4f** | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f |" % (
            r["server"], r["round"], m, r["strace_total"], r["syscalls_per_msg"], g["wait"] / m,
            g["read"] / m, g["write"] / m, g["conn"] / m, g["other"] / m,
            (g["wait"] + g["read"] + g["write"]) / m))
    L.append("")
    L.append("Per syscall kind (calls, errors in brackets):\n")
    for r in results:
        if r["mode"] != "strace" or "strace" not in r:
            continue
        kinds = sorted(r["strace"].items(), key=lambda kv: -kv[1]["calls"])
        L.append("- **%s** r%d: %s" % (r["server"], r["round"], ", ".join(
            "%s %d%s" % (k, v["calls"], " [%d]" % v["errors"] if v["errors"] else "") for k, v in kinds)))
    L.append("")
    rl = [r for r in results if r.get("server_stats")]
    if rl:
        L.append("## readyloop's own counters (exit log line)\n")
        L.append("`plain` = the same run without strace (only the server's counters are available).\n")
        L.append("| server | mode | round | client responses | bytes out / size | wait | ctl | accept | read"
                 " | write | events/wakeup | **loop syscalls / msg** | wait / msg | read / msg | write / msg |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rl:
            st = r["server_stats"]
            m = r["server_msgs"]
            L.append("| %s | %s | %d | %s | %.0f | %d | %d | %d | %d | %d | %.1f | **%.4f** | %.4f | %.4f | %.4f |"
                     % (r["server"], r["mode"], r["round"], r.get("responses", "—"), m, st["wait"], st["ctl"],
                        st["accept"], st["read"], st["write"], st["events_per_wakeup"],
                        r["server_syscalls_per_msg"], st["wait"] / m, st["read"] / m, st["write"] / m))
        L.append("")
    errs = [r for r in results if "error" in r]
    for r in errs:
        L.append("- failed: %s %s: %s" % (r["server"], r["mode"], r["error"]))
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
