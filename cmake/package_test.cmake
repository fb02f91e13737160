# ctest package.example: installs this build into a fresh prefix, then configures, builds and runs
# examples/notes against it with find_package(cfsim) — so that the package cannot rot.
# The example is built with this build's compiler, build type and flags: under the asan preset the
# installed libraries are instrumented, so the app must link the sanitizer runtimes, and its own
# code then runs under ASan/UBSan too (cmake/run_package_test.cmake).
string(TOUPPER "${CMAKE_BUILD_TYPE}" _cfsim_config)
add_test(NAME package.example
         COMMAND ${CMAKE_COMMAND}
                 -DCFSIM_BUILD_DIR=${PROJECT_BINARY_DIR}
                 -DEXAMPLE_DIR=${PROJECT_SOURCE_DIR}/examples/notes
                 -DWORK_DIR=${PROJECT_BINARY_DIR}/package-test
                 -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
                 -DCXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}
                 -DBUILD_TYPE=${CMAKE_BUILD_TYPE}
                 "-DCXX_FLAGS_CONFIG=${CMAKE_CXX_FLAGS_${_cfsim_config}}"
                 "-DEXE_LINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
                 -P ${CMAKE_CURRENT_LIST_DIR}/run_package_test.cmake)
# Its build uses two jobs; one example build takes ~30 s at -O2 (most of it the property test).
set_tests_properties(package.example PROPERTIES PROCESSORS 2 TIMEOUT 600 LABELS package)
