// io_uring backend: one ring, owned and driven by one thread.
//
// Ring setup tries, in order: SINGLE_ISSUER + DEFER_TASKRUN (completions are run only when the
// owner waits: no interrupts, batched), SINGLE_ISSUER + COOP_TASKRUN, COOP_TASKRUN, and no flags,
// moving on only when the kernel answers EINVAL (flag unknown). EPERM and ENOSYS (io_uring blocked
// by seccomp or sysctl) are reported as such; other errors (ENOMEM) are real failures.
//
// Single-issuer rings are created disabled and enabled by the thread that will drive them.
//
// Wake-ups: an eventfd read is kept armed on the ring; wake() writes the eventfd from any thread.
// bench/wake_bench.cpp compares this with IORING_OP_MSG_RING (which needs a ring on the waker's
// side); see docs/architecture.md for the figures and the choice.
//
// user_data: the io_op's address, or one of two tags below (pointers are never 0 or 1).
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <string>
#include <system_error>

#include "backend/backend.hpp"
#include "coring/file.hpp"

namespace coring::detail {

static_assert(fsync_datasync_flag == IORING_FSYNC_DATASYNC);

namespace {

constexpr std::uint64_t ignored_tag = 0;  // completions of cancel requests
constexpr std::uint64_t wake_tag = 1;     // the armed eventfd read

struct setup_attempt {
  unsigned flags;
  const char* name;
};

constexpr setup_attempt setup_attempts[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
     "io_uring (single issuer, deferred task run)"},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED,
     "io_uring (single issuer, cooperative task run)"},
    {IORING_SETUP_COOP_TASKRUN, "io_uring (cooperative task run)"},
    {0, "io_uring"},
};

class uring_backend final : public backend {
 public:
  explicit uring_backend(unsigned entries) {
    int last_error = 0;
    for (const setup_attempt& attempt : setup_attempts) {
      io_uring_params params{};
      params.flags = attempt.flags;
      const int rc = io_uring_queue_init_params(entries, &ring_, &params);
      if (rc == 0) {
        flags_ = attempt.flags;
        description_ = attempt.name;
        break;
      }
      last_error = -rc;
      if (rc != -EINVAL) break;
    }
    if (description_ == nullptr) {
      if (last_error == EPERM || last_error == ENOSYS) {
        throw std::system_error(last_error, std::system_category(),
                                "coring: io_uring is not available on this system (blocked by seccomp, "
                                "kernel.io_uring_disabled or an old kernel)");
      }
      throw std::system_error(last_error, std::system_category(), "coring: cannot create an io_uring");
    }
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      const int err = errno;
      io_uring_queue_exit(&ring_);
      throw std::system_error(err, std::system_category(), "coring: eventfd");
    }
  }

  ~uring_backend() override {
    io_uring_queue_exit(&ring_);
    close(wake_fd_);
  }

  void attach_to_current_thread() override {
    if (!attached_ && (flags_ & IORING_SETUP_R_DISABLED) != 0) {
      // liburing 2.3 declares io_uring_enable_rings() but does not export it: register directly.
      const long rc =
          syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
      if (rc < 0) throw std::system_error(errno, std::system_category(), "coring: enabling the io_uring");
    }
    attached_ = true;
    arm_wake();
  }

  void submit(io_op& op) noexcept override {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) {
      backlog_.push_back(&op);
      return;
    }
    prepare(sqe, op);
  }

  void cancel(io_op& op) noexcept override {
    for (auto it = backlog_.begin(); it != backlog_.end(); ++it) {
      if (*it == &op) {
        // Never reached the kernel: complete it here, as the kernel would have.
        backlog_.erase(it);
        cancelled_backlog_.push_back(&op);
        return;
      }
    }
    io_uring_sqe* sqe = next_sqe_or_flush();
    if (sqe == nullptr) return;  // the ring is unusable; the op will complete on its own
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(&op), 0);
    io_uring_sqe_set_data64(sqe, ignored_tag);
  }

  void cancel_all() noexcept override {
    closing_ = true;
    for (io_op* op : backlog_) cancelled_backlog_.push_back(op);
    backlog_.clear();
    io_uring_sqe* sqe = next_sqe_or_flush();
    if (sqe == nullptr) return;
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, ignored_tag);
  }

  std::size_t wait(completion_sink& sink, std::optional<std::chrono::nanoseconds> timeout) noexcept override {
    std::size_t handed = complete_cancelled_backlog(sink);
    if (handed > 0) timeout = std::chrono::nanoseconds::zero();
    for (;;) {
      int rc;
      enters_.fetch_add(1, std::memory_order_relaxed);
      if (timeout && timeout->count() <= 0) {
        rc = io_uring_submit_and_get_events(&ring_);
      } else if (timeout) {
        // Not io_uring_submit_and_wait_timeout(): in liburing 2.3, when its first enter submits,
        // the kernel reports the submission count instead of -ETIME and liburing then waits again
        // without the timeout (forever). Submitting first costs a system call only when requests
        // are queued at the moment the loop goes to sleep.
        if (io_uring_sq_ready(&ring_) > 0) {
          const int submitted = io_uring_submit(&ring_);
          if (submitted > 0) note_submitted(static_cast<unsigned>(submitted));
        }
        __kernel_timespec ts{};
        ts.tv_sec = timeout->count() / 1'000'000'000;
        ts.tv_nsec = timeout->count() % 1'000'000'000;
        io_uring_cqe* cqe = nullptr;
        rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
        if (rc > 0) rc = 0;  // not a submission count
      } else {
        rc = io_uring_submit_and_wait(&ring_, 1);
      }
      if (rc > 0) note_submitted(static_cast<unsigned>(rc));
      if (rc == -EBUSY || rc == -EAGAIN) {
        // The completion queue overflowed: reap, then submit again.
        handed += reap(sink);
        timeout = std::chrono::nanoseconds::zero();
        continue;
      }
      break;
    }
    handed += reap(sink);
    flush_backlog();
    return handed;
  }

  void wake() noexcept override {
    const eventfd_t one = 1;
    [[maybe_unused]] const int rc = eventfd_write(wake_fd_, one);
  }

  std::size_t in_flight() const noexcept override { return in_flight_; }

  backend_counters counters() const noexcept override {
    return {submissions_.load(std::memory_order_relaxed), completions_.load(std::memory_order_relaxed),
            enters_.load(std::memory_order_relaxed)};
  }

  const char* describe() const noexcept override { return description_; }

 private:
  io_uring_sqe* next_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe != nullptr) return sqe;
    // The submission queue is full: hand it to the kernel (no wait) and try again.
    const int rc = io_uring_submit(&ring_);
    if (rc > 0) note_submitted(static_cast<unsigned>(rc));
    return io_uring_get_sqe(&ring_);
  }

  io_uring_sqe* next_sqe_or_flush() noexcept { return next_sqe(); }

  void note_submitted(unsigned n) noexcept {
    submissions_.store(submissions_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  void arm_wake() noexcept {
    if (wake_armed_ || closing_) return;
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return;  // retried at the next reap
    io_uring_prep_read(sqe, wake_fd_, &wake_buffer_, sizeof wake_buffer_, 0);
    io_uring_sqe_set_data64(sqe, wake_tag);
    wake_armed_ = true;
  }

  void prepare(io_uring_sqe* sqe, io_op& op) noexcept {
    switch (op.code) {
      case op_code::read:
        io_uring_prep_read(sqe, op.fd, op.buffer, op.len, op.offset);
        break;
      case op_code::write:
        io_uring_prep_write(sqe, op.fd, op.buffer, op.len, op.offset);
        break;
      case op_code::openat:
        io_uring_prep_openat(sqe, AT_FDCWD, static_cast<const char*>(op.address),
                             static_cast<int>(op.op_flags), op.mode);
        break;
      case op_code::close:
        io_uring_prep_close(sqe, op.fd);
        break;
      case op_code::accept:
        io_uring_prep_accept(sqe, op.fd, static_cast<sockaddr*>(const_cast<void*>(op.address)),
                             static_cast<socklen_t*>(op.buffer), static_cast<int>(op.op_flags));
        break;
      case op_code::connect:
        io_uring_prep_connect(sqe, op.fd, static_cast<const sockaddr*>(op.address), op.len);
        break;
      case op_code::recv:
        io_uring_prep_recv(sqe, op.fd, op.buffer, op.len, static_cast<int>(op.op_flags));
        break;
      case op_code::send:
        io_uring_prep_send(sqe, op.fd, op.buffer, op.len, static_cast<int>(op.op_flags));
        break;
      case op_code::fsync:
        io_uring_prep_fsync(sqe, op.fd, op.op_flags);
        break;
      case op_code::poll:
        io_uring_prep_poll_add(sqe, op.fd, op.op_flags);
        break;
      case op_code::unlinkat:
        io_uring_prep_unlinkat(sqe, AT_FDCWD, static_cast<const char*>(op.address),
                               static_cast<int>(op.op_flags));
        break;
      case op_code::renameat:
        io_uring_prep_renameat(sqe, AT_FDCWD, static_cast<const char*>(op.address), AT_FDCWD,
                               static_cast<const char*>(op.buffer), 0);
        break;
      case op_code::mkdirat:
        io_uring_prep_mkdirat(sqe, AT_FDCWD, static_cast<const char*>(op.address), op.mode);
        break;
      case op_code::statx:
        io_uring_prep_statx(sqe, op.fd < 0 ? AT_FDCWD : op.fd, static_cast<const char*>(op.address),
                            static_cast<int>(op.op_flags), op.mode, static_cast<struct statx*>(op.buffer));
        break;
      case op_code::sendmsg:
        io_uring_prep_sendmsg(sqe, op.fd, static_cast<const msghdr*>(op.buffer), op.op_flags);
        break;
      case op_code::recvmsg:
        io_uring_prep_recvmsg(sqe, op.fd, static_cast<msghdr*>(op.buffer), op.op_flags);
        break;
      case op_code::readv:
        io_uring_prep_readv(sqe, op.fd, static_cast<const iovec*>(op.buffer), op.len, op.offset);
        break;
      case op_code::writev:
        io_uring_prep_writev(sqe, op.fd, static_cast<const iovec*>(op.buffer), op.len, op.offset);
        break;
      case op_code::timer:
        io_uring_prep_nop(sqe);  // timers live in the loop's heap; never submitted
        break;
    }
    io_uring_sqe_set_data(sqe, &op);
    op.in_kernel = true;
    ++in_flight_;
  }

  std::size_t reap(completion_sink& sink) noexcept {
    std::size_t handed = 0;
    io_uring_cqe* cqes[64];
    for (;;) {
      const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 64);
      if (n == 0) break;
      struct entry {
        std::uint64_t data;
        int res;
        unsigned flags;
      } batch[64];
      for (unsigned i = 0; i < n; ++i) batch[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
      io_uring_cq_advance(&ring_, n);
      completions_.store(completions_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
      for (unsigned i = 0; i < n; ++i) {
        const entry& e = batch[i];
        if (e.data == ignored_tag) continue;
        if (e.data == wake_tag) {
          wake_armed_ = false;
          arm_wake();
          continue;
        }
        const bool more = (e.flags & IORING_CQE_F_MORE) != 0;
        if (!more) --in_flight_;
        sink.on_completion(*reinterpret_cast<io_op*>(e.data), e.res, more);
        ++handed;
      }
    }
    return handed;
  }

  void flush_backlog() noexcept {
    while (!backlog_.empty()) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) return;
      io_op* op = backlog_.front();
      backlog_.pop_front();
      prepare(sqe, *op);
    }
  }

  std::size_t complete_cancelled_backlog(completion_sink& sink) noexcept {
    std::size_t handed = 0;
    while (!cancelled_backlog_.empty()) {
      io_op* op = cancelled_backlog_.front();
      cancelled_backlog_.pop_front();
      sink.on_completion(*op, -ECANCELED, false);
      ++handed;
    }
    return handed;
  }

  io_uring ring_{};
  unsigned flags_ = 0;
  const char* description_ = nullptr;
  bool attached_ = false;
  bool closing_ = false;
  int wake_fd_ = -1;
  bool wake_armed_ = false;
  eventfd_t wake_buffer_ = 0;
  std::size_t in_flight_ = 0;
  std::deque<io_op*> backlog_;
  std::deque<io_op*> cancelled_backlog_;
  std::atomic<std::uint64_t> submissions_{0};
  std::atomic<std::uint64_t> completions_{0};
  std::atomic<std::uint64_t> enters_{0};
};

}  // namespace

std::unique_ptr<backend> make_uring_backend(unsigned entries) {
  return std::make_unique<uring_backend>(entries);
}

}  // namespace coring::detail
