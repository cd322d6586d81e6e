# SPDX-License-Identifier: MIT
# libFuzzer targets (clang only), enabled by CORING_BUILD_FUZZERS (the `fuzz` preset).
#
#   coring_add_fuzzer(<name> SOURCES <file>... [CORPUS <dir>])
#
# makes the executable <name> (linked with -fsanitize=fuzzer,address,undefined) under
# ${PROJECT_BINARY_DIR}/fuzzers/, adds it to the target `coring_fuzzers`, and records the seed
# corpus directory next to it (<name>.corpus: one line, the directory) for scripts/fuzz.sh. Without
# CORING_BUILD_FUZZERS the call does nothing, so examples can declare their fuzzers unconditionally.
# A crash a fuzzer finds becomes an ordinary test of the parser, in the example's own tests.

option(CORING_BUILD_FUZZERS "Build the libFuzzer targets (needs clang)" OFF)

if(CORING_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CORING_BUILD_FUZZERS needs clang (compiler is ${CMAKE_CXX_COMPILER_ID}); "
                        "use the `fuzz` preset")
  endif()
  if(NOT TARGET coring_fuzzers)
    add_custom_target(coring_fuzzers)
  endif()
endif()

function(coring_add_fuzzer name)
  if(NOT CORING_BUILD_FUZZERS)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "CORPUS" "SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "coring_add_fuzzer(${name}): no SOURCES")
  endif()
  add_executable(${name} ${arg_SOURCES})
  set(_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_compile_options(${name} PRIVATE ${_flags} -g -O1)
  target_link_options(${name} PRIVATE ${_flags})
  target_compile_features(${name} PRIVATE cxx_std_20)
  set_target_properties(${name} PROPERTIES CXX_EXTENSIONS OFF
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/fuzzers")
  coring_set_warnings(${name})
  add_dependencies(coring_fuzzers ${name})
  set(_corpus "")
  if(arg_CORPUS)
    get_filename_component(_corpus "${arg_CORPUS}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  endif()
  file(WRITE "${PROJECT_BINARY_DIR}/fuzzers/${name}.corpus" "${_corpus}\n")
endfunction()
