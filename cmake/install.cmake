# SPDX-License-Identifier: Apache-2.0
# Install rules: libraries, public headers, a CMake package (grndpoolConfig.cmake,
# exported targets grndpool::grndpool and grndpool::grndpool_static) and grndpool.pc.
# Included from the top-level CMakeLists.txt after add_subdirectory(lib).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(GRNDPOOL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/grndpool)

# Exported as grndpool::grndpool and grndpool::grndpool_static, matching the in-tree
# aliases. grndpool_objects is not exported: both libraries only consume its
# objects through $<TARGET_OBJECTS:...>, which is not part of their link interface.
install(TARGETS grndpool grndpool_static
  EXPORT grndpoolTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# (The include directory is exported by lib/CMakeLists.txt's $<INSTALL_INTERFACE:...>.)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/grndpool
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")

install(EXPORT grndpoolTargets
  NAMESPACE grndpool::
  DESTINATION ${GRNDPOOL_CMAKE_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/grndpoolConfig.cmake.in
  ${PROJECT_BINARY_DIR}/grndpoolConfig.cmake
  INSTALL_DESTINATION ${GRNDPOOL_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/grndpoolConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/grndpoolConfig.cmake
              ${PROJECT_BINARY_DIR}/grndpoolConfigVersion.cmake
  DESTINATION ${GRNDPOOL_CMAKE_DIR})

# pkg-config: ${prefix} is derived from the .pc file's own location, so the tree is
# relocatable (cmake --install --prefix DIR works without reconfiguring).
file(RELATIVE_PATH GRNDPOOL_PC_TO_PREFIX
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" GRNDPOOL_PC_TO_PREFIX "${GRNDPOOL_PC_TO_PREFIX}")
set(GRNDPOOL_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
set(GRNDPOOL_PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
foreach(dir LIBDIR INCLUDEDIR)
  if(NOT IS_ABSOLUTE "${GRNDPOOL_PC_${dir}}")
    set(GRNDPOOL_PC_${dir} "\${prefix}/${GRNDPOOL_PC_${dir}}")
  endif()
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/grndpool.pc.in
  ${PROJECT_BINARY_DIR}/grndpool.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/grndpool.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
