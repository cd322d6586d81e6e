# SPDX-License-Identifier: MIT
# CPACK_PRE_BUILD_SCRIPTS entry (see CoringPackaging.cmake): runs in CPack after the files are
# staged and before the package is made, with the CPack configuration's variables set. Debian
# policy wants the licence as /usr/share/doc/<package>/copyright.
if(CPACK_GENERATOR STREQUAL "DEB" AND CPACK_RESOURCE_FILE_LICENSE)  # the generator running now
  set(_doc "${CPACK_TEMPORARY_INSTALL_DIRECTORY}${CPACK_PACKAGING_INSTALL_PREFIX}/share/doc")
  file(MAKE_DIRECTORY "${_doc}/${CPACK_PACKAGE_NAME}")
  file(COPY_FILE "${CPACK_RESOURCE_FILE_LICENSE}" "${_doc}/${CPACK_PACKAGE_NAME}/copyright"
       ONLY_IF_DIFFERENT)
endif()
