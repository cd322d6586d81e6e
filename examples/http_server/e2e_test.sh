#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end test of http_server with curl (and raw bytes through bash's /dev/tcp):
#   bash e2e_test.sh path/to/http_server
# Starts the server with --port 0 on a generated tree, checks every answer (bodies, HEAD, ETag and
# 304, ranges, gzip, errors 400/403/404/405/413/416/431/501/503, pipelining, keep-alive, idle and
# header timeouts, the access log), then stops it with SIGTERM in the middle of a download and
# checks that the download completes and the server exits 0. Every wait is bounded; the server is
# killed on any exit.
set -euo pipefail

bin=${1:?usage: e2e_test.sh path/to/http_server}
tmp=$(mktemp -d)
root="$tmp/www"
pid=""
port=""

cleanup() {
  if [[ -n "$pid" ]]; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "e2e_test: FAILED: $*" >&2
  if [[ -f "$tmp/err" ]]; then
    echo "--- server stderr (last lines):" >&2
    tail -n 20 "$tmp/err" >&2
  fi
  exit 1
}
pass() { echo "ok: $*"; }

# --- the tree ------------------------------------------------------------------------------
mkdir -p "$root/sub" "$root/empty_dir" "$root/with index"
printf '<!doctype html><h1>home</h1>\n' >"$root/index.html"
head -c 1024 /dev/urandom >"$root/data.bin"
seq 1 3000 >"$root/sub/numbers.txt"
printf 'body { color: red; }\n%.0s' {1..50} >"$root/style.css"
printf 'inner\n' >"$root/with index/index.html"
head -c 3000000 /dev/urandom >"$root/big.bin"
printf 'TOP SECRET\n' >"$tmp/secret.txt"
ln -s "$tmp/secret.txt" "$root/leak.txt"  # a link that leads outside the root

# --- helpers -------------------------------------------------------------------------------
# start_server ARGS...: starts it, reads "listening on ADDR:PORT" (10 s at most), sets $pid, $port.
start_server() {
  rm -f "$tmp/out" "$tmp/err"  # not the previous server's line: the new one truncates only once it runs
  : >"$tmp/out"
  "$bin" --root "$root" --port 0 "$@" >>"$tmp/out" 2>"$tmp/err" &
  pid=$!
  local line="" i
  for ((i = 0; i < 200; i++)); do
    line=$(head -n 1 "$tmp/out" 2>/dev/null || true)
    [[ "$line" == "listening on "* ]] && break
    kill -0 "$pid" 2>/dev/null || fail "the server exited at start: $(cat "$tmp/err")"
    sleep 0.05
  done
  [[ "$line" == "listening on 127.0.0.1:"* ]] || fail "no 'listening on' line: '$line'"
  port=${line##*:}
}

# stop_server [SIGNAL]: SIGTERM (or SIGNAL), then the exit status must be 0 within 10 s (the
# grace period is 5 s).
stop_server() {
  kill "-${1:-TERM}" "$pid"
  local i
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && fail "the server is still running 10 s after SIGTERM"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  ((rc == 0)) || fail "the server exited with $rc after SIGTERM"
  if grep -q 'Sanitizer' "$tmp/err"; then fail "a sanitizer report"; fi
}

url() { echo "http://127.0.0.1:$port$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
# header NAME: the value of a response field read from stdin (curl -sI / -sD -).
header() { tr -d '\r' | awk -v n="$(echo "$1" | tr A-Z a-z)" -F': ' 'tolower($1) == n { print $2; exit }'; }

# send_raw TEXT WAIT: TEXT (printf format) on a new connection; what comes back within WAIT s.
send_raw() {
  local fd
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  printf "$1" >&"$fd" 2>/dev/null || true
  timeout "$2" cat <&"$fd" || true
  exec {fd}>&-
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- options -------------------------------------------------------------------------------
"$bin" --help | grep -q -- '--root DIR' || fail "--help does not print the usage on stdout"
rc=0
"$bin" --root "$root" --bogus 2>/dev/null || rc=$?
((rc == 2)) || fail "an unknown option exits $rc, not 2"
rc=0
"$bin" --root "$root" --port 70000 2>/dev/null || rc=$?
((rc == 2)) || fail "a bad port exits $rc, not 2"
rc=0
"$bin" --root "$tmp/nope" 2>/dev/null || rc=$?
((rc == 2)) || fail "a missing root exits $rc, not 2"
rc=0
"$bin" --root "$root" --bind not-an-address 2>/dev/null || rc=$?
((rc == 2)) || fail "a bad --bind exits $rc, not 2"
pass "options (--help, unknown option, bad value, missing root, bad --bind)"

start_server --threads 2 --gzip --access-log --header-timeout-ms 1000 --idle-timeout-ms 2000

# --- 200 and bodies ------------------------------------------------------------------------
for f in index.html data.bin sub/numbers.txt style.css big.bin; do
  curl -sf --max-time 10 -o "$tmp/got" "$(url "/$f")" || fail "GET /$f failed"
  cmp -s "$tmp/got" "$root/$f" || fail "GET /$f: the body differs"
done
curl -sf --max-time 10 -o "$tmp/got" "$(url /)" && cmp -s "$tmp/got" "$root/index.html" || fail "GET / is not index.html"
curl -sf --max-time 10 -o "$tmp/got" "$(url /with%20index/)" && cmp -s "$tmp/got" "$root/with index/index.html" ||
  fail "a directory with a space in its name does not serve its index.html"
pass "200 with the file's bytes (small, large, index.html, percent-encoded name)"

[[ "$(curl -sI "$(url /index.html)" | header content-type)" == "text/html; charset=utf-8" ]] || fail "Content-Type of .html"
[[ "$(curl -sI "$(url /style.css)" | header content-type)" == "text/css; charset=utf-8" ]] || fail "Content-Type of .css"
[[ "$(curl -sI "$(url /data.bin)" | header content-type)" == "application/octet-stream" ]] || fail "Content-Type of .bin"
pass "Content-Type by extension"

# --- HEAD: the fields of GET, no body (the next pipelined response follows at once) ---------
heads=$(curl -sI --max-time 10 "$(url /data.bin)")
[[ "$(echo "$heads" | head -n 1 | tr -d '\r')" == "HTTP/1.1 200 OK" ]] || fail "HEAD status: $heads"
[[ "$(echo "$heads" | header content-length)" == 1024 ]] || fail "HEAD Content-Length"
reply=$(send_raw 'HEAD /data.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' 5 | tr -d '\r')
second=$(echo "$reply" | awk 'found { print; next } /^$/ { found = 1 }' | head -n 1)
[[ "$second" == "HTTP/1.1 200 OK" ]] || fail "HEAD sent a body (the line after its head is '$second')"
pass "HEAD"

# --- ETag and 304, and a changed file gets a new tag ----------------------------------------
etag=$(curl -sI "$(url /data.bin)" | header etag)
[[ "$etag" == "\"$(sha "$root/data.bin")\"" ]] || fail "ETag '$etag' is not the SHA-256 of the file"
[[ $(code -H "If-None-Match: $etag" "$(url /data.bin)") == 304 ]] || fail "a matching If-None-Match is not 304"
[[ $(code -H "If-None-Match: \"x\", W/$etag" "$(url /data.bin)") == 304 ]] || fail "a list holding a weak form is not 304"
[[ $(code -H 'If-None-Match: "nope"' "$(url /data.bin)") == 200 ]] || fail "a stale If-None-Match is not 200"
head -c 1024 /dev/urandom >"$root/data.bin"  # same size, new content and mtime
touch -d '+1 second' "$root/data.bin"
etag2=$(curl -sI "$(url /data.bin)" | header etag)
[[ "$etag2" == "\"$(sha "$root/data.bin")\"" && "$etag2" != "$etag" ]] || fail "the ETag did not follow the change"
curl -sf -o "$tmp/got" "$(url /data.bin)" && cmp -s "$tmp/got" "$root/data.bin" || fail "the cache served old content"
[[ $(code -H "If-None-Match: $etag" "$(url /data.bin)") == 200 ]] || fail "the old ETag still gives 304"
pass "strong SHA-256 ETag, 304, invalidation on change"

# --- ranges ----------------------------------------------------------------------------------
curl -s -D "$tmp/h" -o "$tmp/got" -r 0-9 "$(url /data.bin)"
[[ "$(head -n 1 "$tmp/h" | tr -d '\r')" == "HTTP/1.1 206 Partial Content" ]] || fail "bytes=0-9 is not 206"
[[ "$(header content-range <"$tmp/h")" == "bytes 0-9/1024" ]] || fail "Content-Range of bytes=0-9"
cmp -s "$tmp/got" <(head -c 10 "$root/data.bin") || fail "bytes=0-9 body"
curl -s -o "$tmp/got" -r 1000- "$(url /data.bin)"
cmp -s "$tmp/got" <(tail -c 24 "$root/data.bin") || fail "bytes=1000- body"
curl -s -o "$tmp/got" -r -100 "$(url /data.bin)"
cmp -s "$tmp/got" <(tail -c 100 "$root/data.bin") || fail "bytes=-100 body"
curl -s -o "$tmp/got" -r 1000000-1999999 "$(url /big.bin)"
cmp -s "$tmp/got" <(tail -c +1000001 "$root/big.bin" | head -c 1000000) || fail "a range of a large file"
curl -s -D "$tmp/h" -o /dev/null -r 5000-6000 "$(url /data.bin)"
[[ "$(head -n 1 "$tmp/h" | tr -d '\r')" == "HTTP/1.1 416 Range Not Satisfiable" ]] || fail "bytes=5000-6000 is not 416"
[[ "$(header content-range <"$tmp/h")" == "bytes */1024" ]] || fail "Content-Range of a 416"
[[ $(code -r 0-1,5-6 "$(url /data.bin)") == 200 ]] || fail "several ranges are not served whole"
pass "Range: a-b, a-, -n, large file, 416, several ranges -> 200"

# --- gzip --------------------------------------------------------------------------------------
curl -s --compressed -D "$tmp/h" -o "$tmp/got" "$(url /sub/numbers.txt)"
cmp -s "$tmp/got" "$root/sub/numbers.txt" || fail "curl --compressed: the decoded body differs"
[[ "$(header content-encoding <"$tmp/h")" == gzip ]] || fail "no Content-Encoding: gzip"
[[ "$(header vary <"$tmp/h")" == Accept-Encoding ]] || fail "no Vary: Accept-Encoding"
[[ $(header content-length <"$tmp/h") -lt $(stat -c %s "$root/sub/numbers.txt") ]] || fail "gzip is not smaller"
gz_etag=$(header etag <"$tmp/h")
[[ "$gz_etag" != "\"$(sha "$root/sub/numbers.txt")\"" ]] || fail "the gzip representation has the identity ETag"
[[ $(code --compressed -H "If-None-Match: $gz_etag" "$(url /sub/numbers.txt)") == 304 ]] || fail "gzip ETag 304"
curl -s -D "$tmp/h" -o "$tmp/got" "$(url /sub/numbers.txt)"
[[ -z "$(header content-encoding <"$tmp/h")" ]] && cmp -s "$tmp/got" "$root/sub/numbers.txt" || fail "gzip without Accept-Encoding"
curl -s -H 'Accept-Encoding: gzip' -D "$tmp/h" -o /dev/null "$(url /data.bin)"
[[ -z "$(header content-encoding <"$tmp/h")" ]] || fail "a binary file was gzipped"
pass "gzip (curl --compressed), Vary, its own ETag, none for binary or without Accept-Encoding"

# --- errors ------------------------------------------------------------------------------------
[[ $(code "$(url /missing.html)") == 404 ]] || fail "a missing file is not 404"
[[ $(code "$(url /empty_dir/)") == 404 ]] || fail "a directory without index.html is not 404"
[[ $(code "$(url /index.html/)") == 404 ]] || fail "a file named as a directory is not 404"
pass "404"

for t in '/../secret.txt' '/sub/../../secret.txt' '/%2e%2e/secret.txt' '/%2E%2E%2Fsecret.txt' '/sub/..%2f..%2fsecret.txt' \
  '/index.html%00.png'; do
  got=$(curl -s --path-as-is -o "$tmp/got" -w '%{http_code}' "$(url "$t")")
  [[ "$got" == 403 ]] || fail "traversal $t gave $got, not 403"
  grep -q 'TOP SECRET' "$tmp/got" && fail "traversal $t leaked the file"
done
got=$(curl -s -o "$tmp/got" -w '%{http_code}' "$(url /leak.txt)")
[[ "$got" == 404 ]] || fail "a link leading outside the root gave $got"
grep -q 'TOP SECRET' "$tmp/got" && fail "a link leaked the file outside the root"
reply=$(send_raw "GET $tmp/secret.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" 5)
[[ "$reply" == "HTTP/1.1 404"* && "$reply" != *"TOP SECRET"* ]] || fail "an absolute path: $reply"
pass "403 on traversal (.., %2e%2e, %2f, NUL), 404 for links outside and absolute paths"

curl -s -X POST -d 'x=1' -D "$tmp/h" -o /dev/null "$(url /index.html)"
[[ "$(head -n 1 "$tmp/h" | tr -d '\r')" == "HTTP/1.1 405 Method Not Allowed" ]] || fail "POST is not 405"
[[ "$(header allow <"$tmp/h")" == "GET, HEAD" ]] || fail "405 without Allow"
[[ $(code -X DELETE "$(url /index.html)") == 405 ]] || fail "DELETE is not 405"
# The 405's body is skipped: the next request on the connection is answered.
reply=$(send_raw 'PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' 5)
[[ $(grep -c '^HTTP/1.1 ' <<<"$reply") == 2 && "$reply" == *"HTTP/1.1 200 OK"* ]] || fail "after a 405 with a body: $reply"
pass "405 with Allow, its body skipped"

reply=$(send_raw 'GARBAGE\r\n\r\n' 5)
[[ "$reply" == "HTTP/1.1 400 Bad Request"* && "$reply" == *"Connection: close"* ]] || fail "garbage: $reply"
reply=$(send_raw 'GET / HTTP/1.1\nHost: t\n\n' 5)
[[ "$reply" == "HTTP/1.1 400 Bad Request"* ]] || fail "bare LF: $reply"
reply=$(send_raw 'GET / HTTP/1.1\r\n\r\n' 5)
[[ "$reply" == "HTTP/1.1 400 Bad Request"* ]] || fail "HTTP/1.1 without Host: $reply"
reply=$(send_raw 'GET / HTTP/3.0\r\nHost: t\r\n\r\n' 5)
[[ "$reply" == "HTTP/1.1 505 "* ]] || fail "HTTP/3.0: $reply"
pass "400 and close on malformed requests (the server closed: cat returned), 505"

big=$(head -c 9000 /dev/zero | tr '\0' a)
[[ $(code -H "X-Big: $big" "$(url /)") == 431 ]] || fail "a 9000-byte field is not 431"
reply=$(send_raw 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n' 5)
[[ "$reply" == "HTTP/1.1 413 "* ]] || fail "a 2 MB Content-Length: $reply"
reply=$(send_raw 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' 5)
[[ "$reply" == "HTTP/1.1 501 "* ]] || fail "a chunked body: $reply"
pass "431 (head over 8 KiB), 413 (body over the limit), 501 (chunked request body)"

# --- pipelining and keep-alive ----------------------------------------------------------------
reply=$(send_raw 'GET /index.html HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/numbers.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' 5)
[[ $(grep -c '^HTTP/1.1 200 OK' <<<"$reply") == 2 ]] || fail "two pipelined requests: $(grep -c '^HTTP/1.1' <<<"$reply") responses"
[[ "$reply" == *"<h1>home</h1>"*"2999"* ]] || fail "pipelined responses out of order"
pass "pipelining (two requests in one write, two responses in order)"

before=$(grep -c '"GET /style.css' "$tmp/err" || true)
curl -s -o /dev/null -o /dev/null --max-time 10 "$(url /style.css)" "$(url /style.css)"
peers=$(grep '"GET /style.css' "$tmp/err" | tail -n +$((before + 1)) | cut -d' ' -f1 | sort -u | wc -l)
[[ $(grep -c '"GET /style.css' "$tmp/err") == $((before + 2)) && "$peers" == 1 ]] ||
  fail "two URLs on one curl command line did not share the connection"
pass "keep-alive (curl reuses the connection: one peer port in the access log)"

# --- timeouts ---------------------------------------------------------------------------------
exec {slow}<>"/dev/tcp/127.0.0.1/$port"
(
  printf 'GET / HTTP/1.1\r\n'
  for ((i = 0; i < 40; i++)); do printf 'X' || exit 0; sleep 0.25; done
) >&"$slow" 2>/dev/null &
trickler=$!
t0=$(date +%s%N)
reply=$(timeout 10 cat <&"$slow" || true)
elapsed=$((($(date +%s%N) - t0) / 1000000))
kill "$trickler" 2>/dev/null || true
wait "$trickler" 2>/dev/null || true
exec {slow}>&-
[[ "$reply" == "HTTP/1.1 408 "* ]] || fail "a slow client did not get 408: '$reply'"
((elapsed >= 700 && elapsed < 6000)) || fail "the header timeout (1 s) closed a slow client after $elapsed ms"
pass "header timeout: a client trickling its head is closed ($elapsed ms, limit 1000)"

exec {idle}<>"/dev/tcp/127.0.0.1/$port"
t0=$(date +%s%N)
reply=$(timeout 10 cat <&"$idle" || true)
elapsed=$((($(date +%s%N) - t0) / 1000000))
exec {idle}>&-
[[ -z "$reply" ]] || fail "an idle connection got '$reply'"
((elapsed >= 1500 && elapsed < 8000)) || fail "the idle timeout (2 s) closed after $elapsed ms"
pass "idle timeout ($elapsed ms, limit 2000)"

# --- access log -----------------------------------------------------------------------------------
grep -q '^127\.0\.0\.1:[0-9]* "GET /index.html HTTP/1.1" 200 ' "$tmp/err" || fail "no access log line for GET /index.html"
grep -q '"POST /index.html HTTP/1.1" 405 ' "$tmp/err" || fail "no access log line for the 405"
pass "access log"

# --- graceful stop: a download in flight completes, an idle connection does not hold the stop --
# 40 MB at 16 MB/s: more than the socket buffers hold, so the server is still writing at the stop.
truncate -s 40M "$root/huge.bin"
curl -s --limit-rate 16M --max-time 30 -o "$tmp/download" "$(url /huge.bin)" &
download=$!
exec {idle}<>"/dev/tcp/127.0.0.1/$port"
sleep 0.5
t0=$(date +%s%N)
stop_server
elapsed=$((($(date +%s%N) - t0) / 1000000))
exec {idle}>&-
rc=0
wait "$download" || rc=$?
((rc == 0)) || fail "the download in flight failed (curl exit $rc) across SIGTERM"
cmp -s "$tmp/download" "$root/huge.bin" || fail "the download in flight was cut by SIGTERM"
((elapsed >= 300)) || fail "the server exited $elapsed ms after SIGTERM: it did not wait for the download"
grep -q '"GET /huge.bin HTTP/1.1" 200 41943040' "$tmp/err" || fail "the download's log line is missing"
grep -q 'SIGTERM: stopping' "$tmp/err" || fail "no stop message"
pass "graceful stop: exit 0 after the download in flight finished ($elapsed ms)"

# --- a second server: connection limit, no gzip, no access log ----------------------------------
start_server --max-connections 2 --bind 127.0.0.1
exec {c1}<>"/dev/tcp/127.0.0.1/$port"
exec {c2}<>"/dev/tcp/127.0.0.1/$port"
sleep 0.2
got=$(code "$(url /index.html)")
[[ "$got" == 503 ]] || fail "a third connection with --max-connections 2 got $got, not 503"
exec {c1}>&-
exec {c2}>&-
got=""
for ((i = 0; i < 100; i++)); do
  got=$(code "$(url /index.html)")
  [[ "$got" == 200 ]] && break
  sleep 0.05
done
[[ "$got" == 200 ]] || fail "after the two connections closed: $got"
pass "connection limit: 503 beyond --max-connections, served again once they close"

curl -s --compressed -D "$tmp/h" -o "$tmp/got" "$(url /sub/numbers.txt)"
[[ -z "$(header content-encoding <"$tmp/h")" ]] && cmp -s "$tmp/got" "$root/sub/numbers.txt" || fail "gzip without --gzip"
stop_server INT
grep -q 'SIGINT: stopping' "$tmp/err" || fail "SIGINT did not stop the server"
grep -q '"GET ' "$tmp/err" && fail "an access log without --access-log"
pass "no gzip without --gzip, no access log without --access-log, SIGINT stops with exit 0"

echo "e2e_test: all checks passed"
