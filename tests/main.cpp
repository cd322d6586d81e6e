// SPDX-License-Identifier: MIT
// Test runner for coring_tests. Test cases live in tests/*_test.cpp.
//
// --coring-backend=epoll (or io_uring, automatic) runs the suite on that backend: it sets
// CORING_BACKEND, which every runtime and event_loop made with backend_kind::automatic follows.
// CTest runs the suite once per backend this way (tests/CMakeLists.txt).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <stdlib.h>

#include <string_view>
#include <vector>

int main(int argc, char** argv) {
  constexpr std::string_view option = "--coring-backend=";
  std::vector<char*> passed;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.starts_with(option)) {
      ::setenv("CORING_BACKEND", argv[i] + option.size(), 1);
    } else {
      passed.push_back(argv[i]);
    }
  }
  doctest::Context context(static_cast<int>(passed.size()), passed.data());
  return context.run();
}
