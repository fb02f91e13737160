#include "tools/replay/run_tally.h"

#include <fmt/format.h>

namespace cfsim::cli {

void RunTally::write(const Record& r) {
  if (closed_) return;  // the world's teardown after the trace closed: in no trace file either
  ++records;
  last_time = r.time;
  if (r.category == "sched" && r.name == "stop") {
    const Value* n = r.field("events");
    if (n && std::holds_alternative<int64_t>(*n) && std::get<int64_t>(*n) >= 0) events = static_cast<uint64_t>(std::get<int64_t>(*n));
  }
}

void RunTally::close(uint64_t hash, uint64_t count) {
  closed_ = true;
  final_hash = hash;
  final_records = count;
}

namespace {

// The result of a run that threw, from what its trace saw.
ScenarioResult result_from_trace(const RunSpec& spec, const ScenarioOptions& o, const RunTally& tally,
                                 const std::string& what) {
  ScenarioResult r;
  r.passed = false;
  r.failure = fmt::format("the run threw an exception: {}", what);
  r.trace_hash = tally.final_hash.value_or(0);
  r.run.now = tally.last_time;
  r.run.events = tally.events.value_or(0);
  r.run.trace_hash = r.trace_hash;
  try {
    r.plan = plan_for(*spec.scenario, o);  // the same plan the run applied: explicit, or drawn from the seed
  } catch (const std::exception&) {
    // A plan that cannot be drawn was never applied: the report shows none.
  }
  return r;
}

}  // namespace

RunReport run_reported(const RunSpec& spec, ScenarioOptions o, bool watch) {
  auto tally = std::make_shared<RunTally>();
  if (watch) o.sinks.insert(o.sinks.begin(), tally);  // first: it sees every record the others see
  RunReport out;
  try {
    out.result = spec.scenario->run(o);
  } catch (const FaultPlanError&) {
    throw;
  } catch (const std::exception& e) {
    out.exception = e.what();
    out.result = result_from_trace(spec, o, *tally, e.what());
    out.events_known = tally->events.has_value();
  } catch (...) {
    out.exception = "an exception not derived from std::exception";
    out.result = result_from_trace(spec, o, *tally, *out.exception);
    out.events_known = tally->events.has_value();
  }
  out.records = tally->final_hash ? tally->final_records : tally->records;
  return out;
}

}  // namespace cfsim::cli
