// SPDX-License-Identifier: MIT
// epoll backend: the backend verbs on epoll, for systems where io_uring is blocked (Docker's
// default seccomp profile, kernel.io_uring_disabled, gVisor) or too old.
//
// How an op runs:
//   sockets, pipes, ttys, eventfds  tried at once without blocking (MSG_DONTWAIT, RWF_NOWAIT); on
//                                   EAGAIN the op parks on its descriptor and is tried again when
//                                   an edge says it is ready. A descriptor coring owns is
//                                   registered once, edge-triggered, for input and output, until
//                                   it is closed (descriptor_generations.hpp tells a reused number
//                                   from the file registered under it); one a caller owns
//                                   (wait_readable/wait_writable) gets a one-shot registration per
//                                   wait. Cancellation and a deadline end a parked op at once.
//   regular files, block devices,   a read or write that the page cache serves is done at once
//   paths (open, stat, rename, ...) (RWF_NOWAIT; not for O_DIRECT files, whose reads would wait
//                                   for the device even so); the rest runs on up to four threads
//                                   of the backend, blocking. Once a thread took such an op it cannot be
//                                   interrupted: cancellation and a deadline end it only while it
//                                   is still queued (io_uring cannot interrupt most of them either).
//   accept, connect                 the socket is made non-blocking (a listener stays so; a
//                                   connecting socket is made blocking again once it connected).
//   multishot accept and receive    emulated: armed means parked; each readiness accepts or
//                                   receives until EAGAIN (at most a batch) into the backend's own
//                                   buffers; none free: -ENOBUFS, as the ring's buffer ring says.
//   send_zc                         a plain send: the data is copied, there is nothing to notify.
//   registered files                a table of descriptors; an op resolves its slot when it starts.
// Completions queue in the backend and wait() hands on at most completions_per_wait a turn, like
// the ring's. A deadline ends an op as io_uring's linked timeout does: the op completes with
// -ECANCELED and the deadline with -ETIME (or the op first, then the deadline with -ECANCELED).
//
// A host sleeps on the epoll descriptor itself: it is readable when a registered descriptor is
// ready, when wake() was called, or when a thread finished an op.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/backend.hpp"
#include "backend/backend_testing.hpp"
#include "backend/descriptor_generations.hpp"
#include "coring/detail/unique_fd.hpp"

namespace coring::detail {

namespace {

constexpr unsigned max_blocking_threads = 4;
static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT);  // readiness_events() serves both backends

constexpr int events_per_wait = 128;
constexpr int accepts_per_readiness = 32;  // a listener's burst does not hold the loop
constexpr int receives_per_readiness = 16;

int errno_result(long rc) noexcept {
  return rc < 0 ? -errno : static_cast<int>(rc);
}

/// The blocking part of an op, as a thread runs it (also the readiness-free path of a connect).
int run_blocking(const io_op& op, int fd) noexcept {
  auto offset = static_cast<off_t>(static_cast<std::int64_t>(op.args.transfer.offset));
  auto vectored_offset = static_cast<off_t>(static_cast<std::int64_t>(op.args.vectored.offset));
  long rc = 0;
  for (;;) {
    switch (op.code) {
      case op_code::read: {
        iovec v{op.args.transfer.data, op.args.transfer.len};
        rc = ::preadv2(fd, &v, 1, offset, 0);
        break;
      }
      case op_code::write: {
        iovec v{op.args.transfer.data, op.args.transfer.len};
        rc = ::pwritev2(fd, &v, 1, offset, 0);
        break;
      }
      case op_code::readv:
        rc = ::preadv2(fd, op.args.vectored.entries, static_cast<int>(op.args.vectored.count),
                       vectored_offset, 0);
        break;
      case op_code::writev:
        rc = ::pwritev2(fd, op.args.vectored.entries, static_cast<int>(op.args.vectored.count),
                        vectored_offset, 0);
        break;
      case op_code::openat:
        rc = ::openat(AT_FDCWD, op.args.path.name, static_cast<int>(op.args.path.flags),
                      static_cast<mode_t>(op.args.path.mode));
        break;
      case op_code::fsync:
        rc = (op.args.sync.flags & fsync_datasync_flag) != 0 ? ::fdatasync(fd) : ::fsync(fd);
        break;
      case op_code::unlinkat:
        rc = ::unlinkat(AT_FDCWD, op.args.path.name, static_cast<int>(op.args.path.flags));
        break;
      case op_code::renameat:
        rc = ::renameat(AT_FDCWD, op.args.rename.from, AT_FDCWD, op.args.rename.to);
        break;
      case op_code::mkdirat:
        rc = ::mkdirat(AT_FDCWD, op.args.path.name, static_cast<mode_t>(op.args.path.mode));
        break;
      case op_code::statx:
        rc = ::statx(fd < 0 ? AT_FDCWD : fd, op.args.stat.name, static_cast<int>(op.args.stat.flags),
                     op.args.stat.mask, op.args.stat.out);
        break;
      case op_code::connect:
        // A unix socket whose listener's backlog is full (EAGAIN): a blocking connect waits for
        // room, which epoll cannot announce.
        rc = ::connect(fd, op.args.connect.peer, op.args.connect.peer_len);
        break;
      default:
        errno = EINVAL;
        rc = -1;
        break;
    }
    if (rc >= 0) break;
    if (errno == EINTR && op.code != op_code::close) continue;
    const bool transfer = op.code == op_code::read || op.code == op_code::write ||
                          op.code == op_code::readv || op.code == op_code::writev;
    if (errno == ESPIPE && transfer && (offset != -1 || vectored_offset != -1)) {
      offset = vectored_offset = -1;  // no offset on a pipe or tty: the ring ignores it too
      continue;
    }
    break;
  }
  return errno_result(rc);
}

/// Raises the wake-up eventfd's edge. It is registered edge-triggered and never read, so a wake-up
/// costs the waker one write and the loop nothing beyond the epoll_wait it was in; the count only
/// fills after 2^64 - 2 wake-ups, and then a read empties it.
inline void signal_wake(int wake_fd) noexcept {
  if (eventfd_write(wake_fd, 1) == 0 || errno != EAGAIN) return;
  eventfd_t drained = 0;
  [[maybe_unused]] const int read_rc = eventfd_read(wake_fd, &drained);
  [[maybe_unused]] const int write_rc = eventfd_write(wake_fd, 1);
}

/// The threads that run blocking ops. Shared with them, so a thread stuck in a system call when
/// the backend goes away (a read of a tty nobody types into) keeps what it uses alive.
struct blocking_threads {
  struct job {
    io_op* op;
    int fd;
  };
  struct finished {
    io_op* op;
    int result;
  };

  std::mutex mutex;
  std::condition_variable work;
  std::deque<job> queued;
  std::vector<finished> done;
  std::atomic<bool> has_done{false};
  unsigned threads = 0;
  unsigned busy = 0;
  bool closing = false;
  int wake_fd = -1;  // the backend's wake-up eventfd, duplicated: written when an op is done

  ~blocking_threads() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  static void serve(const std::shared_ptr<blocking_threads>& self) noexcept {
    std::unique_lock lock(self->mutex);
    for (;;) {
      self->work.wait(lock, [&] { return self->closing || !self->queued.empty(); });
      if (self->queued.empty()) return;
      const job next = self->queued.front();
      self->queued.pop_front();
      ++self->busy;
      lock.unlock();
      const int result = run_blocking(*next.op, next.fd);
      lock.lock();
      --self->busy;
      // Only the first result since the loop last took them signals it: the loop takes them all.
      const bool first = self->done.empty();
      self->done.push_back({next.op, result});
      self->has_done.store(true, std::memory_order_release);
      if (first) signal_wake(self->wake_fd);
    }
  }
};

enum class op_place : std::uint8_t { queued, parked, on_thread };

/// The backend's side of one submitted op.
struct op_record {
  op_place place = op_place::queued;
  bool readiness = false;         // a readiness poll for the loop (completes through on_ready)
  bool deadline_due = false;      // its deadline completion is still to come
  bool connecting = false;        // a connect in progress: readiness means "look at SO_ERROR"
  bool made_nonblocking = false;  // connect: the socket was blocking, and is made so again
  std::uint32_t events = 0;       // parked: what it waits for
  int fd = -1;                    // the descriptor (a registered file's slot resolved)
  std::multimap<std::uint64_t, io_op*>::iterator deadline;
};

// again: a burst stopped at its limit with more likely waiting; an edge-triggered registration would
// not fire for what is already there, so the op is tried again at the next wait instead of parked.
enum class attempt { done, would_block, needs_thread, again };

class epoll_backend final : public backend {
 public:
  epoll_backend() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "coring: epoll_create1");
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      const int err = errno;
      ::close(epoll_fd_);
      throw std::system_error(err, std::system_category(), "coring: eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = wake_fd_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
      const int err = errno;
      ::close(wake_fd_);
      ::close(epoll_fd_);
      throw std::system_error(err, std::system_category(), "coring: epoll_ctl");
    }
    jobs_ = std::make_shared<blocking_threads>();
    // The wake-up descriptor's registration is a request that stays with the kernel, as the ring's
    // armed wake-up read does: at rest, submissions exceed completions by one on either backend.
    submissions_.store(1, std::memory_order_relaxed);
  }

  ~epoll_backend() override {
    bool detach = false;
    {
      std::lock_guard lock(jobs_->mutex);
      jobs_->closing = true;
      // A thread still inside a blocking call cannot be joined in bounded time: let it go with
      // its share of the state (it touches nothing of this object).
      detach = jobs_->busy > 0 || !jobs_->queued.empty();
    }
    jobs_->work.notify_all();
    for (std::thread& t : threads_) {
      if (detach) {
        t.detach();
      } else {
        t.join();
      }
    }
    ::close(wake_fd_);
    ::close(epoll_fd_);
  }

  void attach_to_current_thread() override {}

  // ---- op flow --------------------------------------------------------------------------------

  void submit(io_op& op) noexcept override {
    op_record* record = nullptr;
    try {
      record = &records_[&op];
      start_queue_.push_back(&op);
    } catch (...) {
      // No memory for the bookkeeping: the op fails as a full ring would fail it.
      if (record != nullptr) records_.erase(&op);
      failed_.push_back({&op, -ENOMEM, op.awaiting_readiness});
      ++in_flight_;
      return;
    }
    *record = op_record{};
    record->readiness = op.awaiting_readiness;
    ++in_flight_;
    submissions_.fetch_add(1, std::memory_order_relaxed);
    if (op.deadline != 0) {
      op.pending.fetch_add(1, std::memory_order_relaxed);
      ++in_flight_;
      record->deadline_due = true;
      record->deadline = deadlines_.emplace(op.deadline, &op);
    }
  }

  void cancel(io_op& op) noexcept override {
    if (testing_hooks::cancels_withheld()) [[unlikely]]
      return;
    const auto it = records_.find(&op);
    if (it == records_.end()) return;  // its last completion is already queued
    end_early(op, it->second, -ECANCELED);
  }

  void cancel_all() noexcept override {
    std::vector<io_op*> all;
    all.reserve(records_.size());
    for (auto& [op, record] : records_) all.push_back(op);
    if (testing_hooks::cancels_withheld()) [[unlikely]]
      return;
    for (io_op* op : all) {
      const auto it = records_.find(op);
      if (it != records_.end()) end_early(*op, it->second, -ECANCELED);
    }
  }

  std::size_t wait(completion_sink& sink, std::optional<std::chrono::nanoseconds> timeout) noexcept override {
    if (const int injected = testing_hooks::take_injected_enter_failure(); injected != 0) [[unlikely]] {
      return fail_queued(sink, injected, timeout);
    }
    enter_error_ = 0;
    start_queued();
    collect_finished_jobs();
    expire_deadlines();
    if (!completions_.empty() || !failed_.empty()) timeout = std::chrono::nanoseconds::zero();
    if (!deadlines_.empty()) {
      const std::uint64_t now = steady_now_ns();
      const std::uint64_t next = deadlines_.begin()->first;
      const auto until = std::chrono::nanoseconds(next > now ? next - now : 0);
      if (!timeout || until < *timeout) timeout = until;
    }
    // A busy loop turns with a zero timeout: with no op parked on a descriptor, epoll has nothing
    // to say that matters now (a wake-up edge, an edge nobody waits for), so no system call.
    if (timeout && timeout->count() == 0 && waiting_.empty()) {
      events_unread_ = true;
    } else {
      events_unread_ = false;
      poll_events(timeout);
    }
    collect_finished_jobs();
    expire_deadlines();
    return hand_on(sink);
  }

  void flush() noexcept override {
    if (const int injected = testing_hooks::take_injected_enter_failure(); injected != 0) [[unlikely]] {
      fail_start_queue(injected);
      return;
    }
    start_queued();
  }

  bool completions_pending() const noexcept override {
    return !completions_.empty() || !failed_.empty() || jobs_->has_done.load(std::memory_order_acquire);
  }

  int take_failure_report() noexcept override { return std::exchange(unreported_error_, 0); }

  void wake() noexcept override { signal_wake(wake_fd_); }

  int readiness_fd() noexcept override { return epoll_fd_; }
  // The host polls the epoll descriptor: what the wait skipped would keep it readable.
  void clear_readiness() noexcept override {
    if (std::exchange(events_unread_, false)) poll_events(std::chrono::nanoseconds::zero());
  }

  // ---- provided buffers and registered files ----------------------------------------------------

  int provide_buffers(unsigned count, unsigned size) noexcept override {
    if (!buffers_.empty()) return -EEXIST;
    if (count == 0 || (count & (count - 1)) != 0 || count > 32768 || size == 0) return -EINVAL;
    try {
      buffers_.resize(std::size_t{count} * size);
      free_buffers_.reserve(count);
    } catch (...) {
      buffers_.clear();
      return -ENOMEM;
    }
    for (unsigned id = count; id-- > 0;) free_buffers_.push_back(static_cast<std::int32_t>(id));
    buffer_size_ = size;
    return 0;
  }

  std::byte* buffer_data(std::int32_t id) noexcept override {
    return buffers_.data() + static_cast<std::size_t>(id) * buffer_size_;
  }

  void recycle_buffer(std::int32_t id) noexcept override { free_buffers_.push_back(id); }

  int enable_registered_files(unsigned slots) noexcept override {
    try {
      files_.assign(slots, -1);
      free_slots_.reserve(slots);
    } catch (...) {
      return -ENOMEM;
    }
    for (unsigned slot = slots; slot-- > 0;) free_slots_.push_back(static_cast<int>(slot));
    return 0;
  }

  void close_registered_file(int slot) noexcept override {
    if (slot < 0 || static_cast<std::size_t>(slot) >= files_.size() || files_[slot] < 0) return;
    // The table holds the stream's own descriptor (no duplicate: a registered stream must not
    // cost a second descriptor); the stream closes it.
    files_[slot] = -1;
    free_slots_.push_back(slot);
  }

  std::size_t in_flight() const noexcept override { return in_flight_; }

  backend_counters counters() const noexcept override {
    return {submissions_.load(std::memory_order_relaxed), completed_.load(std::memory_order_relaxed),
            enters_.load(std::memory_order_relaxed)};
  }

  const char* describe() const noexcept override { return "epoll"; }

 private:
  enum class completion_kind : std::uint8_t { op, ready, deadline };
  struct queued_completion {
    io_op* op;
    int result;
    completion_kind kind;
    completion_flags flags;
  };
  struct failed_submission {
    io_op* op;
    int error;
    bool readiness;
  };

  static std::uint64_t steady_now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }

  // ---- starting and retrying ops ----------------------------------------------------------------

  void start_queued() noexcept {
    // Only what is queued now: ops that completions submit wait for the next wait().
    std::size_t n = start_queue_.size();
    while (n-- > 0 && !start_queue_.empty()) {
      io_op* op = start_queue_.front();
      start_queue_.pop_front();
      const auto it = records_.find(op);
      if (it == records_.end()) continue;
      start(*op, it->second);
    }
  }

  void start(io_op& op, op_record& record) noexcept {
    int fd = op.fd;
    if (op.fixed_file) {
      fd = (op.fd >= 0 && static_cast<std::size_t>(op.fd) < files_.size()) ? files_[op.fd] : -1;
      if (fd < 0) {
        complete(op, record, -EBADF);
        return;
      }
    }
    record.fd = fd;
    if (op.code == op_code::close) {
      close_now(op, record);
      return;
    }
    if (op.code == op_code::register_file) {
      register_now(op, record);
      return;
    }
    if (record.readiness || op.code == op_code::poll) {
      const std::uint32_t events = record.readiness ? readiness_events(op.code) : op.args.poll.events;
      park(op, record, events);
      return;
    }
    settle(op, record, try_op(op, record));
  }

  /// Acts on what try_op() said.
  void settle(io_op& op, op_record& record, attempt outcome) noexcept {
    switch (outcome) {
      case attempt::done:
        return;
      case attempt::would_block:
        park(op, record, record.events);
        return;
      case attempt::needs_thread:
        to_thread(op, record);
        return;
      case attempt::again:
        retry_next_wait(op, record);
        return;
    }
  }

  void retry_next_wait(io_op& op, op_record& record) noexcept {
    try {
      start_queue_.push_back(&op);
      record.place = op_place::queued;
    } catch (...) {
      park(op, record, record.events);  // a one-shot registration fires at once if more is there
    }
  }

  /// One non-blocking try of `op`. On done its completion is queued; on would_block
  /// record.events says what it waits for.
  attempt try_op(io_op& op, op_record& record) noexcept {
    const int fd = record.fd;
    long rc = 0;
    switch (op.code) {
      case op_code::read:
      case op_code::write:
      case op_code::readv:
      case op_code::writev:
        return try_transfer(op, record);
      case op_code::recv:
        rc = ::recv(fd, op.args.transfer.data, op.args.transfer.len,
                    static_cast<int>(op.args.transfer.msg_flags) | MSG_DONTWAIT);
        break;
      case op_code::send:
      case op_code::send_zc:
        // MSG_NOSIGNAL: the ring adds it to every send, so a closed peer is EPIPE, never SIGPIPE.
        rc = ::send(fd, op.args.transfer.data, op.args.transfer.len,
                    static_cast<int>(op.args.transfer.msg_flags) | MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
      case op_code::recvmsg:
        rc =
            ::recvmsg(fd, op.args.message.header, static_cast<int>(op.args.message.msg_flags) | MSG_DONTWAIT);
        break;
      case op_code::sendmsg:
        rc = ::sendmsg(fd, op.args.message.header,
                       static_cast<int>(op.args.message.msg_flags) | MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
      case op_code::accept:
        if (const int err = make_nonblocking(fd, nullptr); err != 0) {
          complete(op, record, err);
          return attempt::done;
        }
        rc = ::accept4(fd, op.args.accept.peer, op.args.accept.peer_len,
                       static_cast<int>(op.args.accept.flags));
        break;
      case op_code::connect:
        return try_connect(op, record);
      case op_code::accept_multishot:
        return accept_burst(op, record);
      case op_code::recv_multishot:
        return receive_burst(op, record);
      case op_code::openat:
      case op_code::fsync:
      case op_code::unlinkat:
      case op_code::renameat:
      case op_code::mkdirat:
      case op_code::statx:
        return attempt::needs_thread;
      default:
        complete(op, record, -EINVAL);
        return attempt::done;
    }
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      record.events = readiness_events(op.code);
      return attempt::would_block;
    }
    complete(op, record, errno_result(rc));
    return attempt::done;
  }

  /// read/write and their vectored forms: any kind of descriptor. RWF_NOWAIT makes a blocking
  /// pipe or socket answer EAGAIN, and a regular file answer at once from the page cache (or
  /// EAGAIN: then a thread does it).
  attempt try_transfer(io_op& op, op_record& record) noexcept {
    const bool vectored = op.code == op_code::readv || op.code == op_code::writev;
    const bool reading = op.code == op_code::read || op.code == op_code::readv;
    iovec single{op.args.transfer.data, op.args.transfer.len};
    const iovec* entries = vectored ? op.args.vectored.entries : &single;
    const int count = vectored ? static_cast<int>(op.args.vectored.count) : 1;
    const std::uint64_t raw_offset = vectored ? op.args.vectored.offset : op.args.transfer.offset;
    auto offset = static_cast<off_t>(static_cast<std::int64_t>(raw_offset));
    // RWF_NOWAIT keeps an O_DIRECT transfer from waiting for a lock, not for the device: the loop
    // would sit through every such read itself, one at a time.
    if (opened_direct(record.fd)) return attempt::needs_thread;
    long rc = 0;
    for (;;) {
      rc = reading ? ::preadv2(record.fd, entries, count, offset, RWF_NOWAIT)
                   : ::pwritev2(record.fd, entries, count, offset, RWF_NOWAIT);
      if (rc >= 0) break;
      if (errno == EINTR) continue;
      // A pipe, socket or tty has no offset: the ring ignores it there, and so does this.
      if (errno == ESPIPE && offset != -1) {
        offset = -1;
        continue;
      }
      break;
    }
    if (rc >= 0) {
      complete(op, record, static_cast<int>(rc));
      return attempt::done;
    }
    if (errno == EOPNOTSUPP) return attempt::needs_thread;  // this file cannot say "would block"
    if (errno == EAGAIN) {
      record.events = reading ? EPOLLIN : EPOLLOUT;
      return attempt::would_block;  // park() sends it to a thread if it cannot be polled
    }
    complete(op, record, -errno);
    return attempt::done;
  }

  attempt try_connect(io_op& op, op_record& record) noexcept {
    const int fd = record.fd;
    if (record.connecting) {
      int error = 0;
      socklen_t len = sizeof error;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
      finish_connect(op, record, -error);
      return attempt::done;
    }
    bool was_blocking = false;
    if (const int err = make_nonblocking(fd, &was_blocking); err != 0) {
      complete(op, record, err);
      return attempt::done;
    }
    record.made_nonblocking = was_blocking;
    if (::connect(fd, op.args.connect.peer, op.args.connect.peer_len) == 0) {
      finish_connect(op, record, 0);
      return attempt::done;
    }
    const int err = errno;
    if (err == EINPROGRESS || err == EINTR) {
      record.connecting = true;
      record.events = EPOLLOUT;
      return attempt::would_block;
    }
    if (err == EAGAIN) {  // a unix listener's backlog is full
      restore_blocking(fd, record);
      if (!was_blocking) {
        // The caller's socket is non-blocking on purpose: say so, as the ring would.
        complete(op, record, -EAGAIN);
        return attempt::done;
      }
      return attempt::needs_thread;
    }
    finish_connect(op, record, -err);
    return attempt::done;
  }

  void finish_connect(io_op& op, op_record& record, int result) noexcept {
    restore_blocking(record.fd, record);
    complete(op, record, result);
  }

  static void restore_blocking(int fd, op_record& record) noexcept {
    if (!record.made_nonblocking) return;
    record.made_nonblocking = false;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }

  /// Returns 0 or -errno.
  static int make_nonblocking(int fd, bool* was_blocking) noexcept {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return -errno;
    if ((flags & O_NONBLOCK) != 0) return 0;
    if (::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return -errno;
    if (was_blocking != nullptr) *was_blocking = true;
    return 0;
  }

  /// Multishot accept: accepted sockets go out one completion each, the op stays armed.
  attempt accept_burst(io_op& op, op_record& record) noexcept {
    if (const int err = make_nonblocking(record.fd, nullptr); err != 0) {
      complete(op, record, err);
      return attempt::done;
    }
    record.events = EPOLLIN;
    for (int i = 0; i < accepts_per_readiness; ++i) {
      const int accepted = ::accept4(record.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (accepted >= 0) {
        queue(op, accepted, completion_kind::op, {.more = true});
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;  // the next one may be there
      if (errno == EAGAIN || errno == EWOULDBLOCK) return attempt::would_block;
      complete(op, record, -errno);  // the ring ends a multishot accept on an error too
      return attempt::done;
    }
    return attempt::again;
  }

  /// Multishot receive into the backend's buffers.
  attempt receive_burst(io_op& op, op_record& record) noexcept {
    record.events = EPOLLIN;
    for (int i = 0; i < receives_per_readiness; ++i) {
      if (free_buffers_.empty()) {
        complete(op, record, -ENOBUFS);  // parked by the loop until a buffer comes back
        return attempt::done;
      }
      const std::int32_t id = free_buffers_.back();
      const long n = ::recv(record.fd, buffer_data(id), buffer_size_, MSG_DONTWAIT);
      if (n > 0) {
        free_buffers_.pop_back();
        queue(op, static_cast<int>(n), completion_kind::op, {.more = true, .buffer = id});
        // A short read emptied the socket's queue: asking again would only hear EAGAIN, and data
        // that comes after it raises a new edge (a one-shot registration re-armed now sees it) -
        // unless the peer has shut down: its end of file raised its edge already.
        if (static_cast<std::size_t>(n) < buffer_size_ && !peer_hung_up(record.fd))
          return attempt::would_block;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return attempt::would_block;
      complete(op, record, errno_result(n));  // 0: the peer closed; or the error
      return attempt::done;
    }
    return attempt::again;
  }

  void close_now(io_op& op, op_record& record) noexcept {
    const int fd = record.fd;
    // Ops parked on the descriptor would never hear of it again: they end now.
    if (const auto parked = waiting_.find(fd); parked != waiting_.end()) {
      std::vector<io_op*> ops = std::move(parked->second);
      waiting_.erase(parked);
      for (io_op* other : ops) {
        const auto it = records_.find(other);
        if (it != records_.end()) complete(*other, it->second, -EBADF);
      }
    }
    (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    registered_.erase(fd);
    forget_descriptor(fd);  // other loops may hold a registration of it too
    complete(op, record, errno_result(::close(fd)));
  }

  void register_now(io_op& op, op_record& record) noexcept {
    int* descriptor = op.args.registration.descriptor;
    if (free_slots_.empty()) {
      complete(op, record, files_.empty() ? -ENXIO : -ENFILE);
      return;
    }
    const int slot = free_slots_.back();
    free_slots_.pop_back();
    files_[static_cast<std::size_t>(slot)] = *descriptor;
    *descriptor = slot;  // as the ring does: the slot is written over the descriptor
    complete(op, record, 1);
  }

  void to_thread(io_op& op, op_record& record) noexcept {
    record.place = op_place::on_thread;
    bool start_thread = false;
    try {
      std::lock_guard lock(jobs_->mutex);
      jobs_->queued.push_back({&op, record.fd});
      start_thread =
          jobs_->busy + jobs_->queued.size() > jobs_->threads && jobs_->threads < max_blocking_threads;
      if (start_thread) ++jobs_->threads;
    } catch (...) {
      complete(op, record, -ENOMEM);
      return;
    }
    if (start_thread) {
      try {
        if (jobs_->wake_fd < 0) jobs_->wake_fd = ::fcntl(wake_fd_, F_DUPFD_CLOEXEC, 0);
        threads_.emplace_back([shared = jobs_] { blocking_threads::serve(shared); });
      } catch (...) {
        std::lock_guard lock(jobs_->mutex);
        --jobs_->threads;  // the threads there are will take it (there is at least one, or it fails below)
        if (jobs_->threads == 0) {
          jobs_->queued.pop_back();
          complete(op, record, -EAGAIN);
          return;
        }
      }
    }
    jobs_->work.notify_one();
  }

  /// Parks `op` on its descriptor until `events`. A descriptor epoll cannot watch (a regular
  /// file, /dev/null) is always ready: a transfer goes to a thread, a poll completes at once.
  void park(io_op& op, op_record& record, std::uint32_t events) noexcept {
    record.events = events;
    if ((op.code == op_code::poll || record.readiness) && edges_watched(record.fd)) {
      // The edge-triggered registration reports only what changes from now on: what is already
      // there (an edge nobody was parked for) is asked for directly.
      pollfd now{.fd = record.fd, .events = static_cast<short>(events), .revents = 0};
      if (::poll(&now, 1, 0) == 1 && now.revents != 0) {
        complete(op, record, static_cast<int>(static_cast<std::uint16_t>(now.revents)));
        return;
      }
    }
    std::vector<io_op*>* list = nullptr;
    try {
      list = &waiting_[record.fd];
      list->push_back(&op);
    } catch (...) {
      if (list != nullptr && list->empty()) waiting_.erase(record.fd);
      complete(op, record, -ENOMEM);
      return;
    }
    // A descriptor coring owns keeps one edge-triggered registration for every op (parking costs
    // no system call); one the caller owns (wait_readable/wait_writable) may be closed behind
    // coring's back, so it gets a one-shot registration per park.
    const int rc = op.code == op_code::poll ? arm(record.fd, *list) : watch_edges(record.fd, *list);
    if (rc == 0) {
      record.place = op_place::parked;
      return;
    }
    list->pop_back();
    if (list->empty()) waiting_.erase(record.fd);
    if (rc == -EPERM) {
      if (op.code == op_code::poll || record.readiness) {
        const std::uint32_t always = events & (EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM);
        complete(op, record, static_cast<int>(always));
      } else {
        to_thread(op, record);
      }
      return;
    }
    complete(op, record, rc);
  }

  /// Whether `fd` was opened with O_DIRECT, asked once per file (by its descriptor's count; a
  /// flag changed later with fcntl(F_SETFL) is not seen).
  bool opened_direct(int fd) noexcept {
    const std::uint32_t generation = descriptor_generation(fd);
    if (generation != untracked_generation) {
      const auto it = direct_io_.find(fd);
      if (it != direct_io_.end() && it->second.generation == generation) return it->second.direct;
    }
    const int flags = ::fcntl(fd, F_GETFL);
    const bool direct = flags >= 0 && (flags & O_DIRECT) != 0;
    if (generation != untracked_generation) {
      try {
        direct_io_[fd] = {generation, direct};
      } catch (...) {
        // Not remembered: asked again next time.
      }
    }
    return direct;
  }

  /// Whether `fd` holds an edge-triggered registration made for the file it names now.
  bool edges_watched(int fd) const noexcept {
    const auto it = registered_.find(fd);
    if (it == registered_.end()) return false;
    const std::uint32_t generation = descriptor_generation(fd);
    return generation != untracked_generation && it->second.generation == generation;
  }

  /// Whether an edge said the peer of `fd` shut down or failed (or no edge-triggered registration
  /// watches it, so nothing can be assumed).
  bool peer_hung_up(int fd) const noexcept {
    return !edges_watched(fd) || registered_.find(fd)->second.hung_up;
  }

  /// Makes sure `fd` has its edge-triggered registration for input and output (made once per file,
  /// left in place until the descriptor is closed). Returns 0 or -errno.
  int watch_edges(int fd, const std::vector<io_op*>& ops) noexcept {
    if (edges_watched(fd)) return 0;
    const std::uint32_t generation = descriptor_generation(fd);
    if (generation == untracked_generation) return arm(fd, ops);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    // ADD first: a stale count means the file is new to this epoll, unless the caller kept it.
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0 &&
        (errno != EEXIST || ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0)) {
      return -errno;
    }
    try {
      registered_[fd] = {generation, false};
    } catch (...) {
      // Not remembered: the next park registers again (EEXIST, then MOD), which is still right.
    }
    return 0;
  }

  /// (Re)arms the one-shot registration of `fd` for what `ops` wait for (nothing to do while an
  /// edge-triggered one watches it). Returns 0 or -errno.
  int arm(int fd, const std::vector<io_op*>& ops) noexcept {
    if (edges_watched(fd)) return 0;
    registered_.erase(fd);  // a one-shot MOD below replaces whatever was there
    std::uint32_t wanted = 0;
    for (io_op* op : ops) wanted |= records_.find(op)->second.events;
    epoll_event ev{};
    ev.events = wanted | EPOLLONESHOT;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    if (errno != ENOENT) return -errno;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    if (errno == EEXIST && ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    return -errno;
  }

  void poll_events(std::optional<std::chrono::nanoseconds> timeout) noexcept {
    epoll_event events[events_per_wait];
    enters_.fetch_add(1, std::memory_order_relaxed);
    const int n = wait_for_events(events, timeout);
    if (n < 0) {
      if (errno != EINTR) note_failure(errno);
      return;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) continue;  // its edge was the whole message
      on_ready_descriptor(fd, events[i].events);
    }
  }

  int wait_for_events(epoll_event* events, std::optional<std::chrono::nanoseconds> timeout) noexcept {
    if (has_pwait2_) {
      timespec ts{};
      if (timeout) {
        ts.tv_sec = static_cast<time_t>(timeout->count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout->count() % 1'000'000'000);
      }
      const int n = ::epoll_pwait2(epoll_fd_, events, events_per_wait, timeout ? &ts : nullptr, nullptr);
      if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;
      has_pwait2_ = false;  // an older kernel, or a seccomp profile that predates it
    }
    int ms = -1;
    if (timeout) {
      // Rounded up: waking before a deadline would only make the loop wait again.
      const auto rounded = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
      ms = static_cast<int>(std::min<long long>(rounded, 1'000'000'000));
    }
    return ::epoll_wait(epoll_fd_, events, events_per_wait, ms);
  }

  void on_ready_descriptor(int fd, std::uint32_t revents) noexcept {
    if ((revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
      // Remembered even when nobody waits: the edge will not come again.
      if (const auto it = registered_.find(fd); it != registered_.end()) it->second.hung_up = true;
    }
    const auto parked = waiting_.find(fd);
    if (parked == waiting_.end()) return;  // a registration nobody waits on any more
    std::vector<io_op*> ops = std::move(parked->second);
    waiting_.erase(parked);
    std::vector<io_op*> still;
    for (io_op* op : ops) {
      const auto it = records_.find(op);
      if (it == records_.end()) continue;
      op_record& record = it->second;
      if ((revents & (record.events | EPOLLERR | EPOLLHUP)) == 0) {
        still.push_back(op);
        continue;
      }
      if (record.readiness || op->code == op_code::poll) {
        const std::uint32_t mask = record.events | EPOLLERR | EPOLLHUP;
        complete(*op, record, static_cast<int>(revents & mask));
        continue;
      }
      switch (try_op(*op, record)) {
        case attempt::done:
          break;
        case attempt::would_block:
          still.push_back(op);
          break;
        case attempt::needs_thread:
          to_thread(*op, record);
          break;
        case attempt::again:
          retry_next_wait(*op, record);
          break;
      }
    }
    if (still.empty()) return;
    std::vector<io_op*>* list = nullptr;
    try {
      list = &waiting_[fd];
      list->insert(list->end(), still.begin(), still.end());
    } catch (...) {
      for (io_op* op : still) complete(*op, records_.find(op)->second, -ENOMEM);
      return;
    }
    if (const int rc = arm(fd, *list); rc != 0) {
      std::vector<io_op*> failed = std::move(*list);
      waiting_.erase(fd);
      for (io_op* op : failed) complete(*op, records_.find(op)->second, rc);
    }
  }

  // ---- ending ops -------------------------------------------------------------------------------

  /// Cancellation or a deadline: ends `op` now unless a thread already runs it.
  void end_early(io_op& op, op_record& record, int result) noexcept {
    switch (record.place) {
      case op_place::queued: {
        const auto it = std::find(start_queue_.begin(), start_queue_.end(), &op);
        if (it != start_queue_.end()) start_queue_.erase(it);
        break;
      }
      case op_place::parked:
        unpark(op, record);
        break;
      case op_place::on_thread: {
        std::lock_guard lock(jobs_->mutex);
        const auto it = std::find_if(jobs_->queued.begin(), jobs_->queued.end(),
                                     [&](const blocking_threads::job& j) { return j.op == &op; });
        if (it == jobs_->queued.end()) return;  // running: it ends on its own
        jobs_->queued.erase(it);
        break;
      }
    }
    restore_blocking(record.fd, record);
    complete(op, record, result);
  }

  void unpark(io_op& op, const op_record& record) noexcept {
    const auto parked = waiting_.find(record.fd);
    if (parked == waiting_.end()) return;
    auto& ops = parked->second;
    ops.erase(std::remove(ops.begin(), ops.end(), &op), ops.end());
    if (ops.empty()) waiting_.erase(parked);  // its one-shot registration fires once, for nobody
  }

  /// Queues the op's last completion (and its deadline's, if still due) and forgets the op.
  void complete(io_op& op, op_record& record, int result) noexcept {
    const completion_kind kind = record.readiness ? completion_kind::ready : completion_kind::op;
    queue(op, result, kind, {});
    if (record.deadline_due) {
      deadlines_.erase(record.deadline);
      queue(op, -ECANCELED, completion_kind::deadline, {});
    }
    records_.erase(&op);
  }

  void queue(io_op& op, int result, completion_kind kind, completion_flags flags) noexcept {
    completions_.push_back({&op, result, kind, flags});  // out of memory here: terminate, not a lost wake-up
  }

  void expire_deadlines() noexcept {
    if (deadlines_.empty()) return;
    const std::uint64_t now = steady_now_ns();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      io_op* op = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      op_record& record = records_.find(op)->second;
      record.deadline_due = false;
      queue(*op, -ETIME, completion_kind::deadline, {});
      end_early(*op, record, -ECANCELED);  // on a thread already: it ends on its own
    }
  }

  void collect_finished_jobs() noexcept {
    if (!jobs_->has_done.load(std::memory_order_acquire)) return;
    std::vector<blocking_threads::finished> finished;
    {
      std::lock_guard lock(jobs_->mutex);
      finished.swap(jobs_->done);
      jobs_->has_done.store(false, std::memory_order_relaxed);
    }
    for (const blocking_threads::finished& f : finished) {
      const auto it = records_.find(f.op);
      if (it != records_.end()) complete(*f.op, it->second, f.result);
    }
  }

  void note_failure(int error) noexcept {
    if (enter_error_ == 0) unreported_error_ = error;
    enter_error_ = error;
  }

  /// Tests: the wait's system call "failed" with `error`: the ops queued to start fail with it, and
  /// the loop sleeps on its descriptor instead of spinning.
  void fail_start_queue(int error) noexcept {
    note_failure(error);
    while (!start_queue_.empty()) {
      io_op* op = start_queue_.front();
      start_queue_.pop_front();
      const auto it = records_.find(op);
      if (it != records_.end()) complete(*op, it->second, -error);
    }
  }

  std::size_t fail_queued(completion_sink& sink, int error,
                          std::optional<std::chrono::nanoseconds> timeout) noexcept {
    fail_start_queue(error);
    const std::size_t handed = hand_on(sink);
    if (handed == 0) {
      constexpr auto retry = std::chrono::milliseconds(10);
      auto limit = timeout ? *timeout : std::chrono::nanoseconds(retry);
      if (in_flight_ > 0 && limit > retry) limit = retry;
      pollfd p{epoll_fd_, POLLIN, 0};
      timespec ts{};
      ts.tv_sec = static_cast<time_t>(limit.count() / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(limit.count() % 1'000'000'000);
      (void)::ppoll(&p, 1, &ts, nullptr);
    }
    return handed;
  }

  // No UBSan vptr check on the sink calls: see uring_backend.cpp's reap().
  __attribute__((no_sanitize("vptr"))) std::size_t hand_on(completion_sink& sink) noexcept {
    std::size_t handed = 0;
    while (!failed_.empty() && handed < completions_per_wait) {
      const failed_submission f = failed_.front();
      failed_.pop_front();
      --in_flight_;
      ++handed;
      if (f.readiness) {
        sink.on_ready(*f.op, -f.error);
      } else {
        sink.on_completion(*f.op, -f.error, {});
      }
    }
    while (handed < completions_per_wait) {
      if (completions_.empty()) break;
      const queued_completion c = completions_.front();
      completions_.pop_front();
      if (!c.flags.more) --in_flight_;
      ++handed;
      completed_.store(completed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      switch (c.kind) {
        case completion_kind::op:
          sink.on_completion(*c.op, c.result, c.flags);
          break;
        case completion_kind::ready:
          sink.on_ready(*c.op, c.result);
          break;
        case completion_kind::deadline:
          sink.on_deadline(*c.op, c.result);
          break;
      }
    }
    return handed;
  }

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool events_unread_ = false;  // a zero-timeout wait skipped epoll_wait (see wait())
  bool has_pwait2_ = true;
  std::unordered_map<io_op*, op_record> records_;
  std::deque<io_op*> start_queue_;                        // submitted, not tried yet
  std::unordered_map<int, std::vector<io_op*>> waiting_;  // parked ops by descriptor
  // Descriptors with an edge-triggered registration: the descriptor's count it was made under, and
  // whether an edge said the peer is gone.
  struct edge_registration {
    std::uint32_t generation;
    bool hung_up;
  };
  std::unordered_map<int, edge_registration> registered_;
  struct access_mode {
    std::uint32_t generation;
    bool direct;
  };
  std::unordered_map<int, access_mode> direct_io_;  // what opened_direct() found, by descriptor
  std::multimap<std::uint64_t, io_op*> deadlines_;
  std::deque<queued_completion> completions_;
  std::deque<failed_submission> failed_;
  std::size_t in_flight_ = 0;
  std::vector<std::byte> buffers_;  // provided buffers for receive multishots
  std::vector<std::int32_t> free_buffers_;
  unsigned buffer_size_ = 0;
  std::vector<int> files_;  // registered files: slot -> descriptor (-1: free)
  std::vector<int> free_slots_;
  std::shared_ptr<blocking_threads> jobs_;
  std::vector<std::thread> threads_;
  int enter_error_ = 0;
  int unreported_error_ = 0;
  std::atomic<std::uint64_t> submissions_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> enters_{0};
};

}  // namespace

std::unique_ptr<backend> make_epoll_backend() {
  return std::make_unique<epoll_backend>();
}

}  // namespace coring::detail
