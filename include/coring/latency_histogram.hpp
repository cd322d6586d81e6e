// SPDX-License-Identifier: MIT
// coring::latency_histogram: a snapshot of durations in log-linear buckets, as runtime::metrics()
// returns them (scheduling delay, loop turn duration).
//
// Bucket 0 holds durations under 64 ns; above that every power of two is split into four equal
// buckets, up to 2^38 ns (about 4.6 minutes); longer durations go into the last bucket. Relative
// error of a bucket's bounds: at most 25%. A snapshot is a plain value: merge with +=, read from
// any thread. The runtime's recorders write one histogram per thread without locks or atomic
// read-modify-writes; metrics() adds them up, so a snapshot taken while threads record may be a
// few samples behind its own count.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace coring {

struct latency_histogram {
  static constexpr unsigned first_power = 6;  // 64 ns: the end of bucket 0
  static constexpr unsigned last_power = 38;  // bucket bounds stop at 2^38 ns
  static constexpr unsigned per_power = 4;
  static constexpr std::size_t bucket_count = 1 + (last_power - first_power) * per_power;

  std::array<std::uint64_t, bucket_count> counts{};
  std::uint64_t sum_ns = 0;  // of every recorded duration (wraps after 584 years of samples)

  /// The bucket a duration of `ns` nanoseconds is counted in.
  static constexpr std::size_t bucket_of(std::uint64_t ns) noexcept {
    if (ns < (std::uint64_t{1} << first_power)) return 0;
    const unsigned power = static_cast<unsigned>(std::bit_width(ns)) - 1;  // >= first_power
    if (power >= last_power) return bucket_count - 1;
    const unsigned quarter = static_cast<unsigned>(ns >> (power - 2)) & (per_power - 1);
    return 1 + (power - first_power) * per_power + quarter;
  }
  /// Durations in bucket `i` are below this bound (and at least the previous bucket's bound).
  /// The last bucket's bound is the largest representable duration.
  static constexpr std::chrono::nanoseconds upper_bound(std::size_t i) noexcept {
    if (i == 0) return std::chrono::nanoseconds(std::int64_t{1} << first_power);
    if (i >= bucket_count - 1) return std::chrono::nanoseconds::max();
    const unsigned power = first_power + static_cast<unsigned>((i - 1) / per_power);
    const std::uint64_t quarter = (i - 1) % per_power;
    const std::uint64_t base = std::uint64_t{1} << power;
    return std::chrono::nanoseconds(static_cast<std::int64_t>(base + (quarter + 1) * (base / per_power)));
  }

  std::uint64_t count() const noexcept {
    std::uint64_t total = 0;
    for (const std::uint64_t c : counts) total += c;
    return total;
  }
  /// The upper bound of the bucket that holds the `q`-th quantile (0 <= q <= 1); zero when empty.
  std::chrono::nanoseconds quantile(double q) const noexcept {
    const std::uint64_t total = count();
    if (total == 0) return std::chrono::nanoseconds::zero();
    if (q < 0) q = 0;
    if (q > 1) q = 1;
    // The rank of the sample, 1-based: the smallest bucket whose running count reaches it.
    std::uint64_t rank = static_cast<std::uint64_t>(q * static_cast<double>(total) + 0.5);
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts[i];
      if (seen >= rank) return upper_bound(i);
    }
    return upper_bound(bucket_count - 1);
  }
  std::chrono::nanoseconds mean() const noexcept {
    const std::uint64_t total = count();
    return std::chrono::nanoseconds(total == 0 ? 0 : static_cast<std::int64_t>(sum_ns / total));
  }

  latency_histogram& operator+=(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts[i] += other.counts[i];
    sum_ns += other.sum_ns;
    return *this;
  }
};

}  // namespace coring
