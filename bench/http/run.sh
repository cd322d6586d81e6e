#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/http/run.sh: the HTTP/1.1 plaintext benchmark (issue 3). Builds the five servers from the
# release preset, checks each one's answers, then loads each with wrk: the server pinned to one
# core, wrk (1 thread, 64 connections) pinned to another. Two load shapes: plain keep-alive, and
# 16 pipelined requests per write (pipeline.lua). The figure that compares servers is the server's
# CPU time per request: (utime + stime from /proc/<pid>/stat, over the measured run) / (requests
# wrk completed). Progress goes to stderr, the markdown table to stdout.
#
#   bench/http/run.sh [--duration=SECONDS] [--quick] [--reps=N] [--servers=a,b] [--no-build]
#
#   --duration=S   seconds per measured run (default 10); --quick: 3
#   --reps=N       runs per server and shape (default 3); the table shows the medians
#   --servers=...  a subset of: raw_uring_http raw_epoll_http asio_http_epoll asio_http_uring http_coring
#                  http_coring_epoll (http_coring run with CORING_BACKEND=epoll: coring's epoll backend)
#   --no-build     use the binaries already in build/release/bench
# Environment: SERVER_CPU (default 0), WRK_CPU (default 1), BASE_PORT (default 18080),
# CONNECTIONS (default 64), WARMUP (seconds, default 2).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

duration=10
reps=3
build=1
all_servers=(raw_uring_http raw_epoll_http asio_http_epoll asio_http_uring http_coring http_coring_epoll)
servers=("${all_servers[@]}")
server_cpu=${SERVER_CPU:-0}
wrk_cpu=${WRK_CPU:-1}
base_port=${BASE_PORT:-18080}
connections=${CONNECTIONS:-64}
warmup=${WARMUP:-2}
depth=16
bin_dir="$repo/build/release/bench"
lua="$repo/bench/http/pipeline.lua"

for arg in "$@"; do
  case "$arg" in
    --duration=*) duration=${arg#*=} ;;
    --quick) duration=3 ;;
    --reps=*) reps=${arg#*=} ;;
    --servers=*) IFS=, read -r -a servers <<<"${arg#*=}" ;;
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

for s in "${servers[@]}"; do
  [[ " ${all_servers[*]} " == *" $s "* ]] || fail "unknown server '$s' (one of: ${all_servers[*]})"
done

# --- tools -----------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update >&2
  "${sudo_cmd[@]}" apt-get install -y wrk >&2
fi
for tool in wrk taskset curl getconf; do
  command -v "$tool" >/dev/null || fail "'$tool' is needed"
done
clk_tck=$(getconf CLK_TCK)

binary_of() {  # the program a server runs: http_coring_epoll is http_coring on the epoll backend
  [[ "$1" == http_coring_epoll ]] && echo http_coring || echo "$1"
}
backend_of() { [[ "$1" == http_coring_epoll ]] && echo epoll || echo automatic; }

# --- build -----------------------------------------------------------------------------------
targets=()
for s in "${servers[@]}"; do
  b=$(binary_of "$s")
  [[ " ${targets[*]} " == *" $b "* ]] || targets+=("$b")
done
if ((build)); then
  log "building ${targets[*]} (release preset)"
  cmake --preset release >&2
  cmake --build --preset release --target "${targets[@]}" >&2
fi
for b in "${targets[@]}"; do
  [[ -x "$bin_dir/$b" ]] || fail "$bin_dir/$b is missing (build it, or drop --no-build)"
done

# --- servers ---------------------------------------------------------------------------------
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

port_of() {  # the port a server gets: one each, so a slow exit never blocks the next start
  local i
  for i in "${!all_servers[@]}"; do
    [[ "${all_servers[$i]}" == "$1" ]] && { echo $((base_port + i)); return; }
  done
}

start_server() {  # start_server NAME PORT: starts it pinned to $server_cpu, waits until it accepts
  local name=$1 port=$2 i
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "something already listens on port $port"
  fi
  CORING_BACKEND=$(backend_of "$name") taskset -c "$server_cpu" "$bin_dir/$(binary_of "$name")" "$port" \
    2>"$tmp/$name.log" &
  server_pid=$!
  for ((i = 0; i < 100; i++)); do
    kill -0 "$server_pid" 2>/dev/null || fail "$name exited at start: $(cat "$tmp/$name.log")"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  fail "$name does not accept connections on port $port after 5 s"
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

cpu_ticks() {  # utime + stime of the whole process (all threads), in clock ticks
  local stat rest
  read -r stat <"/proc/$1/stat" || fail "cannot read /proc/$1/stat"
  rest=${stat##*) }  # the command name may hold spaces; fields start after its ')'
  read -r -a f <<<"$rest"
  echo $((f[11] + f[12]))  # fields 14 and 15 of proc(5), counted from field 3
}

# send_raw PORT TEXT WAIT: writes TEXT on a new connection, reads for WAIT seconds, prints it.
# A TEXT containing '|' is sent in two writes, 0.2 s apart (a request split across reads).
send_raw() {
  local port=$1 text=$2 wait=$3 fd
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  if [[ "$text" == *"|"* ]]; then
    printf '%s' "${text%%|*}" >&"$fd"
    sleep 0.2
    printf '%s' "${text#*|}" >&"$fd"
  else
    printf '%s' "$text" >&"$fd"
  fi
  timeout "$wait" cat <&"$fd" || true
  exec {fd}>&-
}

count_responses() { grep -o 'HTTP/1.1 200 OK' | wc -l; }

check_server() {  # check_server NAME PORT: the answers are right
  local name=$1 port=$2 body req batch n
  body=$(curl -s --max-time 3 "http://127.0.0.1:$port/") || fail "$name: curl failed"
  [[ "$body" == "Hello, World!" ]] || fail "$name: curl got '$body'"
  req=$'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
  batch=""
  for ((n = 0; n < 16; n++)); do batch+=$req; done
  n=$(send_raw "$port" "$batch" 1 | count_responses)
  ((n == 16)) || fail "$name: 16 pipelined requests got $n responses"
  # one and a half requests, then the rest of the second: two responses
  n=$(send_raw "$port" "${req}GET / HT|TP/1.1"$'\r\nHost: x\r\n\r\n' 1 | count_responses)
  ((n == 2)) || fail "$name: a request split across two writes: $n responses instead of 2"
  # The io_uring servers hold a ring; the Asio io_uring build must not hold an epoll instance,
  # coring on its epoll backend no ring.
  if [[ "$name" != raw_epoll_http && "$name" != asio_http_epoll && "$name" != http_coring_epoll ]]; then
    has_fd "$server_pid" 'anon_inode:[io_uring]' || fail "$name has no io_uring instance"
  fi
  if [[ "$name" == http_coring_epoll ]]; then
    has_fd "$server_pid" 'anon_inode:[eventpoll]' || fail "$name has no epoll instance"
    ! has_fd "$server_pid" 'anon_inode:[io_uring]' || fail "$name holds an io_uring instance"
  fi
  if [[ "$name" == asio_http_uring ]] && has_fd "$server_pid" 'anon_inode:[eventpoll]'; then
    fail "$name holds an epoll instance: Asio's io_uring backend is not the one in use"
  fi
}

has_fd() {  # has_fd PID TARGET: one of the process's descriptors links to TARGET
  local link
  for link in "/proc/$1/fd/"*; do
    [[ "$(readlink "$link" 2>/dev/null)" == "$2" ]] && return 0
  done
  return 1
}

# run_wrk SHAPE SECONDS PORT OUTFILE
run_wrk() {
  local shape=$1 secs=$2 port=$3 out=$4
  local args=(-t1 "-c$connections" "-d${secs}s")
  if [[ "$shape" == plain ]]; then
    args+=(--latency "http://127.0.0.1:$port/")
  else
    args+=(-s "$lua" "http://127.0.0.1:$port/" -- "$depth")
  fi
  taskset -c "$wrk_cpu" wrk "${args[@]}" >"$out" 2>&1 || fail "wrk failed: $(cat "$out")"
}

to_us() {  # wrk's latency ("812.00us", "1.23ms", "2.00s") in µs
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v + 0 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
    else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60e6 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1e6 }
    else print "nan" }'
}

tmp=$(mktemp -d)
results="$tmp/results.tsv"  # server shape rep req/s p99_us cpu_us_per_request
: >"$results"

log "server on CPU $server_cpu, wrk on CPU $wrk_cpu; $reps reps x ${duration}s per server and shape" \
  "(+${warmup}s warm-up); CLK_TCK=$clk_tck"
for ((rep = 1; rep <= reps; rep++)); do
  for name in "${servers[@]}"; do
    port=$(port_of "$name")
    start_server "$name" "$port"
    ((rep == 1)) && check_server "$name" "$port"
    for shape in plain pipelined; do
      run_wrk "$shape" "$warmup" "$port" "$tmp/warmup.txt"
      kill -0 "$server_pid" 2>/dev/null || fail "$name died during the warm-up"
      before=$(cpu_ticks "$server_pid")
      out="$tmp/$name.$shape.$rep.txt"
      run_wrk "$shape" "$duration" "$port" "$out"
      after=$(cpu_ticks "$server_pid")
      requests=$(awk '/ requests in / { print $1 }' "$out")
      rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
      [[ -n "$requests" && -n "$rps" && "$requests" -gt 0 ]] || fail "$name $shape: no requests: $(cat "$out")"
      if grep -q 'Socket errors' "$out"; then fail "$name $shape: wrk: $(grep 'Socket errors' "$out")"; fi
      if grep -q 'Non-2xx' "$out"; then fail "$name $shape: wrk: $(grep 'Non-2xx' "$out")"; fi
      p99="-"
      if [[ "$shape" == plain ]]; then
        p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
      fi
      cpu_us=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$requests" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$shape" "$rep" "$rps" "$p99" "$cpu_us" >>"$results"
      log "rep $rep $name $shape: $rps req/s, p99 ${p99} us, $requests requests," \
        "$((after - before)) ticks, $cpu_us us CPU/request"
    done
    kill -0 "$server_pid" 2>/dev/null || fail "$name died during the run: $(cat "$tmp/$name.log")"
    stop_server
  done
done

# --- table: medians over the reps -------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_of() { awk -F'\t' -v s="$1" -v h="$2" -v c="$3" '$1 == s && $2 == h { print $c }' "$results"; }

echo "| server | shape | req/s | p99 (µs, plain only) | server CPU µs/request | vs raw liburing |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for shape in plain pipelined; do
  base=""
  if [[ " ${servers[*]} " == *" raw_uring_http "* ]]; then
    base=$(column_of raw_uring_http "$shape" 6 | median)
  fi
  for name in "${servers[@]}"; do
    rps=$(column_of "$name" "$shape" 4 | median)
    cpu=$(column_of "$name" "$shape" 6 | median)
    p99="-"
    [[ "$shape" == plain ]] && p99=$(column_of "$name" "$shape" 5 | median)
    ratio="-"
    [[ -n "$base" ]] && ratio=$(awk -v a="$cpu" -v b="$base" 'BEGIN { printf "%.2f×", a / b }')
    printf '| %s | %s | %.0f | %s | %.3f | %s |\n' "$name" "$shape" "$rps" \
      "$([[ "$p99" == - ]] && echo - || printf '%.0f' "$p99")" "$cpu" "$ratio"
  done
done
log "raw results (server, shape, rep, req/s, p99 µs, CPU µs/request): $results"
