// SPDX-License-Identifier: MIT
// The path of an exception that nobody will observe: a detached task's, a second failure of
// when_all or task_group, a when_any loser's. It goes to the unhandled-exception handler of the
// runtime (runtime::set_unhandled_exception_handler) or standalone event_loop
// (event_loop::set_unhandled_exception_handler) it happened on; the default handler prints it to
// stderr (see describe_exception).
//
// Which exceptions the combinators report: every one that does not reach the awaiting task,
// except a std::system_error(errc::operation_canceled) of a child that had been asked to stop
// (that is how a stopped child ends, not a failure; is_cancellation below).
#pragma once

#include <exception>
#include <string>

namespace coring::detail {

class scheduler;
class task_registry;

/// Hands `error` to the handler of the runtime or event_loop that `where` belongs to (to the
/// default handler when `where` is null). Any thread; never throws.
void report_unhandled(scheduler* where, std::exception_ptr error) noexcept;
void report_unhandled(task_registry* registry, std::exception_ptr error) noexcept;

/// True when `error` holds a std::system_error whose code is errc::operation_canceled.
bool is_cancellation(const std::exception_ptr& error) noexcept;

/// What the default handler prints for `error`: "<demangled type>: <what()>", or
/// "<demangled type>: unknown exception" for an exception not derived from std::exception.
std::string describe_exception(const std::exception_ptr& error);

}  // namespace coring::detail
