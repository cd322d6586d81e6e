// SPDX-License-Identifier: MIT
#include <sched.h>

#include <cstdio>

#include "park/adaptive_spin.hpp"

namespace coring::detail {

namespace {

/// The quota in /sys/fs/cgroup/cpu.max ("max 100000" or "50000 100000"), as whole CPUs rounded
/// up; 0 when there is none or it cannot be read (cgroup v1, no cgroup file system).
unsigned cgroup_cpu_quota() noexcept {
  std::FILE* f = std::fopen("/sys/fs/cgroup/cpu.max", "r");
  if (f == nullptr) return 0;
  long long quota = 0;
  long long period = 0;
  const int fields = std::fscanf(f, "%lld %lld", &quota, &period);
  std::fclose(f);
  if (fields != 2 || quota <= 0 || period <= 0) return 0;  // "max" does not parse as a number
  return static_cast<unsigned>((quota + period - 1) / period);
}

}  // namespace

unsigned usable_cpus() noexcept {
  unsigned cpus = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
  const unsigned quota = cgroup_cpu_quota();
  if (quota != 0 && (cpus == 0 || quota < cpus)) cpus = quota;
  return cpus == 0 ? 1 : cpus;
}

}  // namespace coring::detail
