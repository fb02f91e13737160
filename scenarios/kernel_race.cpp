// kernel-race: a kernel-only scenario with a planted bug, for trying out seeds, replay and
// shrinking. Two fibers each add 1 to a shared counter by reading it, waiting a little, and
// writing back: when their read-write windows overlap, one increment is lost. Whether they overlap
// depends on the seed. Invariant: the counter equals the number of increments.

#include <fmt/format.h>

#include "scenarios/registry.h"

namespace cfsim {

namespace {

ScenarioResult run_race(const Scenario& self, const ScenarioOptions& o) {
  Simulator sim(sim_options_for(self, o), o.sinks);
  FaultInjector faults(sim);
  ScenarioResult result;
  result.plan = apply_faults(faults, self, o);

  int counter = 0, increments = 0;
  for (int i = 0; i < 2; ++i) {
    sim.spawn(fmt::format("incrementer-{}", i), [&, i] {
      Random rng = sim.random(fmt::format("incrementer-{}", i));
      sim.sleep_for(Duration::millis(rng.uniform_int(0, 9)));
      int seen = counter;
      sim.record("app", "read", {{"value", seen}});
      sim.sleep_for(Duration::millis(rng.uniform_int(0, 2)));
      counter = seen + 1;
      ++increments;
      sim.record("app", "write", {{"value", counter}});
    });
  }
  result.run = sim.run(limits_for(o));
  if (counter != increments) fail(result, fmt::format("lost update: counter is {} after {} increments", counter, increments));
  sim.record("check", "no_lost_update", {{"passed", result.passed}, {"counter", counter}, {"increments", increments}});
  result.report = {fmt::format("counter {} after {} increments", counter, increments)};
  close_trace(sim, result);
  return result;
}

}  // namespace

Scenario kernel_race_scenario() {
  Scenario s;
  s.name = "kernel-race";
  s.description = "Kernel demo with a planted lost-update bug that only some seeds expose.";
  s.run = [s](const ScenarioOptions& o) { return run_race(s, o); };
  return s;
}

}  // namespace cfsim
