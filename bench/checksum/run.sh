#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/checksum/run.sh: `checksum -r` against GNU `sha256sum` over the same files (issue 12's
# target: >= 1.8x sha256sum's speed on 2 cores, page cache warm). Generates the files under a
# temporary directory (2 GiB in 2,000 files of 1 MiB, in 20 directories; --quick: 200 MiB in 200),
# reads them once so that both tools find them in the page cache, checks that both print the same
# bytes, then times each tool --reps times (hyperfine when installed, else a loop; the table shows
# medians). checksum gets the CPUs in CPUS (its io thread and its CPU workers); sha256sum is one
# thread. Progress goes to stderr, the markdown table to stdout.
#
#   bench/checksum/run.sh [--quick] [--reps=N] [--files=N] [--file-kib=N] [--no-build]
#
#   --quick        200 files (200 MiB), 3 reps
#   --reps=N       timed runs per tool (default 5)
#   --files=N      files to generate (default 2000); --file-kib=N their size (default 1024)
#   --no-build     use build/release/examples/checksum/checksum as it is
# Environment: CPUS (default 0,1: the cores checksum may use), THREADS (checksum --threads;
# default: one per CPU in CPUS), TMPDIR (where the files go).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

files=2000
file_kib=1024
reps=5
build=1
cpus=${CPUS:-0,1}
for arg in "$@"; do
  case "$arg" in
    --quick)
      files=200
      reps=3
      ;;
    --reps=*) reps=${arg#*=} ;;
    --files=*) files=${arg#*=} ;;
    --file-kib=*) file_kib=${arg#*=} ;;
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
ncpus=$(tr ',' '\n' <<<"$cpus" | wc -l)
threads=${THREADS:-$ncpus}

fail() {
  echo "run.sh: FAILED: $*" >&2
  exit 1
}
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

for tool in sha256sum taskset xargs find sort; do
  command -v "$tool" >/dev/null || fail "'$tool' is needed"
done

bin="$repo/build/release/examples/checksum/checksum"
if ((build)); then
  log "building checksum (release preset)"
  cmake --preset release >&2
  cmake --build --preset release --target checksum >&2
fi
[[ -x "$bin" ]] || fail "$bin is missing (build it, or drop --no-build)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tree="$tmp/tree"

# --- the files -------------------------------------------------------------------------------
log "generating $files files of $file_kib KiB under $tree"
head -c $((file_kib * 1024)) /dev/urandom >"$tmp/seed"
for ((i = 0; i < files; i++)); do
  dir="$tree/d$((i % 20))"
  [[ -d "$dir" ]] || mkdir -p "$dir"
  # Each file differs from the seed in its first bytes: no two are alike.
  { printf '%08d' "$i"; tail -c +9 "$tmp/seed"; } >"$dir/f$i"
done
find "$tree" -type f -print0 | LC_ALL=C sort -z >"$tmp/list"
total_mib=$((files * file_kib / 1024))

log "warming the page cache (reading every file once)"
xargs -0 -a "$tmp/list" cat >/dev/null

log "checking that both print the same bytes"
taskset -c "$cpus" "$bin" --threads "$threads" -r "$tree" >"$tmp/mine.out"
xargs -0 -a "$tmp/list" sha256sum >"$tmp/gnu.out"
cmp -s "$tmp/mine.out" "$tmp/gnu.out" || fail "checksum -r and sha256sum disagree"

# --- timing ----------------------------------------------------------------------------------
run_checksum() { taskset -c "$cpus" "$bin" --threads "$threads" -r "$tree" >/dev/null; }
run_sha256sum() { taskset -c "$cpus" xargs -0 -a "$tmp/list" sha256sum >/dev/null; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A seconds
if command -v hyperfine >/dev/null; then
  log "timing with hyperfine, $reps runs each"
  export -f run_checksum run_sha256sum
  export bin threads tree tmp cpus
  hyperfine --warmup 1 --runs "$reps" --export-json "$tmp/hf.json" -N \
    "bash -c run_checksum" "bash -c run_sha256sum" >&2
  seconds[checksum]=$(python3 -c "import json;print(json.load(open('$tmp/hf.json'))['results'][0]['median'])")
  seconds[sha256sum]=$(python3 -c "import json;print(json.load(open('$tmp/hf.json'))['results'][1]['median'])")
else
  log "timing with a loop (hyperfine is not installed), $reps runs each, alternating"
  : >"$tmp/checksum.times"
  : >"$tmp/sha256sum.times"
  for ((rep = 1; rep <= reps; rep++)); do
    for tool in checksum sha256sum; do
      start=$(date +%s%N)
      "run_$tool"
      end=$(date +%s%N)
      awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f\n", (e - s) / 1e9 }' >>"$tmp/$tool.times"
      log "rep $rep $tool: $(tail -n 1 "$tmp/$tool.times") s"
    done
  done
  seconds[checksum]=$(median <"$tmp/checksum.times")
  seconds[sha256sum]=$(median <"$tmp/sha256sum.times")
fi

echo "| tool | files | MiB | median wall s | MiB/s | speed vs sha256sum |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for tool in sha256sum checksum; do
  s=${seconds[$tool]}
  label=$tool
  [[ $tool == checksum ]] && label="checksum -r (--threads $threads, CPUs $cpus)"
  awk -v t="$label" -v f="$files" -v m="$total_mib" -v s="$s" -v base="${seconds[sha256sum]}" \
    'BEGIN { printf "| %s | %d | %d | %.3f | %.0f | %.2f× |\n", t, f, m, s, m / s, base / s }'
done
