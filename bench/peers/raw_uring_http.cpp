// SPDX-License-Identifier: MIT
// raw_uring_http PORT: the HTTP plaintext benchmark (see http_plaintext.hpp) on a hand-written
// liburing loop, the floor the other servers are compared against. One thread, one ring.
//
//  - The ring is made with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (completion
//    work runs only when this thread enters the kernel to wait); a kernel that refuses those gets
//    COOP_TASKRUN, then no flags. The ring's fd is registered (io_uring_register_ring_fd).
//  - One multishot accept (io_uring_prep_multishot_accept_direct) puts every new connection
//    straight into a sparse fixed-file table: no fd, no fdget per operation. The slot number is
//    the connection's index in `conns`.
//  - One multishot receive per connection (io_uring_prep_recv_multishot + IOSQE_BUFFER_SELECT)
//    takes its buffers from a provided buffer ring (registered with io_uring_register_buf_ring);
//    each buffer goes back to the ring as soon as its bytes have been parsed.
//  - Responses collect in the connection's `queued` buffer while a batch of completions is being
//    handled; after the batch, each connection with responses and no send in flight gets one send
//    (IOSQE_FIXED_FILE) of everything queued. The buffer being sent is kept apart (`sending`) until
//    its completion, so later responses never move it.
//  - The loop is: io_uring_submit_and_wait(1) (submits every new SQE and waits in the same
//    syscall), handle every completion that is there, advance the CQ and the buffer ring once.
//  - A connection ends when its receive ends (the peer closed, or an error); its slot is closed
//    (io_uring_prep_close_direct) only when no send is in flight, so that no late completion can
//    reach a new connection that reuses the slot. A failed send shuts the socket down, which ends
//    the receive.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_plaintext.hpp"

namespace {

constexpr unsigned sq_entries = 1024;
constexpr unsigned cq_entries = 8192;
constexpr unsigned max_connections = 4096;  // fixed-file slots
constexpr unsigned buffer_count = 512;      // provided buffers, a power of two
constexpr unsigned buffer_size = 4096;
constexpr int buffer_group = 0;

// user_data: the operation in the high 32 bits, the connection's slot in the low 32.
enum op : std::uint64_t { op_accept = 1, op_recv = 2, op_send = 3, op_close = 4, op_shutdown = 5 };

constexpr std::uint64_t tag(op o, unsigned slot) {
  return (static_cast<std::uint64_t>(o) << 32) | slot;
}

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "raw_uring_http: %s: %s\n", what, std::strerror(err));
  std::exit(1);
}

struct connection {
  std::string pending;  // an incomplete request
  std::string queued;   // responses not yet handed to a send
  std::string sending;  // the buffer of the send in flight
  std::size_t sent = 0;
  bool open = false;
  bool receiving = false;  // the multishot receive is armed
  bool send_in_flight = false;
  bool closing = false;
  bool dirty = false;  // listed in server::dirty_
};

class server {
 public:
  explicit server(int listener) : listener_(listener), conns_(max_connections) {
    setup_ring();
    setup_buffers();
    const int r = io_uring_register_files_sparse(&ring_, max_connections);
    if (r < 0) die("io_uring_register_files_sparse", -r);
    dirty_.reserve(max_connections);
  }

  [[noreturn]] void run() {
    arm_accept();
    for (;;) {
      if (returned_ != 0) {  // buffers handed back during the last batch
        io_uring_buf_ring_advance(buf_ring_, static_cast<int>(returned_));
        returned_ = 0;
      }
      const int r = io_uring_submit_and_wait(&ring_, 1);
      if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) die("io_uring_submit_and_wait", -r);
      unsigned head = 0;
      unsigned seen = 0;
      io_uring_cqe* cqe = nullptr;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        handle(*cqe);
        ++seen;
      }
      io_uring_cq_advance(&ring_, seen);
      send_queued();
    }
  }

 private:
  void setup_ring() {
    struct attempt {
      unsigned flags;
      const char* name;
    };
    const attempt attempts[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER | DEFER_TASKRUN"},
        {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
        {0, "no flags"},
    };
    int r = -EINVAL;
    for (const attempt& a : attempts) {
      io_uring_params params{};
      params.flags = a.flags | IORING_SETUP_CQSIZE;
      params.cq_entries = cq_entries;
      r = io_uring_queue_init_params(sq_entries, &ring_, &params);
      if (r == 0) {
        std::fprintf(stderr, "raw_uring_http: ring flags %s\n", a.name);
        break;
      }
      if (r != -EINVAL) break;
    }
    if (r < 0) die("io_uring_queue_init_params", -r);
    io_uring_register_ring_fd(&ring_);  // optional: saves an fdget per io_uring_enter
  }

  void setup_buffers() {
    const std::size_t ring_bytes = buffer_count * sizeof(io_uring_buf);
    void* mem = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) die("mmap", errno);
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
    reg.ring_entries = buffer_count;
    reg.bgid = buffer_group;
    const int r = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (r < 0) die("io_uring_register_buf_ring", -r);
    io_uring_buf_ring_init(buf_ring_);

    buffers_ = static_cast<char*>(::mmap(nullptr, std::size_t{buffer_count} * buffer_size,
                                         PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (buffers_ == MAP_FAILED) die("mmap", errno);
    for (unsigned i = 0; i < buffer_count; ++i) give_back(static_cast<unsigned short>(i));
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(returned_));
    returned_ = 0;
  }

  /// Queues buffer `bid` for the kernel again (made visible by the next advance).
  void give_back(unsigned short bid) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{bid} * buffer_size, buffer_size, bid,
                          io_uring_buf_ring_mask(buffer_count), static_cast<int>(returned_));
    ++returned_;
  }

  io_uring_sqe* next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {  // the SQ is full: hand it to the kernel and try again
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  void arm_accept() {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_multishot_accept_direct(sqe, listener_, nullptr, nullptr, 0);
    io_uring_sqe_set_data64(sqe, tag(op_accept, 0));
  }

  void arm_recv(unsigned slot) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_recv_multishot(sqe, static_cast<int>(slot), nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_group;
    io_uring_sqe_set_data64(sqe, tag(op_recv, slot));
    conns_[slot].receiving = true;
  }

  void submit_send(unsigned slot) {
    connection& c = conns_[slot];
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_send(sqe, static_cast<int>(slot), c.sending.data() + c.sent, c.sending.size() - c.sent,
                       MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, tag(op_send, slot));
    c.send_in_flight = true;
  }

  /// Ends the connection: shuts the socket down if its receive is still armed (the receive then
  /// ends), and closes the slot once nothing is in flight on it.
  void close_when_idle(unsigned slot) {
    connection& c = conns_[slot];
    if (!c.closing) {
      c.closing = true;
      c.queued.clear();
      if (c.receiving) {
        io_uring_sqe* sqe = next_sqe();
        io_uring_prep_shutdown(sqe, static_cast<int>(slot), SHUT_RDWR);
        sqe->flags |= IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, tag(op_shutdown, slot));
      }
    }
    if (c.open && !c.receiving && !c.send_in_flight) {
      io_uring_sqe* sqe = next_sqe();
      io_uring_prep_close_direct(sqe, slot);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      io_uring_sqe_set_data64(sqe, tag(op_close, slot));
      c.open = false;
      c.pending.clear();
      c.sending.clear();
      c.sent = 0;
    }
  }

  void mark_dirty(unsigned slot) {
    connection& c = conns_[slot];
    if (!c.dirty) {
      c.dirty = true;
      dirty_.push_back(slot);
    }
  }

  void handle(const io_uring_cqe& cqe) {
    const auto o = static_cast<op>(cqe.user_data >> 32);
    const auto slot = static_cast<unsigned>(cqe.user_data & 0xffffffffU);
    switch (o) {
      case op_accept:
        on_accept(cqe);
        break;
      case op_recv:
        on_recv(slot, cqe);
        break;
      case op_send:
        on_send(slot, cqe);
        break;
      case op_close:
      case op_shutdown:
        break;  // only failures arrive here (CQE_SKIP_SUCCESS); nothing to do
    }
  }

  void on_accept(const io_uring_cqe& cqe) {
    if (cqe.res >= 0) {
      const auto slot = static_cast<unsigned>(cqe.res);
      connection& c = conns_[slot];
      c.open = true;
      c.closing = false;
      arm_recv(slot);
    } else {
      std::fprintf(stderr, "raw_uring_http: accept: %s\n", std::strerror(-cqe.res));
    }
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) arm_accept();
  }

  void on_recv(unsigned slot, const io_uring_cqe& cqe) {
    connection& c = conns_[slot];
    if (cqe.res > 0) {
      const auto bid = static_cast<unsigned short>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
      const std::string_view chunk{buffers_ + std::size_t{bid} * buffer_size,
                                   static_cast<std::size_t>(cqe.res)};
      const bool ok = c.closing || http_plaintext::feed(c.pending, chunk, c.queued);
      give_back(bid);
      if (!ok) close_when_idle(slot);
      if (!c.queued.empty()) mark_dirty(slot);
    }
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) {
      c.receiving = false;
      if (!c.closing && (cqe.res > 0 || cqe.res == -ENOBUFS)) {
        arm_recv(slot);  // the kernel stopped the multishot (e.g. it ran out of buffers): re-arm
      } else {
        close_when_idle(slot);  // 0: the peer closed; < 0: an error
      }
    }
  }

  void on_send(unsigned slot, const io_uring_cqe& cqe) {
    connection& c = conns_[slot];
    c.send_in_flight = false;
    if (cqe.res < 0 || c.closing) {
      close_when_idle(slot);
      return;
    }
    c.sent += static_cast<std::size_t>(cqe.res);
    if (c.sent < c.sending.size()) {
      submit_send(slot);  // a short send: the rest
      return;
    }
    c.sending.clear();
    c.sent = 0;
    if (!c.queued.empty()) mark_dirty(slot);
  }

  /// After a batch of completions: one send per connection that has responses waiting.
  void send_queued() {
    for (const unsigned slot : dirty_) {
      connection& c = conns_[slot];
      c.dirty = false;
      if (!c.open || c.closing || c.send_in_flight || c.queued.empty()) continue;
      std::swap(c.sending, c.queued);  // both keep their capacity: no allocation once warm
      c.queued.clear();
      c.sent = 0;
      submit_send(slot);
    }
    dirty_.clear();
  }

  int listener_;
  io_uring ring_{};
  io_uring_buf_ring* buf_ring_ = nullptr;
  char* buffers_ = nullptr;
  unsigned returned_ = 0;
  std::vector<connection> conns_;
  std::vector<unsigned> dirty_;
};

int listen_on(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket", errno);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Accepted sockets inherit TCP_NODELAY; they only exist as fixed files here, with no fd to
  // call setsockopt on.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind", errno);
  if (::listen(fd, 1024) != 0) die("listen", errno);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const int listener = listen_on(static_cast<unsigned short>(std::atoi(argv[1])));
  server s{listener};
  std::fprintf(stderr, "raw_uring_http: listening on 127.0.0.1:%s\n", argv[1]);
  s.run();
}
