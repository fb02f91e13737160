// Reading a trace file and its header (for replay), and the commands that show one trace: explain
// and timeline.

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "tools/replay/commands.h"
#include "tools/replay/explain.h"
#include "tools/replay/timeline.h"

namespace cfsim::cli {

TraceFile load_trace(const std::string& path) {
  check_input_file(path, "trace file");
  try {
    return read_jsonl(path);
  } catch (const TraceFileError& e) {
    throw UsageError(e.what());
  }
}

RunSpec spec_from_header(const TraceFile& trace, const std::string& origin) {
  if (trace.records.empty()) throw UsageError(fmt::format("{}: holds no records, only a footer", origin));
  const Record& h = trace.records.front();
  if (h.category != "meta" || h.name != "header")
    throw UsageError(fmt::format("{}: not a cfsim run trace: its first record is {}.{}, not meta.header", origin, h.category, h.name));
  std::string version = h.field_text("cfsim_version");
  if (version != CFSIM_VERSION)
    throw UsageError(fmt::format("{}: written by cfsim {}, this is cfsim {}: another version may take other steps, "
                                 "so it cannot be replayed here",
                                 origin, version.empty() ? "(unknown version)" : version, CFSIM_VERSION));
  RunSpec spec;
  try {
    spec.scenario = &scenario_or_usage_error(h.field_text("scenario"));
    spec.options.seed = parse_seed(h.field_text("seed"));
    const Value* shuffle = h.field("shuffle_ties");
    if (!shuffle || !std::holds_alternative<bool>(*shuffle)) throw UsageError("header field shuffle_ties must be true or false");
    spec.options.shuffle_ties = std::get<bool>(*shuffle);
    std::string until = h.field_text("until");
    if (until != "end") spec.options.until = parse_until(until);
    try {
      spec.options.faults = fault_mode_from_string(h.field_text("faults"));
    } catch (const std::invalid_argument& e) {
      throw UsageError(fmt::format("header field faults: {}", e.what()));
    }
    spec.faults_arg = to_string(spec.options.faults);
    if (spec.options.faults == FaultMode::plan) {
      try {
        spec.options.plan = FaultPlan::parse(h.field_text("fault_plan"));
      } catch (const FaultPlanError& e) {
        throw UsageError(fmt::format("header field fault_plan: {}", e.what()));
      }
    }
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("{}: {}", origin, e.what()));
  }
  return spec;
}

int cmd_explain(const std::string& trace_path) {
  TraceFile t = load_trace(trace_path);
  std::fputs(explain_trace({t.records, t.final_hash, t.final_count, trace_path}).c_str(), stdout);
  return kExitOk;
}

int cmd_timeline(const std::string& trace_path, bool scheduling) {
  TraceFile t = load_trace(trace_path);
  TimelineOptions o;
  o.width_chars = terminal_width();
  o.scheduling = scheduling;
  std::fputs(render_timeline(t.records, o).c_str(), stdout);
  return kExitOk;
}

}  // namespace cfsim::cli
