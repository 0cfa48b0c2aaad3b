#!/usr/bin/env bash
# Loop stalls of the log's slow parts, readyloop kv vs redis-server 7.0 (same run, pinned):
#  1. GET -P 1 latency (redis-benchmark percentiles) with and without a BGREWRITEAOF of
#     KEYS keys running (Redis forks; we serialise on the loop and write on a thread);
#  2. round-trip time of FLUSHALL (sync) vs FLUSHALL ASYNC on KEYS keys.
# Usage: bench/aof_stalls.sh READYLOOP_BIN OUT_DIR [KEYS]
set -euo pipefail
BIN=${1:?}
OUT=${2:?}
KEYS=${3:-1000000}
mkdir -p "$OUT"
LOG="$OUT/aof_stalls.txt"
: >"$LOG"

wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

fill() {
    taskset -c 1 redis-benchmark -p "$1" -t set -n "$KEYS" -r "$KEYS" -P 64 -d 32 -q \
        >/dev/null 2>&1
    # -r draws keys at random: top up with a sequential mass insert so DBSIZE = KEYS.
    seq 0 $((KEYS - 1)) | awk '{printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%012d\r\n$32\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", length(sprintf("key:%012d",$1)), $1}' \
        | redis-cli -p "$1" --pipe >/dev/null
}

pcts() { grep -E '^(50\.000|99\.000|99\.9[0-9]*|100\.000)% <=' | awk '{printf "p%s=%sms ", $1, $3}'; }

for server in redis readyloop; do
    dir=$(mktemp -d /tmp/aofstall.XXXXXX)
    port=$((20000 + RANDOM % 20000))
    if [ "$server" = redis ]; then
        taskset -c 0 redis-server --port "$port" --save '' --appendonly yes --appendfsync everysec \
            --dir "$dir" --logfile "$dir/log" --auto-aof-rewrite-percentage 0 &
    else
        taskset -c 0 "$BIN" kv --port "$port" --appendonly yes --appendfsync everysec --dir "$dir" \
            --auto-aof-rewrite-percentage 0 2>"$dir/log" &
    fi
    pid=$!
    wait_port "$port"
    fill "$port"
    echo "== $server: dbsize $(redis-cli -p "$port" dbsize)" | tee -a "$LOG"
    cmd="taskset -c 1 redis-benchmark -p $port -t get -P 1 -c 50 -n 400000 -r $KEYS"
    echo "baseline GET -P 1 ($cmd): $($cmd 2>/dev/null | tr '\r' '\n' | pcts)" | tee -a "$LOG"
    ( sleep 0.5; redis-cli -p "$port" bgrewriteaof >/dev/null ) &
    echo "during BGREWRITEAOF:      $($cmd 2>/dev/null | tr '\r' '\n' | pcts)" | tee -a "$LOG"
    wait %2 2>/dev/null || true
    sleep 2
    redis-cli -p "$port" info persistence | grep -E 'aof_last_bgrewrite_status|aof_rewrites|aof_last_rewrite_time' | tr -d '\r' | tr '\n' ' ' | tee -a "$LOG"; echo | tee -a "$LOG"
    t0=$(date +%s%N); redis-cli -p "$port" flushall >/dev/null; t1=$(date +%s%N)
    echo "FLUSHALL (sync) of $KEYS keys: $(( (t1 - t0) / 1000000 )) ms round trip" | tee -a "$LOG"
    fill "$port"
    t0=$(date +%s%N); redis-cli -p "$port" flushall async >/dev/null; t1=$(date +%s%N)
    echo "FLUSHALL ASYNC of $KEYS keys: $(( (t1 - t0) / 1000000 )) ms round trip" | tee -a "$LOG"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
done
