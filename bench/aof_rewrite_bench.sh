#!/usr/bin/env bash
# Loop latency while the log is compacted, and behind UNLINK of a huge set: readyloop kv vs
# redis-server 7.0 in the same run, server pinned to CPU 0, clients to CPU 1.
#  1. GET -P 1 (50 clients, random keys of KEYS) percentiles: baseline, then with BGREWRITEAOF
#     started again and again for the whole run (every request is "during a rewrite");
#     Redis's fork time (latest_fork_usec) and both servers' CPU per request (/proc/PID/stat).
#  2. a 10,000,000-member set: UNLINK's round trip and server time (INFO commandstats), and the
#     longest wait of a PING -P 1 client running through it (redis-benchmark max), against the
#     same client without the UNLINK; DEL of the same set for contrast.
# Usage: bench/aof_rewrite_bench.sh READYLOOP_BIN OUT_DIR [KEYS] [MEMBERS]
set -euo pipefail
BIN=${1:?}
OUT=${2:?}
KEYS=${3:-1000000}
MEMBERS=${4:-10000000}
mkdir -p "$OUT"
LOG="$OUT/results.txt"
: >"$LOG"
say() { echo "$*" | tee -a "$LOG"; }

wait_port() { for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
info() { redis-cli -p "$1" info "$2" | tr -d '\r' | grep -E "^$3:" | cut -d: -f2; }
# utime + stime of PID in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)

fill() {
    seq 0 $((KEYS - 1)) | awk '{k=sprintf("key:%012d",$1); printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$32\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", length(k), k}' \
        | taskset -c 1 redis-cli -p "$1" --pipe >/dev/null
}

fill_set() {
    seq 0 $((MEMBERS - 1)) | awk -v per=1000 '
        { m[n++] = sprintf("member:%010d", $1) }
        n == per { printf "*%d\r\n$4\r\nSADD\r\n$3\r\nbig\r\n", n + 2; for (i = 0; i < n; i++) printf "$%d\r\n%s\r\n", length(m[i]), m[i]; n = 0 }
        END { if (n) { printf "*%d\r\n$4\r\nSADD\r\n$3\r\nbig\r\n", n + 2; for (i = 0; i < n; i++) printf "$%d\r\n%s\r\n", length(m[i]), m[i] } }' \
        | taskset -c 1 redis-cli -p "$1" --pipe >/dev/null
}

# The first bucket of redis-benchmark's percentile distribution at or above 50, 99, 99.9 and 100.
pcts() {
    tr '\r' '\n' | awk '/^ *[0-9.]+% <= [0-9.]+ milliseconds/ {
        p = $1 + 0; v = $3
        if (!a && p >= 50) { printf "p50=%sms ", v; a = 1 }
        if (!b && p >= 99) { printf "p99=%sms ", v; b = 1 }
        if (!c && p >= 99.9) { printf "p99.9=%sms ", v; c = 1 }
        if (p >= 100) { m = v }
    } END { printf "max=%sms", m }'
}

start() { # server port dir
    if [ "$1" = redis ]; then
        taskset -c 0 redis-server --port "$2" --save '' --appendonly yes --appendfsync everysec \
            --dir "$3" --logfile "$3/log" --auto-aof-rewrite-percentage 0 &
    else
        taskset -c 0 "$BIN" kv --port "$2" --appendonly yes --appendfsync everysec --dir "$3" \
            --auto-aof-rewrite-percentage 0 2>"$3/log" &
    fi
    pid=$!
    wait_port "$2"
}

say "# $(date -u +%FT%TZ) $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
say "# readyloop: $BIN ($(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo ?)); $(redis-server --version | cut -d' ' -f1-3)"

for server in redis readyloop; do
    dir=$(mktemp -d /tmp/aofrw.XXXXXX)
    port=$((20000 + RANDOM % 20000))
    start "$server" "$port" "$dir"
    fill "$port"
    say "== $server: dbsize $(redis-cli -p "$port" dbsize), load $(cut -d' ' -f1 /proc/loadavg)"
    cmd="taskset -c 1 redis-benchmark -p $port -t get -P 1 -c 50 -n 300000 -r $KEYS"
    say "command: $cmd"
    c0=$(cpu $pid)
    say "baseline:        $($cmd 2>/dev/null | pcts) cpu/req=$(( ($(cpu $pid) - c0) * 1000000 / tck / 300 ))ns"
    r0=$(info "$port" persistence aof_rewrites)
    flag="$dir/rewriting"; touch "$flag"
    (
        while [ -e "$flag" ]; do
            redis-cli -p "$port" bgrewriteaof >/dev/null 2>&1 || true
            sleep 0.02
            while [ "$(info "$port" persistence aof_rewrite_in_progress)" = 1 ]; do sleep 0.01; done
        done
    ) &
    loop=$!
    sleep 0.2
    c0=$(cpu $pid)
    during=$($cmd 2>/dev/null | pcts)
    c1=$(cpu $pid)
    rm -f "$flag"; wait "$loop" 2>/dev/null || true
    while [ "$(info "$port" persistence aof_rewrite_in_progress)" = 1 ]; do sleep 0.05; done
    r1=$(info "$port" persistence aof_rewrites)
    say "during rewrites: $during cpu/req=$(( (c1 - c0) * 1000000 / tck / 300 ))ns rewrites=$((r1 - r0)) status=$(info "$port" persistence aof_last_bgrewrite_status)"
    if [ "$server" = redis ]; then
        say "redis fork: latest_fork_usec=$(info "$port" stats latest_fork_usec)"
    else
        say "readyloop loop time of the last rewrite: start (T0) $(info "$port" persistence aof_rewrite_start_usec)us, longest tick $(info "$port" persistence aof_rewrite_tick_max_usec)us"
    fi
    ls -l "$dir/appendonlydir" | awk 'NR>1 {print "  " $5, $9}' | tee -a "$LOG"
    redis-cli -p "$port" flushall >/dev/null

    fill_set "$port"
    say "set: scard big = $(redis-cli -p "$port" scard big), used_memory=$(info "$port" memory used_memory)"
    probe="taskset -c 1 redis-benchmark -p $port -t ping_mbulk -P 1 -c 1 -n 40000"
    say "probe: $probe"
    say "probe alone:          $($probe 2>/dev/null | pcts)"
    (sleep 0.3; t0=$(date +%s%N); redis-cli -p "$port" unlink big >/dev/null; t1=$(date +%s%N)
     echo "$(( (t1 - t0) / 1000 ))" >"$dir/rtt") &
    u=$!
    res=$($probe 2>/dev/null | pcts)
    wait "$u"
    say "probe through UNLINK: $res unlink_rtt=$(cat "$dir/rtt")us $(redis-cli -p "$port" info commandstats | tr -d '\r' | grep cmdstat_unlink | cut -d, -f1-3)"
    sleep 3
    say "after: lazyfreed_objects=$(info "$port" memory lazyfreed_objects) lazyfree_pending_objects=$(info "$port" memory lazyfree_pending_objects)"
    fill_set "$port"
    (sleep 0.3; t0=$(date +%s%N); redis-cli -p "$port" del big >/dev/null; t1=$(date +%s%N)
     echo "$(( (t1 - t0) / 1000 ))" >"$dir/rtt") &
    u=$!
    res=$($probe 2>/dev/null | pcts)
    wait "$u"
    say "probe through DEL:    $res del_rtt=$(cat "$dir/rtt")us $(redis-cli -p "$port" info commandstats | tr -d '\r' | grep cmdstat_del: | cut -d, -f1-3)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
done
