#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kv_server's background rewrite of the append-only file. 100 keys (in two databases, some with
# a TTL) are overwritten over and over through redis-cli --pipe until the file has passed the
# rewrite threshold (64 KiB here) several times; the writes go on while rewrites run. The file
# must have been rewritten (smaller than what was written), and after a restart every key must
# hold its last value. BGREWRITEAOF rewrites on request.
#   aof_rewrite_test.sh path/to/kv_server
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

dir="$WORK/data"
mkdir -p "$dir"
aof="$dir/appendonly.aof"
opts=(--appendonly yes --appendfsync everysec --dir "$dir" --auto-aof-rewrite-min-size 64kb
  --auto-aof-rewrite-percentage 100)
start_server "${opts[@]}"

# 20 rounds x 100 keys x 2 databases, ~50 bytes a record: ~200 KiB of records per 10 rounds.
resp() {  # resp ARG...: one command in RESP
  printf '*%d\r\n' "$#"
  for a in "$@"; do printf '$%d\r\n%s\r\n' "${#a}" "$a"; done
}
total=0
for round in $(seq 1 40); do
  {
    resp SELECT 0
    for k in $(seq 1 100); do resp SET "key$k" "value-$round-$k-padding-padding"; done
    resp SELECT 5
    for k in $(seq 1 100); do resp SET "key$k" "five-$round-$k" EX 1000; done
  } >"$WORK/round.txt"
  total=$((total + $(wc -c <"$WORK/round.txt")))
  out=$(timeout 20 redis-cli -p "$PORT" --pipe <"$WORK/round.txt" 2>&1) || fail "round $round: $out"
  [[ "$out" == *"errors: 0, replies: 202"* ]] || fail "round $round: redis-cli --pipe said: $out"
done
expect "100" dbsize
expect "100" -n 5 dbsize
# A rewrite that is still running finishes within a few seconds.
deadline=$((SECONDS + 10))
until grep -q 'append-only file rewritten' "$WORK/server.err" || ((SECONDS >= deadline)); do sleep 0.1; done
grep -q 'append-only file rewritten' "$WORK/server.err" || fail "the file was never rewritten"
sleep 1.5  # let the last rewrite, if one started after the last round, finish
size=$(stat -c %s "$aof")
((size < total / 2)) || fail "the file is $size bytes after $total bytes of writes: not rewritten"
[[ -z "$(ls "$dir" | grep -v '^appendonly.aof$')" ]] || fail "files left in the directory: $(ls "$dir")"
echo "wrote $total bytes of commands; the file is $size bytes"

expect "Background append only file rewriting started" bgrewriteaof
deadline=$((SECONDS + 10))
until (($(grep -c 'append-only file rewritten' "$WORK/server.err") >= 2)) || ((SECONDS >= deadline)); do sleep 0.1; done
expect "OK" set written after-rewrite
stop_server

start_server "${opts[@]}"
expect "101" dbsize  # and `written`
expect "100" -n 5 dbsize
for k in 1 50 100; do
  expect "value-40-$k-padding-padding" get "key$k"
  expect "five-40-$k" -n 5 get "key$k"
done
ttl=$(cli -n 5 ttl key7)
((ttl > 900 && ttl <= 1000)) || fail "the TTL of a key after rewrite and restart is $ttl"
expect "after-rewrite" get written
stop_server
finish
