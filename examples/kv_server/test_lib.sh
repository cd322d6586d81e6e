# SPDX-License-Identifier: MIT
# Shared by kv_server's test scripts (sourced, not run): start and stop the server under test,
# and compare answers. Every wait has a deadline; the server is killed on any exit (trap).
set -euo pipefail

KV_SERVER="${1:?usage: $0 path/to/kv_server}"
for tool in redis-cli redis-benchmark timeout; do
  command -v "$tool" >/dev/null || { echo "FAIL: '$tool' is needed (Debian: redis-tools)" >&2; exit 1; }
done
WORK=$(mktemp -d)
SERVER_PID=""
PORT=""
FAILURES=0

cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill -9 "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}

# start_server [options...]: starts kv_server --port 0 with the options, stdout/stderr in
# $WORK/server.out and server.err (appended), sets SERVER_PID and PORT.
start_server() {
  : >"$WORK/server.out"
  "$KV_SERVER" --port 0 "$@" >>"$WORK/server.out" 2>>"$WORK/server.err" &
  SERVER_PID=$!
  local deadline=$((SECONDS + 10))
  while ! grep -q '^listening on ' "$WORK/server.out"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$WORK/server.err" >&2
      echo "FAIL: kv_server exited before listening" >&2
      exit 1
    fi
    ((SECONDS < deadline)) || { echo "FAIL: kv_server did not print its port" >&2; exit 1; }
    sleep 0.05
  done
  PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/server.out" | head -n 1)
}

# stop_server: SIGTERM, and the exit status must be 0 within 10 s.
stop_server() {
  kill -TERM "$SERVER_PID"
  local status=0
  local deadline=$((SECONDS + 10))
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    ((SECONDS < deadline)) || { fail "kv_server did not stop within 10 s of SIGTERM"; kill -9 "$SERVER_PID"; break; }
    sleep 0.05
  done
  wait "$SERVER_PID" || status=$?
  SERVER_PID=""
  [[ $status -eq 0 ]] || fail "kv_server exited with status $status after SIGTERM"
}

# kill_server: kill -9, no questions asked.
kill_server() {
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cli() { timeout 10 redis-cli -p "$PORT" "$@"; }

# expect "ANSWER" ARGS...: redis-cli ARGS must print exactly ANSWER (trailing newlines dropped).
expect() {
  local want="$1"
  shift
  local got
  got=$(cli "$@" 2>&1) || true
  [[ "$got" == "$want" ]] || fail "redis-cli $* gave '$got', expected '$want'"
}

# raw BYTES: sends BYTES (printf format) on a new connection, prints everything the server sends
# back until it closes or 2 s passed.
raw() {
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf "$2" >&3
    timeout 2 cat <&3
  ' _ "$PORT" "$1" || true
}

finish() {
  # A sanitizer's report (UBSan's does not change the exit status) fails the test too.
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$WORK/server.err"; then
    fail "a sanitizer reported a problem in kv_server"
  fi
  if ((FAILURES > 0)); then
    echo "$FAILURES check(s) failed; server stderr:" >&2
    cat "$WORK/server.err" >&2 || true
    exit 1
  fi
  echo "all checks passed"
}
