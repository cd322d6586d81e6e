# SPDX-License-Identifier: MIT
# Included by the top-level CMakeLists.txt when CORING_INSTALL is on, after the install rules of
# the library and its CMake package:
#   - coring.pc for pkg-config users (Meson, Make, plain g++);
#   - CPack settings for `cpack -G DEB`: a libcoring-dev package with the headers, the library,
#     the CMake package and coring.pc, depending on liburing-dev.

# ---------------------------------------------------------------------------------------------
# pkg-config
# ---------------------------------------------------------------------------------------------
set(CORING_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Install directory for coring.pc (relative to the prefix)")
mark_as_advanced(CORING_INSTALL_PKGCONFIGDIR)

function(_coring_pc_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()
_coring_pc_dir(CORING_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
_coring_pc_dir(CORING_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")

# The same compile flags the CMake target gives its users: see the target_compile_options() next
# to add_library(coring). Unconditional here (a .pc file cannot ask for the compiler); clang
# accepts the flag too.
coring_sanitizer_flags(_coring_pc_san_compile _coring_pc_san_link)
set(_coring_pc_cflags -foptimize-sibling-calls ${_coring_pc_san_compile})
set(_coring_pc_libs -pthread ${_coring_pc_san_link})
list(JOIN _coring_pc_cflags " " CORING_PC_CFLAGS)
list(JOIN _coring_pc_libs " " CORING_PC_LIBS)

# A static libcoring.a needs -luring at the user's link step, and `pkg-config --libs` (without
# --static) leaves out Requires.private: so liburing is a plain requirement then. A shared
# libcoring.so links liburing itself. Debian 12's liburing-dev ships liburing.pc.
get_target_property(_coring_pc_type coring TYPE)
if(_coring_pc_type STREQUAL "STATIC_LIBRARY")
  set(CORING_PC_REQUIRES "Requires: liburing")
else()
  set(CORING_PC_REQUIRES "Requires.private: liburing")
endif()

# The prefix is only known at install time (`cmake --install --prefix`, or /usr inside CPack's
# staging directory), so the configured file keeps a placeholder that the install step replaces.
set(CORING_PC_PREFIX "@CORING_PC_PREFIX@")
configure_file("${PROJECT_SOURCE_DIR}/cmake/coring.pc.in" "${PROJECT_BINARY_DIR}/coring.pc.in" @ONLY)
install(CODE "
  file(READ \"${PROJECT_BINARY_DIR}/coring.pc.in\" _coring_pc)
  string(REPLACE \"@CORING_PC_PREFIX@\" \"\${CMAKE_INSTALL_PREFIX}\" _coring_pc \"\${_coring_pc}\")
  set(_coring_pc_file \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CORING_INSTALL_PKGCONFIGDIR}/coring.pc\")
  message(STATUS \"Installing: \${_coring_pc_file}\")
  file(WRITE \"\${_coring_pc_file}\" \"\${_coring_pc}\")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${_coring_pc_file}\")
")
unset(CORING_PC_PREFIX)
unset(_coring_pc_type)
unset(_coring_pc_cflags)
unset(_coring_pc_libs)
unset(_coring_pc_san_compile)
unset(_coring_pc_san_link)

# ---------------------------------------------------------------------------------------------
# CPack: cpack -G DEB (run in the build directory) -> libcoring-dev_<version>_<arch>.deb
# ---------------------------------------------------------------------------------------------
set(CORING_DEB_MAINTAINER "coring maintainers" CACHE STRING
    "Maintainer field of the libcoring-dev package (name <email>)")
mark_as_advanced(CORING_DEB_MAINTAINER)

set(CPACK_PACKAGE_NAME "libcoring-dev")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "${CORING_DEB_MAINTAINER}")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # libcoring-dev_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "libdevel")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# The first line of the Description field is the summary above; this is the extended text.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "coring runs lazy coroutine tasks (coring::task<T>) on event-loop threads that each drive an "
  "io_uring (files, sockets, timers) and on a work-stealing pool for CPU work.\n"
  "This package has the headers, the static library, the CMake package (find_package(coring)) "
  "and the pkg-config file (coring.pc).")
list(JOIN CPACK_DEBIAN_PACKAGE_DESCRIPTION "" CPACK_DEBIAN_PACKAGE_DESCRIPTION)
# Debian wants the licence as /usr/share/doc/<package>/copyright: added to CPack's staging
# directory only, so a plain `cmake --install` keeps share/doc/coring/LICENSE alone.
set(CPACK_PRE_BUILD_SCRIPTS "${PROJECT_SOURCE_DIR}/cmake/CoringDebCopyright.cmake")
# The static library links liburing, and the CMake package and coring.pc find it again.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "liburing-dev")
set(CPACK_GENERATOR "DEB")
set(CPACK_SOURCE_GENERATOR "TGZ")
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build/")
include(CPack)
