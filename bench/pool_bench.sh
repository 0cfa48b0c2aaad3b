#!/usr/bin/env bash
# The pool benchmark: light-client latency with and without worker threads, in the
# pinning variants the results README discusses, plus heavy throughput against the
# single-thread rate. Needs a release build: cargo build --release.
#   bench/pool_bench.sh [OUT_DIR]        (default bench/results/$(date -u +%F)-vm/pool)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/$(date -u +%F)-vm/pool}
bin=target/release/readyloop
mkdir -p "$out"
common=(--light 4 --in-flight 4 --duration 5 --warmup 1 --out "$out")
{
  echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  # The project's rule: whole server on CPU 0 (loop and workers), client on CPU 1.
  taskset -c 1 "$bin" bench pool "${common[@]}" --rounds 20000 --workers 0,2 --heavy 0,1,2,4,8 \
      --server-cpus 0 --label pinned
  # Same, workers at nice 10: the loop preempts a worker on its CPU when a request arrives.
  taskset -c 1 "$bin" bench pool "${common[@]}" --rounds 20000 --workers 0,2 --heavy 0,1,2,4,8 \
      --server-cpus 0 --worker-nice 10 --label pinned-nice10
  # Loop on CPU 0, workers free to use both CPUs (sharing CPU 1 with the client), nice 10.
  taskset -c 1 "$bin" bench pool "${common[@]}" --rounds 20000 --workers 0,2 --heavy 0,1,2,4,8 \
      --server-cpus 0 --worker-cpus 0,1 --worker-nice 10 --label spread-nice10
  # Ten times the work per HASH (~10 ms, the cost class of a password hash), same pinning.
  taskset -c 1 "$bin" bench pool "${common[@]}" --rounds 200000 --workers 0,2 --heavy 0,1,2,4,8 \
      --server-cpus 0 --label pinned-r200k
  taskset -c 1 "$bin" bench pool "${common[@]}" --rounds 200000 --workers 0,2 --heavy 0,1,2,4,8 \
      --server-cpus 0 --worker-nice 10 --label pinned-nice10-r200k
  # Heavy throughput alone (no light clients), 8 heavy clients, workers on both CPUs.
  taskset -c 1 "$bin" bench pool --light 0 --in-flight 4 --rounds 20000 --duration 5 --warmup 1 \
      --out "$out" --workers 1,2 --heavy 8 --server-cpus 0,1 --label throughput
  echo "# done $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | grep -v ' INFO ' | tee "$out/run.log"
