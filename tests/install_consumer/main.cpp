// SPDX-License-Identifier: MIT
// Built by the install_consumer test against an installed coring: runs a task that hops between
// the pools and sleeps, as a user's first program would.
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

}  // namespace

int main() {
  std::printf("coring %.*s\n", static_cast<int>(coring::version_string.size()),
              coring::version_string.data());
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  return rt.block_on(hop_and_sleep(rt));
}
