#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: builds the flagship examples and runs a short tour of them.
#   bash scripts/demo.sh
#
#   1. checksum -r over a generated tree (100 MiB in 100 files), beside sha256sum over the same
#      files: both wall times, and a check that the two printed the same bytes;
#   2. http_server serving docs/: one request with curl, then wrk for 3 seconds (requests/s);
#   3. kv_server: redis-cli PING, then redis-benchmark -q (SET and GET, pipelined) for a few seconds.
# A step whose program is not built (not in this checkout yet) says so and is skipped.
#
# It installs what it needs (scripts/install-deps.sh --demo: compiler, CMake, liburing, OpenSSL,
# zlib, curl, wrk, redis-tools) and builds in its own directory, build/demo, with tests and
# benchmarks off, so neither their dependencies nor scripts/test.sh's build/release can stop it
# (or be changed by it); the build's output goes to build/demo/demo-build.log. Every wait is
# bounded, and the servers are stopped (SIGTERM, then SIGKILL after 5 s) however the script ends.
# For trying the tour with other binaries: CORING_DEMO_HTTP_SERVER, CORING_DEMO_KV_SERVER.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/install-deps.sh --demo

build=build/demo
bin="$build/examples"
log="$build/demo-build.log"
mkdir -p "$build"
echo "demo: building the examples in $build (log: $log)"
if ! cmake --preset release -B "$build" \
  -DCORING_BUILD_TESTS=OFF -DCORING_BUILD_BENCH=OFF -DCORING_BUILD_EXAMPLES=ON >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "demo: configuring failed (see $log)" >&2
  exit 1
fi
wanted=(checksum http_server kv_server)
targets=()
known=$(cmake --build "$build" --target help 2>/dev/null || true)
for t in "${wanted[@]}"; do
  if grep -q "^$t:" <<<"$known"; then targets+=("$t"); fi
done
if [[ ${#targets[@]} -gt 0 ]] && ! cmake --build "$build" --target "${targets[@]}" >>"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "demo: the build failed (see $log)" >&2
  exit 1
fi

tmp=$(mktemp -d)
server_pids=()
cleanup() {
  local pid i
  for pid in "${server_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# start_server NAME OUTFILE COMMAND...: starts it in the background and waits (at most 10 s) for its
# first line, "listening on 127.0.0.1:PORT"; sets `port` and `pid`.
start_server() {
  local name=$1 out=$2 i line
  shift 2
  "$@" >"$out" 2>"$out.err" &
  pid=$!
  server_pids+=("$pid")
  for ((i = 0; i < 100; i++)); do
    line=$(head -n 1 "$out" 2>/dev/null || true)
    if [[ "$line" == "listening on "*:* ]]; then
      port=${line##*:}
      # Printed once it listens; still, make sure a connection gets through (at most 5 s).
      for ((i = 0; i < 50; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
      done
      echo "  $name printed port $port but does not accept connections"
      return 1
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "  $name exited at start: $(head -c 300 "$out.err")"
      return 1
    fi
    sleep 0.1
  done
  echo "  $name did not print 'listening on ...' within 10 s"
  return 1
}

# stop_server NAME PID: SIGTERM, then waits at most 5 s; says how it ended.
stop_server() {
  local name=$1 p=$2 i rc=0
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$p" 2>/dev/null; then
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    echo "  $name did not stop within 5 s of SIGTERM: killed"
    return
  fi
  wait "$p" 2>/dev/null || rc=$?
  echo "  SIGTERM: $name stopped, exit status $rc"
}

program() {  # program NAME OVERRIDE: the binary to run, or nothing when it is not built
  if [[ -n "$2" ]]; then
    echo "$2"
  elif [[ -x "$bin/$1/$1" ]]; then
    echo "$bin/$1/$1"
  elif [[ -x "$bin/$1" ]]; then
    echo "$bin/$1"
  fi
}

echo
echo "== 1. checksum: sha256sum's output, files read through io_uring and hashed on the CPU pool"
checksum=$(program checksum "")
if [[ -z "$checksum" ]]; then
  echo "  checksum not built yet: skipped"
else
  tree="$tmp/tree"
  head -c $((1024 * 1024)) /dev/urandom >"$tmp/seed"
  for ((i = 0; i < 100; i++)); do
    mkdir -p "$tree/d$((i % 10))"
    { printf '%08d' "$i"; tail -c +9 "$tmp/seed"; } >"$tree/d$((i % 10))/file $i"
  done
  find "$tree" -type f -print0 | LC_ALL=C sort -z >"$tmp/list"
  xargs -0 -a "$tmp/list" cat >/dev/null  # warm the page cache for both
  t0=$(now)
  timeout 60 "$checksum" -r "$tree" >"$tmp/checksum.out"
  t1=$(now)
  timeout 60 xargs -0 -a "$tmp/list" sha256sum >"$tmp/sha256sum.out"
  t2=$(now)
  same="identical output"
  cmp -s "$tmp/checksum.out" "$tmp/sha256sum.out" || same="OUTPUT DIFFERS"
  echo "  100 files, 100 MiB (page cache warm), $(nproc) cores:"
  echo "    checksum -r DIR          $(secs "$t0" "$t1") s"
  echo "    sha256sum FILE...        $(secs "$t1" "$t2") s    ($same)"
  sed -n '1p' "$tmp/checksum.out" | sed "s|$tmp/||; s/^/    /"
fi

echo
echo "== 2. http_server: serving docs/ (HTTP/1.1, keep-alive)"
http_server=$(program http_server "${CORING_DEMO_HTTP_SERVER:-}")
if [[ -z "$http_server" ]]; then
  echo "  http_server not built yet: skipped"
elif start_server http_server "$tmp/http.out" "$http_server" --root docs --port 0; then
  http_pid=$pid
  url="http://127.0.0.1:$port/architecture.md"
  echo "  listening on 127.0.0.1:$port"
  echo "  curl $url"
  if got=$(curl -sS --max-time 5 -o /dev/null -w 'HTTP %{http_code}, %{size_download} bytes, %{content_type}' "$url" 2>&1); then
    echo "    $got"
  else
    echo "    curl failed: $got"
  fi
  if timeout 15 wrk -t1 -c32 -d3s "$url" >"$tmp/wrk.out" 2>&1; then
    awk '/^Requests\/sec:/ { r = $2 } /Latency/ { l = $2 } END { printf "  wrk, 3 s, 32 connections: %s requests/s (mean latency %s)\n", r, l }' "$tmp/wrk.out"
  else
    echo "  wrk failed: $(tail -n 2 "$tmp/wrk.out")"
  fi
  stop_server http_server "$http_pid"
fi

echo
echo "== 3. kv_server: the Redis protocol (RESP2), driven by Redis's own tools"
kv_server=$(program kv_server "${CORING_DEMO_KV_SERVER:-}")
if [[ -z "$kv_server" ]]; then
  echo "  kv_server not built yet: skipped"
elif start_server kv_server "$tmp/kv.out" "$kv_server" --port 0; then
  kv_pid=$pid
  echo "  listening on 127.0.0.1:$port"
  echo "  redis-cli PING: $(timeout 5 redis-cli -p "$port" PING 2>&1 || echo failed)"
  echo "  redis-benchmark -q -t set,get -P 16 -n 500000 (50 clients):"
  if timeout 20 redis-benchmark -q -p "$port" -t set,get -P 16 -n 500000 >"$tmp/rb.out" 2>&1; then
    tr '\r' '\n' <"$tmp/rb.out" | grep 'requests per second' | sed 's/^/    /'
  else
    echo "    redis-benchmark failed or took over 20 s: $(tr '\r' '\n' <"$tmp/rb.out" | tail -n 1)"
  fi
  stop_server kv_server "$kv_pid"
fi

echo
echo "More: examples/ (echo_server, signals, word_count, ...) are built by scripts/test.sh;"
echo "bench/checksum/run.sh, bench/http/run.sh measure against the peers."
