#pragma once
// A run that throws takes its ScenarioResult with it: the scenario never returns the numbers it
// would have filled in. Its trace survives (the simulator closes it while the exception unwinds),
// so the CLI watches the trace with a RunTally and rebuilds from it what `run`, `replay` and
// `sweep` report: the records, the last record's time, the hash the trace closed with, the plan
// (drawn again from the seed) and the exception. The same run throws the same way each time, so
// its trace replays identical like any other.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "scenarios/scenario.h"
#include "tools/replay/cli_common.h"

namespace cfsim::cli {

// Counts what reaches the trace's sinks, and keeps the hash and count the trace closes with.
class RunTally : public TraceSink {
 public:
  void write(const Record& r) override;
  void close(uint64_t hash, uint64_t records) override;

  uint64_t records = 0;               // records written before the trace closed
  Time last_time;                     // the last one's virtual time
  std::optional<uint64_t> events;     // from sched.stop, if the kernel's run() got that far
  std::optional<uint64_t> final_hash; // from close(): the run's fingerprint, teardown included
  uint64_t final_records = 0;

 private:
  bool closed_ = false;
};

// A scenario run as the commands report it.
struct RunReport {
  ScenarioResult result;
  std::optional<std::string> exception;  // what() of the exception that ended the run, if one did
  uint64_t records = 0;                  // trace records (the footer's count)
  bool events_known = true;              // false when the run threw before the kernel counted them
};

// Runs `spec`'s scenario with `o` (its sinks included) plus a RunTally. A FaultPlanError (a bad plan,
// found before anything ran) propagates; any other exception becomes a failed RunReport built from
// the trace: passed=false, failure "the run threw an exception: ...", the closing hash, the plan.
// With watch=false no tally is added (a sink makes the trace build every record: a sweep's first run
// of a seed has none) and a run that threw reports hash 0 and no records: rerun it to learn more.
RunReport run_reported(const RunSpec& spec, ScenarioOptions o, bool watch = true);

}  // namespace cfsim::cli
