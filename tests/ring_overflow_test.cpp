// SPDX-License-Identifier: MIT
// Completion queue overflow: a runtime whose ring has 4 submission entries (8 completion entries)
// gets thousands of completions at once. The kernel keeps the completions that do not fit in an
// overflow list; none may be lost, and every task must resume with its own data.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coring/coring.hpp>
#include <coring/wait_fd.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using coring::task;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread.

constexpr coring::runtime_options tiny_ring{.io_threads = 1, .cpu_threads = 1, .ring_entries = 4};

/// Polls from outside the runtime until `pred` holds, for up to 60 s (generous: sanitizers).
template <class Pred>
void wait_long_for(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!pred() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(pred());
}

class pipe_pair {
 public:
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_end = fds[0];
    write_end = fds[1];
  }
  ~pipe_pair() {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
  }
  pipe_pair(pipe_pair&& other) noexcept
      : read_end(std::exchange(other.read_end, -1)), write_end(std::exchange(other.write_end, -1)) {}
  pipe_pair& operator=(pipe_pair&&) = delete;

  int read_end = -1;
  int write_end = -1;
};

std::string message_for(std::size_t index) {
  return "pipe #" + std::to_string(index);
}

enum class wait_kind { read, wait_readable };

/// Waits for data on a pipe, either with a file read through the ring or with wait_readable and
/// then a plain read. Returns what it read, or the error text.
task<std::string> receive(wait_kind kind, int fd, coring::executor home, std::atomic<int>& waiting) {
  std::array<char, 64> buffer{};
  waiting.fetch_add(1);
  std::string got;
  if (kind == wait_kind::read) {
    const coring::file pipe_end{::dup(fd)};
    const coring::result<std::size_t> n = co_await pipe_end.read_at(std::span<char>(buffer), 0);
    if (!n) co_return "error: " + n.error().message();
    got.assign(buffer.data(), *n);
  } else {
    const coring::result<unsigned> ready = co_await coring::wait_readable(fd);
    if (!ready) co_return "error: " + ready.error().message();
    if ((*ready & POLLIN) == 0) co_return "error: no POLLIN";
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) co_return "error: read failed";
    got.assign(buffer.data(), static_cast<std::size_t>(n));
  }
  if (!home.running_in_this_thread()) co_return "error: resumed on another pool";
  co_return got;
}

template <class T>
task<std::vector<T>> join_all(std::vector<coring::join_handle<T>> handles) {
  std::vector<T> values;
  values.reserve(handles.size());
  for (auto& h : handles) values.push_back(co_await h);
  co_return values;
}

/// Keeps the io loop's thread busy until `release` is set, so that the completions the kernel
/// produces meanwhile pile up and reach the completion queue in one go.
task<void> hold_the_loop(std::atomic<bool>& holding, const std::atomic<bool>& release) {
  holding.store(true);
  while (!release.load()) std::this_thread::yield();
  co_return;
}

/// Every request handed to the kernel completed, except the loop's armed wake-up read (one per
/// loop): at rest, submissions and completions differ by exactly that.
void check_completions_add_up(coring::runtime& rt, std::uint64_t at_least) {
  wait_long_for([&] {
    const coring::runtime_metrics m = rt.metrics();
    return m.ring_submissions == m.ring_completions + m.io_threads;
  });
  const coring::runtime_metrics m = rt.metrics();
  CHECK(m.ring_completions >= at_least);
}

void flood_of_pipe_waits(wait_kind kind) {
  constexpr std::size_t tasks = 2000;  // 4,000 pipe ends (+ 2,000 dups for reads): the fd limit is 20,000
  coring::runtime rt{tiny_ring};
  std::vector<pipe_pair> pipes;
  pipes.reserve(tasks);
  for (std::size_t i = 0; i < tasks; ++i) pipes.emplace_back();

  const coring::runtime_metrics before = rt.metrics();
  std::atomic<int> waiting{0};
  std::vector<coring::join_handle<std::string>> handles;
  handles.reserve(tasks);
  for (std::size_t i = 0; i < tasks; ++i) {
    const coring::executor home = i % 2 == 0 ? rt.io() : rt.cpu();
    handles.push_back(coring::spawn(home, receive(kind, pipes[i].read_end, home, waiting)));
  }
  // Every operation reached the kernel (four at a time through the tiny submission queue).
  wait_long_for([&] {
    return waiting.load() == static_cast<int>(tasks) &&
           rt.metrics().ring_submissions >= before.ring_submissions + tasks;
  });

  std::atomic<bool> holding{false};
  std::atomic<bool> release{false};
  auto holder = coring::spawn(rt.io(), hold_the_loop(holding, release));
  wait_long_for([&] { return holding.load(); });
  for (std::size_t i = 0; i < tasks; ++i) {
    const std::string message = message_for(i);
    REQUIRE(::write(pipes[i].write_end, message.data(), message.size()) ==
            static_cast<ssize_t>(message.size()));
  }
  release.store(true);  // 2,000 completions for an 8-entry completion queue

  const std::vector<std::string> got = rt.block_on(join_all(std::move(handles)));
  rt.block_on([](coring::join_handle<void> h) -> task<void> { co_await h; }(std::move(holder)));
  REQUIRE(got.size() == tasks);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < tasks; ++i) {
    if (got[i] == message_for(i)) {
      ++correct;
    } else if (correct + 10 > i) {  // report the first few only
      FAIL_CHECK("task " << i << " got '" << got[i] << "'");
    }
  }
  CHECK(correct == tasks);
  check_completions_add_up(rt, before.ring_completions + tasks);
}

}  // namespace

TEST_CASE("2,000 pipe reads completing at once on a 4-entry ring all resume with their own data") {
  flood_of_pipe_waits(wait_kind::read);
}

TEST_CASE("2,000 pipe waits completing at once on a 4-entry ring all resume") {
  flood_of_pipe_waits(wait_kind::wait_readable);
}

TEST_CASE("1,000 cancellations and 1,000 completions at once on a 4-entry ring each reach their own task") {
  // Every cancel request needs a submission entry of its own, and every canceled read a completion:
  // with the loop held while they are requested, both queues overflow when it comes back.
  constexpr std::size_t tasks = 2000;
  coring::runtime rt{tiny_ring};
  std::vector<pipe_pair> pipes;
  pipes.reserve(tasks);
  for (std::size_t i = 0; i < tasks; ++i) pipes.emplace_back();

  const coring::runtime_metrics before = rt.metrics();
  std::atomic<int> waiting{0};
  std::vector<coring::join_handle<std::string>> handles;
  handles.reserve(tasks);
  for (std::size_t i = 0; i < tasks; ++i) {
    const coring::executor home = i % 4 < 2 ? rt.io() : rt.cpu();
    handles.push_back(coring::spawn(home, receive(wait_kind::read, pipes[i].read_end, home, waiting)));
  }
  wait_long_for([&] {
    return waiting.load() == static_cast<int>(tasks) &&
           rt.metrics().ring_submissions >= before.ring_submissions + tasks;
  });

  std::atomic<bool> holding{false};
  std::atomic<bool> release{false};
  auto holder = coring::spawn(rt.io(), hold_the_loop(holding, release));
  wait_long_for([&] { return holding.load(); });
  for (std::size_t i = 0; i < tasks; ++i) {
    if (i % 2 == 0) {
      handles[i].cancel();
    } else {
      const std::string message = message_for(i);
      REQUIRE(::write(pipes[i].write_end, message.data(), message.size()) ==
              static_cast<ssize_t>(message.size()));
    }
  }
  release.store(true);

  const std::vector<std::string> got = rt.block_on(join_all(std::move(handles)));
  rt.block_on([](coring::join_handle<void> h) -> task<void> { co_await h; }(std::move(holder)));
  REQUIRE(got.size() == tasks);
  const std::string canceled_text = "error: " + std::make_error_code(std::errc::operation_canceled).message();
  std::size_t correct = 0;
  for (std::size_t i = 0; i < tasks; ++i) {
    const std::string expected = i % 2 == 0 ? canceled_text : message_for(i);
    if (got[i] == expected) {
      ++correct;
    } else if (correct + 10 > i) {  // report the first few only
      FAIL_CHECK("task " << i << " got '" << got[i] << "', expected '" << expected << "'");
    }
  }
  CHECK(correct == tasks);
  // No canceled read stayed in the kernel: what is written to those pipes now is still there.
  std::size_t unread = 0;
  for (std::size_t i = 0; i < tasks; i += 2) {
    const std::string message = message_for(i);
    REQUIRE(::write(pipes[i].write_end, message.data(), message.size()) ==
            static_cast<ssize_t>(message.size()));
    std::array<char, 64> buffer{};
    if (::read(pipes[i].read_end, buffer.data(), buffer.size()) == static_cast<ssize_t>(message.size()))
      ++unread;
  }
  CHECK(unread == tasks / 2);
  check_completions_add_up(rt, before.ring_completions + tasks);
}

namespace {

constexpr std::size_t block_size = 4096;
constexpr std::size_t file_blocks = 1024;  // a 4 MiB file; block i holds bytes that depend on i

char byte_at(std::size_t block, std::size_t offset) {
  return static_cast<char>((block * 31 + offset * 7 + offset / 251) % 256);
}

/// Reads block `index % file_blocks` into a buffer in this frame and checks every byte.
task<bool> read_and_check(const coring::file& f, std::size_t index, coring::executor home) {
  std::array<char, block_size> buffer;
  const std::size_t block = index % file_blocks;
  std::size_t done = 0;
  while (done < block_size) {
    const coring::result<std::size_t> n =
        co_await f.read_at(std::span<char>(buffer).subspan(done), block * block_size + done);
    if (!n || *n == 0) co_return false;
    done += *n;
  }
  if (!home.running_in_this_thread()) co_return false;
  for (std::size_t i = 0; i < block_size; ++i) {
    if (buffer[i] != byte_at(block, i)) co_return false;
  }
  co_return true;
}

}  // namespace

TEST_CASE("10,000 concurrent 4 KiB file reads on a 4-entry ring all complete with the right bytes") {
  // Page-cache reads complete while they are submitted: with 4 submission and 8 completion
  // entries, completions overflow as soon as the loop submits more than it reaps.
  constexpr std::size_t reads = 10000;
  std::string dir = "/tmp/coring_ring_overflow.XXXXXX";
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  const std::string path = dir + "/blocks.bin";
  {
    std::ofstream out(path, std::ios::binary);
    std::vector<char> block(block_size);
    for (std::size_t b = 0; b < file_blocks; ++b) {
      for (std::size_t i = 0; i < block_size; ++i) block[i] = byte_at(b, i);
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
    REQUIRE(out.good());
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  {
    const coring::file f{fd};
    coring::runtime rt{tiny_ring};
    const coring::runtime_metrics before = rt.metrics();
    std::vector<coring::join_handle<bool>> handles;
    handles.reserve(reads);
    for (std::size_t i = 0; i < reads; ++i) {
      const coring::executor home = i % 2 == 0 ? rt.io() : rt.cpu();
      handles.push_back(coring::spawn(home, read_and_check(f, i, home)));
    }
    const std::vector<bool> ok = rt.block_on(join_all(std::move(handles)));
    std::size_t correct = 0;
    for (const bool b : ok) correct += b ? 1 : 0;
    CHECK(correct == reads);
    check_completions_add_up(rt, before.ring_completions + reads);
    if (rt.backend() == coring::backend_kind::io_uring) {
      // The loop's metrics saw both queues run full (the epoll backend has neither queue).
      const coring::loop_metrics loop = rt.metrics().loops.at(0);
      CHECK(loop.sq_full > 0);
      CHECK(loop.cq_overflows > 0);
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}
