// SPDX-License-Identifier: MIT
// Choosing the backend: automatic falls back to epoll where io_uring is refused (a seccomp filter
// in a child process, as Docker's default profile refuses it), an explicit choice is kept, and
// CORING_BACKEND is checked.
#include <doctest/doctest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <coring/coring.hpp>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct probe_outcome {
  int status = -1;
  std::string out;
  std::string err;
};

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

/// Runs tests/tools/backend_probe.cpp with `args`, its stdout and stderr captured.
probe_outcome run_probe(const std::string& error, const std::string& mode,
                        const std::string& blocked = "all") {
  int out[2];
  int err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::string program = CORING_BACKEND_PROBE;
  std::vector<char*> argv = {program.data(), const_cast<char*>(error.c_str()),
                             const_cast<char*>(mode.c_str()), const_cast<char*>(blocked.c_str()), nullptr};
  pid_t child = -1;
  const int spawned = ::posix_spawn(&child, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(err[1]);
  REQUIRE(spawned == 0);
  probe_outcome outcome;
  outcome.out = read_all(out[0]);  // the probe writes little: stderr's pipe cannot fill meanwhile
  outcome.err = read_all(err[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return outcome;
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

/// Sets an environment variable for one test and puts the old value back.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    had_ = ::getenv(name) != nullptr;
    ::setenv(name, value, 1);
  }
  ~scoped_env() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST_CASE(
    "where seccomp refuses io_uring, automatic runs every loop on epoll, passes every round trip and says so "
    "once") {
  // all: Docker's default profile; setup alone; enter alone (a ring is made, but never runs).
  for (const std::string blocked : {"all", "setup", "enter"}) {
    for (const std::string error : {"EPERM", "ENOSYS"}) {
      CAPTURE(blocked);
      CAPTURE(error);
      const probe_outcome o = run_probe(error, "automatic", blocked);
      CAPTURE(o.out);
      CAPTURE(o.err);
      CHECK(o.status == 0);
      CHECK(count_of(o.err, "coring: io_uring unavailable") == 1);  // two runtimes and two loops: one line
      CHECK(count_of(o.err, "using the epoll backend") == 1);
      CHECK(count_of(o.err, blocked == "enter" ? "io_uring_enter" : "io_uring_setup") ==
            1);  // says which call
    }
  }
}

TEST_CASE("quiet_backend_fallback falls back to epoll without a word") {
  const probe_outcome o = run_probe("EPERM", "quiet");
  CAPTURE(o.out);
  CHECK(o.status == 0);
  CHECK(o.err.empty());
}

TEST_CASE("asking for io_uring where it is refused throws its errno, it does not fall back") {
  for (const std::string error : {"EPERM", "ENOSYS"}) {
    CAPTURE(error);
    const probe_outcome o = run_probe(error, "io_uring", error == "EPERM" ? "enter" : "all");
    CAPTURE(o.out);
    CAPTURE(o.err);
    CHECK(o.status == 0);
    CHECK(count_of(o.err, "using the epoll backend") == 0);
  }
}

TEST_CASE("backend_kind::epoll is kept even where io_uring works, by runtimes and loops") {
  coring::runtime rt{{.io_threads = 2, .cpu_threads = 1, .backend = coring::backend_kind::epoll}};
  CHECK(rt.backend() == coring::backend_kind::epoll);
  CHECK(rt.block_on([]() -> coring::task<int> {
    auto slept = co_await coring::sleep_for(std::chrono::milliseconds(1));
    co_return slept ? 7 : 0;
  }()) == 7);
  coring::event_loop loop{{.backend = coring::backend_kind::epoll}};
  CHECK(loop.backend() == coring::backend_kind::epoll);
  CHECK(std::string(loop.backend_name()) == "epoll");
}

TEST_CASE("CORING_BACKEND chooses for automatic, and a value it does not know is an error") {
  {
    const scoped_env env("CORING_BACKEND", "epoll");
    coring::event_loop loop;
    CHECK(loop.backend() == coring::backend_kind::epoll);
    coring::event_loop explicit_choice{{.backend = coring::backend_kind::io_uring}};
    CHECK(explicit_choice.backend() == coring::backend_kind::io_uring);  // the code's choice wins
  }
  {
    const scoped_env env("CORING_BACKEND", "io_uring");
    coring::event_loop loop;
    CHECK(loop.backend() == coring::backend_kind::io_uring);
  }
  {
    const scoped_env env("CORING_BACKEND", "kqueue");
    CHECK_THROWS_AS(coring::event_loop{}, std::invalid_argument);
    CHECK_THROWS_AS((coring::runtime{{.io_threads = 1, .cpu_threads = 1}}), std::invalid_argument);
  }
  CHECK(coring::to_string(coring::backend_kind::epoll) == "epoll");
  CHECK(coring::to_string(coring::backend_kind::io_uring) == "io_uring");
  CHECK(coring::to_string(coring::backend_kind::automatic) == "automatic");
}
