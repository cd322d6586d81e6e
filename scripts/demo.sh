#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the word_count example (release preset) and runs it.
#   bash scripts/demo.sh [args...]    (no args: count words in some of the repo's own files)
#
# It installs and builds only what the example needs: the library and the examples, in their own
# build directory (build/demo) with tests and benchmarks off, so neither their dependencies nor
# scripts/test.sh's build/release can stop it (or be changed by it).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/install-deps.sh --demo

cmake --preset release -B build/demo \
  -DCORING_BUILD_TESTS=OFF -DCORING_BUILD_BENCH=OFF -DCORING_BUILD_EXAMPLES=ON
cmake --build build/demo --target word_count

if [[ $# -gt 0 ]]; then
  args=("$@")
else
  shopt -s nullglob
  args=(README.md docs/*.md include/coring/*.hpp)
  shopt -u nullglob
fi

exec build/demo/examples/word_count "${args[@]}"
