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
// What the kernel offers is probed once per process (probe_uring_support()). A kernel that lacks an
// opcode every loop needs (before 5.15) is reported as unusable and the automatic choice takes
// epoll; a kernel that lacks a newer feature gets that feature emulated here with older requests:
//   multishot accept (5.19)      one accept per request; the loop asks again at the next take
//   multishot receive (6.0)      one receive per request, with a buffer the kernel selects from the
//                                group (a buffer ring from 5.19, IORING_OP_PROVIDE_BUFFERS before)
//   send_zc (6.0)                a plain send, completed as one without a notification
//   cancel any (5.19)            shutdown cancels the ops in the kernel one by one (kept in a set)
//   file index allocation (5.19) the table's free slots are kept here; a registration updates the
//                                slot picked here, and the slot is free again once its close completed
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
#include <bitset>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "backend/backend.hpp"
#include "backend/backend_testing.hpp"
#include "observe/thread_counters.hpp"

namespace coring::detail {

static_assert(fsync_datasync_flag == IORING_FSYNC_DATASYNC);

namespace {

constexpr std::uint64_t ignored_tag = 0;   // completions of cancel requests
constexpr std::uint64_t wake_tag = 1;      // the armed eventfd read
constexpr std::uint64_t provided_tag = 2;  // buffers handed to the kernel with IORING_OP_PROVIDE_BUFFERS
constexpr std::uint64_t closed_slot_bit = std::uint64_t{1} << 63;  // | slot: a registered file's close

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

  bool allowed_by(const uring_support& support) const noexcept {
    if ((flags & IORING_SETUP_SINGLE_ISSUER) != 0 && !support.single_issuer) return false;
    if ((flags & (IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG)) != 0 &&
        !support.cooperative_task_run)
      return false;
    return true;
  }
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

/// What a throwaway ring found out about this kernel.
struct kernel_probe {
  int error = 0;  // the errno of the step that refused io_uring (0: none)
  std::string why;
  std::bitset<IORING_OP_LAST> opcodes;
};

/// Errors that may pass (memory, descriptors, a signal): not a verdict on io_uring itself.
bool is_transient(int error) noexcept {
  return error == ENOMEM || error == EMFILE || error == ENFILE || error == EAGAIN || error == EINTR;
}

std::string failed_step(const char* step, int error) {
  return std::string(step) + ": " + std::strerror(error);
}

/// Setup, the opcode probe and one enter on a two-entry ring without flags: a seccomp filter or a
/// sandbox (gVisor) may refuse any one of the three.
kernel_probe probe_kernel() {
  kernel_probe found;
  io_uring ring{};
  if (const int rc = io_uring_queue_init(2, &ring, 0); rc < 0) {
    found.error = -rc;
    found.why = failed_step("io_uring_setup", -rc);
    return found;
  }
  constexpr unsigned probe_ops = 256;
  const std::unique_ptr<io_uring_probe, decltype(&std::free)> probe(
      static_cast<io_uring_probe*>(
          std::calloc(1, sizeof(io_uring_probe) + probe_ops * sizeof(io_uring_probe_op))),
      &std::free);
  int rc = probe == nullptr ? -ENOMEM : io_uring_register_probe(&ring, probe.get(), probe_ops);
  if (rc < 0) {
    found.error = -rc;  // EINVAL: a kernel before 5.6, which cannot say what it supports
    found.why = failed_step("io_uring_register(IORING_REGISTER_PROBE)", -rc);
  } else {
    for (unsigned op = 0; op < probe->ops_len && op < found.opcodes.size(); ++op) {
      if ((probe->ops[op].flags & IO_URING_OP_SUPPORTED) != 0) found.opcodes.set(op);
    }
    io_uring_prep_nop(io_uring_get_sqe(&ring));
    do {
      rc = io_uring_submit_and_wait(&ring, 1);
    } while (rc == -EINTR);
    if (rc < 0) {
      found.error = -rc;
      found.why = failed_step("io_uring_enter", -rc);
    }
  }
  io_uring_queue_exit(&ring);
  return found;
}

/// The probe, made once per process unless it failed for a reason that may pass. A seccomp filter
/// is never lifted (and is inherited), so a refusal holds for the process's children too.
kernel_probe current_probe() {
  static std::mutex guard;
  static std::optional<kernel_probe> verdict;
  const std::lock_guard lock(guard);
  if (verdict) return *verdict;
  kernel_probe found = probe_kernel();
  if (!is_transient(found.error)) verdict = found;
  return found;
}

struct required_opcode {
  unsigned opcode;
  const char* name;
};

// Every loop may issue these: without one, io_uring cannot run coring (epoll can).
constexpr required_opcode required_opcodes[] = {
    {IORING_OP_READV, "IORING_OP_READV (Linux 5.1)"},
    {IORING_OP_WRITEV, "IORING_OP_WRITEV (Linux 5.1)"},
    {IORING_OP_FSYNC, "IORING_OP_FSYNC (Linux 5.1)"},
    {IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD (Linux 5.1)"},
    {IORING_OP_SENDMSG, "IORING_OP_SENDMSG (Linux 5.3)"},
    {IORING_OP_RECVMSG, "IORING_OP_RECVMSG (Linux 5.3)"},
    {IORING_OP_ACCEPT, "IORING_OP_ACCEPT (Linux 5.5)"},
    {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL (Linux 5.5)"},
    {IORING_OP_LINK_TIMEOUT, "IORING_OP_LINK_TIMEOUT (Linux 5.5)"},
    {IORING_OP_CONNECT, "IORING_OP_CONNECT (Linux 5.5)"},
    {IORING_OP_OPENAT, "IORING_OP_OPENAT (Linux 5.6)"},
    {IORING_OP_CLOSE, "IORING_OP_CLOSE (Linux 5.6)"},
    {IORING_OP_STATX, "IORING_OP_STATX (Linux 5.6)"},
    {IORING_OP_READ, "IORING_OP_READ (Linux 5.6)"},
    {IORING_OP_WRITE, "IORING_OP_WRITE (Linux 5.6)"},
    {IORING_OP_SEND, "IORING_OP_SEND (Linux 5.6)"},
    {IORING_OP_RECV, "IORING_OP_RECV (Linux 5.6)"},
    {IORING_OP_PROVIDE_BUFFERS, "IORING_OP_PROVIDE_BUFFERS (Linux 5.7)"},
    {IORING_OP_RENAMEAT, "IORING_OP_RENAMEAT (Linux 5.11)"},
    {IORING_OP_UNLINKAT, "IORING_OP_UNLINKAT (Linux 5.11)"},
    {IORING_OP_MKDIRAT, "IORING_OP_MKDIRAT (Linux 5.15)"},
};

}  // namespace

uring_support probe_uring_support() {
  kernel_probe found = current_probe();
  if (const unsigned first = testing_hooks::pretended_first_missing_opcode(); first != 0) {
    for (unsigned op = first; op < found.opcodes.size(); ++op) found.opcodes.reset(op);
  }
  uring_support support;
  if (found.error != 0) {
    support.error = found.error;
    support.why = std::move(found.why);
    return support;
  }
  for (const required_opcode& required : required_opcodes) {
    if (!found.opcodes.test(required.opcode)) {
      support.error = EOPNOTSUPP;
      support.why = std::string("the kernel's io_uring has no ") + required.name;
      return support;
    }
  }
  const bool since_5_19 = found.opcodes.test(IORING_OP_SOCKET);
  const bool since_6_0 = since_5_19 && found.opcodes.test(IORING_OP_SEND_ZC);
  support.multishot_accept = support.buffer_rings = support.file_index_alloc = support.cancel_any =
      support.cooperative_task_run = since_5_19;
  support.multishot_receive = support.zero_copy_send = support.single_issuer = since_6_0;
  return support;
}

namespace {

class uring_backend final : public backend {
 public:
  uring_backend(unsigned entries, uring_support support) : support_(std::move(support)) {
    int last_error = 0;
    for (const setup_attempt& attempt : setup_attempts) {
      if (!attempt.allowed_by(support_)) continue;
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
    if (buf_ring_ != nullptr) munmap(buf_ring_, buffer_count_ * sizeof(io_uring_buf));
    if (buffers_ != nullptr) munmap(buffers_, std::size_t{buffer_count_} * buffer_size_);
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
        completed_here_.push_back({&op, -ECANCELED});
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
    for (io_op* op : backlog_) completed_here_.push_back({op, -ECANCELED});
    backlog_.clear();
    if (testing_hooks::cancels_withheld()) [[unlikely]]
      return;
    if (!support_.cancel_any) {
      for (io_op* op : in_kernel_) cancel(*op);
      return;
    }
    io_uring_sqe* sqe = next_sqe_or_flush();
    if (sqe == nullptr) return;
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, ignored_tag);
  }

  std::size_t wait(completion_sink& sink, std::optional<std::chrono::nanoseconds> timeout) noexcept override {
    if (!wake_armed_) arm_wake();  // an earlier re-arm found no free submission entry
    if (!unreturned_buffers_.empty()) return_buffers_to_kernel();
    std::size_t handed = complete_locally(sink) + complete_failed(sink);
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
    if (saw_busy_ || (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW) != 0) bump(cq_overflows_);
    saw_busy_ = false;
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
    if (!support_.buffer_rings) return provide_buffers_by_request(count, size);
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
    if (buf_ring_ == nullptr) {
      unreturned_buffers_.push_back(id);
      return_buffers_to_kernel();
      return;
    }
    io_uring_buf_ring_add(buf_ring_, buffer_data(id), buffer_size_, static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(buffer_count_), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
  }

  int enable_registered_files(unsigned slots) noexcept override {
    if (support_.file_index_alloc) return io_uring_register_files_sparse(&ring_, slots);
    try {
      const std::vector<int> empty(slots, -1);  // -1: an empty slot (Linux 5.5)
      const int rc = io_uring_register_files(&ring_, empty.data(), slots);
      if (rc < 0) return rc;
      free_slots_.reserve(slots);
      for (unsigned slot = slots; slot-- > 0;) free_slots_.push_back(static_cast<int>(slot));
      return 0;
    } catch (const std::bad_alloc&) {
      return -ENOMEM;
    }
  }

  void close_registered_file(int slot) noexcept override {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return;
    io_uring_prep_close_direct(sqe, static_cast<unsigned>(slot));
    // Without the kernel's allocation the slot is ours to hand out again, once it is really empty.
    io_uring_sqe_set_data64(
        sqe, support_.file_index_alloc ? ignored_tag : closed_slot_bit | static_cast<unsigned>(slot));
  }

  std::size_t in_flight() const noexcept override { return in_flight_; }

  backend_counters counters() const noexcept override {
    return {submissions_.load(std::memory_order_relaxed), completions_.load(std::memory_order_relaxed),
            enters_.load(std::memory_order_relaxed), sq_full_.load(std::memory_order_relaxed),
            cq_overflows_.load(std::memory_order_relaxed)};
  }

  const char* describe() const noexcept override { return description_; }

 private:
  /// Receive streams' buffers on a kernel without buffer rings (before 5.19): the same memory, handed
  /// to the kernel's buffer group with IORING_OP_PROVIDE_BUFFERS requests.
  int provide_buffers_by_request(unsigned count, unsigned size) noexcept {
    auto* memory = static_cast<std::byte*>(
        mmap(nullptr, std::size_t{count} * size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
    if (memory == MAP_FAILED) return -errno;
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) {
      munmap(memory, std::size_t{count} * size);
      return -EBUSY;
    }
    buffers_ = memory;
    buffer_count_ = count;
    buffer_size_ = size;
    io_uring_prep_provide_buffers(sqe, buffers_, static_cast<int>(size), static_cast<int>(count),
                                  buffer_group, 0);
    io_uring_sqe_set_data64(sqe, provided_tag);
    return 0;
  }

  /// Buffers the loop gave back, handed to the kernel's group again (one request each).
  void return_buffers_to_kernel() noexcept {
    while (!unreturned_buffers_.empty()) {
      io_uring_sqe* sqe = next_sqe();
      if (sqe == nullptr) return;  // retried at the next wait
      const std::int32_t id = unreturned_buffers_.back();
      unreturned_buffers_.pop_back();
      io_uring_prep_provide_buffers(sqe, buffer_data(id), static_cast<int>(buffer_size_), 1, buffer_group,
                                    id);
      io_uring_sqe_set_data64(sqe, provided_tag);
    }
  }

  io_uring_sqe* next_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe != nullptr) return sqe;
    // The submission queue is full: hand it to the kernel (no wait) and try again.
    bump(sq_full_);
    (void)enter([this] { return io_uring_submit(&ring_); });
    return io_uring_get_sqe(&ring_);
  }

  io_uring_sqe* next_sqe_or_flush() noexcept { return next_sqe(); }

  static unsigned sqes_needed(const io_op& op) noexcept { return op.deadline != 0 ? 2 : 1; }

  /// Makes room for `n` SQEs that must reach the kernel in the same submission (a linked pair).
  bool reserve(unsigned n) noexcept {
    if (io_uring_sq_space_left(&ring_) >= n) return true;
    bump(sq_full_);
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
    if (rc == -EBUSY) saw_busy_ = true;
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
      if (r.data == provided_tag) {
        if (provide_error_ == 0) provide_error_ = -r.error;
        continue;
      }
      if ((r.data & closed_slot_bit) != 0) {
        free_slots_.push_back(static_cast<int>(r.data & ~closed_slot_bit));
        continue;
      }
      --in_flight_;
      io_op& op = *reinterpret_cast<io_op*>(r.data & ~tag_mask);
      if (!support_.cancel_any && (r.data & tag_mask) != deadline_bit) in_kernel_.erase(&op);
      if (op.code == op_code::register_file && !support_.file_index_alloc && (r.data & tag_mask) == 0)
        registration_done(op, -r.error);
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
    if (op.code == op_code::recv_multishot && provide_error_ != 0) {
      // The kernel refused the receive buffers: the stream ends with that error.
      completed_here_.push_back({&op, provide_error_});
      return;
    }
    if (op.code == op_code::register_file && !support_.file_index_alloc && free_slots_.empty()) {
      completed_here_.push_back({&op, -ENFILE});  // what the kernel says when its table is full
      return;
    }
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
    if (!support_.cancel_any) in_kernel_.insert(&op);
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

  /// Without the kernel's allocation: the slot a registration fills, kept until it completes.
  int take_free_slot(io_op& op) noexcept {
    const int slot = free_slots_.back();
    free_slots_.pop_back();
    registering_.push_back({&op, slot});
    return slot;
  }

  /// A registration's completion (without the kernel's allocation): the slot goes to the caller as
  /// the kernel's would (written over the descriptor), or back to the free slots.
  void registration_done(io_op& op, int result) noexcept {
    for (auto it = registering_.begin(); it != registering_.end(); ++it) {
      if (it->first != &op) continue;
      if (result == 1) {
        *op.args.registration.descriptor = it->second;
      } else {
        free_slots_.push_back(it->second);
      }
      registering_.erase(it);
      return;
    }
  }

  void prepare_op(io_uring_sqe* sqe, io_op& op) noexcept {
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
        if (support_.multishot_accept) {
          io_uring_prep_multishot_accept(sqe, op.fd, nullptr, nullptr, SOCK_CLOEXEC);
        } else {
          io_uring_prep_accept(sqe, op.fd, nullptr, nullptr, SOCK_CLOEXEC);
        }
        break;
      case op_code::recv_multishot:
        if (support_.multishot_receive) {
          io_uring_prep_recv_multishot(sqe, op.fd, nullptr, 0, 0);
        } else {
          // Some kernels read a length of 0 as "receive nothing" rather than "the buffer's size".
          io_uring_prep_recv(sqe, op.fd, nullptr, buffer_size_, 0);
        }
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = buffer_group;
        break;
      case op_code::send_zc:
        if (support_.zero_copy_send) {
          io_uring_prep_send_zc(sqe, op.fd, op.args.transfer.data, op.args.transfer.len,
                                static_cast<int>(op.args.transfer.msg_flags), 0);
        } else {
          io_uring_prep_send(sqe, op.fd, op.args.transfer.data, op.args.transfer.len,
                             static_cast<int>(op.args.transfer.msg_flags));
        }
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
        if (support_.file_index_alloc) {
          io_uring_prep_files_update(sqe, op.args.registration.descriptor, 1,
                                     static_cast<int>(IORING_FILE_INDEX_ALLOC));
        } else {
          io_uring_prep_files_update(sqe, op.args.registration.descriptor, 1, take_free_slot(op));
        }
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
        if (e.data == provided_tag) {
          if (e.res < 0 && provide_error_ == 0) provide_error_ = e.res;
          continue;
        }
        if ((e.data & closed_slot_bit) != 0) {
          free_slots_.push_back(static_cast<int>(e.data & ~closed_slot_bit));
          continue;
        }
        const bool more = (e.flags & IORING_CQE_F_MORE) != 0;
        if (!more) --in_flight_;
        io_op& op = *reinterpret_cast<io_op*>(e.data & ~tag_mask);
        if (!more && !support_.cancel_any && (e.data & tag_mask) != deadline_bit) in_kernel_.erase(&op);
        if (op.code == op_code::register_file && !support_.file_index_alloc && (e.data & tag_mask) == 0)
          registration_done(op, e.res);
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

  /// Completes the ops that never reached the kernel (canceled while queued here, or refused here).
  std::size_t complete_locally(completion_sink& sink) noexcept {
    std::size_t handed = 0;
    while (!completed_here_.empty()) {
      const local_completion done = completed_here_.front();
      completed_here_.pop_front();
      sink.on_completion(*done.op, done.result, {});
      ++handed;
    }
    return handed;
  }

  uring_support support_;  // what this kernel offers; the rest is emulated (see the top of this file)
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
  struct local_completion {
    io_op* op;
    int result;
  };
  std::deque<local_completion> completed_here_;
  std::unordered_set<io_op*> in_kernel_;             // without cancel-any: what cancel_all() cancels
  std::vector<std::int32_t> unreturned_buffers_;     // without buffer rings: waiting for a free SQE
  int provide_error_ = 0;                            // without buffer rings: the kernel refused them
  std::vector<int> free_slots_;                      // without file index allocation: the table's free slots
  std::vector<std::pair<io_op*, int>> registering_;  // ... and the slots registrations in flight fill
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
  std::atomic<std::uint64_t> sq_full_{0};
  std::atomic<std::uint64_t> cq_overflows_{0};
  bool saw_busy_ = false;  // an enter of this wait found the completion queue full
};

}  // namespace

std::unique_ptr<backend> make_uring_backend(unsigned entries) {
  uring_support support = probe_uring_support();
  // ENOMEM: the setup below says which limit (RLIMIT_MEMLOCK on older kernels) to raise.
  if (support.error != 0 && support.error != ENOMEM) {
    const std::string hint = support.error == EOPNOTSUPP
                                 ? "this kernel's io_uring is too old for coring"
                                 : "io_uring is not available on this system (blocked by seccomp, "
                                   "kernel.io_uring_disabled, a sandbox or an old kernel)";
    throw std::system_error(support.error, std::system_category(), "coring: " + hint + ": " + support.why);
  }
  return std::make_unique<uring_backend>(entries, std::move(support));
}

}  // namespace coring::detail
