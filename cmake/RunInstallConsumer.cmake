# SPDX-License-Identifier: MIT
# cmake -P script behind the `install_consumer` and `pkgconfig_consumer` CTest tests:
#   1. cmake --install <CORING_BUILD_DIR> --prefix <CORING_PREFIX>   (fresh prefix)
#   2. CONSUMER_MODE=cmake: configure tests/install_consumer with find_package(coring) pinned to
#      <CORING_PREFIX> (same compiler, build type and generator as the coring build), build it and
#      run the program;
#      CONSUMER_MODE=pkg-config: compile its main.cpp with the compiler, PKG_CONFIG_PATH pointing
#      into <CORING_PREFIX>, and `pkg-config --cflags --libs coring`, then run it.
# Neither may pick up another installed coring (a system libcoring-dev, for one): both check
# where theirs came from.
#
# Inputs (-D): CONSUMER_TEST CONSUMER_MODE CORING_BUILD_DIR CORING_PREFIX CORING_CMAKEDIR
#              CORING_PKGCONFIGDIR CONSUMER_SOURCE_DIR CONSUMER_BUILD_DIR CONSUMER_GENERATOR
#              CONSUMER_CXX_COMPILER CONSUMER_CONFIG CONSUMER_SANITIZE
#              (CONSUMER_SANITIZE is comma-separated; the *DIR paths of the prefix are relative)

cmake_minimum_required(VERSION 3.25)
include("${CMAKE_CURRENT_LIST_DIR}/ConsumerTestSteps.cmake")

consumer_require(CONSUMER_TEST CONSUMER_MODE CORING_BUILD_DIR CORING_PREFIX CORING_CMAKEDIR
                 CORING_PKGCONFIGDIR CONSUMER_SOURCE_DIR CONSUMER_BUILD_DIR CONSUMER_GENERATOR
                 CONSUMER_CXX_COMPILER)

function(run_install_consumer)
  file(REMOVE_RECURSE "${CORING_PREFIX}")
  set(config_args "")
  if(CONSUMER_CONFIG)
    set(config_args --config "${CONSUMER_CONFIG}")
  endif()
  consumer_step("install coring into ${CORING_PREFIX}"
    "${CMAKE_COMMAND}" --install "${CORING_BUILD_DIR}" --prefix "${CORING_PREFIX}" ${config_args})

  if(CONSUMER_MODE STREQUAL "cmake")
    consumer_cmake_project("${CONSUMER_SOURCE_DIR}" "${CONSUMER_BUILD_DIR}" "${CONSUMER_CONFIG}"
      "-DCMAKE_PREFIX_PATH=${CORING_PREFIX}"
      "-Dcoring_DIR=${CORING_PREFIX}/${CORING_CMAKEDIR}"
      "-DCONSUMER_EXPECT_PREFIX=${CORING_PREFIX}"
      "-DCONSUMER_EXPECT_SANITIZE=${CONSUMER_SANITIZE}")
  elseif(CONSUMER_MODE STREQUAL "pkg-config")
    # In front of the system's directories (liburing.pc is found there).
    set(ENV{PKG_CONFIG_PATH} "${CORING_PREFIX}/${CORING_PKGCONFIGDIR}")
    consumer_pkg_config_program("${CORING_PREFIX}" "${CONSUMER_SOURCE_DIR}/main.cpp"
      "${CONSUMER_BUILD_DIR}/coring_consumer")
  else()
    consumer_fail("unknown CONSUMER_MODE '${CONSUMER_MODE}' (cmake or pkg-config)")
  endif()
endfunction()

run_install_consumer()
if(consumer_error)
  message(FATAL_ERROR "${CONSUMER_TEST}: ${consumer_error}")
endif()
