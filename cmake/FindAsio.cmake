# SPDX-License-Identifier: MIT
# FindAsio
# --------
#
# Finds standalone (non-Boost) Asio, a header-only library (Debian: libasio-dev).
#
# Imported target:
#   Asio::asio   - INTERFACE target: include directory + Threads::Threads.
#
# Result variables:
#   Asio_FOUND, Asio_INCLUDE_DIR, Asio_VERSION (from <asio/version.hpp>)
#
# coring uses Asio only in tests and benchmarks, never in its public headers.

include(FindPackageHandleStandardArgs)

find_path(Asio_INCLUDE_DIR
  NAMES asio.hpp
  DOC "Directory containing standalone asio.hpp")

set(Asio_VERSION "")
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
       REGEX "^#define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
  if(_asio_version_line MATCHES "ASIO_VERSION[ \t]+([0-9]+)")
    # ASIO_VERSION = MAJOR * 100000 + MINOR * 100 + PATCH
    math(EXPR _asio_major "${CMAKE_MATCH_1} / 100000")
    math(EXPR _asio_minor "${CMAKE_MATCH_1} / 100 % 1000")
    math(EXPR _asio_patch "${CMAKE_MATCH_1} % 100")
    set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
    unset(_asio_major)
    unset(_asio_minor)
    unset(_asio_patch)
  endif()
  unset(_asio_version_line)
endif()

find_package_handle_standard_args(Asio
  REQUIRED_VARS Asio_INCLUDE_DIR
  VERSION_VAR Asio_VERSION
  REASON_FAILURE_MESSAGE "standalone Asio not found. On Debian/Ubuntu: apt-get install libasio-dev")

if(Asio_FOUND AND NOT TARGET Asio::asio)
  if(NOT TARGET Threads::Threads)
    find_package(Threads REQUIRED)
  endif()
  add_library(Asio::asio INTERFACE IMPORTED)
  set_target_properties(Asio::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
  # Two GCC warnings fire inside Asio's own headers (reported at the user's line, so not
  # suppressed as system-header warnings) and would break -Werror builds of tests/benchmarks.
  # They are silenced for Asio users only; coring's library code keeps both.
  #  - GCC >= 11, -Wmismatched-new-delete (in -Wall): false positive on asio::awaitable frames,
  #    which pair a custom operator new with the matching operator delete (seen at -O1).
  #  - GCC >= 12, -Wtsan (on by default): ThreadSanitizer does not model std::atomic_thread_fence,
  #    which Asio's fenced blocks use.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    if(CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 11)
      set_property(TARGET Asio::asio APPEND PROPERTY INTERFACE_COMPILE_OPTIONS -Wno-mismatched-new-delete)
    endif()
    if(CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
      set_property(TARGET Asio::asio APPEND PROPERTY INTERFACE_COMPILE_OPTIONS -Wno-tsan)
    endif()
  endif()
endif()

mark_as_advanced(Asio_INCLUDE_DIR)
