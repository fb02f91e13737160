#include "scenarios/registry.h"

#include <algorithm>

namespace cfsim {

const std::vector<Scenario>& all_scenarios() {
  static const std::vector<Scenario> list = [] {
    std::vector<Scenario> v = {
        do_counter_scenario(),
        kernel_pipeline_scenario(),
        kernel_race_scenario(),
        long_run_scenario(),
        platform_mix_scenario(),
        sessions_sql_scenario(),
        sqlite_on_disk_scenario(),
    };
    std::sort(v.begin(), v.end(), [](const Scenario& a, const Scenario& b) { return a.name < b.name; });
    return v;
  }();
  return list;
}

}  // namespace cfsim
