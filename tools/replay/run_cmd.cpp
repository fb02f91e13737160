// `cfsim run`: one world, in a child process so that a crash is reported (with the trace written up
// to it and the command that replays it) instead of taking cfsim down.

#include <fmt/format.h>

#include <csignal>
#include <cstdio>

#include "tools/replay/commands.h"
#include "tools/replay/outcome.h"
#include "tools/replay/perfetto.h"
#include "tools/replay/run_tally.h"
#include "tools/replay/safe_sink.h"
#include "tools/replay/timeline.h"

namespace cfsim::cli {

RunSpec spec_from_args(const WorldArgs& a, std::string_view seed_text) {
  RunSpec spec;
  spec.scenario = &scenario_or_usage_error(a.scenario);
  spec.options.seed = parse_seed(seed_text);
  apply_faults_arg(spec, a.faults);
  if (a.until) spec.options.until = parse_until(*a.until);
  spec.options.shuffle_ties = a.shuffle_ties;
  return spec;
}

namespace {

// Keeps the records of the trace proper: none after the run closes it (the teardown of fibers still
// alive then records their unwinding, which the trace file does not hold either).
class ClosedMemorySink : public MemorySink {
 public:
  void write(const Record& r) override {
    if (!closed_) MemorySink::write(r);
  }
  void close(uint64_t, uint64_t) override { closed_ = true; }

 private:
  bool closed_ = false;
};

}  // namespace

int cmd_run(const RunArgs& a, const std::string& program) {
  RunSpec spec = spec_from_args(a.world, a.seed);
  const bool explicit_trace = !a.trace.empty();
  const std::string trace_path = explicit_trace ? a.trace : default_trace_path(kDefaultTraceDir, spec);
  const std::string replay = replay_command(program, spec);
  if (explicit_trace) check_output_file(a.trace);  // before the run, not after it
  if (!a.perfetto.empty()) check_output_file(a.perfetto);

  auto body = [&]() -> int {
    try {
      auto jsonl = std::make_shared<SafeJsonlSink>(trace_path, /*defer_rename=*/!explicit_trace);
      std::shared_ptr<ClosedMemorySink> memory;
      ScenarioOptions o = spec.options;
      o.sinks.push_back(jsonl);
      if (a.timeline || !a.perfetto.empty()) o.sinks.push_back(memory = std::make_shared<ClosedMemorySink>());
      if (auto crash = test_crash_sink_for(o.seed)) o.sinks.push_back(crash);

      Stopwatch wall;
      RunReport report;
      try {
        report = run_reported(spec, o);
      } catch (const FaultPlanError& e) {
        jsonl->discard();
        throw UsageError(e.what());
      }
      const ScenarioResult& r = report.result;
      double wall_s = wall.seconds();
      set_sanitizer_crash_report("");  // the run is over: a sanitizer report from now on is no crash of it
      o.sinks.clear();

      if (a.timeline) std::fputs(render_timeline(memory->records, {.width_chars = terminal_width()}).c_str(), stdout);
      if (!a.perfetto.empty()) write_perfetto_file(a.perfetto, memory->records);
      if (!explicit_trace) {
        if (r.passed) jsonl->discard();
        else jsonl->commit();
      }
      print_outcome(spec, report, wall_s);
      if (explicit_trace || !r.passed) std::printf("  trace: %s\n", trace_path.c_str());
      if (!a.perfetto.empty()) std::printf("  perfetto: %s (open in ui.perfetto.dev)\n", a.perfetto.c_str());
      if (!r.passed) std::printf("  replay: %s\n", replay.c_str());
      return r.passed ? kExitOk : kExitFailed;
    } catch (const UsageError& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "cfsim: error: %s\n", e.what());
      return kExitUsage;
    }
  };

  auto crash_report = [&](const std::string& how, bool killed = false, bool kept = true) {
    std::string trace = !kept ? "trace: none (no whole record reached the file before the process died)"
                        : killed ? "trace (the records written before the kill; those still in the process's buffer were "
                                   "lost with it): " + trace_path
                                 : "trace (every record up to the crash): " + trace_path;
    return fmt::format("{}: CRASHED: {}\n  {}\n  replay: {}\n", run_title(spec), how, trace, replay);
  };
  set_sanitizer_crash_report(crash_report("a sanitizer error (its report is on stderr)"));
  if (a.no_fork) return body();
  ChildStatus st = run_in_child(body);
  if (!st.signaled) return st.exit_code;
  // A fatal signal's handler renamed the trace into place; SIGKILL left it under its temporary name.
  const bool kept = salvage_trace(trace_path, st.pid);
  std::fputs(crash_report(st.describe(), st.signal == SIGKILL, kept).c_str(), stdout);
  return kExitFailed;
}

}  // namespace cfsim::cli
