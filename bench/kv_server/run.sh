#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/kv_server/run.sh: kv_server (1 io thread) against Debian's redis-server under
# redis-benchmark (issue 12). Each server is pinned to one core, redis-benchmark (50 connections,
# 16 pipelined requests each: -P 16) to another. Two configurations, each server in each:
# persistence off (kv_server --appendonly no; redis-server --save '' --appendonly no), and the
# append-only file with appendfsync everysec (both in a scratch directory). The figure is
# requests/s per test (SET, GET), the median of --reps runs, and kv_server's ratio to Redis in
# the same run. Progress goes to stderr, the markdown table to stdout.
#
#   bench/kv_server/run.sh [--quick] [--requests=N] [--reps=N] [--no-build]
#
#   --requests=N   requests per test (default 2000000); --quick: 200000 and --reps=1
#   --reps=N       runs per server and configuration (default 3)
#   --no-build     use build/release/examples/kv_server/kv_server as it is
# Environment: SERVER_CPU (default 0), CLIENT_CPU (default 1), BASE_PORT (default 16380),
# CLIENTS (redis-benchmark -c, default 50).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

requests=2000000
reps=3
build=1
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
base_port=${BASE_PORT:-16380}
clients=${CLIENTS:-50}
kv="$repo/build/release/examples/kv_server/kv_server"

for arg in "$@"; do
  case "$arg" in
    --quick) requests=200000 reps=1 ;;
    --requests=*) requests=${arg#*=} ;;
    --reps=*) reps=${arg#*=} ;;
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "run.sh: unknown argument '$arg' (see --help)" >&2
      exit 2
      ;;
  esac
done

fail() {
  echo "run.sh: FAILED: $*" >&2
  exit 1
}
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

for tool in redis-server redis-benchmark redis-cli taskset; do
  command -v "$tool" >/dev/null || fail "'$tool' is needed (Debian: redis-server, redis-tools, util-linux)"
done

if ((build)); then
  log "building kv_server (release preset)"
  cmake --preset release >&2
  cmake --build --preset release --target kv_server >&2
fi
[[ -x "$kv" ]] || fail "$kv is missing (build it, or drop --no-build)"

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_server NAME CONFIG PORT: pinned to $server_cpu, in a fresh directory; waits for PONG.
start_server() {
  local name=$1 config=$2 port=$3 dir="$tmp/$1-$2-$RANDOM"
  mkdir -p "$dir"
  local args=()
  if [[ $name == kv_server ]]; then
    args=("$kv" --port "$port" --dir "$dir")
    [[ $config == aof ]] && args+=(--appendonly yes --appendfsync everysec) || args+=(--appendonly no)
  else
    args=(redis-server --port "$port" --dir "$dir" --save '' --bind 127.0.0.1)
    [[ $config == aof ]] && args+=(--appendonly yes --appendfsync everysec) || args+=(--appendonly no)
  fi
  taskset -c "$server_cpu" "${args[@]}" >"$dir/log" 2>&1 &
  server_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$server_pid" 2>/dev/null || fail "$name exited at start: $(cat "$dir/log")"
    [[ "$(redis-cli -p "$port" ping 2>/dev/null)" == PONG ]] && return 0
    sleep 0.05
  done
  fail "$name does not answer PING on port $port after 5 s"
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# bench PORT: prints "SET GET" requests/s
bench() {
  local out
  out=$(taskset -c "$client_cpu" redis-benchmark -p "$1" -q -c "$clients" -P 16 -t set,get -n "$requests" 2>&1) ||
    fail "redis-benchmark failed: $out"
  [[ "$out" != *rror* ]] || fail "redis-benchmark reported errors: $out"
  local set get
  set=$(tr '\r' '\n' <<<"$out" | sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
  get=$(tr '\r' '\n' <<<"$out" | sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
  [[ -n "$set" && -n "$get" ]] || fail "cannot read redis-benchmark's output: $out"
  echo "$set $get"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A result
port=$base_port
for config in off aof; do
  for name in kv_server redis-server; do
    : >"$tmp/set" && : >"$tmp/get"
    for ((r = 1; r <= reps; r++)); do
      port=$((port + 1))
      start_server "$name" "$config" "$port"
      read -r s g < <(bench "$port")
      stop_server
      log "$name, persistence $config, run $r: SET $s/s, GET $g/s"
      echo "$s" >>"$tmp/set"
      echo "$g" >>"$tmp/get"
    done
    result[$name,$config,set]=$(median <"$tmp/set")
    result[$name,$config,get]=$(median <"$tmp/get")
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo
echo "redis-benchmark -P 16 -c $clients -n $requests -t set,get; servers on CPU $server_cpu, client on CPU $client_cpu;"
echo "median of $reps run(s); $(redis-server --version | cut -d' ' -f1-3)"
echo
echo "| persistence | test | kv_server (req/s) | redis-server (req/s) | kv_server / redis |"
echo "|-------------|------|------------------:|---------------------:|------------------:|"
for config in off aof; do
  label=$([[ $config == off ]] && echo "off" || echo "AOF everysec")
  for t in set get; do
    k=${result[kv_server,$config,$t]}
    rd=${result[redis-server,$config,$t]}
    printf '| %s | %s | %.0f | %.0f | %s |\n' "$label" "${t^^}" "$k" "$rd" "$(ratio "$k" "$rd")"
  done
done
