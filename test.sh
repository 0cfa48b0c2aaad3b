#!/usr/bin/env bash
# The project's test command: make sure the lesson's client (OpenBSD netcat) is present, then
# run every test of every crate. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"
if ! dpkg -s netcat-openbsd >/dev/null 2>&1; then
    echo "test.sh: installing netcat-openbsd (the lesson's proof runs nc -q1)" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq netcat-openbsd >/dev/null
fi
exec cargo test "$@"
