# SPDX-License-Identifier: MIT
# FindLiburing
# ------------
#
# Finds liburing (https://github.com/axboe/liburing). Debian 12 ships no CMake package
# configuration for it, hence this module.
#
# Imported target:
#   Liburing::liburing   - the library, with its include directory as a usage requirement.
#
# Result variables:
#   Liburing_FOUND, Liburing_INCLUDE_DIR, Liburing_LIBRARY, Liburing_VERSION
#   (Liburing_VERSION comes from <liburing/io_uring_version.h>, which liburing >= 2.4 has;
#   otherwise from pkg-config when available; otherwise it stays empty: version unknown.)
#
# Hints:
#   Liburing_ROOT            - prefix to search first (standard CMake <Package>_ROOT handling).
#   Liburing_USE_STATIC_LIBS - prefer liburing.a over liburing.so.
#
# Use find_package(Liburing REQUIRED): a missing liburing is a hard configure error.

include(FindPackageHandleStandardArgs)

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_Liburing QUIET liburing)
endif()

find_path(Liburing_INCLUDE_DIR
  NAMES liburing.h
  HINTS ${PC_Liburing_INCLUDEDIR} ${PC_Liburing_INCLUDE_DIRS}
  DOC "Directory containing liburing.h")

if(Liburing_USE_STATIC_LIBS)
  set(_liburing_names liburing.a uring)
else()
  set(_liburing_names uring)
endif()
find_library(Liburing_LIBRARY
  NAMES ${_liburing_names}
  HINTS ${PC_Liburing_LIBDIR} ${PC_Liburing_LIBRARY_DIRS}
  DOC "liburing library (shared or static)")
unset(_liburing_names)

set(Liburing_VERSION "")
if(Liburing_INCLUDE_DIR AND EXISTS "${Liburing_INCLUDE_DIR}/liburing/io_uring_version.h")
  file(STRINGS "${Liburing_INCLUDE_DIR}/liburing/io_uring_version.h" _liburing_version_lines
       REGEX "^#define[ \t]+IO_URING_VERSION_(MAJOR|MINOR)[ \t]+[0-9]+")
  set(_liburing_major "")
  set(_liburing_minor "")
  foreach(_line IN LISTS _liburing_version_lines)
    if(_line MATCHES "IO_URING_VERSION_MAJOR[ \t]+([0-9]+)")
      set(_liburing_major "${CMAKE_MATCH_1}")
    elseif(_line MATCHES "IO_URING_VERSION_MINOR[ \t]+([0-9]+)")
      set(_liburing_minor "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(NOT _liburing_major STREQUAL "" AND NOT _liburing_minor STREQUAL "")
    set(Liburing_VERSION "${_liburing_major}.${_liburing_minor}")
  endif()
  unset(_line)
  unset(_liburing_major)
  unset(_liburing_minor)
  unset(_liburing_version_lines)
endif()
# Older liburing (2.3 on Debian 12) has no version header; trust pkg-config only when it
# describes the same installation that was found.
if(Liburing_VERSION STREQUAL "" AND PC_Liburing_FOUND AND PC_Liburing_VERSION)
  if(Liburing_INCLUDE_DIR IN_LIST PC_Liburing_INCLUDE_DIRS
     OR Liburing_INCLUDE_DIR STREQUAL PC_Liburing_INCLUDEDIR
     OR (PC_Liburing_INCLUDE_DIRS STREQUAL "" AND PC_Liburing_INCLUDEDIR STREQUAL ""))
    set(Liburing_VERSION "${PC_Liburing_VERSION}")
  endif()
endif()

if(Liburing_VERSION STREQUAL "")
  find_package_handle_standard_args(Liburing
    REQUIRED_VARS Liburing_LIBRARY Liburing_INCLUDE_DIR
    REASON_FAILURE_MESSAGE
      "liburing development files not found. On Debian/Ubuntu: apt-get install liburing-dev")
else()
  find_package_handle_standard_args(Liburing
    REQUIRED_VARS Liburing_LIBRARY Liburing_INCLUDE_DIR
    VERSION_VAR Liburing_VERSION
    REASON_FAILURE_MESSAGE
      "liburing development files not found. On Debian/Ubuntu: apt-get install liburing-dev")
endif()

if(Liburing_FOUND AND NOT TARGET Liburing::liburing)
  add_library(Liburing::liburing UNKNOWN IMPORTED)
  set_target_properties(Liburing::liburing PROPERTIES
    IMPORTED_LOCATION "${Liburing_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Liburing_INCLUDE_DIR}")
endif()

mark_as_advanced(Liburing_INCLUDE_DIR Liburing_LIBRARY)
