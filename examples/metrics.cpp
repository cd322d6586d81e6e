// SPDX-License-Identifier: MIT
// A runtime's metrics in the Prometheus text format: per io loop, per CPU worker, the blocking
// pool, and the latency histograms (scheduling delay per pool, loop turn duration).
//
//   metrics              runs a short mixed workload, then prints the metrics to stdout
//   metrics --self-test  the same, and checks the text: every sample line well formed, every
//                        histogram's buckets cumulative up to +Inf == _count, the workload visible
//
// A service would serve write_prometheus()'s text on GET /metrics (see examples/http_server.cpp
// for a server) and let Prometheus scrape it.
#include <cctype>
#include <chrono>
#include <coring/coring.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// ---- Writing the text format ------------------------------------------------------------------

void family(std::ostream& out, std::string_view name, std::string_view type, std::string_view help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void sample(std::ostream& out, std::string_view name, const std::string& labels, std::uint64_t value) {
  out << name;
  if (!labels.empty()) out << '{' << labels << '}';
  out << ' ' << value << '\n';
}

/// Prometheus buckets at every power of two of the histogram (its bounds fall on them), in seconds.
void histogram(std::ostream& out, std::string_view name, const std::string& labels,
               const coring::latency_histogram& h) {
  using coring::latency_histogram;
  const std::string prefix = labels.empty() ? "" : labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i + 1 < latency_histogram::bucket_count; ++i) {
    cumulative += h.counts[i];
    if (i % latency_histogram::per_power != 0) continue;
    char le[32];
    std::snprintf(le, sizeof le, "%.9g",
                  static_cast<double>(latency_histogram::upper_bound(i).count()) * 1e-9);
    out << name << "_bucket{" << prefix << "le=\"" << le << "\"} " << cumulative << '\n';
  }
  cumulative += h.counts[latency_histogram::bucket_count - 1];
  out << name << "_bucket{" << prefix << "le=\"+Inf\"} " << cumulative << '\n';
  char sum[32];
  std::snprintf(sum, sizeof sum, "%.9g", static_cast<double>(h.sum_ns) * 1e-9);
  out << name << "_sum";
  if (!labels.empty()) out << '{' << labels << '}';
  out << ' ' << sum << '\n';
  sample(out, std::string(name) + "_count", labels, cumulative);
}

std::string label(std::string_view key, std::size_t index) {
  return std::string(key) + "=\"" + std::to_string(index) + "\"";
}

void write_prometheus(std::ostream& out, const coring::runtime_metrics& m) {
  family(out, "coring_tasks_spawned_total", "counter", "Tasks spawned, block_on included.");
  sample(out, "coring_tasks_spawned_total", "", m.tasks_spawned);
  family(out, "coring_tasks_alive", "gauge", "Tasks spawned and not completed.");
  sample(out, "coring_tasks_alive", "", m.tasks_alive);

  // Per io loop. One family per counter, one sample per loop.
  struct loop_counter {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t coring::loop_metrics::*field;
  };
  const loop_counter loop_counters[] = {
      {"coring_loop_tasks_run_total", "counter", "Runs of tasks on the loop.",
       &coring::loop_metrics::tasks_run},
      {"coring_loop_turns_total", "counter", "Turns of the loop.", &coring::loop_metrics::turns},
      {"coring_loop_queue_depth", "gauge", "Ready items at the end of the last turn.",
       &coring::loop_metrics::queue_depth},
      {"coring_loop_peak_queue_depth", "gauge", "Most ready items one turn found.",
       &coring::loop_metrics::peak_queue_depth},
      {"coring_loop_parks_total", "counter", "Turns that slept in the kernel.", &coring::loop_metrics::parks},
      {"coring_loop_wakeups_sent_total", "counter", "Sleeping threads the loop woke.",
       &coring::loop_metrics::wakeups_sent},
      {"coring_loop_wakeups_received_total", "counter", "Times another thread woke the loop.",
       &coring::loop_metrics::wakeups_received},
      {"coring_loop_submissions_total", "counter", "Requests handed to the kernel.",
       &coring::loop_metrics::submissions},
      {"coring_loop_completions_total", "counter", "Completions reaped.", &coring::loop_metrics::completions},
      {"coring_loop_kernel_enters_total", "counter", "System calls into the ring.",
       &coring::loop_metrics::kernel_enters},
      {"coring_loop_sq_full_total", "counter", "Requests that found the submission queue full.",
       &coring::loop_metrics::sq_full},
      {"coring_loop_cq_overflows_total", "counter", "Waits that found the completion queue overflowed.",
       &coring::loop_metrics::cq_overflows},
      {"coring_loop_in_flight", "gauge", "Operations in the kernel.", &coring::loop_metrics::in_flight},
      {"coring_loop_timers_pending", "gauge", "Sleeping tasks.", &coring::loop_metrics::timers_pending},
  };
  for (const loop_counter& c : loop_counters) {
    family(out, c.name, c.type, c.help);
    for (std::size_t i = 0; i < m.loops.size(); ++i)
      sample(out, c.name, label("loop", i), m.loops[i].*c.field);
  }
  family(out, "coring_loop_scheduling_delay_seconds", "histogram", "From schedule() to run, sampled.");
  for (std::size_t i = 0; i < m.loops.size(); ++i)
    histogram(out, "coring_loop_scheduling_delay_seconds", label("loop", i), m.loops[i].scheduling_delay);
  family(out, "coring_loop_turn_duration_seconds", "histogram", "A turn's work without its sleep, sampled.");
  for (std::size_t i = 0; i < m.loops.size(); ++i)
    histogram(out, "coring_loop_turn_duration_seconds", label("loop", i), m.loops[i].turn_duration);

  struct worker_counter {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t coring::worker_metrics::*field;
  };
  const worker_counter worker_counters[] = {
      {"coring_worker_tasks_run_total", "counter", "Runs of tasks on the worker.",
       &coring::worker_metrics::tasks_run},
      {"coring_worker_queue_depth", "gauge", "Items in the worker's deque.",
       &coring::worker_metrics::queue_depth},
      {"coring_worker_peak_queue_depth", "gauge", "Most items the deque held.",
       &coring::worker_metrics::peak_queue_depth},
      {"coring_worker_steals_total", "counter", "Items taken from other workers.",
       &coring::worker_metrics::steals},
      {"coring_worker_stolen_total", "counter", "Items other workers took.", &coring::worker_metrics::stolen},
      {"coring_worker_parks_total", "counter", "Times the worker slept.", &coring::worker_metrics::parks},
      {"coring_worker_wakeups_sent_total", "counter", "Sleeping threads the worker woke.",
       &coring::worker_metrics::wakeups_sent},
      {"coring_worker_wakeups_received_total", "counter", "Times another thread woke the worker.",
       &coring::worker_metrics::wakeups_received},
  };
  for (const worker_counter& c : worker_counters) {
    family(out, c.name, c.type, c.help);
    for (std::size_t i = 0; i < m.workers.size(); ++i)
      sample(out, c.name, label("worker", i), m.workers[i].*c.field);
  }
  family(out, "coring_worker_scheduling_delay_seconds", "histogram", "From schedule() to run, sampled.");
  for (std::size_t i = 0; i < m.workers.size(); ++i)
    histogram(out, "coring_worker_scheduling_delay_seconds", label("worker", i),
              m.workers[i].scheduling_delay);
  family(out, "coring_cpu_injected_depth", "gauge", "Items in the CPU pool's shared queue.");
  sample(out, "coring_cpu_injected_depth", "", m.cpu_injected_depth);

  family(out, "coring_blocking_threads", "gauge", "spawn_blocking threads.");
  sample(out, "coring_blocking_threads", "", m.blocking.threads);
  family(out, "coring_blocking_idle_threads", "gauge", "spawn_blocking threads waiting for a job.");
  sample(out, "coring_blocking_idle_threads", "", m.blocking.idle_threads);
  family(out, "coring_blocking_queued_jobs", "gauge", "spawn_blocking jobs waiting for a thread.");
  sample(out, "coring_blocking_queued_jobs", "", m.blocking.queued_jobs);
  family(out, "coring_blocking_jobs_run_total", "counter", "spawn_blocking jobs run.");
  sample(out, "coring_blocking_jobs_run_total", "", m.blocking.jobs_run);
}

// ---- A workload to measure --------------------------------------------------------------------

coring::task<void> hops(coring::executor io, coring::executor cpu, int n) {
  for (int i = 0; i < n; ++i) {
    co_await coring::on(cpu);
    co_await coring::on(io);
  }
}

coring::task<void> workload(coring::runtime& rt, std::string self) {
  // Two reads of this program's own file go through the ring.
  coring::result<coring::file> opened = co_await coring::file::open(std::move(self));
  if (opened) {
    char head[4096];
    (void)co_await opened->read_at(std::span(head), 0);
    (void)co_await opened->read_at(std::span(head), sizeof head);
  }
  std::vector<coring::join_handle<void>> running;
  for (int i = 0; i < 8; ++i) running.push_back(coring::spawn(rt.io(), hops(rt.io(), rt.cpu(), 2000)));
  for (int i = 0; i < 4; ++i)
    running.push_back(coring::spawn(rt.io(), []() -> coring::task<void> {
      for (int t = 0; t < 20; ++t) (void)co_await coring::sleep_for(1ms);
    }()));
  const int hashed = co_await coring::spawn_blocking([] {
    std::this_thread::sleep_for(5ms);  // a blocking call, off the loops
    return 1;
  });
  for (auto& h : running) co_await h;
  (void)hashed;
}

// ---- Self-test --------------------------------------------------------------------------------

/// "name{labels} value" or "name value": the key "name{labels}" and the value; false otherwise.
bool parse_sample(const std::string& line, std::string& key, double& value) {
  std::size_t i = 0;
  while (i < line.size() && (std::islower(static_cast<unsigned char>(line[i])) != 0 || line[i] == '_')) ++i;
  if (i == 0) return false;
  const std::string name = line.substr(0, i);
  std::string labels;
  if (i < line.size() && line[i] == '{') {
    const std::size_t close = line.find('}', i);
    if (close == std::string::npos) return false;
    labels = line.substr(i + 1, close - i - 1);
    i = close + 1;
  }
  if (i >= line.size() || line[i] != ' ') return false;
  const char* start = line.c_str() + i + 1;
  char* end = nullptr;
  value = std::strtod(start, &end);
  if (end == start || *end != '\0') return false;
  key = name + "{" + labels + "}";
  return true;
}

int check(const std::string& text) {
  std::map<std::string, double> values;  // "name{labels}" -> value
  std::istringstream in(text);
  std::string l;
  int failures = 0;
  for (std::size_t number = 1; std::getline(in, l); ++number) {
    if (l.rfind("# HELP coring_", 0) == 0 || l.rfind("# TYPE coring_", 0) == 0) continue;
    std::string key;
    double value = 0;
    if (!parse_sample(l, key, value)) {
      std::fprintf(stderr, "line %zu is not a sample: %s\n", number, l.c_str());
      ++failures;
      continue;
    }
    values[key] = value;
  }
  // Each histogram: buckets never decrease, and +Inf is the count.
  for (const std::string name :
       {"coring_loop_scheduling_delay_seconds", "coring_loop_turn_duration_seconds"}) {
    std::istringstream again(text);
    double previous = -1;
    while (std::getline(again, l)) {
      if (l.rfind(name + "_bucket{loop=\"0\"", 0) != 0) continue;
      const double v = std::stod(l.substr(l.rfind(' ') + 1));
      if (v < previous) {
        std::fprintf(stderr, "%s: buckets decrease at %s\n", name.c_str(), l.c_str());
        ++failures;
      }
      previous = v;
    }
    const double inf = values[name + "_bucket{loop=\"0\",le=\"+Inf\"}"];
    const double count = values[name + "_count{loop=\"0\"}"];
    if (inf != count || count <= 0) {
      std::fprintf(stderr, "%s: +Inf bucket %g, count %g\n", name.c_str(), inf, count);
      ++failures;
    }
  }
  const char* nonzero[] = {"coring_loop_tasks_run_total{loop=\"0\"}",
                           "coring_worker_tasks_run_total{worker=\"0\"}",
                           "coring_loop_submissions_total{loop=\"0\"}", "coring_blocking_jobs_run_total{}",
                           "coring_worker_scheduling_delay_seconds_count{worker=\"0\"}"};
  for (const char* key : nonzero) {
    if (values[key] <= 0) {
      std::fprintf(stderr, "%s is %g after the workload\n", key, values[key]);
      ++failures;
    }
  }
  if (failures == 0) std::puts("self-test passed");
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const bool self_test = argc > 1 && std::string_view(argv[1]) == "--self-test";
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 2}};
  rt.block_on(workload(rt, argv[0]));
  std::ostringstream text;
  write_prometheus(text, rt.metrics());
  std::fputs(text.str().c_str(), stdout);
  return self_test ? check(text.str()) : 0;
}
