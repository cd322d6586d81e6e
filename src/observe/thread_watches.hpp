// SPDX-License-Identifier: MIT
// The watches of a runtime's threads (await_trace.hpp): named at construction, adopted by each
// thread when it starts, read by the stall detector and runtime::dump_tasks().
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdio>

#include "coring/detail/await_trace.hpp"

namespace coring::detail {

/// Names `watch` "<pool>-<index>" (before its thread starts).
inline void name_watch(thread_watch& watch, const char* pool, unsigned index) noexcept {
  std::snprintf(watch.name, sizeof watch.name, "%s-%u", pool, index);
}

/// The calling thread runs tasks under `watch` from now on (null: no longer); the OS thread name
/// becomes "coring-<name>" (what top, gdb and perf show).
inline void adopt_watch(thread_watch* watch) noexcept {
  current_watch() = watch;
  if (watch == nullptr) return;
  char os_name[16];  // the kernel's limit, terminator included
  std::size_t n = 0;
  for (const char* c = "coring-"; *c != '\0' && n < 15; ++c) os_name[n++] = *c;
  for (const char* c = watch->name; *c != '\0' && n < 15; ++c) os_name[n++] = *c;
  os_name[n] = '\0';
  ::pthread_setname_np(::pthread_self(), os_name);
}

}  // namespace coring::detail
