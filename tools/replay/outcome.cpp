#include "tools/replay/outcome.h"

#include <fmt/format.h>

#include <cstdio>
#include <map>

#include "sim/trace_file.h"

namespace cfsim::cli {

std::string run_title(const RunSpec& spec) {
  std::string t = fmt::format("{} seed {} (faults {}", spec.scenario->name, spec.options.seed,
                              spec.options.faults == FaultMode::plan ? spec.faults_arg : to_string(spec.options.faults));
  if (spec.options.until != Duration::max()) t += ", until " + human_duration(spec.options.until);
  if (spec.options.shuffle_ties) t += ", shuffled ties";
  return t + ")";
}

std::string plan_summary(const FaultPlan& plan) {
  std::map<std::string, size_t> verbs;
  for (const auto& a : plan.actions) verbs[a.verb]++;
  std::string list;
  for (const auto& [v, n] : verbs) list += fmt::format("{}{} x{}", list.empty() ? "" : ", ", v, n);
  return fmt::format("{} action{}{}, {} knob{}", plan.actions.size(), plan.actions.size() == 1 ? "" : "s",
                     list.empty() ? "" : " (" + list + ")", plan.knobs.size(), plan.knobs.size() == 1 ? "" : "s");
}

void print_outcome(const RunSpec& spec, const RunReport& report, double wall_s, const char* prefix) {
  const ScenarioResult& r = report.result;
  std::printf("%s%s: %s\n", prefix, run_title(spec).c_str(), r.passed ? "passed" : "FAILED");
  if (report.exception) std::printf("  %s\n", r.failure.c_str());
  else if (!r.passed) std::printf("  invariant failed: %s\n", r.failure.c_str());
  if (!r.passed && r.run.reason == StopReason::deadlock) std::printf("  %s\n", r.run.describe().c_str());
  for (const auto& line : r.report) std::printf("  %s\n", line.c_str());
  if (spec.options.faults != FaultMode::none) std::printf("  fault plan: %s\n", plan_summary(r.plan).c_str());
  if (report.events_known) {
    std::printf("  virtual time %s, %llu events, trace hash %s, wall time %s\n", human_duration(r.run.now.since_start()).c_str(),
                static_cast<unsigned long long>(r.run.events), hash_hex(r.trace_hash).c_str(), human_seconds(wall_s).c_str());
  } else {
    std::printf("  virtual time %s at its last record, %llu records (the exception ended the kernel's loop before it "
                "counted its events), trace hash %s, wall time %s\n",
                human_duration(r.run.now.since_start()).c_str(), static_cast<unsigned long long>(report.records),
                hash_hex(r.trace_hash).c_str(), human_seconds(wall_s).c_str());
  }
}

void print_difference(const TraceDifference& d, const std::vector<Record>& context, const char* left_name,
                      const char* right_name) {
  size_t from = d.index >= 3 ? d.index - 3 : 0;
  if (d.index > 0) {
    std::printf("  the records just before it (the same in both):\n");
    for (size_t i = from; i < d.index && i < context.size(); ++i)
      std::printf("    #%zu %s\n", i, format_record(context[i]).c_str());
  }
  auto side = [](const std::optional<Record>& r) {
    return r ? format_record(*r) : std::string("(nothing: this trace ends here)");
  };
  std::printf("  %-6s #%llu %s\n", left_name, static_cast<unsigned long long>(d.index), side(d.left).c_str());
  std::printf("  %-6s #%llu %s\n", right_name, static_cast<unsigned long long>(d.index), side(d.right).c_str());
}

}  // namespace cfsim::cli
