// SPDX-License-Identifier: MIT
// coring::async_run(ex, task, token): runs a coring task on `ex` (rt.io(), rt.cpu(), a loop's
// executor) as an Asio asynchronous operation, completed through any Asio completion token:
//
//     int n = co_await coring::async_run(rt.cpu(), count_words(path), asio::use_awaitable);
//     coring::async_run(rt.io(), fetch(), [](std::exception_ptr e, std::string body) { ... });
//     std::future<int> f = coring::async_run(rt.cpu(), work(), asio::use_future);
//
// The completion signature is asio::co_spawn's: void(std::exception_ptr, T), or
// void(std::exception_ptr) for task<void>; an exception the task throws arrives as the
// exception_ptr (with a value-initialised T, which must then be default-constructible).
//
// Where it runs. The task is spawned at once (like spawn()) and runs on `ex` by coring's rules. The
// completion handler is called as if by asio::dispatch on its associated executor: for
// asio::use_awaitable that is the awaiting coroutine's executor, so the Asio coroutine resumes on its
// own io_context; a plain callback without an associated executor is called on the coring thread
// where the task ended (bind one with asio::bind_executor to choose). While the task runs, that
// executor counts outstanding work, so its io_context::run() does not return early.
//
// Cancellation. If the token has a connected cancellation slot (asio::bind_cancellation_slot, the
// awaitable operators of asio::experimental), an emitted cancellation of any type requests stop of
// the task, as join_handle::cancel() does (Asio's slots are not thread-safe: emit on the handler's
// associated executor, where the completion clears the slot; bind one with asio::bind_executor if
// the handler has none): its waits end with operation_canceled, and what it then
// returns or throws is what the handler gets. A task that never runs to its end (stopped before it
// started, destroyed by runtime shutdown, spawned on a runtime that shut down) completes the handler
// with std::system_error(operation_canceled): the handler is always called exactly once.
// Lifetime. The handler's io_context must outlive every async_run operation on it: declare it
// before the coring::runtime (the runtime's destruction ends every task and calls its handler), or
// await every operation before destroying the context. io_context::stop() does not end an operation:
// its coring task still runs and still queues the handler on that context.
// Thread safety: async_run may be called from any thread, like spawn().
#pragma once

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/prefer.hpp>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coring/executor.hpp"
#include "coring/join_handle.hpp"
#include "coring/spawn.hpp"
#include "coring/task.hpp"

namespace coring {

namespace detail::asio_interop {

template <class T>
struct run_signature_of {
  using type = void(std::exception_ptr, T);
};
template <>
struct run_signature_of<void> {
  using type = void(std::exception_ptr);
};
template <class T>
using run_signature = typename run_signature_of<T>::type;

/// Owns the Asio handler until it is called: exactly once, also when the task never ends on its
/// own (destroyed at shutdown, or never started on a runtime that shut down).
template <class T, class Handler>
class run_completion {
  using work_executor =
      std::decay_t<decltype(::asio::prefer(::asio::get_associated_executor(std::declval<Handler&>()),
                                           ::asio::execution::outstanding_work.tracked))>;

 public:
  run_completion(Handler handler, ::asio::cancellation_slot slot)
      : work_(::asio::prefer(::asio::get_associated_executor(handler),
                             ::asio::execution::outstanding_work.tracked)),
        handler_(std::move(handler)),
        slot_(slot) {}
  run_completion(run_completion&& other) noexcept
      : work_(std::move(other.work_)), handler_(std::move(other.handler_)), slot_(other.slot_) {
    other.handler_.reset();
  }
  run_completion& operator=(run_completion&&) = delete;
  ~run_completion() {
    if (handler_)
      complete(
          std::make_exception_ptr(std::system_error(std::make_error_code(std::errc::operation_canceled))));
  }

  template <class... Value>
  void complete(std::exception_ptr error, Value&&... value) noexcept {
    auto handler = std::move(*handler_);
    handler_.reset();
    // The work count is released here, after the call is queued, not by the queued call: an
    // io_context whose run() returns on it may be destroyed at once, and Asio's post still
    // touches it after it made the call visible (it signals its condition after unlocking).
    [[maybe_unused]] const auto work = std::move(work_);
    auto executor = ::asio::get_associated_executor(handler);
    try {
      ::asio::dispatch(executor, [handler = std::move(handler), error = std::move(error), slot = slot_,
                                  ... value = std::forward<Value>(value)]() mutable {
        slot.clear();  // on the handler's executor, where its cancellation is emitted
        if constexpr (std::is_void_v<T>) {
          std::move(handler)(std::move(error));
        } else if constexpr (sizeof...(Value) == 0) {
          std::move(handler)(std::move(error), T{});
        } else {
          std::move(handler)(std::move(error), std::move(value)...);
        }
      });
    } catch (...) {
      // No memory to queue the call: nothing else can reach the handler; it is dropped.
    }
  }

 private:
  std::optional<work_executor> work_;
  std::optional<Handler> handler_;
  ::asio::cancellation_slot slot_;
};

// The task's frame is freed before the handler is called, so the handler holds the only reference
// to an exception the task threw.
template <class T, class Handler>
task<void> run_then_complete(task<T> work, run_completion<T, Handler> completion) {
  std::exception_ptr error;
  if constexpr (std::is_void_v<T>) {
    {
      task<T> child = std::move(work);
      try {
        co_await std::move(child);
      } catch (...) {
        error = std::current_exception();
      }
    }
    completion.complete(std::move(error));
  } else {
    std::optional<T> value;
    {
      task<T> child = std::move(work);
      try {
        value.emplace(co_await std::move(child));
      } catch (...) {
        error = std::current_exception();
      }
    }
    if (value) {
      completion.complete(nullptr, std::move(*value));
    } else {
      completion.complete(std::move(error));
    }
  }
}

/// Stops the task when the token's cancellation slot is emitted. The slot's handler is installed
/// before the task is spawned (so it is never installed after the completion cleared the slot),
/// and learns the task's handle once it exists.
struct stop_request {
  std::mutex mutex;
  bool requested = false;
  std::optional<join_handle<void>> handle;

  void request() {
    std::lock_guard lock(mutex);
    requested = true;
    if (handle) handle->cancel();
  }
  void hand_over(join_handle<void> spawned) {
    std::lock_guard lock(mutex);
    if (requested) spawned.cancel();
    handle.emplace(std::move(spawned));
  }
};

struct stop_on_cancellation {
  std::shared_ptr<stop_request> target;
  void operator()(::asio::cancellation_type type) {
    if (type != ::asio::cancellation_type::none) target->request();
  }
};

struct initiate_run {
  template <class Handler, class T>
  void operator()(Handler&& handler, executor ex, task<T> work) const {
    using handler_type = std::decay_t<Handler>;
    ::asio::cancellation_slot slot = ::asio::get_associated_cancellation_slot(handler);
    std::shared_ptr<stop_request> stop;
    if (slot.is_connected()) {
      stop = std::make_shared<stop_request>();
      slot.template emplace<stop_on_cancellation>(stop_on_cancellation{stop});
    }
    run_completion<T, handler_type> completion(std::forward<Handler>(handler), slot);
    join_handle<void> handle =
        spawn(ex, run_then_complete<T, handler_type>(std::move(work), std::move(completion)));
    if (stop) stop->hand_over(std::move(handle));
  }
};

}  // namespace detail::asio_interop

/// Runs `work` on `ex`; `token` is completed with its outcome (see the top of this header).
template <class T, class CompletionToken>
auto async_run(executor ex, task<T> work, CompletionToken&& token) {
  return ::asio::async_initiate<CompletionToken, detail::asio_interop::run_signature<T>>(
      detail::asio_interop::initiate_run{}, token, ex, std::move(work));
}

}  // namespace coring
