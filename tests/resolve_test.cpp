// SPDX-License-Identifier: MIT
// Tests for coring::net::resolve (include/coring/net/resolve.hpp): names that resolve locally
// (/etc/hosts, numeric addresses) and names that must fail; the task resumes on its own pool.
// The test machine has no network but loopback: no name here needs a name server to succeed.
#include <doctest/doctest.h>

#include <coring/coring.hpp>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using coring::task;
using coring::net::endpoint;

struct lookup_outcome {
  coring::result<std::vector<endpoint>> endpoints = std::errc::io_error;
  bool at_home_after = false;
};

task<lookup_outcome> lookup_on(coring::executor home, std::string host, std::string service) {
  co_await coring::on(home);
  lookup_outcome outcome;
  outcome.endpoints = co_await coring::net::resolve(std::move(host), std::move(service));
  outcome.at_home_after = home.running_in_this_thread();
  co_return outcome;
}

bool is_loopback(const endpoint& ep) {
  return ep.address_string().rfind("127.", 0) == 0 || ep.address_string() == "::1";
}

}  // namespace

TEST_CASE("resolve(\"localhost\", \"80\") gives loopback endpoints with port 80") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  for (const coring::executor home : {rt.io(), rt.cpu()}) {
    const lookup_outcome outcome = rt.block_on(lookup_on(home, "localhost", "80"));
    CHECK(outcome.at_home_after);
    REQUIRE_MESSAGE(outcome.endpoints, "resolve localhost: " << outcome.endpoints.error().message());
    REQUIRE_FALSE(outcome.endpoints->empty());
    for (const endpoint& ep : *outcome.endpoints) {
      CAPTURE(ep.to_string());
      CHECK(is_loopback(ep));
      CHECK(ep.port() == 80);
    }
  }
}

TEST_CASE("resolve of a numeric address and port gives exactly that endpoint") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const lookup_outcome v4 = rt.block_on(lookup_on(rt.cpu(), "127.0.0.1", "8080"));
  CHECK(v4.at_home_after);
  REQUIRE(v4.endpoints);
  REQUIRE(v4.endpoints->size() == 1);
  CHECK(v4.endpoints->front() == endpoint::loopback_v4(8080));

  const lookup_outcome v6 = rt.block_on(lookup_on(rt.io(), "::1", "443"));
  CHECK(v6.at_home_after);
  REQUIRE(v6.endpoints);
  REQUIRE(v6.endpoints->size() == 1);
  CHECK(v6.endpoints->front() == endpoint::loopback_v6(443));
}

TEST_CASE("resolve of a name that cannot exist gives an error, not a crash, and resumes on its pool") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  for (const coring::executor home : {rt.io(), rt.cpu()}) {
    const lookup_outcome outcome = rt.block_on(lookup_on(home, "no-such-host.invalid", "80"));
    CHECK(outcome.at_home_after);
    REQUIRE_FALSE(outcome.endpoints);
    const std::error_code error = outcome.endpoints.error();
    MESSAGE("no-such-host.invalid: " << std::string(error.category().name()) << " " << error.value() << ": "
                                     << error.message());
    CHECK_FALSE(error.message().empty());
    // Without a name server the lookup may end as "not found" or as a temporary failure.
    CHECK((error == coring::net::resolve_errc::host_not_found ||
           error == coring::net::resolve_errc::try_again || error == coring::net::resolve_errc::no_recovery));
  }
}

TEST_CASE("resolve with an unknown service name gives service_not_found") {
  coring::runtime rt{{.io_threads = 1, .cpu_threads = 1}};
  const lookup_outcome outcome = rt.block_on(lookup_on(rt.cpu(), "127.0.0.1", "no-such-service"));
  CHECK(outcome.at_home_after);
  REQUIRE_FALSE(outcome.endpoints);
  CHECK(outcome.endpoints.error() == coring::net::resolve_errc::service_not_found);
  CHECK(outcome.endpoints.error().category() == coring::net::resolve_category());
}

TEST_CASE("resolve error codes carry gai_strerror messages and generic conditions") {
  const std::error_code again = coring::net::resolve_errc::try_again;
  CHECK(std::string(again.category().name()) == "coring.resolve");
  CHECK(again.message() == ::gai_strerror(EAI_AGAIN));
  CHECK(again == std::errc::resource_unavailable_try_again);
  const std::error_code missing = coring::net::resolve_errc::host_not_found;
  CHECK(missing.message() == ::gai_strerror(EAI_NONAME));
  CHECK(missing != std::errc::resource_unavailable_try_again);
}
