# SPDX-License-Identifier: MIT
# Sanitizer support, driven by the cache variable CORING_SANITIZE:
#   ""                   - none (default)
#   "address;undefined"  - AddressSanitizer (+LeakSanitizer) and UndefinedBehaviorSanitizer
#   "address", "undefined", "thread" - the single sanitizer
#
# coring_enable_sanitizers(<target>) adds the flags to <target> as PUBLIC compile and link options,
# so they reach coring's own sources and everything that links coring (including, through the
# installed export, a consumer of a sanitized install).

set(CORING_SANITIZE "" CACHE STRING
    "Sanitizers for coring and its tests: empty, \"address;undefined\", or \"thread\"")

set(_coring_known_sanitizers address undefined thread)
foreach(_san IN LISTS CORING_SANITIZE)
  if(NOT _san IN_LIST _coring_known_sanitizers)
    message(FATAL_ERROR "CORING_SANITIZE: unknown sanitizer '${_san}' "
                        "(expected a list of: ${_coring_known_sanitizers})")
  endif()
endforeach()
unset(_san)
unset(_coring_known_sanitizers)
if("thread" IN_LIST CORING_SANITIZE AND "address" IN_LIST CORING_SANITIZE)
  message(FATAL_ERROR "CORING_SANITIZE: 'thread' cannot be combined with 'address'")
endif()
if(CORING_SANITIZE AND NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  message(FATAL_ERROR "CORING_SANITIZE needs GCC or Clang (compiler is ${CMAKE_CXX_COMPILER_ID})")
endif()

# coring_sanitizer_flags(<compile-var> <link-var>): the flags for CORING_SANITIZE, as lists (empty
# when none); the pkg-config file carries the same ones as the CMake target.
function(coring_sanitizer_flags compile_var link_var)
  set(_compile "")
  set(_link "")
  if(CORING_SANITIZE)
    list(JOIN CORING_SANITIZE "," _list)
    set(_compile "-fsanitize=${_list}" -fno-omit-frame-pointer)
    if("undefined" IN_LIST CORING_SANITIZE)
      list(APPEND _compile -fno-sanitize-recover=all)
    endif()
    set(_link "-fsanitize=${_list}")
  endif()
  set(${compile_var} "${_compile}" PARENT_SCOPE)
  set(${link_var} "${_link}" PARENT_SCOPE)
endfunction()

function(coring_enable_sanitizers target)
  coring_sanitizer_flags(_compile _link)
  if(_compile)
    target_compile_options(${target} PUBLIC ${_compile})
    target_link_options(${target} PUBLIC ${_link})
  endif()
endfunction()

if(CORING_SANITIZE)
  message(STATUS "coring: sanitizers enabled: ${CORING_SANITIZE}")
endif()
