#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# 4 KiB random reads at queue depth 32 from a 1 GiB file: fio --ioengine=io_uring next to coring's
# file_read_bench, page cache warm and with O_DIRECT (issue 3). With --backend=epoll, coring runs
# on its epoll backend (files on its pool of up to 4 threads) beside fio --ioengine=psync with
# --numjobs=4, the same number of threads (issue 11). See bench/README.md.
#
#   bench/fio/run.sh [--quick] [--seconds=N] [--reps=N] [--file=PATH] [--cpu=N] [--backend=B]
#
#   --quick      smoke run: 2 s per run, 1 repetition
#   --seconds=N  length of every run (default 10)
#   --reps=N     repetitions per mode; fio and coring alternate (default 3)
#   --file=PATH  test file (default $CORING_BENCH_DIR/randread-1g.dat, CORING_BENCH_DIR defaulting
#                to /var/tmp/coring-bench); created once, 1 GiB of random bytes
#   --cpu=N      the CPU both programs are pinned to with taskset (default 0)
#   --backend=B  io_uring (default) or epoll
#
# Environment: FIO_EXTRA (more fio options, appended to both modes), CORING_BUILD_JOBS (default 2).
# Progress goes to stderr, the markdown table to stdout.
set -euo pipefail

seconds=10
reps=3
cpu=0
file=""
backend=io_uring
for arg in "$@"; do
  case "$arg" in
    --quick) seconds=2; reps=1 ;;
    --seconds=*) seconds="${arg#*=}" ;;
    --reps=*) reps="${arg#*=}" ;;
    --file=*) file="${arg#*=}" ;;
    --cpu=*) cpu="${arg#*=}" ;;
    --backend=io_uring|--backend=epoll) backend="${arg#*=}" ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bench_dir="${CORING_BENCH_DIR:-/var/tmp/coring-bench}"
file="${file:-$bench_dir/randread-1g.dat}"
file_size=$((1024 * 1024 * 1024))
log() { echo "run.sh: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. fio (apt-get update only when fio is missing, so a second run does nothing here).
if ! command -v fio >/dev/null 2>&1; then
  log "installing fio"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y fio
fi
command -v python3 >/dev/null 2>&1 || { log "python3 is needed to parse fio's JSON"; exit 1; }

# 2. file_read_bench from the release preset.
log "building file_read_bench (release preset)"
(cd "$repo" && cmake --preset release >/dev/null &&
  nice cmake --build --preset release -j "${CORING_BUILD_JOBS:-2}" --target file_read_bench >&2)
coring_bin="$repo/build/release/bench/file_read_bench"

# 3. The test file: 1 GiB of real (non-sparse, incompressible) data, made once.
mkdir -p "$(dirname "$file")"
if [ -f "$file" ] && [ "$(stat -c %s "$file")" -eq "$file_size" ]; then
  log "reusing $file"
else
  avail=$(df --output=avail -B1 "$(dirname "$file")" | tail -n 1)
  if [ "$avail" -lt $((file_size + 256 * 1024 * 1024)) ]; then
    log "not enough free space for a 1 GiB file in $(dirname "$file") ($avail bytes free)"
    exit 1
  fi
  log "creating $file (1 GiB from /dev/urandom)"
  dd if=/dev/urandom of="$file.tmp" bs=1M count=1024 conv=fsync status=none
  mv "$file.tmp" "$file"
fi
if ! dd if="$file" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
  log "$file does not support O_DIRECT (tmpfs?); set CORING_BENCH_DIR to a disk-backed directory"
  exit 1
fi
mem_avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [ "$mem_avail_kib" -lt $((2 * 1024 * 1024)) ]; then
  log "warning: MemAvailable is $((mem_avail_kib / 1024)) MiB; the warm mode needs the whole file cached"
fi

# fio as a plain io_uring peer of coring: no polled I/O, no registered buffers or files, no SQ
# polling thread (these are fio's defaults, spelled out). --invalidate=0: by default fio drops the
# file's page cache before the job, which would turn the warm mode into a cold one.
fio_common=(--name=randread --ioengine=io_uring --rw=randread --bs=4k --iodepth=32 --numjobs=1
  --time_based --runtime="$seconds" --filename="$file" --group_reporting --output-format=json
  --hipri=0 --fixedbufs=0 --registerfiles=0 --sqthread_poll=0 --invalidate=0)
peer="fio io_uring"
if [ "$backend" = epoll ]; then
  # The epoll backend's peer: blocking pread(2) on as many threads as its file pool has (4).
  fio_common=(--name=randread --ioengine=psync --rw=randread --bs=4k --iodepth=1 --numjobs=4 --thread
    --time_based --runtime="$seconds" --filename="$file" --group_reporting --output-format=json
    --invalidate=0)
  peer="fio psync ×4"
fi
# shellcheck disable=SC2206
fio_extra=(${FIO_EXTRA:-})

run_fio() {  # $1: 0 or 1 (O_DIRECT); prints IOPS
  local json
  json=$(taskset -c "$cpu" fio "${fio_common[@]}" --direct="$1" "${fio_extra[@]}")
  python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; r=j["read"]
assert r["io_bytes"] > 0 and j["error"] == 0, "fio read nothing"
print("%.0f %.0f %.0f" % (r["iops"], j["usr_cpu"], j["sys_cpu"]))' <<<"$json"
}

run_coring() {  # $1: 0 or 1 (O_DIRECT); prints IOPS
  local out flag=""
  [ "$1" -eq 1 ] && flag="--direct"
  out=$(CORING_BACKEND="$backend" taskset -c "$cpu" "$coring_bin" --file="$file" $flag \
    --seconds="$seconds" --reps=1)
  echo "$out" | sed -n 's/^rep 1: //p' >&2
  echo "$out" | awk '/^median:/ {print $2}'
}

median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.0f}")' "$@"; }

log "fio $(fio --version), options: ${fio_common[*]} ${fio_extra[*]:-}"
log "coring: CORING_BACKEND=$backend taskset -c $cpu $coring_bin --file=$file [--direct] --seconds=$seconds --reps=1"
rows=()
for mode in warm direct; do
  direct=0
  label="page cache warm"
  if [ "$mode" = direct ]; then direct=1; label="O_DIRECT"; fi
  fio_iops=()
  coring_iops=()
  for ((rep = 1; rep <= reps; rep++)); do
    [ "$direct" -eq 0 ] && cat "$file" >/dev/null  # warm (again): nothing may have evicted it
    fio_out=$(run_fio "$direct")
    read -r iops usr sys <<<"$fio_out"
    log "$label rep $rep: fio    $iops IOPS (usr $usr%, sys $sys%)"
    fio_iops+=("$iops")
    [ "$direct" -eq 0 ] && cat "$file" >/dev/null
    iops=$(run_coring "$direct")
    [ -n "$iops" ] || { log "file_read_bench printed no median"; exit 1; }
    log "$label rep $rep: coring $iops IOPS"
    coring_iops+=("$iops")
  done
  f=$(median "${fio_iops[@]}")
  c=$(median "${coring_iops[@]}")
  ratio=$(python3 -c "print(f'{$c / $f * 100:.0f} %')")
  rows+=("| $label | $f | $c | $ratio |")
done

echo "4 KiB random reads, QD 32, 1 GiB file, ${seconds} s per run, median of $reps (pinned to CPU $cpu);"
echo "coring on its $backend backend beside $peer"
echo
echo "| mode | $peer IOPS (median) | coring ($backend) IOPS (median) | coring/fio |"
echo "| --- | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
