// SPDX-License-Identifier: MIT
// Cancellation of ring operations, for three kinds of operation that wait for data: a TCP read, a
// wait_readable on a pipe and a file read on a pipe, each awaited from an io-pool and a CPU-pool
// task. Stop requested before the operation is issued, while it is in the kernel, and at the same
// moment as its data arrives; and the lifetime of the buffer in the canceled task's frame, when the
// task is canceled and when the runtime is destroyed under it.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <coring/async_event.hpp>
#include <coring/coring.hpp>
#include <coring/wait_fd.hpp>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using coring::task;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread, and a task
// may end on another thread than it started on. Tasks report what they saw; the test thread checks.

constexpr std::errc canceled = std::errc::operation_canceled;

enum class op_kind { tcp_read, pipe_wait_readable, pipe_file_read };

constexpr std::array<op_kind, 3> all_kinds = {op_kind::tcp_read, op_kind::pipe_wait_readable,
                                              op_kind::pipe_file_read};

const char* name_of(op_kind kind) {
  switch (kind) {
    case op_kind::tcp_read:
      return "tcp_stream::read";
    case op_kind::pipe_wait_readable:
      return "wait_readable on a pipe";
    case op_kind::pipe_file_read:
      return "file::read_at on a pipe";
  }
  return "?";
}

/// Whether the operation consumes the data (a read) or only reports that it is there (a poll).
bool consumes(op_kind kind) {
  return kind != op_kind::pipe_wait_readable;
}

/// Two connected descriptors: a task awaits the operation on reader(); the test writes to writer().
/// A TCP connection over 127.0.0.1 (set up with plain blocking calls) or a pipe.
class channel {
 public:
  explicit channel(op_kind kind) {
    if (kind == op_kind::tcp_read) {
      connect_tcp();
    } else {
      int fds[2];
      REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
      reader_ = fds[0];
      writer_ = fds[1];
    }
  }
  ~channel() {
    ::close(reader_);
    ::close(writer_);
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  int reader() const { return reader_; }

  /// Writes all of `text` at once (small: one pipe write or one TCP segment).
  void send(std::string_view text) const {
    REQUIRE(::write(writer_, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }

  /// Reads what is waiting on the reader end, up to `size` bytes; waits up to 5 s for each piece.
  std::string take(std::size_t size) const {
    std::string got;
    while (got.size() < size) {
      pollfd readable{reader_, POLLIN, 0};
      if (::poll(&readable, 1, 5000) != 1) break;
      char buffer[256];
      const ssize_t n = ::read(reader_, buffer, std::min(sizeof buffer, size - got.size()));
      if (n <= 0) break;
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
  }

  /// True when nothing is waiting to be read.
  bool empty() const {
    pollfd readable{reader_, POLLIN, 0};
    return ::poll(&readable, 1, 0) == 0;
  }

 private:
  void connect_tcp() {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    reader_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(reader_ >= 0);
    REQUIRE(::connect(reader_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    writer_ = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(writer_ >= 0);
    ::close(listener);
  }

  int reader_ = -1;
  int writer_ = -1;
};

/// What one awaited operation gave.
struct outcome {
  std::error_code error;  // empty when the operation succeeded
  std::string data;       // the bytes a read returned
  unsigned events = 0;    // the poll events wait_readable returned
  bool at_home = false;   // the task resumed on the pool it awaited from
};

/// Awaits one `kind` operation on `fd` into a buffer in this frame. Sets `started` (if given) and
/// then waits for `gate` (if given) before awaiting it, spinning: no cancellation point on the way
/// (waiting on an async_event would be one). The descriptor is dup()ed, so that a
/// frame destroyed by shutdown closes only its own copy.
task<outcome> await_op(op_kind kind, int fd, coring::executor home, std::atomic<bool>* started,
                       std::atomic<bool>* gate) {
  const coring_test::counted witness;  // proves when this frame is freed
  std::array<char, 64> buffer{};       // the kernel writes here: it must be done before the frame goes
  if (started != nullptr) started->store(true);
  for (int i = 0; gate != nullptr && !gate->load() && i < 5000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  outcome out;
  switch (kind) {
    case op_kind::tcp_read: {
      const coring::net::tcp_stream stream{::dup(fd)};
      const coring::result<std::size_t> n = co_await stream.read(std::span<char>(buffer));
      if (n) {
        out.data.assign(buffer.data(), *n);
      } else {
        out.error = n.error();
      }
      break;
    }
    case op_kind::pipe_wait_readable: {
      const coring::result<unsigned> events = co_await coring::wait_readable(fd);
      if (events) {
        out.events = *events;
      } else {
        out.error = events.error();
      }
      break;
    }
    case op_kind::pipe_file_read: {
      const coring::file pipe_end{::dup(fd)};
      const coring::result<std::size_t> n = co_await pipe_end.read_at(std::span<char>(buffer), 0);
      if (n) {
        out.data.assign(buffer.data(), *n);
      } else {
        out.error = n.error();
      }
      break;
    }
  }
  out.at_home = home.running_in_this_thread();
  co_return out;
}

template <class T>
task<T> join(coring::join_handle<T> handle) {
  co_return co_await handle;
}

struct join_outcome {
  std::error_code join_error;  // joining threw: the task was canceled before it started
  outcome op;
};

/// Joins a canceled task; the exception of a task canceled before it started is caught here, on
/// the runtime's thread, so that no exception object is shared between threads.
task<join_outcome> join_canceled(coring::join_handle<outcome> handle) {
  join_outcome result;
  try {
    result.op = co_await handle;
  } catch (const std::system_error& e) {
    result.join_error = e.code();
  }
  co_return result;
}

/// Waits (up to 10 s, from outside the runtime) until `flag` is set.
void wait_for(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!flag.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  REQUIRE(flag.load());
}

struct pool {
  const char* name;
  coring::executor (coring::runtime::*get)() const;
};
constexpr std::array<pool, 2> both_pools = {pool{"io pool", &coring::runtime::io},
                                            pool{"CPU pool", &coring::runtime::cpu}};

}  // namespace

TEST_CASE("an operation awaited after stop was requested gives operation_canceled without blocking") {
  coring::runtime rt{coring_test::small_runtime()};
  for (const op_kind kind : all_kinds) {
    for (const pool& where : both_pools) {
      const std::string op_name = name_of(kind);
      const std::string pool_name = where.name;
      CAPTURE(op_name);
      CAPTURE(pool_name);
      const coring::executor home = (rt.*where.get)();
      channel ch(kind);
      std::atomic<bool> started{false};
      std::atomic<bool> gate{false};
      auto handle = coring::spawn(home, await_op(kind, ch.reader(), home, &started, &gate));
      wait_for(started);  // running, spinning before the gate
      handle.cancel();
      gate.store(true);
      // Nobody ever writes to the channel before the task ends: had the operation been issued, it
      // would wait forever. (Bounded, so that such a bug fails instead of hanging.)
      coring_test::block_until([&] { return handle.done(); });
      const outcome out = rt.block_on(join(std::move(handle)));
      CHECK(out.error == canceled);
      CHECK(out.data.empty());
      CHECK(out.at_home);
      // Nothing reached the kernel: what is written now is there for the next reader.
      ch.send("after");
      CHECK(ch.take(5) == "after");
    }
  }
}

TEST_CASE("a task canceled before it first runs never issues its operation") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  for (const op_kind kind : all_kinds) {
    const std::string op_name = name_of(kind);
    CAPTURE(op_name);
    channel ch(kind);
    // Occupy the only CPU worker, so that the reader spawned next stays queued.
    std::atomic<bool> occupied{false};
    std::atomic<bool> free_worker{false};
    auto blocker = [](std::atomic<bool>& busy, std::atomic<bool>& go) -> task<void> {
      busy.store(true);
      while (!go.load()) std::this_thread::yield();
      co_return;
    };
    auto occupying = coring::spawn(rt.cpu(), blocker(occupied, free_worker));
    wait_for(occupied);

    std::atomic<bool> started{false};
    auto handle = coring::spawn(rt.cpu(), await_op(kind, ch.reader(), rt.cpu(), &started, nullptr));
    handle.cancel();
    free_worker.store(true);
    rt.block_on(join(std::move(occupying)));
    const join_outcome result = rt.block_on(join_canceled(std::move(handle)));
    CHECK(result.join_error == canceled);
    CHECK_FALSE(started.load());
    ch.send("untouched");
    CHECK(ch.take(9) == "untouched");
  }
}

TEST_CASE("canceling an operation in flight completes it with operation_canceled") {
  coring::runtime rt{coring_test::small_runtime()};
  for (const op_kind kind : all_kinds) {
    for (const pool& where : both_pools) {
      const std::string op_name = name_of(kind);
      const std::string pool_name = where.name;
      CAPTURE(op_name);
      CAPTURE(pool_name);
      const coring::executor home = (rt.*where.get)();
      channel ch(kind);
      std::atomic<bool> started{false};
      auto handle = coring::spawn(home, await_op(kind, ch.reader(), home, &started, nullptr));
      wait_for(started);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the operation reach the kernel
      CHECK_FALSE(handle.done());
      handle.cancel();
      const outcome out = rt.block_on(join(std::move(handle)));
      CHECK(out.error == canceled);
      CHECK(out.data.empty());
      CHECK(out.at_home);
      // The kernel let go of the operation: data written now stays for the next reader.
      ch.send("late");
      CHECK(ch.take(4) == "late");
    }
  }
}

TEST_CASE(
    "an operation canceled as its data arrives gives all the data or operation_canceled, never a loss") {
  // Another thread writes the data while this one calls cancel(), released together. Whichever
  // wins, no byte may go missing: a read that returned data returned the right bytes, and after
  // a read that was canceled the data is still there for a second read.
  constexpr int rounds = 150;
  coring::runtime rt{coring_test::small_runtime()};
  for (const op_kind kind : all_kinds) {
    for (const pool& where : both_pools) {
      const std::string op_name = name_of(kind);
      const std::string pool_name = where.name;
      CAPTURE(op_name);
      CAPTURE(pool_name);
      const coring::executor home = (rt.*where.get)();
      channel ch(kind);
      int delivered = 0;
      int canceled_count = 0;
      int failures = 0;
      for (int i = 0; i < rounds && failures == 0; ++i) {
        CAPTURE(i);
        const std::string message = "round " + std::to_string(i) + " of the race";
        std::atomic<bool> started{false};
        auto handle = coring::spawn(home, await_op(kind, ch.reader(), home, &started, nullptr));
        wait_for(started);
        // Vary how far the operation got: on its way to the loop, or waiting in the kernel.
        if (i % 3 == 1) std::this_thread::sleep_for(std::chrono::microseconds(20 * (i % 11)));

        // Who wins varies with the round: cancel() right away, after a short spin, or once the
        // data was written (then the completion and the cancel request meet in the loop).
        std::atomic<int> armed{0};
        std::atomic<bool> go{false};
        std::atomic<bool> written{false};
        std::thread writer([&] {
          armed.fetch_add(1);
          while (!go.load()) std::this_thread::yield();
          ch.send(message);
          written.store(true);
        });
        while (armed.load() == 0) std::this_thread::yield();
        go.store(true);
        switch (i % 4) {
          case 0:
            break;
          case 1:
            for (int spin = 0; spin < 500; ++spin) std::atomic_signal_fence(std::memory_order_seq_cst);
            break;
          case 2:
            while (!written.load()) std::this_thread::yield();
            break;
          default:
            while (!written.load()) std::this_thread::yield();
            std::this_thread::sleep_for(std::chrono::microseconds(5 * (i % 13)));
            break;
        }
        handle.cancel();
        writer.join();

        const outcome out = rt.block_on(join(std::move(handle)));
        CHECK(out.at_home);
        if (!out.error) {
          ++delivered;
          if (consumes(kind)) {
            // All bytes arrive in one piece in practice; whatever the read did not take is still there.
            const std::string all = out.data + ch.take(message.size() - out.data.size());
            if (all != message) ++failures;
            CHECK(all == message);
          } else {
            CHECK((out.events & POLLIN) != 0);
            if (ch.take(message.size()) != message) ++failures;
          }
        } else if (out.error == canceled) {
          ++canceled_count;
          CHECK(out.data.empty());
          // A second operation (not canceled) finds the data.
          const outcome again =
              rt.block_on(join(coring::spawn(home, await_op(kind, ch.reader(), home, nullptr, nullptr))));
          CHECK_FALSE(again.error);
          const std::string all = consumes(kind) ? again.data + ch.take(message.size() - again.data.size())
                                                 : ch.take(message.size());
          if (all != message) ++failures;
          CHECK(all == message);
        } else {
          ++failures;
          FAIL_CHECK("neither the data nor operation_canceled: " << out.error.message());
          (void)ch.take(message.size());
        }
        CHECK(ch.empty());  // nothing duplicated or left over for the next round
      }
      MESSAGE(op_name << " on the " << pool_name << ": " << delivered << " delivered, " << canceled_count
                      << " canceled");
      CHECK(failures == 0);
    }
  }
}

TEST_CASE("a canceled read never writes into its task's frame after the frame is freed") {
  // The buffer is a local array in the canceled task's frame. Under AddressSanitizer, a read left
  // in the kernel would show as a use-after-free when its completion is handled after the data
  // arrives; in any build, the data would be gone from the channel.
  coring::runtime rt{coring_test::small_runtime()};
  for (const op_kind kind : all_kinds) {
    for (const pool& where : both_pools) {
      const std::string op_name = name_of(kind);
      const std::string pool_name = where.name;
      CAPTURE(op_name);
      CAPTURE(pool_name);
      const coring::executor home = (rt.*where.get)();
      const int alive_before = coring_test::counted::alive.load();
      channel ch(kind);
      std::atomic<bool> started{false};
      {
        auto handle = coring::spawn(home, await_op(kind, ch.reader(), home, &started, nullptr));
        wait_for(started);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the operation reach the kernel
        handle.cancel();
        const outcome out = rt.block_on(join(std::move(handle)));
        CHECK(out.error == canceled);
      }
      CHECK(coring_test::counted::alive.load() == alive_before);  // the frame and its buffer are gone

      ch.send("written after the frame was freed");
      // A round trip through the loop, to handle any completion the data could have caused.
      rt.block_on([]() -> task<void> { (void)co_await coring::sleep_for(std::chrono::milliseconds(5)); }());
      CHECK(ch.take(33) == "written after the frame was freed");
    }
  }
}

TEST_CASE("destroying the runtime with a read in flight frees the frame holding its buffer, data unread") {
  for (const op_kind kind : all_kinds) {
    for (const pool& where : both_pools) {
      const std::string op_name = name_of(kind);
      const std::string pool_name = where.name;
      CAPTURE(op_name);
      CAPTURE(pool_name);
      const int alive_before = coring_test::counted::alive.load();
      channel ch(kind);
      coring::join_handle<outcome> handle;
      {
        coring::runtime rt{coring_test::small_runtime()};
        const coring::executor home = (rt.*where.get)();
        std::atomic<bool> started{false};
        handle = coring::spawn(home, await_op(kind, ch.reader(), home, &started, nullptr));
        wait_for(started);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the operation reach the kernel
        CHECK_FALSE(handle.done());
      }
      CHECK(handle.done());
      CHECK(coring_test::counted::alive.load() == alive_before);
      // Had the kernel kept the read, these bytes would land in the freed frame (and be gone).
      ch.send("after the runtime");
      CHECK(ch.take(17) == "after the runtime");
    }
  }
}

TEST_CASE("a burst of cancellations on a 4-entry ring ends every operation with operation_canceled") {
  // 300 operations issued and canceled at once on a ring with 4 submission entries: the stop
  // requests find tasks not started yet, operations posted to the loop and not yet handed to the
  // ring, operations in the submission queue and operations in the kernel; each cancel request
  // needs a submission entry of its own.
  constexpr int tasks = 300;
  const int alive_before = coring_test::counted::alive.load();
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .ring_entries = 4}};
  std::vector<std::unique_ptr<channel>> channels;
  std::vector<coring::join_handle<outcome>> handles;
  for (int i = 0; i < tasks; ++i) {
    const op_kind kind = all_kinds[static_cast<std::size_t>(i) % all_kinds.size()];
    const coring::executor home = i % 2 == 0 ? rt.io() : rt.cpu();
    channels.push_back(std::make_unique<channel>(kind));
    handles.push_back(coring::spawn(home, await_op(kind, channels.back()->reader(), home, nullptr, nullptr)));
  }
  for (auto& h : handles) h.cancel();
  int canceled_ops = 0;
  int never_started = 0;
  for (auto& h : handles) {
    const join_outcome result = rt.block_on(join_canceled(std::move(h)));
    if (result.join_error) {
      CHECK(result.join_error == canceled);
      ++never_started;
    } else {
      CHECK(result.op.error == canceled);
      CHECK(result.op.at_home);
      ++canceled_ops;
    }
  }
  CHECK(canceled_ops + never_started == tasks);
  MESSAGE(canceled_ops << " operations canceled, " << never_started << " tasks canceled before they started");
  CHECK(coring_test::counted::alive.load() == alive_before);
  // No read is left anywhere: what is written now is still there.
  int intact = 0;
  for (const auto& ch : channels) {
    ch->send("kept");
    if (ch->take(4) == "kept") ++intact;
  }
  CHECK(intact == tasks);
}

TEST_CASE("canceling tasks from another thread while the runtime shuts down frees every frame") {
  // cancel() may be called from any thread, also while shutdown destroys the tasks it targets.
  constexpr int tasks = 200;
  const int alive_before = coring_test::counted::alive.load();
  std::vector<std::unique_ptr<channel>> channels;
  std::vector<coring::join_handle<outcome>> handles;
  {
    coring::runtime rt{coring_test::small_runtime()};
    std::atomic<int> started{0};
    std::vector<std::atomic<bool>> flags(tasks);
    for (int i = 0; i < tasks; ++i) {
      const op_kind kind = all_kinds[static_cast<std::size_t>(i) % all_kinds.size()];
      const coring::executor home = i % 2 == 0 ? rt.io() : rt.cpu();
      channels.push_back(std::make_unique<channel>(kind));
      handles.push_back(coring::spawn(home, await_op(kind, channels.back()->reader(), home,
                                                     &flags[static_cast<std::size_t>(i)], nullptr)));
    }
    for (auto& f : flags) wait_for(f);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the operations reach the kernel
    std::atomic<bool> go{false};
    std::thread canceler([&] {
      while (!go.load()) std::this_thread::yield();
      for (auto& h : handles) h.cancel();
    });
    go.store(true);
    rt.shutdown();
    canceler.join();
  }
  for (const auto& h : handles) CHECK(h.done());
  CHECK(coring_test::counted::alive.load() == alive_before);
  int intact = 0;
  for (const auto& ch : channels) {
    ch->send("kept");
    if (ch->take(4) == "kept") ++intact;
  }
  CHECK(intact == tasks);
}
