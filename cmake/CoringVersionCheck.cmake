# SPDX-License-Identifier: MIT
# coring_check_version_header(<header> <expected-version>)
#
# Parses CORING_VERSION_MAJOR/MINOR/PATCH and coring::version_string from <header> and stops
# configuration if they disagree with <expected-version> (the project() version).

function(coring_check_version_header header expected)
  if(NOT EXISTS "${header}")
    message(FATAL_ERROR "coring: version header ${header} is missing")
  endif()
  file(STRINGS "${header}" _lines REGEX "^#define[ \t]+CORING_VERSION_(MAJOR|MINOR|PATCH)[ \t]")
  foreach(_part MAJOR MINOR PATCH)
    set(_${_part} "")
    foreach(_line IN LISTS _lines)
      if(_line MATCHES "^#define[ \t]+CORING_VERSION_${_part}[ \t]+([0-9]+)[ \t]*(//.*)?$")
        set(_${_part} "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    if(_${_part} STREQUAL "")
      message(FATAL_ERROR "coring: could not parse CORING_VERSION_${_part} from ${header}")
    endif()
  endforeach()
  set(_from_macros "${_MAJOR}.${_MINOR}.${_PATCH}")

  file(STRINGS "${header}" _string_line REGEX "version_string[ \t]*=[ \t]*\"")
  if(NOT _string_line MATCHES "version_string[ \t]*=[ \t]*\"([^\"]*)\"")
    message(FATAL_ERROR "coring: could not parse coring::version_string from ${header}")
  endif()
  set(_from_string "${CMAKE_MATCH_1}")

  if(NOT _from_macros STREQUAL expected OR NOT _from_string STREQUAL expected)
    message(FATAL_ERROR
      "coring: version mismatch: project() says ${expected}, but ${header} has "
      "CORING_VERSION_* = ${_from_macros} and version_string = \"${_from_string}\". "
      "Update both together.")
  endif()
endfunction()
