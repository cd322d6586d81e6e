// SPDX-License-Identifier: MIT
// The backends' side of the test hooks in backend.hpp (namespace testing): both backends read
// them the same way, so one test suite runs on either.
#pragma once

namespace coring::detail::testing_hooks {

/// The errno an injected failure gives the calling thread's next system call into its backend, or
/// 0 (no failure injected; each call takes one).
int take_injected_enter_failure() noexcept;
/// Whether cancel requests are being kept from the kernel (testing::withhold_cancels).
bool cancels_withheld() noexcept;
/// The first opcode the io_uring probe must report missing (testing::pretend_uring_lacks_opcodes_from),
/// or 0.
unsigned pretended_first_missing_opcode() noexcept;

}  // namespace coring::detail::testing_hooks
