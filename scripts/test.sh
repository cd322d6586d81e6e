#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds coring and runs its tests with one CMake workflow preset.
#   bash scripts/test.sh [release|debug|asan|tsan]     (default: release)
set -euo pipefail

preset="${1:-release}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/install-deps.sh

run=()
if [[ "$preset" == "tsan" ]]; then
  # ThreadSanitizer of gcc 12 / clang 14 cannot map its shadow memory when the kernel uses
  # high ASLR entropy (vm.mmap_rnd_bits > 28); running without ASLR avoids it and is harmless.
  run=(setarch "$(uname -m)" -R)
fi

echo "test.sh: cmake --workflow --preset $preset"
"${run[@]}" cmake --workflow --preset "$preset"
