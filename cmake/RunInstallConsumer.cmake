# SPDX-License-Identifier: MIT
# cmake -P script behind the `install_consumer` CTest test:
#   1. cmake --install <CORING_BUILD_DIR> --prefix <CORING_PREFIX>   (fresh prefix)
#   2. configure tests/install_consumer with CMAKE_PREFIX_PATH=<CORING_PREFIX>, same compiler,
#      build type and generator as the coring build
#   3. build it and run the resulting program
#
# Inputs (-D): CORING_BUILD_DIR CORING_PREFIX CONSUMER_SOURCE_DIR CONSUMER_BUILD_DIR
#              CONSUMER_GENERATOR CONSUMER_CXX_COMPILER CONSUMER_CONFIG CONSUMER_SANITIZE
#              (CONSUMER_SANITIZE is comma-separated)

cmake_minimum_required(VERSION 3.25)

foreach(var CORING_BUILD_DIR CORING_PREFIX CONSUMER_SOURCE_DIR CONSUMER_BUILD_DIR
            CONSUMER_GENERATOR CONSUMER_CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "RunInstallConsumer.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run_step what)
  message(STATUS "install_consumer: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: '${what}' failed (${rc})")
  endif()
endfunction()

file(REMOVE_RECURSE "${CORING_PREFIX}" "${CONSUMER_BUILD_DIR}")

set(config_args "")
if(CONSUMER_CONFIG)
  set(config_args --config "${CONSUMER_CONFIG}")
endif()

run_step("install coring into ${CORING_PREFIX}"
  "${CMAKE_COMMAND}" --install "${CORING_BUILD_DIR}" --prefix "${CORING_PREFIX}" ${config_args})

run_step("configure consumer"
  "${CMAKE_COMMAND}"
    -S "${CONSUMER_SOURCE_DIR}"
    -B "${CONSUMER_BUILD_DIR}"
    -G "${CONSUMER_GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}"
    "-DCMAKE_BUILD_TYPE=${CONSUMER_CONFIG}"
    "-DCMAKE_PREFIX_PATH=${CORING_PREFIX}"
    # Only the installed package may be found, never this source tree or its build.
    "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"
    "-DCONSUMER_EXPECT_SANITIZE=${CONSUMER_SANITIZE}")

run_step("build consumer"
  "${CMAKE_COMMAND}" --build "${CONSUMER_BUILD_DIR}" ${config_args})

set(exe "${CONSUMER_BUILD_DIR}/coring_consumer")
if(NOT EXISTS "${exe}" AND CONSUMER_CONFIG)
  set(exe "${CONSUMER_BUILD_DIR}/${CONSUMER_CONFIG}/coring_consumer")
endif()
run_step("run consumer" "${exe}")
