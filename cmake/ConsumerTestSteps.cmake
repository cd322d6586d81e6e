# SPDX-License-Identifier: MIT
# Steps shared by the consumer-test scripts (cmake -P Run*Consumer.cmake, RunDebPackageTest.cmake).
#
# The steps are macros used from inside one function per script: a failing step stores its error
# in `consumer_error` (in the function's caller) and return()s from that function, so a script
# can still clean up (the .deb test removes the package it installed) before it fails.
# CONSUMER_TEST (the test's name) prefixes the messages.

cmake_minimum_required(VERSION 3.25)

# consumer_require(<var>...): stop at once if a -D input is missing.
function(consumer_require)
  foreach(var IN LISTS ARGN)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
      message(FATAL_ERROR "${CONSUMER_TEST}: -D${var}=... is required")
    endif()
  endforeach()
endfunction()

# consumer_step(<what> <command> [<arg>...])
macro(consumer_step what)
  message(STATUS "${CONSUMER_TEST}: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _consumer_rc)
  if(NOT _consumer_rc EQUAL 0)
    set(consumer_error "'${what}' failed (${_consumer_rc})" PARENT_SCOPE)
    return()
  endif()
endmacro()

# consumer_capture(<out-var> <what> <command> [<arg>...]): like consumer_step, keeping stdout.
macro(consumer_capture out what)
  message(STATUS "${CONSUMER_TEST}: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _consumer_rc OUTPUT_VARIABLE ${out}
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _consumer_rc EQUAL 0)
    set(consumer_error "'${what}' failed (${_consumer_rc})" PARENT_SCOPE)
    return()
  endif()
endmacro()

# consumer_fail(<message>): record a failed check and return from the calling function.
macro(consumer_fail msg)
  set(consumer_error "${msg}" PARENT_SCOPE)
  return()
endmacro()

# consumer_cmake_project(<source> <build> <config> [<cmake -D args>...]): configure the consumer
# project with the coring build's compiler and generator, build it and run its program.
macro(consumer_cmake_project source build config)
  file(REMOVE_RECURSE "${build}")
  consumer_step("configure consumer (${config})"
    "${CMAKE_COMMAND}" -S "${source}" -B "${build}" -G "${CONSUMER_GENERATOR}"
      "-DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${config}"
      # Only the coring under test may be found, never a build tree through the registry.
      "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"
      ${ARGN})
  consumer_step("build consumer" "${CMAKE_COMMAND}" --build "${build}" --config "${config}")
  set(_consumer_exe "${build}/coring_consumer")
  if(NOT EXISTS "${_consumer_exe}")
    set(_consumer_exe "${build}/${config}/coring_consumer")
  endif()
  consumer_step("run consumer" "${_consumer_exe}")
endmacro()

# consumer_pkg_config_program(<expected-prefix> <source.cpp> <exe>): build one source file with
# the compiler alone and `pkg-config --cflags --libs coring` at -O0 (where g++ needs the .pc's
# -foptimize-sibling-calls for the program's long task chain), after checking that pkg-config
# finds the coring under <expected-prefix>; then run it.
macro(consumer_pkg_config_program expected_prefix source exe)
  find_program(_consumer_pkg_config NAMES pkg-config pkgconf)
  if(NOT _consumer_pkg_config)
    consumer_fail("pkg-config not found (apt-get install pkg-config)")
  endif()
  consumer_capture(_consumer_pc_prefix "pkg-config --variable=prefix coring"
    "${_consumer_pkg_config}" --variable=prefix coring)
  file(REAL_PATH "${_consumer_pc_prefix}" _consumer_pc_prefix)
  file(REAL_PATH "${expected_prefix}" _consumer_expected_prefix)
  if(NOT _consumer_pc_prefix STREQUAL _consumer_expected_prefix)
    consumer_fail("pkg-config found coring in ${_consumer_pc_prefix}, not ${expected_prefix}")
  endif()
  consumer_capture(_consumer_pc_flags "pkg-config --cflags --libs coring"
    "${_consumer_pkg_config}" --cflags --libs coring)
  message(STATUS "${CONSUMER_TEST}: pkg-config gives: ${_consumer_pc_flags}")
  if(NOT _consumer_pc_flags MATCHES "(^| )-foptimize-sibling-calls( |$)")
    consumer_fail("coring.pc's Cflags lack -foptimize-sibling-calls")
  endif()
  separate_arguments(_consumer_pc_flags UNIX_COMMAND "${_consumer_pc_flags}")
  get_filename_component(_consumer_exe_dir "${exe}" DIRECTORY)
  file(REMOVE_RECURSE "${_consumer_exe_dir}")
  file(MAKE_DIRECTORY "${_consumer_exe_dir}")
  consumer_step("compile consumer with ${CONSUMER_CXX_COMPILER} -O0 and pkg-config"
    "${CONSUMER_CXX_COMPILER}" -std=c++20 -O0 -Wall -Wextra -Werror "${source}" -o "${exe}"
      ${_consumer_pc_flags})
  consumer_step("run consumer" "${exe}")
endmacro()
