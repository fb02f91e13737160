#pragma once
// What `run`, `replay` and `diff` print about a run and about two traces: the run's title, its
// outcome block, and the first difference between two traces with the records before it.

#include <optional>
#include <string>
#include <vector>

#include "sim/trace.h"
#include "tools/replay/cli_common.h"
#include "tools/replay/run_tally.h"

namespace cfsim::cli {

// "kernel-race seed 7 (faults swarm, until 5s, shuffled ties)"
std::string run_title(const RunSpec& spec);
// "3 actions (do-crash x2, net-loss x1), 1 knob"
std::string plan_summary(const FaultPlan& plan);
// The outcome block both `run` and `replay` print: verdict, failure (or the exception that ended the
// run), report, plan, numbers (records instead of events when the exception ended the kernel's loop).
void print_outcome(const RunSpec& spec, const RunReport& report, double wall_s, const char* prefix = "");
// The records just before `d` (from `context`, the same in both), then both sides of it.
void print_difference(const TraceDifference& d, const std::vector<Record>& context, const char* left_name,
                      const char* right_name);

}  // namespace cfsim::cli
