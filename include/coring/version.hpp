// SPDX-License-Identifier: MIT
// coring version. Keep these in step with project(coring VERSION ...) in the top-level
// CMakeLists.txt: configuring fails if they disagree.
#pragma once

#include <string_view>

#define CORING_VERSION_MAJOR 0
#define CORING_VERSION_MINOR 1
#define CORING_VERSION_PATCH 0

namespace coring {

inline constexpr int version_major = CORING_VERSION_MAJOR;
inline constexpr int version_minor = CORING_VERSION_MINOR;
inline constexpr int version_patch = CORING_VERSION_PATCH;

// "MAJOR.MINOR.PATCH"
inline constexpr std::string_view version_string = "0.1.0";

}  // namespace coring
