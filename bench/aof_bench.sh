#!/usr/bin/env bash
# readyloop kv vs redis-server 7.0 with the append-only log on, same run, same disk:
# redis-benchmark -P 16 -t set, 50 clients, server pinned to CPU 0, client to CPU 1, for
# appendfsync everysec and always. Server CPU per request from /proc/PID/stat (utime+stime).
#
# Usage: bench/aof_bench.sh READYLOOP_BIN OUT_DIR [ROUNDS] [REQUESTS]
set -euo pipefail
BIN=${1:?readyloop binary}
OUT=${2:?output dir}
ROUNDS=${3:-2}
N=${4:-1000000}
mkdir -p "$OUT"
TICK=$(getconf CLK_TCK)
RESULTS="$OUT/aof_bench.tsv"
echo -e "round\tpolicy\tserver\trequests_per_s\tserver_cpu_us_per_req\taof_bytes\tcommand" >"$RESULTS"

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }

wait_port() {
    for _ in $(seq 100); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

run_one() {
    local round=$1 policy=$2 server=$3
    local dir port pid
    dir=$(mktemp -d /tmp/aofbench.XXXXXX)
    port=$((20000 + RANDOM % 20000))
    if [ "$server" = redis ]; then
        taskset -c 0 redis-server --port "$port" --save '' --appendonly yes --appendfsync "$policy" \
            --dir "$dir" --daemonize no --logfile "$dir/redis.log" --aof-use-rdb-preamble yes &
    else
        taskset -c 0 "$BIN" kv --backend epoll-lt --port "$port" --appendonly yes \
            --appendfsync "$policy" --dir "$dir" 2>"$dir/readyloop.log" &
    fi
    pid=$!
    wait_port "$port"
    local cmd="taskset -c 1 redis-benchmark -p $port -P 16 -t set -n $N -c 50 -r 100000 -q"
    local c0 c1 out rps
    c0=$(cpu "$pid")
    out=$($cmd 2>/dev/null | tr '\r' '\n' | grep -E '^SET: [0-9]' | tail -1)
    c1=$(cpu "$pid")
    rps=$(echo "$out" | awk '{print $2}')
    local us
    us=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" -v n="$N" 'BEGIN{printf "%.3f", (b-a)/t*1e6/n}')
    local bytes
    bytes=$(du -sb "$dir"/appendonlydir 2>/dev/null | awk '{print $1}')
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
    echo -e "$round\t$policy\t$server\t$rps\t$us\t$bytes\t$cmd" | tee -a "$RESULTS"
}

for round in $(seq "$ROUNDS"); do
    for policy in everysec always; do
        # Alternate who goes first, so drift in the machine does not favour one.
        if [ $((round % 2)) = 1 ]; then order="redis readyloop"; else order="readyloop redis"; fi
        for server in $order; do
            run_one "$round" "$policy" "$server"
        done
    done
done
