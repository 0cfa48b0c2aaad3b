#!/bin/bash
# perf record (software cpu-clock, 5 kHz, no PMU on this VM) of the server during a 10 s
# 50 x 64 B epoll-et load run, ABBA over rounds; user vs kernel samples per message.
set -u
R0=${1:-0}; R1=${2:-3}; BACKEND=${BACKEND:-epoll-et}; SIZE=${SIZE:-64}
for r in $(seq $R0 $R1); do
  if [ $((r % 2)) -eq 0 ]; then order="before after"; else order="after before"; fi
  for b in $order; do
    tag=$b-$BACKEND-s$SIZE-r$r
    taskset -c 0 /work/bench-bins/readyloop-$b serve --backend $BACKEND --port 0 2> $tag.log &
    SP=$!
    for i in $(seq 100); do grep -q 'listening on' $tag.log && break; sleep 0.1; done
    ADDR=$(grep -o 'listening on [0-9.:]*' $tag.log | awk '{print $3}')
    perf record -q -e cpu-clock -F 5000 -p $SP -o $tag.perf.data > /dev/null 2>&1 &
    PP=$!
    sleep 0.3
    taskset -c 1 /work/bench-bins/readyloop-after load --addr $ADDR --connections 50 --size $SIZE --duration 10 --json $tag.load.json > /dev/null
    sleep 0.3
    kill -INT $PP; wait $PP
    kill -INT $SP; wait $SP
    echo "$tag msgs=$(python3 -c "import json;print(json.load(open('$tag.load.json'))['messages'])")"
  done
done
