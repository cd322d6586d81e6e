// SPDX-License-Identifier: MIT
// Tests for coring::fs (include/coring/fs.hpp) and coring::file_status / file::stat()
// (include/coring/file_status.hpp): removing, renaming and creating through the ring, whole-file
// reads and writes, statx by path and by descriptor, the errors the kernel reports, and CPU-pool
// tasks staying on the CPU pool.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <coring/coring.hpp>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "support.hpp"

namespace {

using coring::task;

// Tasks use CHECK/REQUIRE but never INFO or CAPTURE: doctest keeps those per thread, and a task
// may end on another thread than it started on.

using coring_test::temp_dir;

/// Text whose bytes differ from block to block and within a block, so a misplaced block is noticed.
std::string pattern(std::size_t size, unsigned seed = 0) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    bytes[i] = static_cast<char>((i * 131 + i / 4096 * 7 + seed) % 251);
  }
  return bytes;
}

/// Writes a file synchronously (test set-up, not under test).
void create_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// Reads a file synchronously (checking, not under test).
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The process's umask, without changing it for good.
mode_t current_umask() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}

}  // namespace

TEST_CASE("fs::write_file then fs::read_file give back the bytes, also those the file had before") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string path = dir.path("text.txt");
  create_file(path, "an older and much longer content that must be truncated away");

  const std::string back = rt.block_on([](std::string file_path) -> task<std::string> {
    const coring::result<void> written = co_await coring::fs::write_file(file_path, "hello, ring\n");
    REQUIRE(written);
    coring::result<std::string> read = co_await coring::fs::read_file(file_path);
    REQUIRE(read);
    co_return std::move(*read);
  }(path));

  CHECK(back == "hello, ring\n");
  CHECK(slurp(path) == "hello, ring\n");
}

TEST_CASE("fs::read_file reads a file written outside, and an empty file as an empty string") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string data = pattern(100 * 1024 + 3, 9);
  create_file(dir.path("data.bin"), data);
  create_file(dir.path("empty.bin"), "");

  rt.block_on([](std::string data_path, std::string empty_path, const std::string& expected) -> task<void> {
    const coring::result<std::string> read = co_await coring::fs::read_file(data_path);
    REQUIRE(read);
    CHECK(read->size() == expected.size());
    CHECK(*read == expected);
    const coring::result<std::string> empty = co_await coring::fs::read_file(empty_path);
    REQUIRE(empty);
    CHECK(empty->empty());
  }(dir.path("data.bin"), dir.path("empty.bin"), data));
}

TEST_CASE("fs::read_file reads a /proc file whose size reads as 0") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const coring::result<std::string> read = rt.block_on(coring::fs::read_file("/proc/self/status"));
  REQUIRE(read);
  CHECK(read->find("Name:") != std::string::npos);
}

TEST_CASE("fs::write_file creates a file with the given mode") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string path = dir.path("private.txt");
  const coring::result<void> written = rt.block_on(coring::fs::write_file(path, "secret", 0640));
  REQUIRE(written);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == (0640 & ~current_umask()));
  CHECK(slurp(path) == "secret");
}

TEST_CASE("fs::make_directory, rename, remove and remove_directory change the file system") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string sub = dir.path("sub");
  const std::string first = dir.path("sub/first.txt");
  const std::string second = dir.path("sub/second.txt");

  rt.block_on([](std::string sub_dir, std::string first_path, std::string second_path) -> task<void> {
    const coring::result<void> made = co_await coring::fs::make_directory(sub_dir, 0700);
    REQUIRE(made);
    CHECK(std::filesystem::is_directory(sub_dir));
    struct stat st {};
    REQUIRE(::stat(sub_dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == (0700 & ~current_umask()));

    create_file(first_path, "moved content");
    const coring::result<void> renamed = co_await coring::fs::rename(first_path, second_path);
    REQUIRE(renamed);
    CHECK_FALSE(std::filesystem::exists(first_path));
    CHECK(slurp(second_path) == "moved content");

    // rename replaces an existing target.
    create_file(first_path, "replacement");
    const coring::result<void> replaced = co_await coring::fs::rename(first_path, second_path);
    REQUIRE(replaced);
    CHECK_FALSE(std::filesystem::exists(first_path));
    CHECK(slurp(second_path) == "replacement");

    const coring::result<void> removed = co_await coring::fs::remove(second_path);
    REQUIRE(removed);
    CHECK_FALSE(std::filesystem::exists(second_path));

    const coring::result<void> rmdir = co_await coring::fs::remove_directory(sub_dir);
    REQUIRE(rmdir);
    CHECK_FALSE(std::filesystem::exists(sub_dir));
  }(sub, first, second));
}

TEST_CASE("the file-system operations report the kernel's errors") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string missing = dir.path("missing");
  const std::string full_dir = dir.path("full");
  const std::string existing = dir.path("existing");
  std::filesystem::create_directory(full_dir);
  create_file(full_dir + "/inside.txt", "x");
  std::filesystem::create_directory(existing);

  rt.block_on([](std::string missing_path, std::string full_path, std::string existing_path) -> task<void> {
    const coring::result<void> removed = co_await coring::fs::remove(missing_path);
    CHECK(removed.error() == std::errc::no_such_file_or_directory);

    const coring::result<void> made = co_await coring::fs::make_directory(existing_path);
    CHECK(made.error() == std::errc::file_exists);

    const coring::result<void> renamed = co_await coring::fs::rename(missing_path, missing_path + ".new");
    CHECK(renamed.error() == std::errc::no_such_file_or_directory);

    const coring::result<std::string> read = co_await coring::fs::read_file(missing_path);
    CHECK(read.error() == std::errc::no_such_file_or_directory);

    const coring::result<coring::file_status> st = co_await coring::fs::status(missing_path);
    CHECK(st.error() == std::errc::no_such_file_or_directory);

    const coring::result<void> rmdir = co_await coring::fs::remove_directory(full_path);
    CHECK(rmdir.error() == std::errc::directory_not_empty);

    // remove() does not take a directory, remove_directory() does not take a file.
    const coring::result<void> remove_dir = co_await coring::fs::remove(existing_path);
    CHECK(remove_dir.error() == std::errc::is_a_directory);
    const coring::result<void> rmdir_file = co_await coring::fs::remove_directory(full_path + "/inside.txt");
    CHECK(rmdir_file.error() == std::errc::not_a_directory);

    const coring::result<void> write_into_missing =
        co_await coring::fs::write_file(missing_path + "/child.txt", "x");
    CHECK(write_into_missing.error() == std::errc::no_such_file_or_directory);
  }(missing, full_dir, existing));

  CHECK(std::filesystem::exists(full_dir + "/inside.txt"));
  CHECK(std::filesystem::is_directory(existing));
}

TEST_CASE("file::stat reports the size, mode and type of what was written") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string path = dir.path("stat.bin");
  const std::string data = pattern(12345);
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(5);

  const coring::file_status st =
      rt.block_on([](std::string file_path, const std::string& bytes) -> task<coring::file_status> {
        coring::result<coring::file> opened =
            co_await coring::file::open(file_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        REQUIRE(opened);
        coring::file f = std::move(*opened);
        const coring::result<void> written =
            co_await f.write_all(std::as_bytes(std::span<const char>(bytes)), 0);
        REQUIRE(written);
        coring::result<coring::file_status> status = co_await f.stat();
        REQUIRE(status);
        const coring::result<void> closed = co_await f.close();
        CHECK(closed);
        co_return *status;
      }(path, data));

  struct stat expected {};
  REQUIRE(::stat(path.c_str(), &expected) == 0);
  CHECK(st.size == data.size());
  CHECK(st.is_regular());
  CHECK_FALSE(st.is_directory());
  CHECK(st.permissions() == (0600 & ~current_umask()));
  CHECK(st.mode == expected.st_mode);
  CHECK(st.uid == ::getuid());
  CHECK(st.gid == expected.st_gid);
  CHECK(st.nlink == 1);
  const auto after = std::chrono::system_clock::now() + std::chrono::seconds(5);
  CHECK(st.modify_time > before);
  CHECK(st.modify_time < after);
  CHECK(st.change_time > before);
  CHECK(st.change_time < after);
  CHECK(st.access_time < after);
  CHECK(std::chrono::system_clock::to_time_t(st.modify_time) == expected.st_mtim.tv_sec);
}

TEST_CASE("file::stat on an unopened or closed file gives bad_file_descriptor") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  rt.block_on([](std::string file_path) -> task<void> {
    const coring::file unopened;
    const coring::result<coring::file_status> none = co_await unopened.stat();
    CHECK(none.error() == std::errc::bad_file_descriptor);

    coring::result<coring::file> opened = co_await coring::file::open(file_path, O_WRONLY | O_CREAT, 0600);
    REQUIRE(opened);
    const coring::result<void> closed = co_await opened->close();
    CHECK(closed);
    const coring::result<coring::file_status> after_close = co_await opened->stat();
    CHECK(after_close.error() == std::errc::bad_file_descriptor);
  }(dir.path("closed.bin")));
}

TEST_CASE("fs::status tells directories, files and symbolic links apart") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string file_path = dir.path("target.txt");
  const std::string link_path = dir.path("link");
  create_file(file_path, "twelve bytes");
  std::filesystem::create_symlink(file_path, link_path);

  rt.block_on([](std::string directory, std::string target, std::string link) -> task<void> {
    const coring::result<coring::file_status> d = co_await coring::fs::status(directory);
    REQUIRE(d);
    CHECK(d->is_directory());
    CHECK_FALSE(d->is_regular());

    const coring::result<coring::file_status> f = co_await coring::fs::status(target);
    REQUIRE(f);
    CHECK(f->is_regular());
    CHECK(f->size == 12);

    // Followed by default, the link itself with AT_SYMLINK_NOFOLLOW.
    const coring::result<coring::file_status> followed = co_await coring::fs::status(link);
    REQUIRE(followed);
    CHECK(followed->is_regular());
    CHECK(followed->size == 12);
    const coring::result<coring::file_status> itself = co_await coring::fs::status(link, AT_SYMLINK_NOFOLLOW);
    REQUIRE(itself);
    CHECK(itself->is_symlink());
    CHECK_FALSE(itself->is_regular());
    CHECK(itself->size == target.size());  // a link's size is the length of the path it holds
  }(dir.path(""), file_path, link_path));
}

TEST_CASE("fs operations awaited on the CPU pool resume on the CPU pool") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};

  rt.block_on([](coring::runtime& runtime, std::string base) -> task<void> {
    co_await coring::on(runtime.cpu());
    const coring::executor cpu = runtime.cpu();
    CHECK(cpu.running_in_this_thread());
    CHECK_FALSE(runtime.io().running_in_this_thread());

    const coring::result<void> made = co_await coring::fs::make_directory(base + "/d");
    CHECK(cpu.running_in_this_thread());
    CHECK(made);

    const coring::result<void> written =
        co_await coring::fs::write_file(base + "/d/a.txt", "on the cpu pool");
    CHECK(cpu.running_in_this_thread());
    CHECK(written);

    const coring::result<coring::file_status> st = co_await coring::fs::status(base + "/d/a.txt");
    CHECK(cpu.running_in_this_thread());
    REQUIRE(st);
    CHECK(st->size == 15);

    coring::result<coring::file> opened = co_await coring::file::open(base + "/d/a.txt");
    CHECK(cpu.running_in_this_thread());
    REQUIRE(opened);
    const coring::result<coring::file_status> fst = co_await opened->stat();
    CHECK(cpu.running_in_this_thread());
    REQUIRE(fst);
    CHECK(fst->size == 15);
    const coring::result<void> closed = co_await opened->close();
    CHECK(cpu.running_in_this_thread());
    CHECK(closed);

    const coring::result<void> renamed = co_await coring::fs::rename(base + "/d/a.txt", base + "/d/b.txt");
    CHECK(cpu.running_in_this_thread());
    CHECK(renamed);

    const coring::result<std::string> read = co_await coring::fs::read_file(base + "/d/b.txt");
    CHECK(cpu.running_in_this_thread());
    REQUIRE(read);
    CHECK(*read == "on the cpu pool");

    const coring::result<void> missing = co_await coring::fs::remove(base + "/d/a.txt");
    CHECK(cpu.running_in_this_thread());
    CHECK(missing.error() == std::errc::no_such_file_or_directory);

    const coring::result<void> removed = co_await coring::fs::remove(base + "/d/b.txt");
    CHECK(cpu.running_in_this_thread());
    CHECK(removed);

    const coring::result<void> rmdir = co_await coring::fs::remove_directory(base + "/d");
    CHECK(cpu.running_in_this_thread());
    CHECK(rmdir);
  }(rt, dir.path("")));

  CHECK_FALSE(std::filesystem::exists(dir.path("d")));
}

TEST_CASE("a 3 MiB fs::write_file / fs::read_file round trip gives back identical bytes") {
  temp_dir dir;
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::string path = dir.path("big.bin");
  const std::string data = pattern(3 * 1024 * 1024, 17);

  const coring::result<std::string> back =
      rt.block_on([](coring::runtime& runtime, std::string file_path,
                     const std::string& bytes) -> task<coring::result<std::string>> {
        co_await coring::on(runtime.cpu());
        const coring::result<void> written = co_await coring::fs::write_file(file_path, bytes);
        CHECK(runtime.cpu().running_in_this_thread());
        REQUIRE(written);
        coring::result<std::string> read = co_await coring::fs::read_file(file_path);
        CHECK(runtime.cpu().running_in_this_thread());
        co_return read;
      }(rt, path, data));

  REQUIRE(back);
  REQUIRE(back->size() == data.size());
  CHECK(*back == data);
  CHECK(std::filesystem::file_size(path) == data.size());
}
