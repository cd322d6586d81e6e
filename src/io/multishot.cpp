// SPDX-License-Identifier: MIT
// Multishot requests on an event loop: the loop side of detail/multishot.hpp.
//
// A multishot is armed when a take finds nothing queued, and stays armed while the kernel says
// more completions follow (IORING_CQE_F_MORE). A final completion disarms it: a receive that ended
// (0 bytes, an error) ends the stream; -ENOBUFS (the provided buffers are all out with their
// chunks) parks it until a buffer comes back; anything else is delivered and the next take arms
// it again. Completions nobody waits for queue up in the multishot.
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "io/event_loop_impl.hpp"

namespace coring::detail {

namespace {

void run_close(work_item* w) noexcept {
  multishot& m = static_cast<multishot&>(*static_cast<multishot_close_item*>(w));
  m.loop->close(m);
}

void run_deferred_finish(work_item* w) noexcept {
  io_op& op = io_op::from_start_item(w);
  op.loop->on_deferred_finish(op);
}

void fill(io_op& take, const multishot::entry& e) noexcept {
  take.result = e.result;
  take.args.take.buffer = e.buffer;
}

}  // namespace

// ---- any thread -----------------------------------------------------------------------------

multishot* open_multishot(op_code code, io_target target) {
  auto* m = new multishot;
  m->code = code;
  m->fd = target.fd;
  m->fixed_file = target.fixed;
  const thread_context& ctx = this_thread();
  event_loop_impl* loop = target.loop != nullptr ? target.loop : ctx.loop;
  if (loop == nullptr && ctx.current != nullptr) loop = ctx.current->io_loop();
  m->loop = loop;
  return m;
}

void close_multishot(multishot* m) noexcept {
  if (m == nullptr) return;
  event_loop_impl* loop = m->loop;
  if (loop == nullptr || loop->closed()) {
    // No kernel request can be left (the loop was drained): free it here.
    for (const multishot::entry& e : m->ready) {
      if (m->code == op_code::accept_multishot && e.result >= 0) ::close(e.result);
    }
    delete m;
    return;
  }
  if (this_thread().loop == loop) {
    loop->close(*m);
    return;
  }
  m->multishot_close_item::run = &run_close;
  loop->schedule(static_cast<multishot_close_item*>(m));
}

bool take_queued(multishot& m, io_op& take) noexcept {
  if (this_thread().loop != m.loop) return false;
  if (!m.ready.empty()) {
    fill(take, m.ready.front());
    m.ready.pop_front();
    return true;
  }
  if (m.ended) {
    fill(take, {m.end_result, -1});
    return true;
  }
  return false;
}

const std::byte* provided_buffer(event_loop_impl* loop, std::int32_t id) noexcept {
  return loop->buffer_data(id);
}

void return_provided_buffer(event_loop_impl* loop, std::int32_t id) noexcept {
  loop->return_buffer(id);
}

void event_loop_impl::return_buffer(std::int32_t id) noexcept {
  if (this_thread().loop == this) {
    recycle_buffer(id);
    return;
  }
  if (closed()) return;
  buffer_return& r = buffer_returns_[static_cast<std::size_t>(id)];
  r.run = &on_buffer_return;
  schedule(&r);
}

void event_loop_impl::on_buffer_return(work_item* item) noexcept {
  auto& r = static_cast<buffer_return&>(*item);
  r.loop->recycle_buffer(r.id);
}

// ---- the loop's thread ------------------------------------------------------------------------

void event_loop_impl::take(io_op& op) noexcept {
  multishot& m = *op.args.take.source;
  if (!m.ready.empty()) {
    fill(op, m.ready.front());
    m.ready.pop_front();
    finish_soon(op);
    return;
  }
  if (m.ended) {
    fill(op, {m.end_result, -1});
    finish_soon(op);
    return;
  }
  m.taker = &op;
  if (!m.armed && !m.starved) arm(m);
}

void event_loop_impl::cancel_take(io_op& op) noexcept {
  multishot& m = *op.args.take.source;
  if (m.taker != &op) return;  // already handed a completion
  m.taker = nullptr;
  finish(op, -ECANCELED);
}

void event_loop_impl::finish_soon(io_op& op) noexcept {
  // take() runs inside the awaiter's await_suspend when the task is on this loop: never resume there.
  op.start_item()->run = &run_deferred_finish;
  ready_.push(op.start_item());
}

void event_loop_impl::arm(multishot& m) noexcept {
  if (m.code == op_code::recv_multishot && buffers_status_ != 0) {
    if (buffers_status_ == 1) {
      // Set up when the loop's first receive stream is armed.
      buffers_status_ = backend_->provide_buffers(receive_buffers_, receive_buffer_size_);
      if (buffers_status_ == 0) {
        buffer_returns_ = std::make_unique<buffer_return[]>(receive_buffers_);
        for (unsigned i = 0; i < receive_buffers_; ++i) {
          buffer_returns_[i].loop = this;
          buffer_returns_[i].id = static_cast<std::int32_t>(i);
        }
      }
    }
    if (buffers_status_ < 0) {  // no provided buffers on this kernel: the stream cannot work
      m.ended = true;
      m.end_result = buffers_status_;
      if (m.taker != nullptr) {
        io_op& taker = *m.taker;
        m.taker = nullptr;
        fill(taker, {m.end_result, -1});
        finish_soon(taker);
      }
      return;
    }
  }
  m.armed = true;
  backend_->submit(m);
}

void event_loop_impl::deliver(multishot& m, int result, completion_flags flags) noexcept {
  if (!flags.more) m.armed = false;
  if (flags.buffer >= 0) ++buffers_out_;
  const multishot::entry e{result, flags.buffer};
  if (m.closed) {
    discard(m, e);
    if (!m.armed) delete &m;
    return;
  }
  if (m.code == op_code::recv_multishot) {
    if (result == -ENOBUFS && !flags.more) {
      if (buffers_out_ < receive_buffers_) {
        // Buffers came back between the kernel's running dry and this completion.
        if (m.taker != nullptr) arm(m);
        return;
      }
      m.starved = true;  // armed again when a buffer comes back
      starved_.push_back(&m);
      return;
    }
    if (!flags.more && result <= 0) {
      m.ended = true;
      m.end_result = result;
    }
  }
  if (m.taker != nullptr) {
    io_op& taker = *m.taker;
    m.taker = nullptr;
    taker.args.take.buffer = e.buffer;
    finish(taker, e.result);
  } else {
    m.ready.push_back(e);
  }
}

void event_loop_impl::discard(multishot& m, const multishot::entry& e) noexcept {
  if (m.code == op_code::accept_multishot && e.result >= 0) ::close(e.result);
  if (e.buffer >= 0) recycle_buffer(e.buffer);
}

void event_loop_impl::close(multishot& m) noexcept {
  m.closed = true;
  starved_.erase(std::remove(starved_.begin(), starved_.end(), &m), starved_.end());
  if (m.taker != nullptr) {
    io_op& taker = *m.taker;
    m.taker = nullptr;
    finish(taker, -ECANCELED);
  }
  for (const multishot::entry& e : m.ready) discard(m, e);
  m.ready.clear();
  if (m.armed) {
    backend_->cancel(m);  // freed by deliver() at the last completion
  } else {
    delete &m;
  }
}

void event_loop_impl::recycle_buffer(std::int32_t id) noexcept {
  backend_->recycle_buffer(id);
  --buffers_out_;
  if (starved_.empty() || draining_) return;
  std::vector<multishot*> waiting;
  waiting.swap(starved_);
  for (multishot* m : waiting) {
    m->starved = false;
    if (m->taker != nullptr) arm(*m);  // else armed by the next take
  }
}

}  // namespace coring::detail
