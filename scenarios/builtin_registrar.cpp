// Compiled into every target of cfsim's own build that links cfsim_scenarios (its tests and
// benchmarks, through the library's INTERFACE_SOURCES): they find the demo scenarios by name
// without registering them. Never part of an installed package or of a project that adds cfsim
// with add_subdirectory (scenarios/CMakeLists.txt).

#include "scenarios/registry.h"

namespace {
[[maybe_unused]] const bool builtins_registered = (cfsim::register_builtin_scenarios(), true);
}  // namespace
