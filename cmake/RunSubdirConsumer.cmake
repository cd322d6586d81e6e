# SPDX-License-Identifier: MIT
# cmake -P script behind the `subdir_consumer` CTest test: configures tests/install_consumer with
# add_subdirectory(<coring source tree>) (as README's "Using coring in your project" shows),
# builds it and runs the program.
#
# It builds at -O0 (a Debug build without -g, the quickest to compile): that is where g++ needs
# the -foptimize-sibling-calls that coring's target passes to its users for the program's long
# task chain. The coring build's sanitizers are passed on as CORING_SANITIZE.
#
# Inputs (-D): CONSUMER_TEST CORING_SOURCE_DIR CONSUMER_SOURCE_DIR CONSUMER_BUILD_DIR
#              CONSUMER_GENERATOR CONSUMER_CXX_COMPILER CONSUMER_SANITIZE (comma-separated)

cmake_minimum_required(VERSION 3.25)
include("${CMAKE_CURRENT_LIST_DIR}/ConsumerTestSteps.cmake")

consumer_require(CONSUMER_TEST CORING_SOURCE_DIR CONSUMER_SOURCE_DIR CONSUMER_BUILD_DIR
                 CONSUMER_GENERATOR CONSUMER_CXX_COMPILER)

function(run_subdir_consumer)
  # CORING_SANITIZE is a ;-list, which a command line argument cannot carry: an initial cache.
  string(REPLACE "," ";" sanitize "${CONSUMER_SANITIZE}")
  set(init "${CONSUMER_BUILD_DIR}.init.cmake")
  file(WRITE "${init}" "set(CORING_SANITIZE \"${sanitize}\" CACHE STRING \"\")\n")
  consumer_cmake_project("${CONSUMER_SOURCE_DIR}" "${CONSUMER_BUILD_DIR}" Debug
    -C "${init}"
    "-DCMAKE_CXX_FLAGS_DEBUG=-O0"
    "-DCORING_SOURCE_DIR=${CORING_SOURCE_DIR}"
    "-DCONSUMER_EXPECT_SANITIZE=${CONSUMER_SANITIZE}")
endfunction()

run_subdir_consumer()
if(consumer_error)
  message(FATAL_ERROR "${CONSUMER_TEST}: ${consumer_error}")
endif()
