// A program of its own over cfsim's command line: two scenarios registered outside cfsim's sources
// (one by the macro, one by a call from main) and cfsim::cli_main. own_scenarios.sh runs list,
// run, replay and sweep through it. Built without the demo scenarios (CFSIM_NO_DEMO_SCENARIOS).

#include <fmt/format.h>

#include "cfsim/cli.h"

namespace {

using cfsim::Duration;

// Two fibers count to three with seed-drawn pauses; "own-flaky" fails when the first fiber ends
// last, which some seeds do.
cfsim::ScenarioResult run_counting(const cfsim::Scenario& self, const cfsim::ScenarioOptions& o, bool flaky) {
  cfsim::Simulator sim(cfsim::sim_options_for(self, o), o.sinks);
  cfsim::FaultInjector faults(sim);
  cfsim::ScenarioResult result;
  result.plan = cfsim::apply_faults(faults, self, o);
  std::vector<int> finish_order;
  for (int i = 0; i < 2; ++i) {
    sim.spawn(fmt::format("counter-{}", i), [&, i] {
      cfsim::Random rng = sim.random(fmt::format("counter-{}", i));
      for (int n = 1; n <= 3; ++n) {
        sim.sleep_for(Duration::millis(rng.uniform_int(1, 9)));
        sim.record("app", "count", {{"fiber", i}, {"n", n}});
      }
      finish_order.push_back(i);
    });
  }
  result.run = sim.run(cfsim::limits_for(o));
  if (flaky && finish_order.size() == 2 && finish_order.back() == 0) cfsim::fail(result, "counter-0 finished last");
  sim.record("check", "order", {{"passed", result.passed}});
  close_trace(sim, result);
  return result;
}

cfsim::Scenario own_steady() {
  cfsim::Scenario s;
  s.name = "own-steady";
  s.description = "A test program's own scenario that always passes.";
  s.run = [s](const cfsim::ScenarioOptions& o) { return run_counting(s, o, false); };
  return s;
}

cfsim::Scenario own_flaky() {
  cfsim::Scenario s;
  s.name = "own-flaky";
  s.description = "A test program's own scenario that fails for some seeds.";
  s.run = [s](const cfsim::ScenarioOptions& o) { return run_counting(s, o, true); };
  return s;
}

}  // namespace

CFSIM_SCENARIO(own_steady)

int main(int argc, char** argv) {
  cfsim::register_scenario(own_flaky());
  return cfsim::cli_main(argc, argv);
}
