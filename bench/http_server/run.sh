#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/http_server/run.sh: issue 12's http_server target. examples/http_server (1 io thread)
# and Debian's nginx (one worker, sendfile on, access log off) serve the same 1 KiB static file;
# wrk (1 thread, 64 connections) loads each, the server pinned to one core and wrk to another.
# Two load shapes: plain keep-alive, and 16 pipelined requests per write (bench/http/pipeline.lua).
# The figure compared is the server's CPU time per request: (utime + stime of every process of
# the server, from /proc/<pid>/stat, over the measured run) / (requests wrk completed). The issue's
# target: http_server's CPU per request <= 1.0x nginx's, in both shapes. Progress goes to stderr,
# the markdown table to stdout.
#
#   bench/http_server/run.sh [--duration=SECONDS] [--quick] [--reps=N] [--no-build]
#
#   --duration=S   seconds per measured run (default 10); --quick: 3
#   --reps=N       runs per server and shape (default 3); the table shows the medians
#   --no-build     use build/release/examples/http_server/http_server as it is
# Environment: SERVER_CPU (default 0), WRK_CPU (default 1), BASE_PORT (default 18180),
# CONNECTIONS (default 64), WARMUP (seconds, default 2), NGINX (default: nginx on PATH or /usr/sbin/nginx).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

duration=10
reps=3
build=1
server_cpu=${SERVER_CPU:-0}
wrk_cpu=${WRK_CPU:-1}
base_port=${BASE_PORT:-18180}
connections=${CONNECTIONS:-64}
warmup=${WARMUP:-2}
depth=16
servers=(http_server nginx)
bin="$repo/build/release/examples/http_server/http_server"
lua="$repo/bench/http/pipeline.lua"

for arg in "$@"; do
  case "$arg" in
    --duration=*) duration=${arg#*=} ;;
    --quick) duration=3 ;;
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

# --- tools -----------------------------------------------------------------------------------
nginx_bin=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x "$nginx_bin" ]] || fail "nginx is needed (Debian: apt-get install nginx-light or nginx)"
for tool in wrk taskset curl getconf; do
  command -v "$tool" >/dev/null || fail "'$tool' is needed"
done
clk_tck=$(getconf CLK_TCK)

# --- build -----------------------------------------------------------------------------------
if ((build)); then
  log "building http_server (release preset)"
  cmake --preset release >&2
  cmake --build --preset release --target http_server >&2
fi
[[ -x "$bin" ]] || fail "$bin is missing (build it, or drop --no-build)"

# --- the served tree and nginx's configuration -------------------------------------------------
tmp=$(mktemp -d)
mkdir -p "$tmp/www" "$tmp/nginx"
head -c 1024 /dev/urandom >"$tmp/www/1k.bin"

port_of() {
  case "$1" in
    http_server) echo "$base_port" ;;
    nginx) echo $((base_port + 1)) ;;
  esac
}

cat >"$tmp/nginx/nginx.conf" <<CONF
# One worker, as the current user, everything under $tmp/nginx.
user $(id -un) $(id -gn);
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$(port_of nginx);
    root $tmp/www;
  }
}
CONF

# --- servers ---------------------------------------------------------------------------------
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

start_server() {  # start_server NAME PORT: starts it pinned to $server_cpu, waits until it accepts
  local name=$1 port=$2 i
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "something already listens on port $port"
  fi
  case "$name" in
    http_server) taskset -c "$server_cpu" "$bin" --root "$tmp/www" --port "$port" --threads 1 \
      >"$tmp/$name.out" 2>"$tmp/$name.log" & ;;
    nginx) taskset -c "$server_cpu" "$nginx_bin" -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" \
      -e "$tmp/nginx/error.log" >"$tmp/$name.out" 2>"$tmp/$name.log" & ;;
  esac
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

cpu_ticks_of() {  # utime + stime of one process (all threads), in clock ticks
  local stat rest
  read -r stat <"/proc/$1/stat" || fail "cannot read /proc/$1/stat"
  rest=${stat##*) }  # the command name may hold spaces; fields start after its ')'
  read -r -a f <<<"$rest"
  echo $((f[11] + f[12]))  # fields 14 and 15 of proc(5), counted from field 3
}

cpu_ticks() {  # the server process and its children (nginx's worker)
  local total child
  total=$(cpu_ticks_of "$1")
  for child in $(cat "/proc/$1/task/"*/children 2>/dev/null); do
    total=$((total + $(cpu_ticks_of "$child")))
  done
  echo "$total"
}

check_server() {  # the file comes back whole, also when pipelined
  local name=$1 port=$2 fd n
  curl -s --max-time 3 -o "$tmp/got" "http://127.0.0.1:$port/1k.bin" || fail "$name: curl failed"
  cmp -s "$tmp/got" "$tmp/www/1k.bin" || fail "$name: the body differs"
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /1k.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /1k.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"
  n=$(timeout 3 cat <&"$fd" | grep -ao 'HTTP/1.1 200 OK' | wc -l)
  exec {fd}>&-
  ((n == 2)) || fail "$name: two pipelined requests got $n responses"
}

run_wrk() {  # run_wrk SHAPE SECONDS PORT OUTFILE
  local shape=$1 secs=$2 port=$3 out=$4
  local args=(-t1 "-c$connections" "-d${secs}s")
  if [[ "$shape" == plain ]]; then
    args+=("http://127.0.0.1:$port/1k.bin")
  else
    args+=(-s "$lua" "http://127.0.0.1:$port/1k.bin" -- "$depth")
  fi
  taskset -c "$wrk_cpu" wrk "${args[@]}" >"$out" 2>&1 || fail "wrk failed: $(cat "$out")"
}

results="$tmp/results.tsv"  # server shape rep req/s cpu_us_per_request
: >"$results"

log "server on CPU $server_cpu, wrk on CPU $wrk_cpu; $reps reps x ${duration}s per server and shape" \
  "(+${warmup}s warm-up); CLK_TCK=$clk_tck; $("$nginx_bin" -v 2>&1)"
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
      cpu_us=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$requests" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')
      printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$shape" "$rep" "$rps" "$cpu_us" >>"$results"
      log "rep $rep $name $shape: $rps req/s, $requests requests, $((after - before)) ticks, $cpu_us us CPU/request"
    done
    kill -0 "$server_pid" 2>/dev/null || fail "$name died during the run: $(cat "$tmp/$name.log")"
    stop_server
  done
done

# --- table: medians over the reps -------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_of() { awk -F'\t' -v s="$1" -v h="$2" -v c="$3" '$1 == s && $2 == h { print $c }' "$results"; }

echo "| server | shape | req/s | server CPU µs/request | CPU/request vs nginx |"
echo "| --- | --- | ---: | ---: | ---: |"
for shape in plain pipelined; do
  base=$(column_of nginx "$shape" 5 | median)
  for name in "${servers[@]}"; do
    rps=$(column_of "$name" "$shape" 4 | median)
    cpu=$(column_of "$name" "$shape" 5 | median)
    ratio=$(awk -v a="$cpu" -v b="$base" 'BEGIN { printf "%.2f×", a / b }')
    printf '| %s | %s | %.0f | %.3f | %s |\n' "$name" "$shape" "$rps" "$cpu" "$ratio"
  done
done
