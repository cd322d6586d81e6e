// SPDX-License-Identifier: MIT
#include "coring/version.hpp"

#include <doctest/doctest.h>

#include <string>

TEST_CASE("version string matches the version macros") {
  const std::string joined = std::to_string(CORING_VERSION_MAJOR) + "." +
                             std::to_string(CORING_VERSION_MINOR) + "." +
                             std::to_string(CORING_VERSION_PATCH);
  CHECK(std::string(coring::version_string) == joined);
  CHECK(coring::version_major == CORING_VERSION_MAJOR);
  CHECK(coring::version_minor == CORING_VERSION_MINOR);
  CHECK(coring::version_patch == CORING_VERSION_PATCH);
}
