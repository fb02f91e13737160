#pragma once
// The scenario registry: the scenarios `all_scenarios()`, `find_scenario()` and the command line
// (cfsim::cli_main) know. A program registers its own, with no edit of cfsim's sources:
//   cfsim::register_scenario(my_scenario());   // from main(), before cli_main
//   CFSIM_SCENARIO(my_scenario)                // at namespace scope in one of the program's files
// The macro registers the factory at static-initialisation time and calls it on the first look-up,
// so a factory may use other statics freely. Put it in the executable's own sources: a static
// library's object file that nothing references is dropped by the linker, and its scenario with it.
//
// cfsim's demo scenarios are not registered by default: register_builtin_scenarios() adds them
// (the `cfsim` binary calls it, and so do cfsim's own tests); a program that does not call it does
// not carry them either (docs/cli.md, "Your own scenarios").

#include "scenarios/scenario.h"

namespace cfsim {

// Adds a scenario; std::invalid_argument if it has no name or no run function, or if its name is
// registered already. Pointers from find_scenario() stay valid only until the next registration.
void register_scenario(Scenario s);
// Adds a scenario by its factory, called on the first look-up (all_scenarios, find_scenario).
// Returns true, so that it can initialise a static (CFSIM_SCENARIO).
bool register_scenario_factory(Scenario (*factory)());
// Registers cfsim's demo scenarios (do-counter, kernel-*, long-run, platform-mix, sessions-sql,
// sqlite-on-disk); a second call does nothing.
void register_builtin_scenarios();

// The demo scenarios' factories.
Scenario do_counter_scenario();
Scenario kernel_pipeline_scenario();
Scenario kernel_race_scenario();
Scenario long_run_scenario();
Scenario platform_mix_scenario();
Scenario sessions_sql_scenario();
Scenario sqlite_on_disk_scenario();

}  // namespace cfsim

#define CFSIM_SCENARIO_CONCAT2(a, b) a##b
#define CFSIM_SCENARIO_CONCAT(a, b) CFSIM_SCENARIO_CONCAT2(a, b)
// Registers `factory` (a function `cfsim::Scenario factory()`) when the program starts.
#define CFSIM_SCENARIO(factory)                                                          \
  namespace {                                                                            \
  [[maybe_unused]] const bool CFSIM_SCENARIO_CONCAT(cfsim_scenario_registered_, __COUNTER__) = \
      ::cfsim::register_scenario_factory(&factory);                                      \
  }
