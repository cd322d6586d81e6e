// SPDX-License-Identifier: MIT
// io_uring backend: one ring, owned and driven by one thread.
//
// Ring setup tries, in order: SINGLE_ISSUER + DEFER_TASKRUN (completions are run only when the
// owner waits: no interrupts, batched), SINGLE_ISSUER + COOP_TASKRUN, COOP_TASKRUN, and no flags,
// moving on only when the kernel answers EINVAL (flag unknown). EPERM and ENOSYS (io_uring blocked
// by seccomp or sysctl) are reported as such; ENOMEM names RLIMIT_MEMLOCK and its value (what older
// kernels charge a ring to); other errors are reported with their errno.
//
// Single-issuer rings are created disabled and enabled by the thread that will drive them.
//
// Wake-ups: an eventfd read is kept armed on the ring; wake() writes the eventfd from any thread.
// bench/wake_bench.cpp compares this with IORING_OP_MSG_RING (which needs a ring on the waker's
// side); see docs/architecture.md for the figures and the choice.
//
// user_data: the io_op's address, or one of two tags below (pointers are never 0 or 1). The low
// bits of an op's address (aligned to 8) say which of its requests completed: the op itself, its
// readiness poll, or its linked timeout.
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <deque>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "backend/backend.hpp"
#include "backend/backend_testing.hpp"

namespace coring::detail {

static_assert(fsync_datasync_flag == IORING_FSYNC_DATASYNC);

namespace {

constexpr std::uint64_t ignored_tag = 0;  // completions of cancel requests
constexpr std::uint64_t wake_tag = 1;     // the armed eventfd read

constexpr unsigned short buffer_group = 0;  // the one provided-buffer ring of a backend

constexpr std::uint64_t deadline_bit = 1;   // op address | 1: the op's linked timeout
constexpr std::uint64_t readiness_bit = 2;  // op address | 2: the op's readiness poll
constexpr std::uint64_t tag_mask = 7;
static_assert(alignof(io_op) >= 8);

std::uint64_t tagged(const io_op& op, std::uint64_t bits) noexcept {
  return reinterpret_cast<std::uint64_t>(&op) | bits;
}

constexpr unsigned eager_file_batch = 8;

bool is_file_transfer(op_code code) noexcept {
  return code == op_code::read || code == op_code::write || code == op_code::readv || code == op_code::writev;
}

struct setup_attempt {
  unsigned flags;
  const char* name;
};

constexpr setup_attempt setup_attempts[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
         IORING_SETUP_R_DISABLED,
     "io_uring (single issuer, deferred task run)"},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
     "io_uring (single issuer, deferred task run)"},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED,
     "io_uring (single issuer, cooperative task run)"},
    {IORING_SETUP_COOP_TASKRUN, "io_uring (cooperative task run)"},
    {0, "io_uring"},
};

}  // namespace

std::string ring_setup_error(int error, unsigned entries);

// Kernels before 5.12 charge a ring's memory to RLIMIT_MEMLOCK, and the usual default (64 KiB or
// 8 MiB) is spent by a few rings: ENOMEM then means "raise the limit", which a bare "cannot
// allocate memory" does not say.
std::string ring_setup_error(int error, unsigned entries) {
  std::string message = "coring: cannot create an io_uring with " + std::to_string(entries) + " entries";
  if (error == ENOMEM) {
    rlimit limit{};
    message += ": not enough locked memory";
    if (::getrlimit(RLIMIT_MEMLOCK, &limit) == 0) {
      message += " (RLIMIT_MEMLOCK is ";
      message += limit.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                                 : std::to_string(limit.rlim_cur) + " bytes";
      message += ")";
    }
    message += "; raise RLIMIT_MEMLOCK (ulimit -l) or use fewer ring_entries";
  }
  return message;
}

namespace {

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
      throw std::system_error(last_error, std::system_category(), ring_setup_error(last_error, entries));
    }
    link_times_.resize(ring_.sq.ring_entries);
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
    if (readiness_fd_ >= 0) close(readiness_fd_);  // no thread wakes a loop being destroyed
    if (buffers_ != nullptr) {
      munmap(buf_ring_, buffer_count_ * sizeof(io_uring_buf));
      munmap(buffers_, std::size_t{buffer_count_} * buffer_size_);
    }
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
    if (!backlog_.empty() || !reserve(sqes_needed(op))) {
      backlog_.push_back(&op);
      return;
    }
    prepare(op);
    // File reads and writes go to a device that works on what it has: handing them over in
    // small groups keeps its queue fed (measured: 4 KiB O_DIRECT reads at QD 32 went from ~80 %
    // to ~100 % of fio); sockets complete at once, and keep the one enter per loop turn.
    if (is_file_transfer(op.code) && io_uring_sq_ready(&ring_) >= eager_file_batch) flush();
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
    if (testing_hooks::cancels_withheld()) [[unlikely]]
      return;
    io_uring_sqe* sqe = next_sqe_or_flush();
    if (sqe == nullptr) return;  // the ring is unusable; the op will complete on its own
    io_uring_prep_cancel64(sqe, tagged(op, op.awaiting_readiness ? readiness_bit : 0), 0);
    io_uring_sqe_set_data64(sqe, ignored_tag);
  }

  void cancel_all() noexcept override {
    closing_ = true;
    for (io_op* op : backlog_) cancelled_backlog_.push_back(op);
    backlog_.clear();
    if (testing_hooks::cancels_withheld()) [[unlikely]]
      return;
    io_uring_sqe* sqe = next_sqe_or_flush();
    if (sqe == nullptr) return;
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, ignored_tag);
  }

  std::size_t wait(completion_sink& sink, std::optional<std::chrono::nanoseconds> timeout) noexcept override {
    if (!wake_armed_) arm_wake();  // an earlier re-arm found no free submission entry
    std::size_t handed = complete_cancelled_backlog(sink) + complete_failed(sink);
    if (handed > 0) timeout = std::chrono::nanoseconds::zero();
    if (enter_error_ != 0 && !(timeout && timeout->count() <= 0)) {
      // The ring would not take requests at the last try: try again without blocking, and if it
      // still fails, sleep on the wake-up descriptor itself rather than spin on a failing call.
      (void)enter([this] { return io_uring_submit_and_get_events(&ring_); });
      handed += complete_failed(sink);
      if (enter_error_ != 0) {
        if (handed == 0) sleep_on_wake_fd(timeout);  // else what the tasks run just now asked for comes first
        return handed;
      }
    }
    if (timeout && timeout->count() <= 0) {
      (void)enter([this] { return io_uring_submit_and_get_events(&ring_); });
    } else if (timeout) {
      // Not io_uring_submit_and_wait_timeout(): in liburing 2.3, when its first enter submits,
      // the kernel reports the submission count instead of -ETIME and liburing then waits again
      // without the timeout (forever). Submitting first costs a system call only when requests
      // are queued at the moment the loop goes to sleep.
      const int submitted =
          io_uring_sq_ready(&ring_) > 0 ? enter([this] { return io_uring_submit(&ring_); }) : 0;
      if (submitted >= 0) {
        __kernel_timespec ts{};
        ts.tv_sec = timeout->count() / 1'000'000'000;
        ts.tv_nsec = timeout->count() % 1'000'000'000;
        (void)enter([this, &ts] {
          io_uring_cqe* cqe = nullptr;
          const int rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
          return rc > 0 ? 0 : rc;  // not a submission count
        });
      }
    } else {
      (void)enter([this] { return io_uring_submit_and_wait(&ring_, 1); });
    }
    // After -EBUSY (the completion queue overflowed) the requests still queued go to the kernel
    // at the next wait, once this reap made room.
    handed += reap(sink) + complete_failed(sink);
    flush_backlog();
    return handed;
  }

  void flush() noexcept override {
    if (io_uring_sq_ready(&ring_) == 0) return;
    (void)enter([this] { return io_uring_submit(&ring_); });
  }

  int take_failure_report() noexcept override { return std::exchange(unreported_error_, 0); }

  bool completions_pending() const noexcept override {
    // With deferred task run, finished requests wait as task work until the next enter; the
    // kernel says so in the SQ flags (IORING_SETUP_TASKRUN_FLAG).
    const unsigned sq_flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
    return io_uring_cq_ready(&ring_) > 0 || (sq_flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
  }

  int readiness_fd() noexcept override {
    if (const int made = readiness_fd_.load(std::memory_order_relaxed); made >= 0) return made;
    // The kernel signals a registered eventfd whenever it posts a completion, also when it only
    // queues one as deferred task work (IORING_SETUP_DEFER_TASKRUN): the ring's own descriptor
    // would not become readable then. wake() writes it itself.
    const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return -errno;
    const int rc = io_uring_register_eventfd(&ring_, fd);
    if (rc < 0) {
      close(fd);
      return rc;
    }
    readiness_fd_.store(fd, std::memory_order_release);
    return fd;
  }
  void clear_readiness() noexcept override {
    const int fd = readiness_fd_.load(std::memory_order_relaxed);
    if (fd < 0) return;
    eventfd_t drained = 0;
    [[maybe_unused]] const int rc = eventfd_read(fd, &drained);  // EAGAIN: was clear
  }

  void wake() noexcept override {
    const eventfd_t one = 1;
    [[maybe_unused]] const int rc = eventfd_write(wake_fd_, one);
    // The wake-up read's completion cannot signal the host's descriptor: the kernel does not
    // signal a registered eventfd from inside another eventfd's wake-up (recursion guard).
    if (const int host = readiness_fd_.load(std::memory_order_acquire); host >= 0) {
      [[maybe_unused]] const int rc2 = eventfd_write(host, one);
    }
  }

  int provide_buffers(unsigned count, unsigned size) noexcept override {
    if (buffers_ != nullptr) return -EEXIST;
    if (count == 0 || (count & (count - 1)) != 0 || count > 32768 || size == 0) return -EINVAL;
    const std::size_t ring_bytes = count * sizeof(io_uring_buf);
    void* ring_memory = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring_memory == MAP_FAILED) return -errno;
    auto* memory = static_cast<std::byte*>(
        mmap(nullptr, std::size_t{count} * size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
    if (memory == MAP_FAILED) {
      const int err = errno;
      munmap(ring_memory, ring_bytes);
      return -err;
    }
    buf_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
    io_uring_buf_ring_init(buf_ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_memory);
    reg.ring_entries = count;
    reg.bgid = buffer_group;
    const int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) {
      munmap(ring_memory, ring_bytes);
      munmap(memory, std::size_t{count} * size);
      buf_ring_ = nullptr;
      return rc;
    }
    buffers_ = memory;
    buffer_count_ = count;
    buffer_size_ = size;
    for (unsigned id = 0; id < count; ++id) {
      io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{id} * size, size,
                            static_cast<unsigned short>(id), io_uring_buf_ring_mask(count),
                            static_cast<int>(id));
    }
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));
    return 0;
  }

  std::byte* buffer_data(std::int32_t id) noexcept override {
    return buffers_ + static_cast<std::size_t>(id) * buffer_size_;
  }

  void recycle_buffer(std::int32_t id) noexcept override {
    io_uring_buf_ring_add(buf_ring_, buffer_data(id), buffer_size_, static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(buffer_count_), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
  }

  int enable_registered_files(unsigned slots) noexcept override {
    return io_uring_register_files_sparse(&ring_, slots);
  }

  void close_registered_file(int slot) noexcept override {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return;
    io_uring_prep_close_direct(sqe, static_cast<unsigned>(slot));
    io_uring_sqe_set_data64(sqe, ignored_tag);
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
    (void)enter([this] { return io_uring_submit(&ring_); });
    return io_uring_get_sqe(&ring_);
  }

  io_uring_sqe* next_sqe_or_flush() noexcept { return next_sqe(); }

  static unsigned sqes_needed(const io_op& op) noexcept { return op.deadline != 0 ? 2 : 1; }

  /// Makes room for `n` SQEs that must reach the kernel in the same submission (a linked pair).
  bool reserve(unsigned n) noexcept {
    if (io_uring_sq_space_left(&ring_) >= n) return true;
    (void)enter([this] { return io_uring_submit(&ring_); });
    return io_uring_sq_space_left(&ring_) >= n;
  }

  /// Every system call into the ring goes through here. A failure other than a full completion
  /// queue (EBUSY), a shortage (EAGAIN), a signal (EINTR) or a timeout (ETIME) means the kernel
  /// did not take the queued requests: they fail with that error at the next wait, the loop is
  /// told once, and later calls try the ring again (a failure may pass).
  template <class Call>
  int enter(Call call) noexcept {
    enters_.fetch_add(1, std::memory_order_relaxed);
    const int injected = testing_hooks::take_injected_enter_failure();
    const int rc = injected != 0 ? -injected : call();
    if (rc >= 0) {
      if (rc > 0) note_submitted(static_cast<unsigned>(rc));
      enter_error_ = 0;
    } else if (rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
      if (enter_error_ == 0) unreported_error_ = -rc;
      enter_error_ = -rc;
      take_back_unsubmitted(-rc);
    }
    return rc;
  }

  /// Takes every request the kernel has not consumed out of the submission queue, to fail them
  /// with `error`: those made visible to the kernel (khead..ktail) and those not yet (sqe_head..
  /// sqe_tail). The kernel reads the queue only inside a call that just failed, so the queue is
  /// the application's to rewind.
  void take_back_unsubmitted(int error) noexcept {
    io_uring_sq& sq = ring_.sq;
    const unsigned head = IO_URING_READ_ONCE(*sq.khead);
    const unsigned tail = *sq.ktail;
    const unsigned mask = sq.ring_mask;
    for (unsigned i = head; i != tail; ++i) failed_.push_back({sq.sqes[sq.array[i & mask]].user_data, error});
    for (unsigned i = sq.sqe_head; i != sq.sqe_tail; ++i)
      failed_.push_back({sq.sqes[i & mask].user_data, error});
    io_uring_smp_store_release(sq.ktail, head);
    sq.sqe_head = sq.sqe_tail = head;
  }

  /// Completes the requests take_back_unsubmitted() took, as the kernel would have.
  std::size_t complete_failed(completion_sink& sink) noexcept {
    std::size_t handed = 0;
    while (!failed_.empty()) {
      const failed_request r = failed_.front();
      failed_.pop_front();
      if (r.data == ignored_tag) continue;
      if (r.data == wake_tag) {
        wake_armed_ = false;  // re-armed at the next wait
        continue;
      }
      --in_flight_;
      io_op& op = *reinterpret_cast<io_op*>(r.data & ~tag_mask);
      switch (r.data & tag_mask) {
        case deadline_bit:
          sink.on_deadline(op, -r.error);
          break;
        case readiness_bit:
          sink.on_ready(op, -r.error);
          break;
        default:
          sink.on_completion(op, -r.error, {});
          break;
      }
      ++handed;
    }
    return handed;
  }

  /// While the ring refuses requests: blocks on the wake-up eventfd with poll(2) (the ring cannot
  /// wait), at most 10 ms while requests are still in the kernel, so their completions are
  /// reaped once the ring works again.
  void sleep_on_wake_fd(std::optional<std::chrono::nanoseconds> timeout) noexcept {
    constexpr auto retry = std::chrono::milliseconds(10);
    std::chrono::nanoseconds limit = timeout ? *timeout : std::chrono::nanoseconds(retry);
    if (!timeout && in_flight_ == 0) limit = std::chrono::hours(1);
    if (in_flight_ > 0 && limit > retry) limit = retry;
    pollfd p{wake_fd_, POLLIN, 0};
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(limit.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(limit.count() % 1'000'000'000);
    if (::ppoll(&p, 1, &ts, nullptr) > 0) {
      eventfd_t drained = 0;
      [[maybe_unused]] const int rc = eventfd_read(wake_fd_, &drained);
    }
  }

  void note_submitted(unsigned n) noexcept {
    submissions_.store(submissions_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  void arm_wake() noexcept {
    if (wake_armed_ || closing_) return;
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return;  // retried at the next wait
    io_uring_prep_read(sqe, wake_fd_, &wake_buffer_, sizeof wake_buffer_, 0);
    io_uring_sqe_set_data64(sqe, wake_tag);
    wake_armed_ = true;
  }

  /// Fills the SQE(s) for `op`; reserve(sqes_needed(op)) succeeded.
  void prepare(io_op& op) noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (op.awaiting_readiness) {
      io_uring_prep_poll_add(sqe, op.fd, readiness_events(op.code));
      io_uring_sqe_set_data64(sqe, tagged(op, readiness_bit));
    } else {
      prepare_op(sqe, op);
      io_uring_sqe_set_data(sqe, &op);
    }
    if (op.fixed_file) sqe->flags |= IOSQE_FIXED_FILE;
    op.in_kernel = true;
    ++in_flight_;
    if (op.deadline != 0) {
      sqe->flags |= IOSQE_IO_LINK;
      io_uring_sqe* timeout_sqe = io_uring_get_sqe(&ring_);
      // The kernel copies the time when it takes the SQE: a slot per SQE outlives that.
      __kernel_timespec& when = link_times_[static_cast<std::size_t>(timeout_sqe - ring_.sq.sqes)];
      when.tv_sec = static_cast<std::int64_t>(op.deadline / 1'000'000'000);
      when.tv_nsec = static_cast<long long>(op.deadline % 1'000'000'000);
      io_uring_prep_link_timeout(timeout_sqe, &when, IORING_TIMEOUT_ABS);
      io_uring_sqe_set_data64(timeout_sqe, tagged(op, deadline_bit));
      op.pending.fetch_add(1, std::memory_order_relaxed);
      ++in_flight_;
    }
  }

  static void prepare_op(io_uring_sqe* sqe, io_op& op) noexcept {
    switch (op.code) {
      case op_code::read:
        io_uring_prep_read(sqe, op.fd, op.args.transfer.data, op.args.transfer.len, op.args.transfer.offset);
        break;
      case op_code::write:
        io_uring_prep_write(sqe, op.fd, op.args.transfer.data, op.args.transfer.len, op.args.transfer.offset);
        break;
      case op_code::openat:
        io_uring_prep_openat(sqe, AT_FDCWD, op.args.path.name, static_cast<int>(op.args.path.flags),
                             op.args.path.mode);
        break;
      case op_code::close:
        io_uring_prep_close(sqe, op.fd);
        break;
      case op_code::accept:
        io_uring_prep_accept(sqe, op.fd, op.args.accept.peer, op.args.accept.peer_len,
                             static_cast<int>(op.args.accept.flags));
        break;
      case op_code::connect:
        io_uring_prep_connect(sqe, op.fd, op.args.connect.peer, op.args.connect.peer_len);
        break;
      case op_code::recv:
        io_uring_prep_recv(sqe, op.fd, op.args.transfer.data, op.args.transfer.len,
                           static_cast<int>(op.args.transfer.msg_flags));
        break;
      case op_code::send:
        io_uring_prep_send(sqe, op.fd, op.args.transfer.data, op.args.transfer.len,
                           static_cast<int>(op.args.transfer.msg_flags));
        break;
      case op_code::fsync:
        io_uring_prep_fsync(sqe, op.fd, op.args.sync.flags);
        break;
      case op_code::poll:
        io_uring_prep_poll_add(sqe, op.fd, op.args.poll.events);
        break;
      case op_code::unlinkat:
        io_uring_prep_unlinkat(sqe, AT_FDCWD, op.args.path.name, static_cast<int>(op.args.path.flags));
        break;
      case op_code::renameat:
        io_uring_prep_renameat(sqe, AT_FDCWD, op.args.rename.from, AT_FDCWD, op.args.rename.to, 0);
        break;
      case op_code::mkdirat:
        io_uring_prep_mkdirat(sqe, AT_FDCWD, op.args.path.name, op.args.path.mode);
        break;
      case op_code::statx:
        io_uring_prep_statx(sqe, op.fd < 0 ? AT_FDCWD : op.fd, op.args.stat.name,
                            static_cast<int>(op.args.stat.flags), op.args.stat.mask, op.args.stat.out);
        break;
      case op_code::sendmsg:
        io_uring_prep_sendmsg(sqe, op.fd, op.args.message.header, op.args.message.msg_flags);
        break;
      case op_code::recvmsg:
        io_uring_prep_recvmsg(sqe, op.fd, op.args.message.header, op.args.message.msg_flags);
        break;
      case op_code::accept_multishot:
        io_uring_prep_multishot_accept(sqe, op.fd, nullptr, nullptr, SOCK_CLOEXEC);
        break;
      case op_code::recv_multishot:
        io_uring_prep_recv_multishot(sqe, op.fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = buffer_group;
        break;
      case op_code::send_zc:
        io_uring_prep_send_zc(sqe, op.fd, op.args.transfer.data, op.args.transfer.len,
                              static_cast<int>(op.args.transfer.msg_flags), 0);
        break;
      case op_code::readv:
        io_uring_prep_readv(sqe, op.fd, op.args.vectored.entries, op.args.vectored.count,
                            op.args.vectored.offset);
        break;
      case op_code::writev:
        io_uring_prep_writev(sqe, op.fd, op.args.vectored.entries, op.args.vectored.count,
                             op.args.vectored.offset);
        break;
      case op_code::register_file:
        io_uring_prep_files_update(sqe, op.args.registration.descriptor, 1,
                                   static_cast<int>(IORING_FILE_INDEX_ALLOC));
        break;
      case op_code::timer:
      case op_code::take_next:
        io_uring_prep_nop(sqe);  // handled by the loop; never submitted
        break;
    }
  }

  /// Hands at most completions_per_wait completions to `sink`: the tasks they resume run inline
  /// and may start requests that complete at once (a page-cached read, a socket with data), so
  /// an unbounded reap could go on forever; what is left waits for the loop's next turn.
  // No UBSan vptr check on the sink calls: the sink is the loop that owns this backend, and the
  // check itself needs free descriptors (it probes memory through a pipe), so a process at its
  // descriptor limit (EMFILE, which servers must survive) would get a false report here.
  __attribute__((no_sanitize("vptr"))) std::size_t reap(completion_sink& sink) noexcept {
    std::size_t handed = 0;
    io_uring_cqe* cqes[64];
    while (handed < completions_per_wait) {
      const unsigned n = io_uring_peek_batch_cqe(
          &ring_, cqes, static_cast<unsigned>(std::min<std::size_t>(64, completions_per_wait - handed)));
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
        io_op& op = *reinterpret_cast<io_op*>(e.data & ~tag_mask);
        switch (e.data & tag_mask) {
          case deadline_bit:
            sink.on_deadline(op, e.res);
            break;
          case readiness_bit:
            sink.on_ready(op, e.res);
            break;
          default: {
            completion_flags flags;
            flags.more = more;
            flags.notification = (e.flags & IORING_CQE_F_NOTIF) != 0;
            if ((e.flags & IORING_CQE_F_BUFFER) != 0)
              flags.buffer = static_cast<std::int32_t>(e.flags >> IORING_CQE_BUFFER_SHIFT);
            sink.on_completion(op, e.res, flags);
            break;
          }
        }
        ++handed;
      }
    }
    return handed;
  }

  void flush_backlog() noexcept {
    while (!backlog_.empty()) {
      io_op* op = backlog_.front();
      if (io_uring_sq_space_left(&ring_) < sqes_needed(*op)) return;
      backlog_.pop_front();
      prepare(*op);
    }
  }

  std::size_t complete_cancelled_backlog(completion_sink& sink) noexcept {
    std::size_t handed = 0;
    while (!cancelled_backlog_.empty()) {
      io_op* op = cancelled_backlog_.front();
      cancelled_backlog_.pop_front();
      sink.on_completion(*op, -ECANCELED, {});
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
  std::atomic<int> readiness_fd_{-1};  // readiness_fd(): made for a host loop, registered with the ring
  bool wake_armed_ = false;
  eventfd_t wake_buffer_ = 0;
  std::size_t in_flight_ = 0;
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::byte* buffers_ = nullptr;
  unsigned buffer_count_ = 0;
  unsigned buffer_size_ = 0;
  std::vector<__kernel_timespec> link_times_;  // one per SQE slot: linked timeouts' deadlines
  std::deque<io_op*> backlog_;
  std::deque<io_op*> cancelled_backlog_;
  struct failed_request {
    std::uint64_t data;
    int error;
  };
  std::deque<failed_request> failed_;  // taken back from the queue after a failed enter
  int enter_error_ = 0;                // the last enter failed with this errno (0: it worked)
  int unreported_error_ = 0;           // the first errno of a run of failures, for the loop to report
  std::atomic<std::uint64_t> submissions_{0};
  std::atomic<std::uint64_t> completions_{0};
  std::atomic<std::uint64_t> enters_{0};
};

}  // namespace

std::unique_ptr<backend> make_uring_backend(unsigned entries) {
  return std::make_unique<uring_backend>(entries);
}

}  // namespace coring::detail
