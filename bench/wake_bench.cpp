// SPDX-License-Identifier: MIT
// wake_bench: what does it cost to wake a thread that sleeps in io_uring_submit_and_wait on a
// ring it owns? Raw liburing, no coring.
//
// Two threads, A and B, each own a ring created with IORING_SETUP_SINGLE_ISSUER |
// IORING_SETUP_DEFER_TASKRUN (no flags when the kernel says EINVAL). They play ping-pong: A wakes B,
// B wakes A back; one round trip = two wake-ups. Both sides use the same mechanism:
//
//  * eventfd:  each sleeper keeps an IORING_OP_READ of its own eventfd (8-byte buffer) armed on its
//              ring; the waker calls eventfd_write() on the sleeper's eventfd (a plain syscall,
//              no ring needed). Per side and round trip: eventfd_write + io_uring_enter.
//  * msg_ring: the waker submits IORING_OP_MSG_RING on its own ring, which posts a CQE straight into
//              the sleeper's ring (IOSQE_CQE_SKIP_SUCCESS, so the waker's ring gets no CQE of its
//              own). "fused": the MSG_RING sqe is submitted by the same io_uring_enter that then
//              waits (one syscall per side and round trip); "split": io_uring_submit, then wait
//              (two syscalls, like eventfd).
//
// Reported: ns per round trip, and the "waker cost", the time the waking thread spends in the wake
// call itself (eventfd_write, or io_uring_submit of the MSG_RING sqe), measured with steady_clock
// around each call in a separate run (its clock-pair overhead is printed alongside).
// Each figure is min / median / max over --reps runs of --n round trips (after 1000 warm-up ones),
// with the threads pinned to CPUs 0 and 1 ("two cores") and both to CPU 0 ("one core").
//
// Flags: --n=100000 --reps=5 --quick (n=10000)
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace {

enum class mechanism { eventfd, msg_ring };
enum class mode {
  fused,  // msg_ring: prep the wake, submit it with the wait (one io_uring_enter)
  split,  // msg_ring: io_uring_submit the wake, then wait (two syscalls)
  timed,  // like split, and every wake call is timed
};

constexpr std::uint64_t tag_read = 1;     // eventfd read completion
constexpr std::uint64_t tag_message = 2;  // CQE posted by the peer's MSG_RING
constexpr std::uint64_t tag_own_msg = 3;  // our own MSG_RING sqe (only seen if it failed)

struct run_setup {
  mechanism mech;
  mode how;
  int cpu[2];
  long warmup;
  long n;
};

struct run_shared {
  explicit run_shared(const run_setup& s) : setup(s) {}
  run_setup setup;
  int efd[2] = {-1, -1};
  std::atomic<int> ring_fd[2] = {-1, -1};
  std::latch rings_ready{2};
  unsigned flags_used[2] = {0, 0};
  double round_trip_ns = 0;  // written by A
  double wake_ns_sum[2] = {0, 0};
  long wake_calls[2] = {0, 0};
};

void die_errno(const char* what, int err) {
  bench::fail(std::string(what) + ": " + std::strerror(err));
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (rc != 0) die_errno("pthread_setaffinity_np", rc);
}

// Creates the ring with SINGLE_ISSUER | DEFER_TASKRUN, or with no flags if the kernel refuses them.
unsigned init_ring(io_uring& ring) {
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(64, &ring, &params);
  if (rc == -EINVAL) {
    params = io_uring_params{};
    rc = io_uring_queue_init_params(64, &ring, &params);
  }
  if (rc < 0) die_errno("io_uring_queue_init_params", -rc);
  return params.flags;
}

io_uring_sqe* get_sqe(io_uring& ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) bench::fail("submission queue full");
  return sqe;
}

class side {
 public:
  side(run_shared& shared, int me) : s_(shared), me_(me), peer_(1 - me) {}

  void run() {
    pin_to(s_.setup.cpu[me_]);
    s_.flags_used[me_] = init_ring(ring_);
    s_.ring_fd[me_].store(ring_.ring_fd);
    if (s_.setup.mech == mechanism::eventfd) {
      arm_read();
      submit();
    }
    s_.rings_ready.arrive_and_wait();
    peer_ring_fd_ = s_.ring_fd[peer_].load();

    const long total = s_.setup.warmup + s_.setup.n;
    if (me_ == 0) {
      bench::stopwatch clock;
      for (long i = 0; i < total; ++i) {
        if (i == s_.setup.warmup) {
          clock.restart();
          wake_ns_ = 0;
          wakes_ = 0;
        }
        wake();
        wait_one();
      }
      s_.round_trip_ns = clock.elapsed_ns() / static_cast<double>(s_.setup.n);
    } else {
      for (long i = 0; i < total; ++i) {
        if (i == s_.setup.warmup) {
          wake_ns_ = 0;
          wakes_ = 0;
        }
        wait_one();
        wake();
      }
      submit();  // a fused last reply is still only prepared
    }
    s_.wake_ns_sum[me_] = wake_ns_;
    s_.wake_calls[me_] = wakes_;
    io_uring_queue_exit(&ring_);  // also cancels the read that is still armed
  }

 private:
  void arm_read() {
    io_uring_sqe* sqe = get_sqe(ring_);
    io_uring_prep_read(sqe, s_.efd[me_], &buffer_, sizeof buffer_, 0);
    io_uring_sqe_set_data64(sqe, tag_read);
  }

  void submit() {
    int rc;
    do {
      rc = io_uring_submit(&ring_);
    } while (rc == -EINTR);
    if (rc < 0) die_errno("io_uring_submit", -rc);
  }

  void wake() {
    const bool timed = s_.setup.how == mode::timed;
    std::chrono::steady_clock::time_point t0;
    if (timed) t0 = std::chrono::steady_clock::now();
    if (s_.setup.mech == mechanism::eventfd) {
      if (eventfd_write(s_.efd[peer_], 1) != 0) die_errno("eventfd_write", errno);
    } else {
      io_uring_sqe* sqe = get_sqe(ring_);
      io_uring_prep_msg_ring(sqe, peer_ring_fd_, /*len (becomes res)*/ 1,
                             /*data (becomes user_data)*/ tag_message, 0);
      io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
      // The sqe's own user_data; a CQE carrying it only appears when the MSG_RING failed.
      io_uring_sqe_set_data64(sqe, tag_own_msg);
      if (s_.setup.how != mode::fused) submit();
    }
    if (timed) {
      wake_ns_ += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
      ++wakes_;
    }
  }

  // Sleeps until one wake-up CQE arrives (submitting whatever is prepared), consumes it and, for
  // eventfd, prepares the next read (submitted by the next wait).
  void wait_one() {
    for (;;) {
      int rc = io_uring_submit_and_wait(&ring_, 1);
      if (rc == -EINTR) continue;
      if (rc < 0) die_errno("io_uring_submit_and_wait", -rc);
      io_uring_cqe* cqe = nullptr;
      rc = io_uring_peek_cqe(&ring_, &cqe);
      if (rc == -EAGAIN) continue;
      if (rc < 0) die_errno("io_uring_peek_cqe", -rc);
      const std::uint64_t tag = io_uring_cqe_get_data64(cqe);
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      if (tag == tag_read) {
        if (res != static_cast<int>(sizeof buffer_)) die_errno("eventfd read", -res);
        arm_read();
        return;
      }
      if (tag == tag_message) {
        if (res != 1) bench::fail("unexpected MSG_RING payload");
        return;
      }
      die_errno("MSG_RING", -res);
    }
  }

  run_shared& s_;
  const int me_;
  const int peer_;
  io_uring ring_{};
  int peer_ring_fd_ = -1;
  std::uint64_t buffer_ = 0;
  double wake_ns_ = 0;
  long wakes_ = 0;
};

struct run_result {
  double round_trip_ns;
  double wake_ns;  // mean per wake call (timed runs only)
  unsigned flags;
};

run_result run_once(const run_setup& setup) {
  run_shared shared(setup);
  if (setup.mech == mechanism::eventfd) {
    for (int& fd : shared.efd) {
      fd = eventfd(0, EFD_CLOEXEC);
      if (fd < 0) die_errno("eventfd", errno);
    }
  }
  {
    side a(shared, 0);
    side b(shared, 1);
    std::thread tb([&] { b.run(); });
    std::thread ta([&] { a.run(); });
    ta.join();
    tb.join();
  }
  for (int fd : shared.efd) {
    if (fd >= 0) ::close(fd);
  }
  const long calls = shared.wake_calls[0] + shared.wake_calls[1];
  return {shared.round_trip_ns,
          calls > 0 ? (shared.wake_ns_sum[0] + shared.wake_ns_sum[1]) / static_cast<double>(calls) : 0,
          shared.flags_used[0] & shared.flags_used[1]};
}

// Cost of the steady_clock::now() pair that brackets each timed wake call.
double clock_pair_ns() {
  constexpr int rounds = 1'000'000;
  double sum = 0;
  for (int i = 0; i < rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto t1 = std::chrono::steady_clock::now();
    sum += std::chrono::duration<double, std::nano>(t1 - t0).count();
  }
  return sum / rounds;
}

}  // namespace

int main(int argc, char** argv) {
  long n = 100'000;
  int reps = 5;
  try {
    bench::flag_set flags(argc, argv);
    const bool quick = flags.get_bool("quick");
    n = flags.get_int("n", quick ? 10'000 : 100'000);
    reps = static_cast<int>(flags.get_int("reps", quick ? 3 : 5));
    for (const auto& bad : flags.unknown()) throw std::invalid_argument("unknown flag --" + bad);
    if (n <= 0 || reps <= 0) throw std::invalid_argument("--n and --reps must be positive");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wake_bench: %s\nusage: wake_bench [--n=100000] [--reps=5] [--quick]\n", e.what());
    return 2;
  }

  utsname uts{};
  ::uname(&uts);
  std::printf("wake_bench: %ld round trips per run, %d runs per row, kernel %s, %ld CPUs online\n", n, reps,
              uts.release, ::sysconf(_SC_NPROCESSORS_ONLN));
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2)
    std::printf("note: fewer than 2 CPUs; the \"two cores\" rows are not\n");

  struct placement {
    const char* name;
    int cpu_a;
    int cpu_b;
  };
  const placement placements[] = {{"two cores (0/1)", 0, 1}, {"one core (0/0)", 0, 0}};

  struct variant {
    mechanism mech;
    mode how;
    const char* impl;
  };
  const variant round_trip_variants[] = {
      {mechanism::eventfd, mode::fused, "eventfd (eventfd_write + enter)"},
      {mechanism::msg_ring, mode::fused, "msg_ring fused (1 enter)"},
      {mechanism::msg_ring, mode::split, "msg_ring split (submit + enter)"},
  };
  const variant timed_variants[] = {
      {mechanism::eventfd, mode::timed, "eventfd: eventfd_write()"},
      {mechanism::msg_ring, mode::timed, "msg_ring: io_uring_submit()"},
  };

  unsigned ring_flags = ~0u;
  bench::table out;
  for (const placement& where : placements) {
    for (const variant& v : round_trip_variants) {
      const run_setup setup{v.mech, v.how, {where.cpu_a, where.cpu_b}, 1000, n};
      const auto s = bench::repeat_one(reps, [&] {
        const run_result r = run_once(setup);
        ring_flags &= r.flags;
        return r.round_trip_ns;
      });
      out.add(std::string("round trip, ") + where.name, v.impl, "ns/round trip", s);
      std::printf("  done: round trip, %s, %s\n", where.name, v.impl);
      std::fflush(stdout);
    }
    for (const variant& v : timed_variants) {
      const run_setup setup{v.mech, v.how, {where.cpu_a, where.cpu_b}, 1000, n};
      const auto s = bench::repeat_one(reps, [&] {
        const run_result r = run_once(setup);
        ring_flags &= r.flags;
        return r.wake_ns;
      });
      out.add(std::string("waker cost, ") + where.name, v.impl, "ns/wake call", s);
      std::printf("  done: waker cost, %s, %s\n", where.name, v.impl);
      std::fflush(stdout);
    }
  }

  std::printf("\nring flags: %s\n", (ring_flags & IORING_SETUP_DEFER_TASKRUN)
                                        ? "SINGLE_ISSUER | DEFER_TASKRUN"
                                        : "none (kernel refused)");
  std::printf("waker cost includes one steady_clock::now() pair, %.1f ns here\n\n", clock_pair_ns());
  out.print();
  return 0;
}
