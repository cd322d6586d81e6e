#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kv_server end to end, with the real clients: every command through redis-cli, Redis's error
# texts, inline commands, protocol errors, pipelining (redis-cli --pipe and one raw write), lazy
# and active expiry, SELECT isolation, QUIT, a short redis-benchmark run, and exit 0 on SIGTERM.
#   e2e_test.sh path/to/kv_server
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

start_server

# --- every command, and the error texts --------------------------------------------------------
expect "PONG" ping
expect "hello" ping hello
expect "a b" echo "a b"
expect "" get nothing
expect "OK" set k v
expect "v" get k
expect "" set k w nx
expect "OK" set k w xx
expect "" set other w xx
expect "w" set k z get
expect "ERR syntax error" set k v c
expect "ERR syntax error" set k v nx xx
expect "ERR syntax error" set k v ex 1 px 1
expect "ERR invalid expire time in 'set' command" set k v ex 0
expect "ERR value is not an integer or out of range" set k v px abc
expect "ERR unknown command 'foo', with args beginning with: 'a' 'b' " foo a b
expect "ERR unknown command 'FOO', with args beginning with: " FOO
expect "ERR wrong number of arguments for 'get' command" get
expect "ERR wrong number of arguments for 'set' command" set k
expect "ERR wrong number of arguments for 'mset' command" mset a b c
expect "OK" mset a 1 b 2 c 3
expect $'1\n\n3' mget a nothing c
expect "3" exists a b c
expect "2" exists a a
expect "2" del a b nothing
expect "0" exists a
expect "1" incr n
expect "11" incrby n 10
expect "10" decr n
expect "ERR value is not an integer or out of range" incr k
expect "ERR value is not an integer or out of range" incrby n x
expect "OK" set big 9223372036854775807
expect "ERR increment or decrement would overflow" incr big
expect "-1" ttl k
expect "-2" ttl nothing
expect "1" expire k 100
expect "100" ttl k
expect "1" pexpire k 5000
expect "5" ttl k
pttl=$(cli pttl k)
((pttl > 4000 && pttl <= 5000)) || fail "pttl gave $pttl"
expect "0" expire nothing 10
expect "ERR invalid expire time in 'expire' command" expire k 9223372036854775807
expect "OK" flushdb
expect "OK" mset hello 1 hallo 2 hxllo 3 heeello 4 'h*llo' 5 other 6
keys() { cli keys "$1" | sort | tr '\n' ' '; }
[[ "$(keys 'h[ae]llo')" == "hallo hello " ]] || fail "keys h[ae]llo gave '$(keys 'h[ae]llo')'"
[[ "$(keys 'h?llo')" == "h*llo hallo hello hxllo " ]] || fail "keys h?llo gave '$(keys 'h?llo')'"
[[ "$(keys 'h*llo')" == "h*llo hallo heeello hello hxllo " ]] || fail "keys h*llo gave '$(keys 'h*llo')'"
[[ "$(keys 'h[^e]llo')" == "h*llo hallo hxllo " ]] || fail "keys h[^e]llo gave '$(keys 'h[^e]llo')'"
[[ "$(keys 'h\*llo')" == "h*llo " ]] || fail "keys h\\*llo gave '$(keys 'h\*llo')'"
[[ "$(keys '*')" == "h*llo hallo heeello hello hxllo other " ]] || fail "keys * gave '$(keys '*')'"
expect "6" dbsize
expect "ERR wrong number of arguments for 'dbsize' command" dbsize x
expect "OK" flushdb
expect "0" dbsize

# --- SELECT isolation ---------------------------------------------------------------------------
expect "OK" -n 3 set k three
expect "" -n 0 get k
expect "three" -n 3 get k
expect "1" -n 3 dbsize
expect "ERR DB index is out of range" select 16
expect "OK" -n 3 flushdb
expect "0" -n 3 dbsize

# --- expiry: lazy (PX small) and the active sweep -----------------------------------------------
expect "OK" set short x px 100
expect "x" get short
sleep 0.3
expect "" get short
for i in $(seq 1 200); do printf 'SET exp%d v PX 50\n' "$i"; done | cli >/dev/null
sleep 0.6  # the sweep runs every 100 ms
expect "0" dbsize  # DBSIZE counts keys not yet deleted: the sweep deleted them all

# --- CONFIG GET, COMMAND ------------------------------------------------------------------------
expect "save" config get save
expect $'appendonly\nno' config get appendonly
expect "ERR unknown subcommand 'foo'. Try CONFIG HELP." config foo

# --- raw protocol: inline, pipelining in one write, protocol errors, QUIT -----------------------
got=$(raw 'PING\r\nECHO "a b"\r\n*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\np\r\nQUIT\r\n')
want=$'+PONG\r\n$3\r\na b\r\n+OK\r\n$1\r\n1\r\n+OK\r'
[[ "$got" == "$want" ]] || fail "pipelined raw batch gave $(printf %q "$got")"
got=$(raw 'QUIT\r\nPING\r\n')
[[ "$got" == $'+OK\r' ]] || fail "QUIT then PING gave $(printf %q "$got") (the connection must close after QUIT)"
got=$(raw '*abc\r\nPING\r\n')
[[ "$got" == $'-ERR Protocol error: invalid multibulk length\r' ]] || fail "bad multibulk gave $(printf %q "$got")"
got=$(raw '*1\r\n$600000000\r\n')
[[ "$got" == $'-ERR Protocol error: invalid bulk length\r' ]] || fail "huge bulk gave $(printf %q "$got")"
got=$(raw '*2\r\nxx\r\n')
[[ "$got" == $'-ERR Protocol error: expected \'$\', got \'x\'\r' ]] || fail "missing \$ gave $(printf %q "$got")"
got=$(raw 'SET a "b c\r\n')
[[ "$got" == $'-ERR Protocol error: unbalanced quotes in request\r' ]] || fail "unbalanced quotes gave $(printf %q "$got")"

# --- values larger than a receive buffer, commands cut across reads -----------------------------
head -c 750000 /dev/urandom | base64 -w 0 >"$WORK/big.txt"
expect "OK" -x set bigvalue <"$WORK/big.txt"
cli get bigvalue | head -c -1 | cmp -s - "$WORK/big.txt" || fail "a 1 MB value did not come back intact"
got=$(timeout 5 bash -c '
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf "*3\r\n\$3\r\nSET\r\n\$3\r\ncut\r\n\$5\r\nhel" >&3
  sleep 0.2
  printf "lo\r\n*2\r\n\$3\r\nGET\r\n\$3\r\ncut\r\nPI" >&3
  sleep 0.2
  printf "NG\r\nQUIT\r\n" >&3
  timeout 2 cat <&3' _ "$PORT") || true
[[ "$got" == $'+OK\r\n$5\r\nhello\r\n+PONG\r\n+OK\r' ]] || fail "commands cut across reads gave $(printf %q "$got")"

# --- redis-cli --pipe: 5000 commands in one stream ----------------------------------------------
expect "OK" flushdb
for i in $(seq 1 5000); do printf '*3\r\n$3\r\nSET\r\n$%d\r\npipe%d\r\n$1\r\nv\r\n' "$((${#i} + 4))" "$i"; done >"$WORK/pipe.txt"
piped=$(timeout 20 redis-cli -p "$PORT" --pipe <"$WORK/pipe.txt" 2>&1) || fail "redis-cli --pipe failed: $piped"
[[ "$piped" == *"errors: 0, replies: 5000"* ]] || fail "redis-cli --pipe said: $piped"
expect "5000" dbsize
expect "v" get pipe4999

# --- redis-benchmark ----------------------------------------------------------------------------
bench=$(timeout 60 redis-benchmark -p "$PORT" -q -n 20000 -P 16 -t set,get 2>&1) || fail "redis-benchmark failed: $bench"
[[ "$bench" == *"SET: "*"requests per second"* && "$bench" == *"GET: "*"requests per second"* ]] ||
  fail "redis-benchmark said: $bench"
[[ "$bench" != *ERR* && "$bench" != *rror* ]] || fail "redis-benchmark reported errors: $bench"

# --- options ------------------------------------------------------------------------------------
"$KV_SERVER" --help | grep -q '^usage: kv_server' || fail "--help prints no usage"
status=0; "$KV_SERVER" --bogus 1 2>/dev/null || status=$?
[[ $status -eq 2 ]] || fail "an unknown option exited $status, not 2"
status=0; "$KV_SERVER" --appendfsync sometimes 2>/dev/null || status=$?
[[ $status -eq 2 ]] || fail "a bad --appendfsync exited $status, not 2"

# The stop closes idle connections at once (it does not wait out its 5 s grace for them).
expect "ERR the append-only file is off (--appendonly no)" bgrewriteaof
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
printf 'PING\r\n' >&4
IFS= read -r -t 5 reply <&4 || true
[[ "$reply" == $'+PONG\r' ]] || fail "the idle connection's PING gave '$reply'"
stop_started=$SECONDS
stop_server
((SECONDS - stop_started < 4)) || fail "SIGTERM took $((SECONDS - stop_started)) s with an idle connection open"
timeout 5 cat <&4 >/dev/null || fail "the idle connection was not closed by the stop"
exec 4<&-
grep -q 'got SIGTERM, stopping' "$WORK/server.err" || fail "no stop message on stderr"

# --- two io threads: the store is shared ---------------------------------------------------------
start_server --threads 2
bench=$(timeout 60 redis-benchmark -p "$PORT" -q -n 20000 -P 16 -t set,get 2>&1) || fail "redis-benchmark (2 threads) failed: $bench"
[[ "$bench" == *"GET: "*"requests per second"* && "$bench" != *rror* ]] || fail "redis-benchmark (2 threads) said: $bench"
expect "OK" set shared 1
for i in 1 2 3 4; do expect "$((i + 1))" incr shared; done
# SIGINT stops it as SIGTERM does.
kill -INT "$SERVER_PID"
status=0
timeout 10 tail --pid="$SERVER_PID" -f /dev/null || fail "no exit within 10 s of SIGINT"
wait "$SERVER_PID" || status=$?
SERVER_PID=""
[[ $status -eq 0 ]] || fail "exit status $status after SIGINT"
finish
