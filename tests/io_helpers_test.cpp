// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <coring/coring.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using coring::runtime;
using coring::task;

namespace {

std::vector<std::byte> pattern(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 7 + 3) & 0xff);
  return v;
}

}  // namespace

TEST_CASE("file write_all and read_all move a whole buffer, and sync/datasync succeed") {
  char dir_template[] = "/tmp/coring-io-helpers-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string path = std::string(dir_template) + "/data";
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const std::vector<std::byte> data = pattern(3 * 1024 * 1024 + 17);
  auto body = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    auto f = co_await coring::file::open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(f);
    CHECK(co_await f->write_all(data, 0));
    CHECK(co_await f->sync());
    CHECK(co_await f->datasync());
    std::vector<std::byte> back(data.size() + 100);
    auto n = co_await f->read_all(back, 0);
    REQUIRE(n);
    CHECK(*n == data.size());  // stops at end of file
    back.resize(*n);
    CHECK(back == data);
    CHECK(rt.cpu().running_in_this_thread());
    coring::file closed;
    CHECK((co_await closed.sync()).error() == std::errc::bad_file_descriptor);
    CHECK((co_await closed.read_all(back, 0)).error() == std::errc::bad_file_descriptor);
  };
  rt.block_on(body());
  std::filesystem::remove_all(dir_template);
}

TEST_CASE("tcp read_exact and write_all move a whole buffer; early close is connection_aborted") {
  runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  auto listener = coring::net::tcp_listener::bind(coring::net::endpoint::loopback_v4(0));
  REQUIRE(listener);
  const auto where = listener->local_endpoint().value();
  const std::vector<std::byte> data = pattern(1024 * 1024);
  auto server = [&]() -> task<void> {
    auto s = co_await listener->accept();
    REQUIRE(s);
    CHECK(s->set_nodelay(true));
    CHECK(co_await s->write_all(data));
    CHECK(s->shutdown(SHUT_WR));
  };
  auto client = [&]() -> task<void> {
    co_await coring::on(rt.cpu());
    auto c = co_await coring::net::tcp_stream::connect(where);
    REQUIRE(c);
    std::vector<std::byte> back(data.size());
    CHECK(co_await c->read_exact(back));
    CHECK(back == data);
    std::vector<std::byte> more(10);
    CHECK((co_await c->read_exact(more)).error() == std::errc::connection_aborted);
  };
  auto body = [&]() -> task<void> {
    auto s = coring::spawn(rt.io(), server());
    auto c = coring::spawn(rt.cpu(), client());
    co_await s;
    co_await c;
  };
  rt.block_on(body());
}
