#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds every libFuzzer target (the `fuzz` preset, clang 16) and runs each for a while.
#   bash scripts/fuzz.sh [seconds per fuzzer]     (default: 60)
#
# Each fuzzer starts from a scratch copy of its seed corpus (the checked-in one is never written),
# so a run explores from the seeds and leaves the repository as it was. A crash stops the script
# with the fuzzer's report and the crashing input under build/fuzz/crashes/<fuzzer>/.
set -euo pipefail

seconds="${1:-60}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/install-deps.sh --fuzz

cmake --preset fuzz
cmake --build --preset fuzz --target coring_fuzzers

shopt -s nullglob
corpora=(build/fuzz/fuzzers/*.corpus)
if [[ ${#corpora[@]} -eq 0 ]]; then
  echo "fuzz.sh: no fuzzers were built" >&2
  exit 1
fi
for corpus_file in "${corpora[@]}"; do
  name="$(basename "$corpus_file" .corpus)"
  seeds="$(head -n 1 "$corpus_file")"
  work="build/fuzz/work/$name"
  crashes="build/fuzz/crashes/$name"
  rm -rf "$work" "$crashes"
  mkdir -p "$work" "$crashes"
  if [[ -n "$seeds" && -d "$seeds" ]]; then
    cp -r "$seeds"/. "$work"/
  fi
  echo "fuzz.sh: $name for ${seconds}s (seeds: ${seeds:-none})"
  "build/fuzz/fuzzers/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$work"
done
echo "fuzz.sh: ${#corpora[@]} fuzzers ran ${seconds}s each without a crash"
