// SPDX-License-Identifier: MIT
// coring::spawn_blocking(fn): runs a blocking function (a synchronous database call, a blocking
// library, heavy file system work) on a blocking pool and awaits its result, so that neither the
// io pool nor the CPU pool is stalled.
//
//   std::string text = co_await coring::spawn_blocking([] { return read_legacy_config(); });
//
// `fn` may be move-only (it is moved into the job once and called once, on a blocking thread,
// where it is also destroyed after it ran). The job is queued when the co_await suspends.
//
// Which pool: a task of a runtime uses that runtime's blocking pool (runtime_options::
// blocking_threads threads at most); anything else (a task driven by sync_wait or by a standalone
// event_loop) uses a process-wide pool of up to blocking_pool_limit threads. Both are elastic: a
// thread is started when a job arrives and none is idle (up to the limit, after which jobs queue),
// and a thread idle for 10 s exits.
//
// The awaiting task resumes on the pool it awaited from; an exception thrown by `fn` is rethrown
// there. Cancellation: the await is a cancellation point until the job starts. A stop request
// (join_handle::cancel(), a timeout or when_any it lost...) for a task whose job is still queued
// takes the job out: fn never runs, and the co_await throws std::system_error(errc::
// operation_canceled); so does one that begins after stop was requested. Once fn started it runs
// to its end and the await returns its result (the stop shows at the task's next wait).
//
// Runtime shutdown joins the runtime's blocking pool after it stops taking work (runtime.hpp,
// step 1): a job still queued then never runs and its task resumes with operation_canceled (or
// is destroyed with the other unfinished tasks); shutdown waits for the jobs already running to
// end, so no job runs after shutdown() returns; a spawn_blocking awaited from then on throws
// operation_canceled without queuing anything (a job that itself calls shutdown() of its runtime
// is the one exception: shutdown waits for every other job, not for the caller's). If the
// awaiting task is destroyed while its job runs, the job still runs to its end and its result
// is dropped.
// g++ 12 note: a lambda with captures written directly inside the co_await expression
// (`co_await spawn_blocking([s = std::move(str)] {...})`) can be copied byte-wise by the compiler,
// which breaks captured short strings; name it first (`auto job = [...]{...}; co_await
// spawn_blocking(std::move(job));`), as src/net/resolve.cpp does.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "coring/detail/waiter.hpp"

namespace coring {

/// Most threads the process-wide blocking pool runs at once (a runtime's pool: runtime_options::
/// blocking_threads).
inline constexpr std::size_t blocking_pool_limit = 512;

namespace detail {

/// One job queued on a blocking pool. The pool calls exactly one of run() (on a blocking thread)
/// or drop() (the pool shut down before the job started), then destroys it.
class blocking_job {
 public:
  virtual ~blocking_job() = default;
  virtual void run() noexcept = 0;
  virtual void drop() noexcept = 0;
};

/// Queues `job` on the blocking pool of the calling thread's runtime (or the process-wide one).
/// Returns false, leaving `job` untouched, when that pool shut down. Throws std::system_error if
/// no thread could be started and none is running (the job is not queued).
bool run_blocking(std::unique_ptr<blocking_job>& job);

/// What a blocking job and the task awaiting it share. `phase` (under `mutex`) says who decides:
/// queued -> running (the job started: it runs to its end) -> done, or queued -> canceled (a stop
/// request, a dropped job, or an abandoned awaiter: fn never runs).
template <class R, class Fn>
struct blocking_state {
  enum class phase : unsigned char { queued, running, done, canceled };

  explicit blocking_state(Fn&& f) : fn(std::move(f)) {}

  std::mutex mutex;
  phase at = phase::queued;
  waiter* awaiting = nullptr;  // set while the task is suspended and may be woken
  std::optional<Fn> fn;        // reset by the blocking thread once it ran
  std::variant<std::monostate, std::conditional_t<std::is_void_v<R>, std::monostate, R>, std::exception_ptr>
      result;

  void run() noexcept {
    {
      std::lock_guard lock(mutex);
      if (at != phase::queued) return;  // canceled before it started: never runs
      at = phase::running;
    }
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(*fn);
        result.template emplace<1>();
      } else {
        result.template emplace<1>(std::invoke(*fn));
      }
    } catch (...) {
      result.template emplace<2>(std::current_exception());
    }
    fn.reset();  // on this thread, not the task's
    finish(phase::done);
  }

  /// The pool shut down before the job started: the task resumes with operation_canceled.
  void drop() noexcept {
    std::unique_lock lock(mutex);
    if (at != phase::queued) return;
    lock.unlock();
    finish(phase::canceled);
  }

  void finish(phase to) noexcept {
    waiter* to_wake = nullptr;
    {
      std::lock_guard lock(mutex);
      at = to;
      to_wake = std::exchange(awaiting, nullptr);
    }
    if (to_wake != nullptr) to_wake->wake();
  }
};

template <class R, class Fn>
class blocking_job_of final : public blocking_job {
 public:
  explicit blocking_job_of(std::shared_ptr<blocking_state<R, Fn>> state) noexcept
      : state_(std::move(state)) {}
  void run() noexcept override { state_->run(); }
  void drop() noexcept override { state_->drop(); }

 private:
  std::shared_ptr<blocking_state<R, Fn>> state_;
};

template <class R, class Fn>
class blocking_awaiter : waiter {
 public:
  detail::wait_note note_wait() const noexcept { return {"spawn_blocking job"}; }

 private:
  using state_type = blocking_state<R, Fn>;
  using phase = typename state_type::phase;

 public:
  explicit blocking_awaiter(Fn&& fn)
      : state_(std::make_shared<state_type>(std::move(fn))),
        job_(std::make_unique<blocking_job_of<R, Fn>>(state_)) {}
  blocking_awaiter(const blocking_awaiter&) = delete;
  blocking_awaiter& operator=(const blocking_awaiter&) = delete;
  ~blocking_awaiter() {
    disarm();
    // Destroyed while parked (shutdown): a job that did not start never will.
    std::lock_guard lock(state_->mutex);
    state_->awaiting = nullptr;
    if (state_->at == phase::queued) state_->at = phase::canceled;
  }

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    prepare(h);
    state_type& s = *state_;
    {
      std::lock_guard lock(s.mutex);
      if (!arm(&cancel)) {
        s.at = phase::canceled;  // stop was requested: nothing is queued
        return false;
      }
    }
    // Queued first, published second: a throw here leaves nothing that could wake the task.
    if (!run_blocking(job_)) {
      std::lock_guard lock(s.mutex);
      s.at = phase::canceled;  // the pool shut down
      return false;
    }
    std::lock_guard lock(s.mutex);
    if (s.at == phase::done || s.at == phase::canceled) return false;  // ended before we parked
    s.awaiting = this;
    return true;  // from here on another thread may resume the task
  }
  /// Throws std::system_error(errc::operation_canceled) when the job never ran.
  R await_resume() {
    disarm();
    auto& result = state_->result;  // the job ended before the task was woken (or resumed)
    if (result.index() == 0) throw_canceled();
    // Take the exception out of the shared state: the pool thread may drop the state last, and
    // must not be the one that frees an exception this task is handling.
    if (result.index() == 2) std::rethrow_exception(std::exchange(std::get<2>(result), nullptr));
    if constexpr (!std::is_void_v<R>) return std::move(std::get<1>(result));
  }

 private:
  /// A stop request: takes the job out while it is still queued; a started job runs on.
  static void cancel(waiter& w) noexcept {
    auto& self = static_cast<blocking_awaiter&>(w);
    state_type& s = *self.state_;
    {
      std::lock_guard lock(s.mutex);
      if (s.at != phase::queued) return;
      s.at = phase::canceled;
      // Not parked yet (await_suspend is between queuing and publishing): it sees `canceled`.
      if (std::exchange(s.awaiting, nullptr) == nullptr) return;
    }
    self.canceled_by_stop();
  }

  std::shared_ptr<state_type> state_;
  std::unique_ptr<blocking_job> job_;  // handed to the pool by await_suspend
};

}  // namespace detail

template <class Fn>
[[nodiscard]] auto spawn_blocking(Fn&& fn) {
  using F = std::decay_t<Fn>;
  using R = std::invoke_result_t<F&>;
  return detail::blocking_awaiter<R, F>{F(std::forward<Fn>(fn))};
}

}  // namespace coring
