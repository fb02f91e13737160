#pragma once
// The list of scenarios. Registration is explicit (one factory per scenario, listed in
// registry.cpp) rather than by static initialisers, which a static library would drop.

#include "scenarios/scenario.h"

namespace cfsim {

Scenario do_counter_scenario();
Scenario kernel_pipeline_scenario();
Scenario kernel_race_scenario();
Scenario long_run_scenario();
Scenario platform_mix_scenario();
Scenario sessions_sql_scenario();
Scenario sqlite_on_disk_scenario();

}  // namespace cfsim
