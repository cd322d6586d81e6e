// SPDX-License-Identifier: MIT
// Test runner for coring_tests. Test cases live in tests/*_test.cpp.
//
// --coring-backend=epoll (or io_uring, automatic) runs the suite on that backend: it sets
// CORING_BACKEND, which every runtime and event_loop made with backend_kind::automatic follows.
// CTest runs the suite once per backend this way (tests/CMakeLists.txt).
//
// --coring-old-kernel=5.15 (or 5.19) makes the io_uring backend see only the opcodes of that
// kernel, so it emulates what came later (multishot accept and receive, buffer rings, send_zc,
// cancel-any) as it would there.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <liburing.h>
#include <stdlib.h>

#include <cstdio>
#include <string_view>
#include <vector>

#include "backend/backend.hpp"

int main(int argc, char** argv) {
  constexpr std::string_view backend_option = "--coring-backend=";
  constexpr std::string_view kernel_option = "--coring-old-kernel=";
  std::vector<char*> passed;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.starts_with(backend_option)) {
      ::setenv("CORING_BACKEND", argv[i] + backend_option.size(), 1);
    } else if (arg.starts_with(kernel_option)) {
      const std::string_view kernel = arg.substr(kernel_option.size());
      // The first opcode the kernel after it brought: IORING_OP_MSG_RING (5.18), IORING_OP_SEND_ZC (6.0).
      const unsigned first_missing = kernel == "5.15"   ? IORING_OP_MSG_RING
                                     : kernel == "5.19" ? IORING_OP_SEND_ZC
                                                        : 0;
      if (first_missing == 0) {
        std::fprintf(stderr, "coring_tests: --coring-old-kernel takes 5.15 or 5.19\n");
        return 2;
      }
      coring::detail::testing::pretend_uring_lacks_opcodes_from(first_missing);
    } else {
      passed.push_back(argv[i]);
    }
  }
  doctest::Context context(static_cast<int>(passed.size()), passed.data());
  return context.run();
}
