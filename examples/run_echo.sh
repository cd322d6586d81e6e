#!/bin/sh
# SPDX-License-Identifier: MIT
# The echo example's CTest: starts echo_server (2 io threads, stops after 64 connections), runs
# echo_client against it, and checks that the server served the connections on both io threads.
# Usage: run_echo.sh ECHO_SERVER ECHO_CLIENT
set -eu
server=$1
client=$2
out=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
timeout 120 "$server" --io-threads 2 --connections 64 >"$out" &
pid=$!
port=
for _ in $(seq 1 200); do  # at most ~20 s for the server to listen
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "echo_server did not start"; cat "$out"; exit 1; }
timeout 120 "$client" "$port" 64 16
wait "$pid"
cat "$out"
grep -q '^served 64 connections on 2 io threads:' "$out" || { echo "not served by both io threads"; exit 1; }
