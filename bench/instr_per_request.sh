#!/usr/bin/env bash
# Server instructions per request, counted by callgrind: unlike CPU time, the count does not
# depend on what else the machine is doing, so two builds can be compared on a busy machine.
#
#   bench/instr_per_request.sh OUT_DIR NAME=BINARY [NAME=BINARY ...]
#
# For each binary: `readyloop kv` under `valgrind --tool=callgrind` (epoll-lt), one idle run
# (start, PING, shutdown) and one loaded run (redis-benchmark -P 16, 50 clients, N requests
# each of SET, GET, INCR on 10,000 keys); (loaded - idle) / requests is the server's
# instructions per request. Writes OUT_DIR/instr.md with the commands and counts.
set -euo pipefail
out=$1; shift
mkdir -p "$out"
n=${N:-200000}
port=${PORT:-21999}
md="$out/instr.md"
{
    echo "# Server instructions per request (callgrind), $(date -u +%FT%TZ)"
    echo
    echo "Command: \`N=$n bench/instr_per_request.sh $out $*\`"
    echo "Load per loaded run: \`redis-benchmark -p $port -P 16 -c 50 -n $n -r 10000 -t set,get,incr -q\`"
    echo
    echo "| build | idle Ir | loaded Ir | requests | Ir per request |"
    echo "|---|---|---|---|---|"
} >"$md"

total_ir() { # callgrind output file -> total instructions
    awk '/^(summary|totals):/ {print $2; exit}' "$1"
}

run_one() { # binary, callgrind file, load?
    local bin=$1 cg=$2 load=$3
    valgrind --tool=callgrind --callgrind-out-file="$cg" "$bin" kv --port "$port" \
        --backend epoll-lt >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 1 200); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    if [ "$load" = yes ]; then
        redis-benchmark -p "$port" -P 16 -c 50 -n "$n" -r 10000 -t set,get,incr -q >"$cg.bench" 2>&1
    fi
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid"
    wait "$pid" || true
}

for spec in "$@"; do
    name=${spec%%=*}
    bin=${spec#*=}
    run_one "$bin" "$out/$name.idle.cg" no
    run_one "$bin" "$out/$name.load.cg" yes
    idle=$(total_ir "$out/$name.idle.cg")
    loaded=$(total_ir "$out/$name.load.cg")
    reqs=$((3 * n))
    per=$(python3 -c "print(f'{($loaded - $idle) / $reqs:.1f}')")
    echo "| $name | $idle | $loaded | $reqs | $per |" >>"$md"
    rm -f "$out/$name.idle.cg" "$out/$name.load.cg"
done
cat "$md"
