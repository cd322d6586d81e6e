# SPDX-License-Identifier: MIT
# coring_set_warnings(<target> [<scope>])
#
# Applies the project's warning set to <target> (scope defaults to PRIVATE; use INTERFACE for
# interface libraries). With CORING_WERROR=ON warnings become errors. Use it for the library,
# tests, examples and benchmarks alike; never make it PUBLIC (consumers pick their own warnings).

function(coring_set_warnings target)
  set(scope PRIVATE)
  if(ARGC GREATER 1)
    set(scope "${ARGV1}")
  endif()

  set(warnings
    -Wall
    -Wextra
    -Wpedantic
    -Wshadow
    -Wnon-virtual-dtor
    -Woverloaded-virtual
    -Wcast-align
    -Wunused
    -Wimplicit-fallthrough)
  if(CORING_WERROR)
    list(APPEND warnings -Werror)
  endif()

  target_compile_options(${target} ${scope}
    "$<$<OR:$<CXX_COMPILER_ID:GNU>,$<CXX_COMPILER_ID:Clang>,$<CXX_COMPILER_ID:AppleClang>>:${warnings}>")
endfunction()
