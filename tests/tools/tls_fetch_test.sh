#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs examples/asio_tls_fetch against a local `openssl s_server -www` with a self-signed
# certificate made here; passes when the example verified the certificate and got "200 ok".
#   bash tests/tools/tls_fetch_test.sh path/to/asio_tls_fetch
set -euo pipefail
fetch="$1"
dir="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null

# A free port: try a few at random until s_server says it accepts.
for attempt in $(seq 1 20); do
  port=$((20000 + RANDOM % 30000))
  openssl s_server -accept "127.0.0.1:$port" -cert "$dir/cert.pem" -key "$dir/key.pem" -www \
    >"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 50); do
    if grep -q ACCEPT "$dir/server.log"; then break 2; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
done
if [[ -z "$server_pid" ]]; then
  echo "tls_fetch_test: openssl s_server did not start" >&2
  cat "$dir/server.log" >&2
  exit 1
fi

output="$("$fetch" localhost "$port" --ca "$dir/cert.pem")"
echo "$output"
grep -q "^HTTP/1.0 200 ok" <<<"$output"

# A certificate the client does not trust must fail the handshake, not pass silently.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$dir/other-key.pem" -out "$dir/other.pem" -subj /CN=localhost 2>/dev/null
if "$fetch" localhost "$port" --ca "$dir/other.pem" 2>"$dir/untrusted.err"; then
  echo "tls_fetch_test: a server certificate signed by an untrusted CA was accepted" >&2
  exit 1
fi
grep -q "TLS handshake" "$dir/untrusted.err"
echo "tls_fetch_test: OK"
