// SPDX-License-Identifier: MIT
// A system call into the ring that fails (io_uring_enter with an errno other than EINTR, EAGAIN,
// EBUSY or ETIME) is not ignored: the requests it was to submit fail with that error, the failure
// is reported once through the unhandled-exception handler, the loop does not spin while the ring
// refuses work, and it uses the ring again once the failure passes.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <coring/coring.hpp>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "backend/backend.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using coring::task;

struct reports {
  std::mutex mutex;
  std::vector<std::error_code> codes;

  void install(coring::runtime& rt) {
    rt.set_unhandled_exception_handler([this](std::exception_ptr error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::system_error& e) {
        std::lock_guard lock(mutex);
        codes.push_back(e.code());
      } catch (...) {
        std::lock_guard lock(mutex);
        codes.push_back(std::make_error_code(std::errc::io_error));
      }
    });
  }
  std::vector<std::error_code> taken() {
    std::lock_guard lock(mutex);
    return codes;
  }
};

std::string small_file() {
  const auto path =
      std::filesystem::temp_directory_path() / ("coring_ring_failure_" + std::to_string(::getpid()));
  std::ofstream(path) << "hello";
  return path.string();
}

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

TEST_CASE("a failed enter fails the queued requests with its error and the next request works") {
  const std::string path = small_file();
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  reports seen;
  seen.install(rt);
  rt.block_on([&]() -> task<void> {
    coring::detail::testing::fail_enters_on_this_thread(EBADF, 1);
    auto failed = co_await coring::file::open(path);
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error() == std::error_code(EBADF, std::system_category()));
    auto worked = co_await coring::file::open(path);
    REQUIRE(worked.has_value());
    char buffer[8] = {};
    auto n = co_await worked->read_at(std::span<char>(buffer), 0);
    REQUIRE(n.has_value());
    CHECK(*n == 5);
  }());
  const auto codes = seen.taken();
  REQUIRE(codes.size() == 1);
  CHECK(codes[0] == std::error_code(EBADF, std::system_category()));
  std::filesystem::remove(path);
}

TEST_CASE("while the ring keeps failing, requests fail at once, timers fire, the loop sleeps, one report") {
  const std::string path = small_file();
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  reports seen;
  seen.install(rt);
  double cpu_used = 0;
  rt.block_on([&]() -> task<void> {
    coring::detail::testing::fail_enters_on_this_thread(EFAULT, 1'000'000);
    for (int i = 0; i < 20; ++i) {
      auto r = co_await coring::file::open(path);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error() == std::error_code(EFAULT, std::system_category()));
    }
    // A sleep never reaches the ring: it fires from the loop's timer heap, and meanwhile the
    // loop blocks instead of retrying the failing call in a busy loop.
    const double cpu_before = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    auto slept = co_await coring::sleep_for(200ms);
    CHECK(slept.has_value());
    CHECK(std::chrono::steady_clock::now() - start >= 200ms);
    cpu_used = process_cpu_seconds() - cpu_before;
    coring::detail::testing::fail_enters_on_this_thread(0, 0);  // the failure passes
    auto worked = co_await coring::file::open(path);
    CHECK(worked.has_value());
  }());
  MESSAGE("CPU while the ring failed: " << cpu_used << " s over 0.2 s");
  CHECK(cpu_used < 0.1);
  CHECK(seen.taken().size() == 1);
  // Work from other threads still reaches the loop, and it shuts down cleanly.
  CHECK(rt.block_on([]() -> task<int> { co_return 3; }()) == 3);
  rt.shutdown();
  std::filesystem::remove(path);
}
