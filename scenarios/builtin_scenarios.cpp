// cfsim's demo scenarios, registered on request (registry.h): in a file of their own, so that a
// program that never calls register_builtin_scenarios() links none of them.

#include "scenarios/registry.h"

namespace cfsim {

void register_builtin_scenarios() {
  static const bool registered = [] {
    for (Scenario (*factory)() : {do_counter_scenario, kernel_pipeline_scenario, kernel_race_scenario, long_run_scenario,
                                  platform_mix_scenario, sessions_sql_scenario, sqlite_on_disk_scenario})
      register_scenario_factory(factory);
    return true;
  }();
  (void)registered;
}

}  // namespace cfsim
