// SPDX-License-Identifier: MIT
// checksum: sha256sum's output (and its -c), with files read through the io loop and hashed on
// the CPU pool, several files at once.
//
//   checksum [-r] [--threads N] [PATH...]
//   checksum -c [-w] [--quiet|--status] [--strict] [--ignore-missing] [--threads N] [FILE...]
//
// How it runs. One producer task (io pool) turns the operands into jobs, in output order: a path,
// a directory's sorted files (-r; walked by spawn_blocking), or a check file's lines (-c). Each
// file job takes one of `slots` buffer pairs (a channel of free slot numbers: at most that many
// files in flight, each with two chunk buffers, so memory is bounded) and is spawned on the io
// loop: it opens the file through the ring and reads it in chunk_size pieces; while chunk n is
// hashed on the CPU pool (OpenSSL's incremental SHA-256, one file's chunks in order), chunk n+1 is
// read into the other buffer (when_all of the two). The producer hands each job's join_handle, in
// order, through a bounded channel (the reorder window) to the printer, which awaits them one by
// one: the output is in operand order whatever order the files finish in. On a terminal (stdout
// and stderr both) a progress line is drawn on stderr and cleared before each result line.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <coring/coring.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "check_line.hpp"
#include "format.hpp"
#include "options.hpp"
#include "tree.hpp"

namespace {

using namespace std::chrono_literals;

/// Bytes per read, and per hash step.
constexpr std::size_t chunk_size = 256 * 1024;
/// Jobs handed to the printer ahead of the one it waits for.
constexpr std::size_t window_size = 1024;

// --- the progress line -----------------------------------------------------------------------

/// Draws "[####....]  42%  123.4/456.7 MiB  12/2000 files" on stderr. Counters from any thread;
/// the drawing and the result lines share `mutex` so that a line never lands inside the bar.
struct progress {
  bool enabled = false;
  std::atomic<std::uint64_t> bytes_done{0};
  std::atomic<std::uint64_t> bytes_total{0};
  std::atomic<std::uint64_t> files_done{0};
  std::atomic<std::uint64_t> files_total{0};
  std::mutex mutex;
  bool drawn = false;  // under mutex

  void clear_locked() {
    if (drawn) std::fputs("\r\033[K", stderr);
    drawn = false;
  }

  void draw() {
    if (!enabled) return;
    const std::lock_guard lock(mutex);
    winsize ws{};
    const int columns = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    const double done = static_cast<double>(bytes_done.load(std::memory_order_relaxed));
    const double total = static_cast<double>(bytes_total.load(std::memory_order_relaxed));
    const double fraction = total > 0 ? std::min(1.0, done / total) : 0.0;
    char tail[128];
    std::snprintf(tail, sizeof tail, " %3d%%  %.1f/%.1f MiB  %llu/%llu files",
                  static_cast<int>(fraction * 100), done / 1048576.0, total / 1048576.0,
                  static_cast<unsigned long long>(files_done.load(std::memory_order_relaxed)),
                  static_cast<unsigned long long>(files_total.load(std::memory_order_relaxed)));
    const int width = std::clamp(columns - static_cast<int>(std::strlen(tail)) - 3, 0, 50);
    const int filled = static_cast<int>(fraction * width);
    std::string bar = "\r[";
    bar.append(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(width - filled), '.');
    bar += "]";
    bar += tail;
    bar += "\033[K";
    std::fputs(bar.c_str(), stderr);
    drawn = true;
  }
};

coring::task<void> draw_progress(progress& p) {
  coring::interval ticks(100ms, coring::missed_tick::skip);
  while (co_await ticks.tick()) p.draw();  // ends (canceled) when the work is done
}

// --- hashing ---------------------------------------------------------------------------------

/// One SHA-256 in progress (OpenSSL EVP). Used by one task at a time.
class sha256 {
 public:
  explicit sha256(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_.get(), md, nullptr) != 1) {
      throw std::runtime_error("OpenSSL: cannot start a SHA-256");
    }
  }
  void update(std::span<const std::byte> bytes) {
    if (EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) != 1)
      throw std::runtime_error("OpenSSL: SHA-256 update");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest, &length) != 1)
      throw std::runtime_error("OpenSSL: SHA-256 final");
    return checksum::to_hex(std::span<const unsigned char>(digest, length));
  }

 private:
  struct free_ctx {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, free_ctx> ctx_;
};

struct md_deleter {
  void operator()(EVP_MD* md) const noexcept { EVP_MD_free(md); }
};

/// What every task shares. Outlives the whole run (made in main).
struct context {
  coring::runtime& rt;
  checksum::options opts;
  std::unique_ptr<EVP_MD, md_deleter> md;
  std::size_t slots;                     // files in flight at most
  std::unique_ptr<std::byte[]> buffers;  // slots x 2 x chunk_size
  coring::channel<std::size_t> free_slots;
  progress bar;

  context(coring::runtime& r, checksum::options o, std::size_t n)
      : rt(r),
        opts(std::move(o)),
        md(EVP_MD_fetch(nullptr, "SHA256", nullptr)),
        slots(n),
        buffers(new std::byte[n * 2 * chunk_size]),
        free_slots(n) {
    if (!md) throw std::runtime_error("OpenSSL: no SHA-256");
    for (std::size_t i = 0; i < n; ++i) (void)free_slots.try_send(i);
  }
  std::span<std::byte> buffer(std::size_t slot, int which) {
    return {buffers.get() + (slot * 2 + static_cast<std::size_t>(which)) * chunk_size, chunk_size};
  }
};

/// A file's digest, or why it has none.
struct outcome {
  std::string hex;
  std::error_code error;  // from the open or a read (-c says "FAILED open or read" either way)
};

coring::task<void> hash_chunk(context& cx, sha256& h, std::span<const std::byte> bytes) {
  co_await coring::on(cx.rt.cpu());
  h.update(bytes);
  cx.bar.bytes_done.fetch_add(bytes.size(), std::memory_order_relaxed);
}

/// Gives the slot back whatever way the job ends.
struct slot_guard {
  context& cx;
  std::size_t slot;
  ~slot_guard() {
    (void)cx.free_slots.try_send(std::size_t{slot});  // never full: one send per slot taken
    cx.bar.files_done.fetch_add(1, std::memory_order_relaxed);
  }
};

/// Opens `path` ("" : standard input, from where it stands now) and hashes it chunk by chunk,
/// reading chunk n+1 while chunk n is hashed. Runs on the io loop; the hashing on the CPU pool.
coring::task<outcome> hash_file(context& cx, std::string path, std::size_t slot) {
  const slot_guard guard{cx, slot};
  coring::file f;
  std::uint64_t offset = 0;
  if (path.empty()) {
    const int fd = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) co_return outcome{{}, std::error_code(errno, std::system_category())};
    const off_t here = ::lseek(fd, 0, SEEK_CUR);  // a pipe or terminal: ESPIPE, the offset is ignored
    if (here > 0) offset = static_cast<std::uint64_t>(here);
    f = coring::file(fd);
  } else {
    coring::result<coring::file> opened = co_await coring::file::open(path, O_RDONLY);
    if (!opened) co_return outcome{{}, opened.error()};
    f = std::move(*opened);
  }
  sha256 h(cx.md.get());
  int current = 0;
  coring::result<std::size_t> n = co_await f.read_all(cx.buffer(slot, current), offset);
  while (n && *n > 0) {
    const std::span<const std::byte> filled = cx.buffer(slot, current).first(*n);
    if (*n < chunk_size) {  // read_all stops short only at the end of the file
      co_await hash_chunk(cx, h, filled);
      break;
    }
    offset += *n;
    auto [hashed, next] = co_await coring::when_all(hash_chunk(cx, h, filled),
                                                    f.read_all(cx.buffer(slot, 1 - current), offset));
    n = next;
    current = 1 - current;
  }
  if (!n) co_return outcome{{}, n.error()};
  (void)co_await f.close();
  co_return outcome{h.hex(), {}};
}

// --- the pipeline ----------------------------------------------------------------------------

/// One output item, in order: a file to hash, or something already known (an error, a -c line
/// that is improperly formatted).
struct job {
  std::string name;          // as printed
  bool from_stdin = false;   // name "-": read standard input
  std::error_code error;     // known before reading: the job prints its error
  bool malformed = false;    // -c: an improperly formatted line
  std::size_t line = 0;      // -c: its line number
  std::string expected_hex;  // -c: the listed digest
};

job file_job(std::string name) {
  job j;
  j.from_stdin = name == "-";
  j.name = std::move(name);
  return j;
}

job error_job(std::string name, std::error_code e) {
  job j;
  j.name = std::move(name);
  j.error = e;
  return j;
}

struct pending {
  job what;
  std::optional<coring::join_handle<outcome>> hashing;
};

using window = coring::channel<pending>;

coring::task<void> submit(context& cx, window& out, job j) {
  pending p{std::move(j), std::nullopt};
  if (!p.what.error && !p.what.malformed) {
    const coring::result<std::size_t> slot = co_await cx.free_slots.receive();  // waits while all are busy
    if (!slot) throw std::system_error(slot.error());
    p.hashing =
        coring::spawn(cx.rt.io(), hash_file(cx, p.what.from_stdin ? std::string() : p.what.name, *slot));
  }
  if (!co_await out.send(std::move(p))) throw std::runtime_error("checksum: the printer stopped");
}

std::error_code errc_code(std::errc e) {
  return std::make_error_code(e);
}

/// The jobs of `checksum [-r] PATH...`.
coring::task<void> produce_sums(context& cx, window& out) {
  for (const std::string& path : cx.opts.paths) {
    if (path == "-") {
      cx.bar.files_total.fetch_add(1, std::memory_order_relaxed);
      co_await submit(cx, out, file_job(path));
      continue;
    }
    const coring::result<coring::file_status> st = co_await coring::fs::status(path);
    if (!st) {
      co_await submit(cx, out, error_job(path, st.error()));
    } else if (!st->is_directory()) {
      cx.bar.files_total.fetch_add(1, std::memory_order_relaxed);
      cx.bar.bytes_total.fetch_add(st->size, std::memory_order_relaxed);
      co_await submit(cx, out, file_job(path));
    } else if (!cx.opts.recursive) {
      co_await submit(cx, out, error_job(path, errc_code(std::errc::is_a_directory)));
    } else {
      // The walk is blocking system calls: on a blocking thread. (A named callable: g++ 12
      // mishandles a capturing lambda made inside the co_await expression.)
      auto walk = [root = path] { return checksum::list_files(root); };
      std::vector<checksum::tree_entry> files = co_await coring::spawn_blocking(std::move(walk));
      for (const checksum::tree_entry& e : files) {
        cx.bar.files_total.fetch_add(e.error ? 0 : 1, std::memory_order_relaxed);
        cx.bar.bytes_total.fetch_add(e.size, std::memory_order_relaxed);
      }
      for (checksum::tree_entry& e : files)
        co_await submit(cx, out, error_job(std::move(e.path), e.error));  // no error: a file
    }
  }
  out.close();
}

/// Writes `text` to stdout (clearing the progress line first when it is drawn).
void emit(context& cx, const std::string& text, FILE* stream) {
  if (!cx.bar.enabled) {
    std::fwrite(text.data(), 1, text.size(), stream);
    return;
  }
  const std::lock_guard lock(cx.bar.mutex);
  cx.bar.clear_locked();
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

void error_line(context& cx, std::string_view name, const std::error_code& e) {
  emit(cx, "checksum: " + checksum::quote_name(name) + ": " + e.message() + "\n", stderr);
}

/// Prints each job's result in order; gives the exit status of `checksum [-r]`.
coring::task<int> print_sums(context& cx, window& in) {
  int status = 0;
  while (coring::result<pending> p = co_await in.receive()) {
    // (No co_await inside ?: here: g++ 12 destroys that expression's temporaries twice.)
    outcome r{{}, p->what.error};
    if (p->hashing) r = co_await *p->hashing;
    if (r.error) {
      error_line(cx, p->what.name, r.error);
      status = 1;
    } else {
      emit(cx, checksum::format_sum_line(r.hex, p->what.name), stdout);
    }
  }
  co_return status;
}

/// A check file: its text, or the message sha256sum prints when it cannot be read.
struct check_text {
  std::string text;
  std::string failure;
};

/// Reads a whole check file ("-": standard input) through the ring.
coring::task<check_text> read_check_file(const std::string& name) {
  coring::file f;
  if (name == "-") {
    const int fd = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) co_return check_text{{}, std::strerror(errno)};
    f = coring::file(fd);
  } else {
    coring::result<coring::file> opened = co_await coring::file::open(name, O_RDONLY);
    if (!opened) co_return check_text{{}, opened.error().message()};
    f = std::move(*opened);
  }
  std::string text;
  for (;;) {
    const std::size_t have = text.size();
    text.resize(have + 64 * 1024);
    const coring::result<std::size_t> n = co_await f.read_at(std::span<char>(text).subspan(have), have);
    if (!n) {
      if (n.error() == std::errc::interrupted) {
        text.resize(have);
        continue;
      }
      co_return check_text{{}, "read error"};  // sha256sum says no more than that
    }
    text.resize(have + *n);
    if (*n == 0) break;
  }
  co_return check_text{std::move(text), {}};
}

/// The jobs of one check file's lines.
coring::task<void> produce_checks(context& cx, window& out, std::string text, bool checkfile_is_stdin) {
  checksum::check_parser parser;
  std::vector<job> jobs;
  checksum::for_each_line(text, [&](std::string_view line, std::size_t number) {
    checksum::parsed_line parsed = parser.parse(line);
    if (parsed.kind == checksum::line_kind::ignored) return;
    if (parsed.kind == checksum::line_kind::malformed || (checkfile_is_stdin && parsed.entry.name == "-")) {
      job j;
      j.malformed = true;
      j.line = number;
      jobs.push_back(std::move(j));
      return;
    }
    job j = file_job(std::move(parsed.entry.name));
    j.expected_hex = std::move(parsed.entry.hex);
    jobs.push_back(std::move(j));
  });
  cx.bar.files_total.fetch_add(jobs.size(), std::memory_order_relaxed);
  for (job& j : jobs) co_await submit(cx, out, std::move(j));
  out.close();
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

/// Prints one check file's results and its summary, as sha256sum -c; true when all is well.
coring::task<bool> print_checks(context& cx, window& in, std::string display) {
  const checksum::options& o = cx.opts;
  std::uint64_t malformed = 0, unreadable = 0, mismatched = 0, matched = 0;
  bool any_entry = false;
  while (coring::result<pending> p = co_await in.receive()) {
    const job& j = p->what;
    if (j.malformed) {
      ++malformed;
      if (o.warn) {
        emit(cx,
             "checksum: " + checksum::quote_name(display) + ": " + std::to_string(j.line) +
                 ": improperly formatted SHA256 checksum line\n",
             stderr);
      }
      continue;
    }
    any_entry = true;
    const outcome r = co_await *p->hashing;
    if (r.error) {
      if (o.ignore_missing && r.error == std::errc::no_such_file_or_directory) continue;
      ++unreadable;
      error_line(cx, j.name, r.error);
      if (!o.status) emit(cx, checksum::format_check_line(j.name, "FAILED open or read"), stdout);
      continue;
    }
    const bool ok = checksum::hex_equal(j.expected_hex, r.hex);
    ok ? ++matched : ++mismatched;
    if (!o.status && !(ok && o.quiet))
      emit(cx, checksum::format_check_line(j.name, ok ? "OK" : "FAILED"), stdout);
  }
  if (!any_entry) {
    emit(cx, "checksum: " + checksum::quote_name(display) + ": no properly formatted checksum lines found\n",
         stderr);
    co_return false;
  }
  if (!o.status) {
    if (malformed > 0) {
      emit(cx, "checksum: WARNING: " + plural(malformed, "line is", "lines are") + " improperly formatted\n",
           stderr);
    }
    if (unreadable > 0) {
      emit(cx,
           "checksum: WARNING: " + plural(unreadable, "listed file", "listed files") + " could not be read\n",
           stderr);
    }
    if (mismatched > 0) {
      emit(cx,
           "checksum: WARNING: " + plural(mismatched, "computed checksum", "computed checksums") +
               " did NOT match\n",
           stderr);
    }
    if (o.ignore_missing && matched == 0) {
      emit(cx, "checksum: " + checksum::quote_name(display) + ": no file was verified\n", stderr);
    }
  }
  co_return mismatched == 0 && unreadable == 0 && (!o.strict || malformed == 0) &&
      (!o.ignore_missing || matched > 0);
}

coring::task<int> run_sums(context& cx) {
  window w(window_size);
  auto [produced, status] = co_await coring::when_all(produce_sums(cx, w), print_sums(cx, w));
  co_return status;
}

coring::task<int> run_checks(context& cx) {
  int status = 0;
  for (const std::string& checkfile : cx.opts.paths) {
    const bool is_stdin = checkfile == "-";
    const std::string display = is_stdin ? "standard input" : checkfile;
    check_text input = co_await read_check_file(checkfile);
    if (!input.failure.empty()) {
      emit(cx, "checksum: " + checksum::quote_name(display) + ": " + input.failure + "\n", stderr);
      status = 1;
      continue;
    }
    window w(window_size);
    auto [produced, ok] = co_await coring::when_all(produce_checks(cx, w, std::move(input.text), is_stdin),
                                                    print_checks(cx, w, display));
    if (!ok) status = 1;
  }
  co_return status;
}

coring::task<int> run(context& cx) {
  coring::task<int> work = cx.opts.check ? run_checks(cx) : run_sums(cx);
  if (!cx.bar.enabled) co_return co_await std::move(work);
  auto done = co_await coring::when_any(std::move(work), draw_progress(cx.bar));
  {
    const std::lock_guard lock(cx.bar.mutex);
    cx.bar.clear_locked();
  }
  if (done.index != 0) co_return 1;
  co_return std::get<0>(done.value);
}

}  // namespace

int main(int argc, char** argv) try {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  checksum::parsed_options parsed = checksum::parse_options(args);
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "checksum: %s\n%s", parsed.error.c_str(), checksum::usage().c_str());
    return 2;
  }
  if (parsed.opts.help) {
    std::fputs(checksum::usage().c_str(), stdout);
    return 0;
  }
  const unsigned cpu_threads =
      parsed.opts.threads > 0 ? parsed.opts.threads : std::max(1u, std::thread::hardware_concurrency());
  // Its stderr is sha256sum's (scripts compare it): no line about which backend runs.
  coring::runtime rt{{.io_threads = 1, .cpu_threads = cpu_threads, .quiet_backend_fallback = true}};
  static char out_buffer[1 << 16];
  const bool terminal = ::isatty(STDOUT_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1;
  if (!terminal) std::setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);
  context cx(rt, std::move(parsed.opts), 2 * static_cast<std::size_t>(cpu_threads) + 2);
  cx.bar.enabled = terminal && !cx.opts.status;
  int status = rt.block_on(run(cx));
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "checksum: write error: %s\n", std::strerror(errno));
    status = 1;
  }
  return status;
} catch (const std::exception& e) {
  std::fprintf(stderr, "checksum: %s\n", e.what());
  return 1;
}
