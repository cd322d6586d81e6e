// SPDX-License-Identifier: MIT
// The program of the consumer tests (install + find_package, add_subdirectory, pkg-config, .deb):
// what a user's first program would do (hop between the pools, sleep), plus a long chain of
// synchronously completing tasks, which overflows the stack unless the user's build got
// -foptimize-sibling-calls from coring (g++ below -O2 emits symmetric transfer as a tail call
// only with it).
#include <chrono>
#include <coring/coring.hpp>
#include <coring/version.hpp>
#include <cstdio>

namespace {

coring::task<int> hop_and_sleep(coring::runtime& rt) {
  co_await coring::on(rt.cpu());
  const bool on_cpu = rt.cpu().running_in_this_thread();
  auto slept = co_await coring::sleep_for(std::chrono::milliseconds(1));
  co_await coring::on(rt.io());
  co_return on_cpu&& slept&& rt.io().running_in_this_thread() ? 0 : 1;
}

coring::task<long> count_down(long n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await count_down(n - 1);
}

#if defined(__GNUC__) && !defined(__clang__) && \
    (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
// g++ 12's sanitizer instrumentation keeps symmetric transfer from being a tail call at all.
constexpr long chain_length = 1'000;
#else
constexpr long chain_length = 1'000'000;
#endif

}  // namespace

int main() {
  std::printf("coring %.*s\n", static_cast<int>(coring::version_string.size()),
              coring::version_string.data());
  if (coring::sync_wait(count_down(chain_length)) != chain_length) return 1;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  return rt.block_on(hop_and_sleep(rt));
}
