#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the word_count example (release preset) and runs it.
#   bash scripts/demo.sh [args...]    (no args: count words in some of the repo's own files)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/install-deps.sh

cmake --preset release
cmake --build --preset release --target word_count

if [[ $# -gt 0 ]]; then
  args=("$@")
else
  shopt -s nullglob
  args=(README.md docs/*.md include/coring/*.hpp)
  shopt -u nullglob
fi

exec build/release/examples/word_count "${args[@]}"
