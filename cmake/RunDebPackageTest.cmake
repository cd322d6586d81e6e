# SPDX-License-Identifier: MIT
# cmake -P script behind the `deb_package` CTest test:
#   1. cpack -G DEB in the coring build -> libcoring-dev_<version>_<arch>.deb; check its name,
#      dependency on liburing-dev and contents;
#   2. apt-get install it into the system (/usr), as a user of a fresh Debian 12 would;
#   3. build tests/install_consumer against it with find_package(coring) (no prefix given) and
#      its main.cpp with plain g++ and `pkg-config --cflags --libs coring`; run both;
#   4. remove the package again, whether or not the steps before passed.
#
# It changes the system, so it only runs as root and when asked to: DEB_TEST_MODE=ON, or
# DEB_TEST_MODE=AUTO with the environment variable CI set to true or 1 (a disposable CI machine).
# Otherwise it prints "deb_package: skipped: ..." (CTest reports the test as skipped). It refuses to
# run where libcoring-dev is already installed (it would replace and then remove it).
#
# Inputs (-D): CONSUMER_TEST DEB_TEST_MODE CORING_BUILD_DIR CONSUMER_SOURCE_DIR CONSUMER_BUILD_DIR
#              CONSUMER_GENERATOR CONSUMER_CXX_COMPILER CPACK_COMMAND

cmake_minimum_required(VERSION 3.25)
include("${CMAKE_CURRENT_LIST_DIR}/ConsumerTestSteps.cmake")

consumer_require(CONSUMER_TEST DEB_TEST_MODE CORING_BUILD_DIR CONSUMER_SOURCE_DIR
                 CONSUMER_BUILD_DIR CONSUMER_GENERATOR CONSUMER_CXX_COMPILER CPACK_COMMAND)

set(package libcoring-dev)

execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
string(TOLOWER "$ENV{CI}" ci)
if(DEB_TEST_MODE STREQUAL "AUTO" AND NOT (uid STREQUAL "0" AND ci MATCHES "^(true|1)$"))
  message(STATUS "${CONSUMER_TEST}: skipped: it installs ${package} into the system, so it runs "
                 "only as root with CI=true, or with -DCORING_TEST_DEB_PACKAGE=ON "
                 "(uid ${uid}, CI='$ENV{CI}')")
  return()
endif()
if(NOT uid STREQUAL "0")
  message(FATAL_ERROR "${CONSUMER_TEST}: installing the package needs root (uid is ${uid})")
endif()

# "installed" or "" (never installed, or removed: dpkg keeps a record of those too).
function(installed_state out)
  execute_process(COMMAND dpkg-query -W "-f=\${db:Status-Status}" ${package}
                  OUTPUT_VARIABLE state ERROR_QUIET)
  if(state STREQUAL "installed")
    set(${out} installed PARENT_SCOPE)
  else()
    set(${out} "" PARENT_SCOPE)
  endif()
endfunction()

installed_state(state)
if(state)
  message(FATAL_ERROR "${CONSUMER_TEST}: ${package} is already installed on this system; this "
                      "test would replace and then remove it. Remove it first "
                      "(apt-get remove ${package}) or do not run this test here.")
endif()

set(work "${CONSUMER_BUILD_DIR}")
set(package_installed FALSE)

function(build_and_install_deb)
  file(REMOVE_RECURSE "${work}")
  file(MAKE_DIRECTORY "${work}")
  consumer_step("cpack -G DEB"
    "${CPACK_COMMAND}" -G DEB --config "${CORING_BUILD_DIR}/CPackConfig.cmake" -B "${work}/deb")
  file(GLOB debs "${work}/deb/${package}_*.deb")
  list(LENGTH debs count)
  if(NOT count EQUAL 1)
    consumer_fail("expected one ${package}_*.deb in ${work}/deb, found: ${debs}")
  endif()

  consumer_capture(fields "read the package's control fields"
    dpkg-deb --field "${debs}" Package Depends)
  message(STATUS "${CONSUMER_TEST}: ${fields}")
  if(NOT fields MATCHES "Package: ${package}\n" OR NOT fields MATCHES "Depends: [^\n]*liburing-dev")
    consumer_fail("unexpected control fields: ${fields}")
  endif()
  consumer_capture(contents "list the package's files" dpkg-deb --contents "${debs}")
  string(APPEND contents "\n")
  foreach(file include/coring/coring.hpp include/coring/version.hpp /libcoring\\.a
               /cmake/coring/coringConfig\\.cmake /cmake/coring/FindLiburing\\.cmake
               /pkgconfig/coring\\.pc share/doc/libcoring-dev/copyright)
    if(NOT contents MATCHES " \\./usr/[^\n]*${file}\n")
      consumer_fail("the package lacks ${file}:\n${contents}")
    endif()
  endforeach()

  set(ENV{DEBIAN_FRONTEND} noninteractive)
  set(package_installed TRUE PARENT_SCOPE)  # from here on, clean up even if apt-get fails midway
  consumer_step("apt-get install ${debs}"
    apt-get install -y --no-install-recommends "${debs}")
endfunction()

function(build_consumers)
  consumer_cmake_project("${CONSUMER_SOURCE_DIR}" "${work}/cmake_consumer" Release
    "-DCONSUMER_EXPECT_PREFIX=/usr")
  # Only the system's directories: the package's coring.pc and liburing.pc.
  unset(ENV{PKG_CONFIG_PATH})
  consumer_pkg_config_program(/usr "${CONSUMER_SOURCE_DIR}/main.cpp"
    "${work}/pkgconfig_consumer/coring_consumer")
endfunction()

build_and_install_deb()
if(NOT consumer_error)
  build_consumers()
endif()

if(package_installed)
  message(STATUS "${CONSUMER_TEST}: apt-get remove --purge ${package}")
  execute_process(COMMAND apt-get remove -y --purge ${package} RESULT_VARIABLE rc)
  installed_state(state)
  if(state)
    execute_process(COMMAND dpkg --purge ${package})
    installed_state(state)
  endif()
  if(state)
    string(APPEND consumer_error "; and ${package} could not be removed again")
  endif()
endif()

if(consumer_error)
  message(FATAL_ERROR "${CONSUMER_TEST}: ${consumer_error}")
endif()
message(STATUS "${CONSUMER_TEST}: passed; ${package} was installed, used and removed again")
