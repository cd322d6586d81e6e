// SPDX-License-Identifier: MIT
#include "backend/backend_testing.hpp"

#include <atomic>

#include "backend/backend.hpp"

namespace coring::detail {

namespace {

enter_failure_injection& injected_enter_failures() noexcept {
  thread_local enter_failure_injection injection;
  return injection;
}

std::atomic<bool> withheld{false};
std::atomic<unsigned> first_missing_opcode{0};

}  // namespace

namespace testing {
void fail_enters_on_this_thread(int error, unsigned count) noexcept {
  injected_enter_failures() = {error, count};
}
void withhold_cancels(bool withhold) noexcept {
  withheld.store(withhold, std::memory_order_relaxed);
}
void pretend_uring_lacks_opcodes_from(unsigned first_missing) noexcept {
  first_missing_opcode.store(first_missing, std::memory_order_relaxed);
}
}  // namespace testing

namespace testing_hooks {
int take_injected_enter_failure() noexcept {
  enter_failure_injection& injected = injected_enter_failures();
  if (injected.count == 0) return 0;
  --injected.count;
  return injected.error;
}
bool cancels_withheld() noexcept {
  return withheld.load(std::memory_order_relaxed);
}
unsigned pretended_first_missing_opcode() noexcept {
  return first_missing_opcode.load(std::memory_order_relaxed);
}
}  // namespace testing_hooks

}  // namespace coring::detail
