// notes_cli: the whole cfsim command line over the notes app, as its own scenario "notes":
//   notes_cli list
//   notes_cli run notes --seed 7 --faults swarm
//   notes_cli sweep notes --seeds 1..200 --faults swarm --jobs 2
//   notes_cli replay out/traces/notes-7.jsonl
// The scenario is registered here, with no edit of cfsim's sources; cfsim's demo scenarios are not
// in this binary (docs/cli.md, "Your own scenarios").

#include <cfsim/cli.h>
#include <fmt/format.h>

#include <algorithm>

#include "notes_app.h"
#include "notes_run.h"

namespace {

using cfsim::Duration;

const std::vector<Duration> kNoteTimes = {Duration::seconds(10), Duration::seconds(120), Duration::seconds(180),
                                          Duration::seconds(300), Duration::seconds(420)};

cfsim::ScenarioResult run_notes_scenario(const cfsim::Scenario& self, const cfsim::ScenarioOptions& o) {
  cfsim::World world(cfsim::sim_options_for(self, o), cfsim::WorldOptions{}, o.sinks);
  notes::add_notes_app(world);
  cfsim::ScenarioResult result;
  result.plan = cfsim::apply_faults(world.faults(), self, o);
  cfsim::RunLimits limits = cfsim::limits_for(o);
  limits.until = std::min(limits.until, cfsim::Time::zero() + notes::kRunEnd);
  const notes::NotesRun run = notes::run_notes_workload(world, kNoteTimes, limits);
  result.run = run.run;
  for (const std::string& lost : run.lost) cfsim::fail(result, "an acknowledged write was lost: " + lost);
  result.report = {fmt::format("{} writes acknowledged, {} lost; the container started {} times", run.acknowledged,
                               run.lost.size(), run.container_starts)};
  world.sim().record("check", "acknowledged_kept", {{"passed", result.passed}, {"acknowledged", run.acknowledged}});
  cfsim::close_trace(world.sim(), result);
  return result;
}

cfsim::Scenario notes_scenario() {
  cfsim::Scenario s;
  s.name = "notes";
  s.description = "The notes app (a Worker, a Container, Durable Object SQL, R2): acknowledged notes are never lost.";
  s.fault_space = notes::notes_fault_space();
  s.run = [s](const cfsim::ScenarioOptions& o) { return run_notes_scenario(s, o); };
  return s;
}

}  // namespace

CFSIM_SCENARIO(notes_scenario)

int main(int argc, char** argv) { return cfsim::cli_main(argc, argv); }
