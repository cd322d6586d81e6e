#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs coring's build dependencies on Debian 12. Idempotent: when everything is already
# installed it changes nothing and does not touch apt at all.
#   bash scripts/install-deps.sh          everything: the library, tests, benchmarks, packaging
#   bash scripts/install-deps.sh --demo   only what the library, its examples and the demo's tour
#                                         need (demo.sh)
#   bash scripts/install-deps.sh --fuzz   what the libFuzzer targets need (fuzz.sh): clang 16
#   bash scripts/install-deps.sh --bench  the peers the benchmarks measure against (bench/)
#   CORING_WITH_CLANG=1  also install clang
set -euo pipefail

# The library: a C++20 compiler, CMake + Ninja, liburing. The flagship examples: OpenSSL's
# libcrypto (SHA-256) and zlib (gzip).
packages=(build-essential cmake ninja-build g++ liburing-dev pkg-config libssl-dev zlib1g-dev)
# The clients the examples' tests and the demo drive them with.
clients=(curl redis-tools)
case "${1:-}" in
  --demo)
    packages+=("${clients[@]}" wrk)
    ;;
  --fuzz)
    packages+=(clang-16 libfuzzer-16-dev libclang-rt-16-dev)
    ;;
  --bench)
    packages+=(libasio-dev libbenchmark-dev wrk redis-server redis-tools nginx-light fio)
    ;;
  "")
    # Tests (doctest, Asio as a test peer and for the Asio interop), benchmarks (Google
    # Benchmark), the pkg-config consumer test, the TLS example and its test server (OpenSSL),
    # the GLib host example, the clients of the examples' tests.
    packages+=(libasio-dev doctest-dev libbenchmark-dev openssl libglib2.0-dev "${clients[@]}")
    ;;
  *)
    echo "usage: bash scripts/install-deps.sh [--demo|--fuzz|--bench]" >&2
    exit 2
    ;;
esac
if [[ "${CORING_WITH_CLANG:-0}" == "1" ]]; then
  packages+=(clang)
fi

missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed; nothing to do."
  exit 0
fi

as_root=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "install-deps: missing packages (${missing[*]}) and not root, no sudo; run as root." >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
# A fresh Debian image has no package lists yet: always update before installing.
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
