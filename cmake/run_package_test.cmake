# The steps of ctest package.example (cmake/package_test.cmake), as a user would take them:
#   cmake --install BUILD --prefix WORK/prefix
#   cmake -S examples/notes -B WORK/build -DCMAKE_PREFIX_PATH=WORK/prefix
#   cmake --build WORK/build && ctest --test-dir WORK/build
# Both folders are made afresh each time: a header or a target the package stopped installing
# must fail here, not linger from an earlier run.
foreach(v CFSIM_BUILD_DIR EXAMPLE_DIR WORK_DIR CXX_COMPILER BUILD_TYPE)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "run_package_test.cmake: -D${v}=... is required")
  endif()
endforeach()

function(step what)
  message(STATUS "package.example: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package.example: '${what}' failed (${rc})")
  endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${prefix} ${build})

step("install into ${prefix}" ${CMAKE_COMMAND} --install ${CFSIM_BUILD_DIR} --prefix ${prefix})

string(TOUPPER "${BUILD_TYPE}" config)
set(configure_args -S ${EXAMPLE_DIR} -B ${build} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
                   -DCMAKE_CXX_COMPILER=${CXX_COMPILER} "-DCMAKE_CXX_FLAGS_${config}=${CXX_FLAGS_CONFIG}"
                   "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}"
                   # The example must stay warning-free (it is documentation); cfsim's installed
                   # headers are system headers to it, as to any app. Designated initializers
                   # (SimOptions{.seed = 7}) leave fields at their defaults on purpose.
                   "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wno-missing-field-initializers -Werror")
if(CXX_COMPILER_LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER})
endif()
step("configure the example" ${CMAKE_COMMAND} ${configure_args})
step("build the example" ${CMAKE_COMMAND} --build ${build} -j 2)
step("run the example's tests" ${CMAKE_CTEST_COMMAND} --test-dir ${build} --output-on-failure)
