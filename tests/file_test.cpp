// SPDX-License-Identifier: MIT
// Tests for coring::file (include/coring/file.hpp): reads and writes through the ring, from io-pool
// and CPU-pool tasks, the errors the kernel reports, and many operations in flight at once.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>

#include <algorithm>
#include <coring/coring.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {

using coring::task;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread, and a task
// may end on another thread than it started on.

// Compared as a condition: the kernel reports it in the system category, the library in the generic one.
constexpr std::errc bad_fd = std::errc::bad_file_descriptor;

using coring_test::temp_dir;

/// Bytes that differ from block to block and within a block, so a misplaced block is noticed.
std::vector<char> pattern(std::size_t size, unsigned seed = 0) {
  std::vector<char> bytes(size);
  for (std::size_t i = 0; i < size; ++i) {
    bytes[i] = static_cast<char>((i * 131 + i / 4096 * 7 + seed) % 251);
  }
  return bytes;
}

/// Writes a file synchronously (test set-up, not under test).
void create_file(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// Writes all of `data` at `offset`, looping over short writes. After every operation, checks that
/// the task still runs on `home`.
task<coring::result<void>> write_fully(const coring::file& f, std::span<const char> data,
                                       std::uint64_t offset, coring::executor home) {
  while (!data.empty()) {
    coring::result<std::size_t> n = co_await f.write_at(data, offset);
    CHECK(home.running_in_this_thread());
    if (!n) co_return n.error();
    if (*n == 0) co_return std::errc::io_error;
    data = data.subspan(*n);
    offset += *n;
  }
  co_return coring::result<void>{};
}

/// Fills `buffer` from `offset`, looping over short reads; stops early at end of file. Returns the
/// bytes read. After every operation, checks that the task still runs on `home`.
task<coring::result<std::size_t>> read_fully(const coring::file& f, std::span<char> buffer,
                                             std::uint64_t offset, coring::executor home) {
  std::size_t total = 0;
  while (total < buffer.size()) {
    coring::result<std::size_t> n = co_await f.read_at(buffer.subspan(total), offset + total);
    CHECK(home.running_in_this_thread());
    if (!n) co_return n.error();
    if (*n == 0) break;
    total += *n;
  }
  co_return total;
}

/// Creates `path`, writes `data`, reads it back and closes the file, all through the ring and
/// checking after every operation that the task runs on `home`. Returns what was read.
task<std::vector<char>> round_trip(std::string path, const std::vector<char>& data, coring::executor home) {
  coring::result<coring::file> opened = co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  CHECK(home.running_in_this_thread());
  REQUIRE(opened);
  coring::file f = std::move(*opened);
  CHECK(f.is_open());

  const coring::result<void> written = co_await write_fully(f, data, 0, home);
  CHECK(home.running_in_this_thread());
  REQUIRE(written);

  std::vector<char> back(data.size() + 100);  // room for more than was written: must stop at EOF
  const coring::result<std::size_t> n = co_await read_fully(f, back, 0, home);
  CHECK(home.running_in_this_thread());
  REQUIRE(n);
  back.resize(*n);

  const coring::result<void> closed = co_await f.close();
  CHECK(home.running_in_this_thread());
  CHECK(closed);
  CHECK_FALSE(f.is_open());
  co_return back;
}

/// Opens `path` and reads the `index`-th block of `block_size` bytes; checks that the task stays
/// on `home`. Returns the block (empty on an error, which is reported as a failed check).
task<std::vector<char>> read_block(std::string path, std::size_t index, std::size_t block_size,
                                   coring::executor home) {
  CHECK(home.running_in_this_thread());
  coring::result<coring::file> f = co_await coring::file::open(path);
  CHECK(home.running_in_this_thread());
  if (!f) {
    FAIL_CHECK("open failed: " << f.error().message());
    co_return std::vector<char>{};
  }
  std::vector<char> block(block_size);
  const coring::result<std::size_t> n = co_await read_fully(*f, block, index * block_size, home);
  if (!n) {
    FAIL_CHECK("read failed: " << n.error().message());
    co_return std::vector<char>{};
  }
  block.resize(*n);
  const coring::result<void> closed = co_await f->close();
  CHECK(home.running_in_this_thread());
  CHECK(closed);
  co_return block;
}

template <class T>
task<std::vector<T>> join_all(std::vector<coring::join_handle<T>> handles) {
  std::vector<T> values;
  values.reserve(handles.size());
  for (auto& h : handles) values.push_back(co_await h);
  co_return values;
}

}  // namespace

TEST_CASE("bytes written to a file through the ring from an io-pool task read back identical") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  const std::vector<char> data = pattern(200 * 1024 + 17);

  const std::vector<char> back = rt.block_on([](coring::runtime& runtime, std::string file_path,
                                                const std::vector<char>& bytes) -> task<std::vector<char>> {
    CHECK(runtime.io().running_in_this_thread());
    co_return co_await round_trip(std::move(file_path), bytes, runtime.io());
  }(rt, dir.path("io.bin"), data));

  REQUIRE(back.size() == data.size());
  CHECK(back == data);
  CHECK(std::filesystem::file_size(dir.path("io.bin")) == data.size());
}

TEST_CASE("file I/O awaited on the CPU pool reads back identical bytes and resumes on the CPU pool") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  const std::vector<char> data = pattern(300 * 1024 + 5, 3);

  const std::vector<char> back = rt.block_on([](coring::runtime& runtime, std::string file_path,
                                                const std::vector<char>& bytes) -> task<std::vector<char>> {
    co_await coring::on(runtime.cpu());
    CHECK(runtime.cpu().running_in_this_thread());
    CHECK_FALSE(runtime.io().running_in_this_thread());
    std::vector<char> read_back = co_await round_trip(std::move(file_path), bytes, runtime.cpu());
    CHECK(runtime.cpu().running_in_this_thread());
    co_return read_back;
  }(rt, dir.path("cpu.bin"), data));

  REQUIRE(back.size() == data.size());
  CHECK(back == data);
}

TEST_CASE("read_at at or past the end of a file gives 0 bytes") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  const std::string path = dir.path("short.bin");
  create_file(path, pattern(1000));

  rt.block_on([](std::string file_path) -> task<void> {
    coring::result<coring::file> f = co_await coring::file::open(file_path);
    REQUIRE(f);
    char buffer[64];
    coring::result<std::size_t> at_end = co_await f->read_at(buffer, 1000);
    REQUIRE(at_end);
    CHECK(*at_end == 0);
    coring::result<std::size_t> past_end = co_await f->read_at(buffer, 1'000'000);
    REQUIRE(past_end);
    CHECK(*past_end == 0);
    // Straddling the end gives only what is there.
    coring::result<std::size_t> tail = co_await f->read_at(buffer, 990);
    REQUIRE(tail);
    CHECK(*tail == 10);
  }(path));
}

TEST_CASE("opening a missing file gives no_such_file_or_directory") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  const std::error_code error = rt.block_on([](std::string file_path) -> task<std::error_code> {
    coring::result<coring::file> f = co_await coring::file::open(file_path);
    co_return f.error();
  }(dir.path("does-not-exist")));
  CHECK(error == std::errc::no_such_file_or_directory);
}

TEST_CASE("opening an existing file with O_CREAT | O_EXCL gives file_exists") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  const std::string path = dir.path("exists.bin");
  create_file(path, pattern(10));
  const std::error_code error = rt.block_on([](std::string file_path) -> task<std::error_code> {
    coring::result<coring::file> f = co_await coring::file::open(file_path, O_WRONLY | O_CREAT | O_EXCL);
    co_return f.error();
  }(path));
  CHECK(error == std::errc::file_exists);
  CHECK(std::filesystem::file_size(path) == 10);  // untouched
}

TEST_CASE("reads and writes on an unopened or closed file give bad_file_descriptor") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  rt.block_on([](coring::runtime& runtime, std::string file_path) -> task<void> {
    char buffer[16] = "0123456789abcde";
    for (const bool on_cpu : {false, true}) {
      if (on_cpu) co_await coring::on(runtime.cpu());

      const coring::file unopened;
      CHECK_FALSE(unopened.is_open());
      coring::result<std::size_t> r = co_await unopened.read_at(buffer, 0);
      CHECK(r.error() == bad_fd);
      coring::result<std::size_t> w = co_await unopened.write_at(std::span<const char>(buffer), 0);
      CHECK(w.error() == bad_fd);

      coring::result<coring::file> opened = co_await coring::file::open(file_path, O_RDWR | O_CREAT, 0600);
      REQUIRE(opened);
      coring::file f = std::move(*opened);
      coring::result<void> closed = co_await f.close();
      CHECK(closed);
      CHECK_FALSE(f.is_open());
      r = co_await f.read_at(buffer, 0);
      CHECK(r.error() == bad_fd);
      w = co_await f.write_at(std::span<const char>(buffer), 0);
      CHECK(w.error() == bad_fd);
      CHECK((on_cpu ? runtime.cpu() : runtime.io()).running_in_this_thread());
    }
  }(rt, dir.path("closed.bin")));
}

TEST_CASE("closing a file twice gives bad_file_descriptor the second time") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  rt.block_on([](std::string file_path) -> task<void> {
    coring::result<coring::file> f = co_await coring::file::open(file_path, O_WRONLY | O_CREAT, 0600);
    REQUIRE(f);
    const coring::result<void> first = co_await f->close();
    CHECK(first);
    const coring::result<void> second = co_await f->close();
    CHECK(second.error() == bad_fd);

    coring::file never_opened;
    const coring::result<void> unopened = co_await never_opened.close();
    CHECK(unopened.error() == bad_fd);
  }(dir.path("twice.bin")));
}

TEST_CASE("writing through a read-only file gives bad_file_descriptor") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  const std::string path = dir.path("read-only.bin");
  const std::vector<char> original = pattern(100);
  create_file(path, original);
  rt.block_on([](std::string file_path) -> task<void> {
    coring::result<coring::file> f = co_await coring::file::open(file_path, O_RDONLY);
    REQUIRE(f);
    const std::string text = "overwrite";
    const coring::result<std::size_t> w = co_await f->write_at(std::span<const char>(text), 0);
    CHECK(w.error() == bad_fd);
  }(path));
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> after{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  CHECK(after == original);
}

TEST_CASE("64 concurrent tasks on both pools each read their own 4 KiB block of a 256 KiB file") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  constexpr std::size_t block = 4096;
  constexpr std::size_t blocks = 64;
  const std::string path = dir.path("blocks.bin");
  const std::vector<char> data = pattern(block * blocks, 11);
  create_file(path, data);

  std::vector<coring::join_handle<std::vector<char>>> handles;
  for (std::size_t i = 0; i < blocks; ++i) {
    const coring::executor home = i % 2 == 0 ? rt.io() : rt.cpu();
    handles.push_back(coring::spawn(home, read_block(path, i, block, home)));
  }
  const std::vector<std::vector<char>> got = rt.block_on(join_all(std::move(handles)));

  REQUIRE(got.size() == blocks);
  for (std::size_t i = 0; i < blocks; ++i) {
    CAPTURE(i);
    const std::vector<char> expected(data.begin() + static_cast<std::ptrdiff_t>(i * block),
                                     data.begin() + static_cast<std::ptrdiff_t>((i + 1) * block));
    CHECK(got[i] == expected);
  }
}

TEST_CASE("200 concurrent file reads from CPU-pool tasks on a 4-entry ring all succeed") {
  // Far more operations than submission queue entries: the loop must queue what does not fit and
  // submit it as entries free up, without losing or failing any operation.
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1, .ring_entries = 4}};
  constexpr std::size_t block = 1024;
  constexpr std::size_t tasks = 200;
  const std::string path = dir.path("tiny-ring.bin");
  const std::vector<char> data = pattern(block * tasks, 5);
  create_file(path, data);

  std::vector<coring::join_handle<std::vector<char>>> handles;
  for (std::size_t i = 0; i < tasks; ++i) {
    handles.push_back(coring::spawn(rt.cpu(), read_block(path, i, block, rt.cpu())));
  }
  const std::vector<std::vector<char>> got = rt.block_on(join_all(std::move(handles)));

  REQUIRE(got.size() == tasks);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < tasks; ++i) {
    const bool same =
        std::equal(got[i].begin(), got[i].end(), data.begin() + static_cast<std::ptrdiff_t>(i * block),
                   data.begin() + static_cast<std::ptrdiff_t>((i + 1) * block));
    if (same) ++correct;
  }
  CHECK(correct == tasks);
  // Every open, read and close reached the kernel: none was dropped when the queue was full.
  CHECK(rt.metrics().ring_submissions >= 3 * tasks);
}

TEST_CASE("the ring submission and completion counters grow with file I/O") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  const coring::runtime_metrics before = rt.metrics();
  const std::vector<char> data = pattern(4096);
  const std::vector<char> back = rt.block_on(round_trip(dir.path("metrics.bin"), data, rt.io()));
  CHECK(back == data);
  const coring::runtime_metrics after = rt.metrics();
  // At least open, write, read (twice: the second sees end of file) and close went to the kernel.
  CHECK(after.ring_submissions >= before.ring_submissions + 5);
  CHECK(after.ring_completions >= before.ring_completions + 5);
  CHECK(after.io_threads == 1);
  CHECK(after.cpu_threads == 2);
}
