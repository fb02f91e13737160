# `cmake --install`: the headers, the libraries, the `cfsim` command line and the CMake package
# (find_package(cfsim CONFIG REQUIRED); docs/install.md).
#   include/cfsim/{cfsim,testing,cli}.h            the umbrella headers
#   include/cfsim/{sim,model,scenarios,testing,tools/replay}/...  the tree's headers, same paths
#   lib/libcfsim_*.a                                 the libraries
#   bin/cfsim                                        the command line
#   lib/cmake/cfsim/                                 cfsimConfig.cmake, its version file, the targets

include(CMakePackageConfigHelpers)
set(CFSIM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cfsim)

# Headers no public header includes stay out: they are the implementation's.
set(CFSIM_PRIVATE_HEADERS fiber_record.h runtime_detail.h storage_impl.h net_state.h)
function(cfsim_install_headers dir)
  set(excludes)
  foreach(h IN LISTS CFSIM_PRIVATE_HEADERS)
    list(APPEND excludes PATTERN ${h} EXCLUDE)
  endforeach()
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CFSIM_INSTALL_INCLUDEDIR}/${dir}
          FILES_MATCHING PATTERN "*.h" ${excludes})
endfunction()
foreach(dir sim model scenarios tools/replay)
  cfsim_install_headers(${dir})
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/include/cfsim/cfsim.h ${PROJECT_SOURCE_DIR}/include/cfsim/cli.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cfsim)

install(TARGETS cfsim_sim cfsim_model cfsim_scenarios cfsim_cli cfsim_public cfsim_cli_public
        EXPORT cfsimTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT cfsimTargets NAMESPACE cfsim:: DESTINATION ${CFSIM_CMAKE_DIR})
install(TARGETS cfsim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The testing layer in an export set of its own, so that the package loads without GoogleTest
# and RapidCheck when an app does not use cfsim::testing.
if(CFSIM_HAS_TESTING)
  cfsim_install_headers(testing)
  install(FILES ${PROJECT_SOURCE_DIR}/include/cfsim/testing.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cfsim)
  install(TARGETS cfsim_testing EXPORT cfsimTestingTargets)
  install(EXPORT cfsimTestingTargets NAMESPACE cfsim:: DESTINATION ${CFSIM_CMAKE_DIR})
endif()

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/cfsimConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/cfsimConfig.cmake INSTALL_DESTINATION ${CFSIM_CMAKE_DIR})
# Before 1.0 a minor version may change the API and the trace format: same major.minor only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cfsimConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cfsimConfig.cmake ${PROJECT_BINARY_DIR}/cfsimConfigVersion.cmake
        DESTINATION ${CFSIM_CMAKE_DIR})
