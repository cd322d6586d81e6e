#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kv_server's append-only file under kill -9. A load client (bash, one connection) sends SET
# k<i> v<i> one at a time and records each i whose +OK came back; the server is killed with -9
# mid-load and restarted on the same directory, and every acknowledged key must be there, with
# appendfsync always (the reply comes after fdatasync) and everysec (after the write: a process
# crash loses nothing acknowledged either). Then a truncated last record (a write cut short) is
# dropped with a warning at start, and what was written after it survives another restart.
#   durability_test.sh path/to/kv_server
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

# load FILE: SET k<i> v<i> for i = 1, 2, ... until the connection fails; each acknowledged i is
# appended to FILE.
load() {
  local acked="$1"
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 0
  local i=1 reply
  while :; do
    local key="k$i" value="v$i"
    # One write per request: two would meet Nagle's algorithm and the delayed ACK (40 ms each).
    local request=$'*3\r\n$3\r\nSET\r\n$'"${#key}"$'\r\n'"$key"$'\r\n$'"${#value}"$'\r\n'"$value"$'\r\n'
    printf '%s' "$request" >&3 2>/dev/null || break
    IFS= read -r -t 5 reply <&3 2>/dev/null || break
    [[ "$reply" == $'+OK\r' ]] || { echo "load: unexpected reply '$reply'" >&2; break; }
    echo "$i" >>"$acked"
    i=$((i + 1))
  done
  exec 3<&-
}

# check_acked FILE: every i in FILE has k<i> = v<i>.
check_acked() {
  local acked="$1" label="$2"
  local count
  count=$(wc -l <"$acked")
  ((count > 0)) || { fail "$label: no write was acknowledged before the kill"; return; }
  sed 's/.*/GET k&/' "$acked" | cli >"$WORK/got.txt"
  sed 's/.*/v&/' "$acked" >"$WORK/want.txt"
  if ! cmp -s "$WORK/got.txt" "$WORK/want.txt"; then
    fail "$label: acknowledged writes missing after kill -9 and restart: $(diff "$WORK/want.txt" "$WORK/got.txt" | head -5 | tr '\n' ' ')"
  else
    echo "$label: all $count acknowledged writes survived kill -9"
  fi
}

for policy in always everysec; do
  dir="$WORK/$policy"
  mkdir -p "$dir"
  start_server --appendonly yes --appendfsync "$policy" --dir "$dir"
  acked="$WORK/acked-$policy.txt"
  : >"$acked"
  load "$acked" &
  loader=$!
  deadline=$((SECONDS + 10))
  # Kill once a few hundred writes were acknowledged (or after 10 s, whatever came).
  while (($(wc -l <"$acked") < 300)) && ((SECONDS < deadline)); do sleep 0.02; done
  kill_server
  timeout 10 bash -c "while kill -0 $loader 2>/dev/null; do sleep 0.05; done" || kill "$loader" 2>/dev/null || true
  wait "$loader" 2>/dev/null || true
  start_server --appendonly yes --appendfsync "$policy" --dir "$dir"
  check_acked "$acked" "appendfsync $policy"
  stop_server
done

# A record cut short at the end of the file (the process died inside a write).
dir="$WORK/always"
printf '*3\r\n$3\r\nSET\r\n$4\r\ncut1\r\n$2\r\nv' >>"$dir/appendonly.aof"
: >"$WORK/server.err"
start_server --appendonly yes --appendfsync always --dir "$dir"
grep -q 'incomplete record' "$WORK/server.err" || fail "no warning about the truncated last record"
expect "" get cut1
expect "OK" set after truncated
stop_server
start_server --appendonly yes --appendfsync always --dir "$dir"
expect "truncated" get after
check_acked "$WORK/acked-always.txt" "after truncation"
stop_server

# A malformed file in the middle refuses to start.
printf 'garbage\r\n' >"$WORK/bad.aof"
status=0
timeout 10 "$KV_SERVER" --port 0 --appendonly yes --dir "$WORK" --appendfilename bad.aof >/dev/null 2>"$WORK/bad.err" ||
  status=$?
[[ $status -eq 1 ]] || fail "a malformed append-only file gave exit status $status, not 1"
grep -q 'bad file format' "$WORK/bad.err" || fail "no 'bad file format' message: $(cat "$WORK/bad.err")"
finish
