// SPDX-License-Identifier: MIT
// The readable form of a type's mangled name (typeid(x).name()), for messages and the task dump.
#pragma once

#include <cxxabi.h>

#include <cstdlib>
#include <string>

namespace coring::detail {

/// The name as the compiler's demangler reads it, or the mangled name when it cannot.
inline std::string demangled(const char* name) {
  int status = 0;
  char* readable = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || readable == nullptr) return name;
  std::string result(readable);
  std::free(readable);
  return result;
}

}  // namespace coring::detail
