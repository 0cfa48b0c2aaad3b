#!/usr/bin/env bash
# The project's test command: make sure what the tests drive is present (OpenBSD netcat for the
# lesson's proof; redis-server, redis-tools and nutcracker for the KV differential, client and
# proxy tests), then run every test of every crate. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"
need=""
for pkg in netcat-openbsd redis-server redis-tools nutcracker; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
    echo "test.sh: installing$need (the tests run nc, redis-server, redis-cli, redis-benchmark, nutcracker)" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
exec cargo test "$@"
