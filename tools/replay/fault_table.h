#pragma once
// `cfsim faults`: every fault verb, knob and buggify site as one Markdown document, generated from
// the registrations — the platform's verbs and knobs (World::fault_verbs(), World::fault_knobs()),
// each scenario's own verbs (Scenario::own_fault_verbs) — so that the table cannot drift from the
// code. docs/faults.md is that output byte for byte; the cli_docs.faults test checks it.

#include <string>
#include <vector>

#include "sim/fault_injector.h"

namespace cfsim::cli {

// A buggify site: a named place in the model that swarm runs may switch on (FaultInjector::buggify).
struct BuggifySite {
  std::string name;    // "<seam>.<what>": do.slow_commit
  std::string effect;  // what happens when it fires
};

// The verbs one scenario registers for itself.
struct ScenarioVerbs {
  std::string scenario;
  std::vector<FaultVerbDecl> verbs;
};

struct FaultTableInput {
  std::vector<FaultVerbDecl> verbs;  // the platform's, in registration order
  std::vector<FaultKnobDecl> knobs;
  std::vector<ScenarioVerbs> scenario_verbs;  // only scenarios that have some
  std::vector<BuggifySite> sites;
};

// What the model and the scenario registry register today.
FaultTableInput registered_faults();
// The document `cfsim faults` prints.
std::string fault_table_markdown(const FaultTableInput& in);
// A unit read from an argument's or knob's name by the naming rule (sim/fault_injector.h):
// "_ms" -> "ms", "_s" -> "s", "_ppm" -> "ppm", "_percent" -> "%"; "" for a plain count or code.
std::string unit_of(std::string_view name);

}  // namespace cfsim::cli
