# What an app links: three targets, each carrying everything the app needs to get the same trace
# hashes as cfsim's own build (docs/install.md).
#   cfsim::cfsim    the kernel and the platform model (cfsim_sim + cfsim_model); <cfsim/cfsim.h>
#   cfsim::testing  + GoogleTest and RapidCheck, for property tests of an app; <cfsim/testing.h>
#   cfsim::cli      + the command line's commands and the built-in scenarios; <cfsim/cli.h>
# The same names exist in an installed package (find_package(cfsim)) and in a build that adds
# cfsim's source tree (add_subdirectory, FetchContent), as aliases here.
#
# cfsim's own targets link cfsim_sim etc. directly and get their flags from the top-level
# add_compile_options; nothing here changes how cfsim itself is built.

add_library(cfsim_public INTERFACE)
set_target_properties(cfsim_public PROPERTIES EXPORT_NAME cfsim)
target_link_libraries(cfsim_public INTERFACE cfsim_sim cfsim_model)
target_compile_features(cfsim_public INTERFACE cxx_std_20)
# Identical hashes need identical floating point: no fused multiply-add contraction in the app's
# code either (its workloads and invariants draw and compute with doubles too).
target_compile_options(cfsim_public INTERFACE $<$<COMPILE_LANG_AND_ID:CXX,GNU,Clang,AppleClang>:-ffp-contract=off>)
# The umbrella headers: <cfsim/cfsim.h> and friends.
target_include_directories(cfsim_public INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                                  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
add_library(cfsim::cfsim ALIAS cfsim_public)

add_library(cfsim_cli_public INTERFACE)
set_target_properties(cfsim_cli_public PROPERTIES EXPORT_NAME cli)
target_link_libraries(cfsim_cli_public INTERFACE cfsim_public cfsim_cli cfsim_scenarios)
add_library(cfsim::cli ALIAS cfsim_cli_public)

# The property-test layer is header-only (testing/*.h); it exists only when GoogleTest and
# RapidCheck were found. An app adds GTest::gtest_main (or its own main).
set(CFSIM_HAS_TESTING OFF)
if(TARGET GTest::gtest AND TARGET rapidcheck AND TARGET rapidcheck_gtest)
  set(CFSIM_HAS_TESTING ON)
  add_library(cfsim_testing INTERFACE)
  set_target_properties(cfsim_testing PROPERTIES EXPORT_NAME testing)
  target_link_libraries(cfsim_testing INTERFACE cfsim_public GTest::gtest rapidcheck rapidcheck_gtest)
  add_library(cfsim::testing ALIAS cfsim_testing)
endif()
