#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# coring_bench's coring rows on both backends, alternating: io_uring, epoll, io_uring, epoll, ...
# (one repetition of each per round, so drift on a shared machine hits both alike), then one table
# of medians with the epoll/io_uring ratio. Issue 11's targets: the CPU-pool rows equal, the loop
# rows (hop, timers, channel) within 10% of io_uring's. See bench/README.md.
#
#   bench/backends/run.sh [--rounds=N] [--only=a,b] [--no-build]
#
#   --rounds=N   rounds of (io_uring, epoll) (default 9)
#   --only=a,b   coring_bench's --only (default spawn,skynet,hop,timers,channel)
#   --no-build   use build/release/bench/coring_bench as it is
#
# Progress goes to stderr, the markdown table to stdout.
set -euo pipefail

rounds=9
only=spawn,skynet,hop,timers,channel
build=1
for arg in "$@"; do
  case "$arg" in
    --rounds=*) rounds="${arg#*=}" ;;
    --only=*) only="${arg#*=}" ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$repo/build/release/bench/coring_bench"
log() { echo "run.sh: $*" >&2; }

if [ "$build" -eq 1 ]; then
  log "building coring_bench (release preset)"
  (cd "$repo" && cmake --preset release >/dev/null &&
    nice cmake --build --preset release -j "${CORING_BUILD_JOBS:-2}" --target coring_bench >&2)
fi
[ -x "$bin" ] || { log "$bin is missing (build it, or drop --no-build)"; exit 1; }

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for ((round = 1; round <= rounds; round++)); do
  for backend in io_uring epoll; do
    log "round $round/$rounds: $backend"
    # CORING_BACKEND names the backend; where it cannot start, the runtime throws and the run fails.
    if ! CORING_BACKEND="$backend" "$bin" --only="$only" --impl=coring --reps=1 \
        >"$out/$backend.$round.md" 2>"$out/$backend.$round.err"; then
      log "coring_bench failed on $backend:"
      cat "$out/$backend.$round.err" >&2
      exit 1
    fi
  done
done

python3 - "$out" "$rounds" <<'EOF'
import glob, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows, order = {}, []
for backend in ("io_uring", "epoll"):
    for path in sorted(glob.glob(os.path.join(out, backend + ".*.md"))):
        for line in open(path):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 7 or cells[0] in ("benchmark", "") or cells[0].startswith("-"):
                continue
            if "steals" in cells[2]:
                continue  # a count, not a cost
            key = (cells[0], cells[1], cells[2])
            if key not in rows:
                rows[key] = {"io_uring": [], "epoll": []}
                order.append(key)
            rows[key][backend].append(float(cells[4]))  # the median column (one rep: the value)
print(f"coring_bench --impl=coring, {rounds} alternating rounds, median per backend")
print()
print("| benchmark | variant | metric | io_uring | epoll | epoll/io_uring |")
print("| --- | --- | --- | ---: | ---: | ---: |")
for key in order:
    u, e = rows[key]["io_uring"], rows[key]["epoll"]
    if not u or not e:
        continue
    mu, me = statistics.median(u), statistics.median(e)
    print(f"| {key[0]} | {key[1]} | {key[2]} | {mu:.4g} | {me:.4g} | {me / mu:.2f}× |")
EOF
