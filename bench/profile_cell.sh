#!/usr/bin/env bash
# Where the server's CPU goes at one cell (default 50 clients x 512 B, tcp-echo-benchmark):
# for each server, its user/system CPU split over the run (/proc/PID/stat before and after the
# client), the client's user/system (/usr/bin/time -f), and a `perf record -g` of the server for
# the middle T-2 seconds of the run, summarised by DSO and by symbol. A record, not a test.
#
#   bench/profile_cell.sh OUTDIR [clients] [size] [seconds]
# Needs: target/release/readyloop, bench/peers/target/release/{mio-echo,tokio-echo},
# tcp-echo-benchmark on PATH, perf (as root or perf_event_paranoid <= 1), /usr/bin/time.
set -u
OUT=${1:?outdir}; C=${2:-50}; S=${3:-512}; T=${4:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RL=$ROOT/target/release/readyloop
ME=$ROOT/bench/peers/target/release/mio-echo
TE=$ROOT/bench/peers/target/release/tokio-echo
TEB=$(command -v tcp-echo-benchmark || echo ~/.cargo/bin/tcp-echo-benchmark)
TCK=$(getconf CLK_TCK)
mkdir -p "$OUT"
declare -A CMDS=(
  [readyloop-epoll-lt-t1]="$RL serve --backend epoll-lt --port PORT"
  [readyloop-epoll-et-t1]="$RL serve --backend epoll-et --port PORT"
  [mio]="$ME --port PORT"
  [readyloop-epoll-lt-t2]="$RL serve --backend epoll-lt --port PORT --threads 2"
  [tokio-mt]="$TE --port PORT"
)
port=19300
for name in readyloop-epoll-lt-t1 readyloop-epoll-et-t1 mio readyloop-epoll-lt-t2 tokio-mt; do
  port=$((port+1))
  cmd=${CMDS[$name]//PORT/$port}
  $cmd 2>"$OUT/$name.server.log" &
  spid=$!
  sleep 0.5
  read -r u0 s0 < <(awk '{print $14, $15}' /proc/$spid/stat)
  /usr/bin/time -f "client_user_s=%U client_sys_s=%S client_wall_s=%e" -o "$OUT/$name.client-time.txt" \
    "$TEB" -a 127.0.0.1:$port -c "$C" -l "$S" -t "$T" >"$OUT/$name.client.txt" 2>&1 &
  cpid=$!
  sleep 0.5
  perf record -g -o "$OUT/$name.perf.data" -p $spid -- sleep $((T-2)) >/dev/null 2>"$OUT/$name.perf-record.log"
  wait $cpid
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$spid/stat)
  kill -INT $spid; wait $spid 2>/dev/null
  resp=$(sed -n 's/.*Total: [0-9]* requests, \([0-9]*\) responses.*/\1/p' "$OUT/$name.client.txt")
  awk -v n="$name" -v u=$((u1-u0)) -v s=$((s1-s0)) -v t=$TCK -v r="$resp" 'BEGIN{
    printf "%s responses=%d server_user_s=%.2f server_sys_s=%.2f user_share=%.1f%% server_us_per_msg=%.2f (user %.2f sys %.2f)\n",
      n, r, u/t, s/t, 100*u/(u+s), (u+s)/t*1e6/r, u/t*1e6/r, s/t*1e6/r}' | tee -a "$OUT/cpu-split.txt"
  cat "$OUT/$name.client-time.txt" | tee -a "$OUT/cpu-split.txt"
  perf report -i "$OUT/$name.perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 >"$OUT/$name.perf-dso.txt"
  perf report -i "$OUT/$name.perf.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 >"$OUT/$name.perf-sym.txt"
  rm -f "$OUT/$name.perf.data"
  sleep 0.5
done
