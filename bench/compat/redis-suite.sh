#!/usr/bin/env bash
# Redis's own test suite (7.0.15, normal mode: the suite starts, restarts, inspects and kills
# the server itself) against `readyloop kv` and against Debian's redis-server, unit by unit,
# in the same run; writes a per-unit table (ours / Redis) under
# bench/results/<date>-<host>/redis-suite/.
#
# usage: bench/compat/redis-suite.sh [--ours-only] [--smoke] [UNIT...]
#   UNIT       e.g. unit/type/string (default: every unit the driver lists, see --list there)
#   --smoke    the CI subset: a few fast units, ours only, fails (exit 1) if any unit passes
#              fewer tests than SMOKE_MIN says or the server cannot be started at all.
#   --ours-only  skip the redis-server run (the table then shows the baseline file's count).
# env: READYLOOP_BIN (default target/release/readyloop, else target/debug/readyloop),
#      REDIS_SUITE_DRIVER (default /work/shared/redis-suite-full.sh or ../shared/...),
#      OUT (results directory), OURS_BASEPORT (25000), REDIS_BASEPORT (26000),
#      and the driver's own REDIS_SUITE_* knobs.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

SMOKE=0
OURS_ONLY=0
UNITS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1; OURS_ONLY=1; shift ;;
        --ours-only) OURS_ONLY=1; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) UNITS+=("$1"); shift ;;
    esac
done

DRIVER=${REDIS_SUITE_DRIVER:-}
for d in /work/shared/redis-suite-full.sh "$ROOT/../shared/redis-suite-full.sh"; do
    [ -n "$DRIVER" ] || { [ -x "$d" ] && DRIVER=$d; } || true
done
[ -n "$DRIVER" ] && [ -x "$DRIVER" ] || { echo "redis-suite-full.sh not found (set REDIS_SUITE_DRIVER)" >&2; exit 2; }
BASELINE="$(dirname "$DRIVER")/redis-suite-baseline-normal.txt"

BIN=${READYLOOP_BIN:-}
if [ -z "$BIN" ]; then
    for b in target/release/readyloop target/debug/readyloop; do
        [ -x "$b" ] && { BIN="$ROOT/$b"; break; }
    done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "build first: cargo build (or set READYLOOP_BIN)" >&2; exit 2; }

# The suite starts src/redis-server: a symlink named redis-server makes our binary behave as
# `readyloop kv` (and keeps the PID the suite gets that of the server itself).
WRAP=$(mktemp -d /tmp/readyloop-suite.XXXXXX)
trap 'rm -rf "$WRAP"' EXIT
ln -s "$BIN" "$WRAP/redis-server"

if [ "$SMOKE" = 1 ] && [ ${#UNITS[@]} -eq 0 ]; then
    # Fast units that exercise start-up (config file, PID banner, Ready line, unix socket),
    # DEBUG, restarts and SIGTERM; minimum passes ours must keep (below Redis's counts).
    UNITS=(unit/type/incr unit/auth unit/quit)
fi
declare -A SMOKE_MIN=([unit/type/incr]=25 [unit/auth]=5 [unit/quit]=3)

HOST=$(hostname -s 2>/dev/null || echo host)
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y-%m-%d)-$HOST/redis-suite}
mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

run() { # NAME SERVER BASEPORT -> OUT/NAME-STAMP.txt
    local name=$1 server=$2 port=$3
    REDIS_SUITE_BASEPORT=$port REDIS_SUITE_LOGDIR=${REDIS_SUITE_LOGDIR:-$OUT/logs-$name-$STAMP} \
        "$DRIVER" --server "$server" "${UNITS[@]}" >"$OUT/$name-$STAMP.txt" 2>"$OUT/$name-$STAMP.err" || true
}

run ours "$WRAP/redis-server" "${OURS_BASEPORT:-25000}"
if [ "$OURS_ONLY" = 0 ]; then
    run redis /usr/bin/redis-server "${REDIS_BASEPORT:-26000}"
fi

# The table: unit, ours passed/failed, Redis passed/failed, ours as % of Redis.
table="$OUT/table-$STAMP.md"
{
    echo "# Redis 7.0.15 test suite, normal mode: readyloop kv vs redis-server ($STAMP)"
    echo
    echo "| unit | ours passed | ours failed | redis passed | redis failed | ours/redis |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    # (POSIX awk: no asorti; the units are sorted by sort(1), TOTAL last)
    awk -v ours="$OUT/ours-$STAMP.txt" -v redis="$OUT/redis-$STAMP.txt" -v base="$BASELINE" '
        function load(f, P, F,   line, n, a) {
            while ((getline line < f) > 0) {
                n = split(line, a, /[ =]/)
                if (n >= 5 && a[2] == "passed" && a[4] == "failed") { P[a[1]] = a[3]; F[a[1]] = a[5] }
            }
        }
        BEGIN {
            load(ours, OP, OF); load(redis, RP, RF)
            if (!("TOTAL" in RP)) load(base, RP, RF)
            for (u in OP) {
                rp = (u in RP) ? RP[u] : "?"; rf = (u in RF) ? RF[u] : "?"
                pct = (rp != "?" && rp > 0) ? sprintf("%.0f%%", 100 * OP[u] / rp) : "-"
                key = (u == "TOTAL") ? "~" : u
                printf "%s\t| %s | %s | %s | %s | %s | %s |\n", key, (u == "TOTAL" ? "**TOTAL**" : u), OP[u], OF[u], rp, rf, pct
            }
        }' | sort | cut -f2-
} >"$table"
cat "$table"

if [ "$SMOKE" = 1 ]; then
    bad=0
    for u in "${UNITS[@]}"; do
        got=$(awk -v u="$u" '$1 == u { split($2, a, "="); print a[2] }' "$OUT/ours-$STAMP.txt")
        min=${SMOKE_MIN[$u]:-1}
        if [ -z "$got" ] || [ "$got" -lt "$min" ]; then
            echo "smoke: $u passed ${got:-0}, expected at least $min" >&2
            bad=1
        fi
    done
    exit $bad
fi
