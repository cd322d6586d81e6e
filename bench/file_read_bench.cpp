// SPDX-License-Identifier: MIT
// file_read_bench: random reads of one block size from one file through coring::file::read_at, at a
// fixed queue depth, on one io thread. The coring side of the fio comparison in bench/fio/run.sh
// (the fio job: --ioengine=io_uring --rw=randread --bs=4k --iodepth=32 --numjobs=1).
//
//   file_read_bench --file=PATH [--direct] [--seconds=10] [--qd=32] [--bs=4096] [--reps=3]
//
// Each repetition builds a fresh runtime (1 io thread, 1 CPU worker that stays idle), opens the
// file through the ring (O_RDONLY, plus O_DIRECT with --direct) and spawns `qd` tasks on rt.io().
// Every task owns one buffer (aligned to 4096, so O_DIRECT accepts it) and a splitmix64 generator
// seeded from its index and the repetition, and loops: pick a block uniformly among the file's
// size / bs blocks, co_await f.read_at(buffer, block * bs), check that exactly bs bytes came back
// (anything else stops the program), count it, until the deadline. So at most qd reads are in
// flight at any time, and a new one is issued as soon as one completes, as with fio's iodepth.
// IOPS = reads completed / wall time from the first spawn until the last task returned.
//
// stdout: one line per repetition and a last "median:" line (bench/fio/run.sh parses that one).
// Pin the process (taskset -c 0) for figures comparable with a pinned fio.
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "coring/coring.hpp"
#include "harness.hpp"

namespace {

struct settings {
  std::string path;
  bool direct = false;
  double seconds = 10;
  unsigned qd = 32;
  std::size_t bs = 4096;
  int reps = 3;
};

/// splitmix64: one add, three xor-shift-multiplies per number; plenty for picking offsets.
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n) (Lemire's multiply-shift; the bias for n far below 2^64 is negligible).
  std::uint64_t below(std::uint64_t n) noexcept {
    __extension__ using u128 = unsigned __int128;  // g++/clang builtin; __extension__ for -Wpedantic
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
  }

 private:
  std::uint64_t state_;
};

struct free_deleter {
  void operator()(std::byte* p) const noexcept { std::free(p); }
};
using aligned_buffer = std::unique_ptr<std::byte, free_deleter>;

constexpr std::size_t buffer_alignment = 4096;

aligned_buffer make_buffer(std::size_t bs) {
  const std::size_t rounded = (bs + buffer_alignment - 1) / buffer_alignment * buffer_alignment;
  auto* p = static_cast<std::byte*>(std::aligned_alloc(buffer_alignment, rounded));
  bench::check(p != nullptr, "aligned_alloc failed");
  return aligned_buffer{p};
}

/// One queue slot: reads until the deadline, returns how many it completed.
coring::task<std::uint64_t> reader(const coring::file& f, std::uint64_t blocks, std::size_t bs,
                                   std::uint64_t seed, std::chrono::steady_clock::time_point deadline) {
  aligned_buffer buffer = make_buffer(bs);
  const std::span<std::byte> view{buffer.get(), bs};
  splitmix64 rng{seed};
  std::uint64_t done = 0;
  for (;;) {
    const std::uint64_t offset = rng.below(blocks) * bs;
    const coring::result<std::size_t> n = co_await f.read_at(view, offset);
    if (!n) bench::fail("read_at(" + std::to_string(offset) + ") failed: " + n.error().message());
    if (*n != bs) {
      bench::fail("read_at(" + std::to_string(offset) + ") returned " + std::to_string(*n) + " bytes, not " +
                  std::to_string(bs));
    }
    ++done;
    // The clock is read every 8 reads: a vDSO call each, a small share of a read's cost either way.
    if ((done & 7) == 0 && std::chrono::steady_clock::now() >= deadline) break;
  }
  co_return done;
}

struct rep_result {
  std::uint64_t reads = 0;
  double seconds = 0;
  double cpu_seconds = 0;
  std::uint64_t submissions = 0;
};

coring::task<rep_result> run_rep(coring::executor io, const settings& s, int rep) {
  const int flags = O_RDONLY | (s.direct ? O_DIRECT : 0);
  coring::result<coring::file> opened = co_await coring::file::open(s.path, flags);
  if (!opened) bench::fail("cannot open " + s.path + ": " + opened.error().message());
  const coring::file f = std::move(*opened);
  const coring::result<coring::file_status> st = co_await f.stat();
  if (!st) bench::fail("cannot stat " + s.path + ": " + st.error().message());
  const std::uint64_t blocks = st->size / s.bs;
  bench::check(blocks > 0, s.path + " is smaller than one block");

  rep_result out;
  const double cpu_before = bench::process_cpu_ns();
  const bench::stopwatch clock;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                             std::chrono::duration<double>(s.seconds));
  std::vector<coring::join_handle<std::uint64_t>> slots;
  slots.reserve(s.qd);
  for (unsigned i = 0; i < s.qd; ++i) {
    const std::uint64_t seed = (static_cast<std::uint64_t>(rep) << 32) ^ (0x5eedull + i);
    slots.push_back(coring::spawn(io, reader(f, blocks, s.bs, seed, deadline)));
  }
  for (auto& slot : slots) out.reads += co_await slot;
  out.seconds = clock.elapsed_s();
  out.cpu_seconds = (bench::process_cpu_ns() - cpu_before) / 1e9;
  co_return out;
}

int run(const settings& s) {
  std::printf("file_read_bench: %s, %s, bs=%zu, qd=%u, %.1f s x %d reps\n", s.path.c_str(),
              s.direct ? "O_DIRECT" : "buffered", s.bs, s.qd, s.seconds, s.reps);
  std::vector<double> iops;
  for (int rep = 1; rep <= s.reps; ++rep) {
    coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
    const rep_result r = rt.block_on(run_rep(rt.io(), s, rep));
    const coring::runtime_metrics m = rt.metrics();
    const double rate = static_cast<double>(r.reads) / r.seconds;
    iops.push_back(rate);
    std::printf(
        "rep %d: %.0f IOPS (%llu reads in %.3f s; process CPU %.0f%% of a core; %llu ring submissions)\n",
        rep, rate, static_cast<unsigned long long>(r.reads), r.seconds, 100.0 * r.cpu_seconds / r.seconds,
        static_cast<unsigned long long>(m.ring_submissions));
    std::fflush(stdout);
  }
  const bench::summary sum = bench::summarize(iops);
  std::printf("median: %.0f IOPS (min %.0f, max %.0f)\n", sum.median, sum.min, sum.max);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bench::flag_set flags(argc, argv);
    settings s;
    s.path = flags.get("file", "");
    s.direct = flags.get_bool("direct");
    s.seconds = std::stod(flags.get("seconds", "10"));
    s.qd = static_cast<unsigned>(flags.get_int("qd", 32));
    s.bs = static_cast<std::size_t>(flags.get_int("bs", 4096));
    s.reps = static_cast<int>(flags.get_int("reps", 3));
    const std::vector<std::string> unknown = flags.unknown();
    if (!unknown.empty()) {
      std::fprintf(stderr, "file_read_bench: unknown flag --%s\n", unknown.front().c_str());
      return 2;
    }
    if (s.path.empty() || s.qd == 0 || s.bs == 0 || s.reps <= 0 || !(s.seconds > 0)) {
      std::fprintf(stderr,
                   "usage: file_read_bench --file=PATH [--direct] [--seconds=10] [--qd=32] [--bs=4096] "
                   "[--reps=3]\n");
      return 2;
    }
    if (s.direct && s.bs % 512 != 0) {
      std::fprintf(stderr, "file_read_bench: --direct needs --bs to be a multiple of 512\n");
      return 2;
    }
    return run(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "file_read_bench: %s\n", e.what());
    return 1;
  }
}
