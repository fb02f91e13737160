#pragma once
// A scenario: an app + a workload + the invariants it must keep, runnable by name from the
// command line, from tests and from property tests. A scenario builds its own world from the
// options below, so a run is a pure function of them; they are all written into the trace's header
// record, so that the trace alone replays the run.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/fault_injector.h"
#include "sim/scheduler.h"
#include "sim/trace.h"

namespace cfsim {

enum class FaultMode {
  none,   // no faults at all
  swarm,  // the seed draws a fault plan from the scenario's fault space (and turns buggify on)
  plan,   // the explicit plan in ScenarioOptions::plan
};
const char* to_string(FaultMode m);
FaultMode fault_mode_from_string(std::string_view s);  // throws std::invalid_argument

struct ScenarioOptions {
  uint64_t seed = 1;
  FaultMode faults = FaultMode::none;
  FaultPlan plan;                   // used when faults == plan
  Duration until = Duration::max(); // virtual-time limit of the run; max = the scenario's own end
  bool shuffle_ties = false;        // explore same-instant interleavings
  std::vector<std::shared_ptr<TraceSink>> sinks;  // where the trace goes (the hash is always kept)
};

struct ScenarioResult {
  bool passed = true;
  std::string failure;              // which invariant failed and why ("" when passed)
  RunResult run;                    // how the kernel stopped
  uint64_t trace_hash = 0;          // final fingerprint, including the closing records
  std::vector<std::string> report;  // a few plain lines for people: what was kept, lost, and why
  FaultPlan plan;                   // the plan that was applied (drawn from the seed under swarm)
};

struct Scenario {
  std::string name;
  std::string description;  // one sentence
  FaultSpace fault_space;   // what swarm mode may draw from
  // The verbs the scenario registers itself ("app-..."), beyond the platform's World::fault_verbs();
  // `cfsim faults` lists them.
  std::vector<FaultVerbDecl> own_fault_verbs;
  std::function<ScenarioResult(const ScenarioOptions&)> run;
};

// Every registered scenario, sorted by name.
const std::vector<Scenario>& all_scenarios();
const Scenario* find_scenario(std::string_view name);
// The registered names closest to `name` (edit distance), for "did you mean" messages.
std::vector<std::string> closest_scenarios(std::string_view name, size_t how_many = 3);

// Helpers for scenario authors.
// The kernel options for this scenario run: seed, tie shuffling, and the header's run_info
// (scenario, faults mode, fault plan text, until), so the trace replays the run.
SimOptions sim_options_for(const Scenario& s, const ScenarioOptions& o);
// The plan a run uses: none, the explicit one, or the one the seed draws from the fault space.
FaultPlan plan_for(const Scenario& s, const ScenarioOptions& o);
// Applies that plan to the run's injector, and in swarm mode turns the buggify sites on (the model's
// and the app's: docs/faults.md). Returns the plan, for ScenarioResult::plan.
FaultPlan apply_faults(FaultInjector& faults, const Scenario& s, const ScenarioOptions& o);
// The run limits for o.until.
RunLimits limits_for(const ScenarioOptions& o);

// A failed invariant: the first one a run finds is its verdict (later ones leave it as it is).
void fail(ScenarioResult& result, std::string why);
// The run's last step: closes the trace and keeps its final fingerprint (which covers the closing
// records) in result.trace_hash. Record the checks' records before it.
void close_trace(Simulator& sim, ScenarioResult& result);

class World;
struct Request;
struct Response;
// A "checker" client for a scenario's final check: it waits for every one of `clients`, then lets
// `idle` pass (so that the platform settles: containers sleep, faults run out), then runs `check`.
FiberHandle start_final_check(World& world, std::vector<FiberHandle> clients, Duration idle, std::function<void()> check);
// From a client fiber, for a scenario's final check: `req` through the world's Worker; a 5xx is an
// outage during the check (a fault still in effect), not a verdict, so wait `pause` and ask again,
// at most `retries` more times. Returns the last answer.
Response fetch_retrying_5xx(World& world, const Request& req, int retries = 5, Duration pause = Duration::seconds(5));

}  // namespace cfsim
