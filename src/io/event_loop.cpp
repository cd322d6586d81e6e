// SPDX-License-Identifier: MIT
#include "coring/event_loop.hpp"

#include <cstdio>

#include "io/event_loop_impl.hpp"
#include "task/task_registry.hpp"

namespace coring {

event_loop::event_loop(event_loop_options options)
    : registry_(std::make_unique<detail::task_registry>()),
      impl_(std::make_unique<detail::event_loop_impl>(
          registry_.get(), detail::loop_config{options.ring_entries, std::chrono::nanoseconds::zero(),
                                               options.receive_buffers, options.receive_buffer_size, false,
                                               options.backend, options.quiet_backend_fallback})) {
  registry_->set_completion_listener(impl_.get());
}

event_loop::~event_loop() {
  // Step 1: the kernel lets go of every buffer; step 2: the frames that own them are destroyed.
  if (!impl_->drain()) {
    // Another thread owns the ring, so operations in flight cannot be canceled from here. Freeing
    // their frames could let the kernel write into freed memory: leak them (and the ring) instead.
    std::fprintf(stderr,
                 "coring: event_loop destroyed on a thread that does not own its ring with I/O in flight; "
                 "leaking its tasks\n");
    (void)impl_.release();
    (void)registry_.release();
    return;
  }
  std::vector<detail::work_item*> abandoned;
  do {
    abandoned.clear();
    impl_->collect_abandoned(abandoned);
  } while (registry_->destroy_all(abandoned) > 0);
}

void event_loop::run() {
  // The registry's counters are summed over all their slots: look only after a task finished (a
  // task can only end through task_finished, and nothing else makes the count reach zero).
  std::uint64_t looked_at = ~std::uint64_t{0};
  impl_->run_until([this, &looked_at] {
    const std::uint64_t finished = impl_->tasks_finished();
    if (finished == looked_at) return false;
    looked_at = finished;
    return alive_tasks() == 0;
  });
  impl_->reset_stop();
}

std::size_t event_loop::run_once() {
  return impl_->turn(true);
}

std::size_t event_loop::poll() {
  return impl_->turn(false);
}

void event_loop::stop() noexcept {
  impl_->stop();
}

int event_loop::native_handle() {
  return impl_->host_handle();
}

std::optional<std::chrono::nanoseconds> event_loop::next_timeout() const noexcept {
  return impl_->host_timeout();
}

executor event_loop::get_executor() const noexcept {
  return executor{impl_.get()};
}

void event_loop::set_unhandled_exception_handler(std::function<void(std::exception_ptr)> handler) {
  registry_->set_exception_handler(std::move(handler));
}

std::size_t event_loop::alive_tasks() const noexcept {
  return static_cast<std::size_t>(registry_->spawned() - registry_->completed());
}

const char* event_loop::backend_name() const noexcept {
  return impl_->backend_name();
}

backend_kind event_loop::backend() const noexcept {
  return impl_->kind();
}

}  // namespace coring
