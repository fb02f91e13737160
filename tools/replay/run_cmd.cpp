// `cfsim run` and `cfsim replay`: one world, in a child process so that a crash is reported (with
// the trace written up to it and the command that replays it) instead of taking cfsim down.

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "tools/replay/commands.h"
#include "tools/replay/explain.h"
#include "tools/replay/perfetto.h"
#include "tools/replay/safe_sink.h"
#include "tools/replay/timeline.h"

namespace cfsim::cli {

RunSpec spec_from_args(const WorldArgs& a, std::string_view seed_text) {
  RunSpec spec;
  spec.scenario = &scenario_or_usage_error(a.scenario);
  spec.options.seed = parse_seed(seed_text);
  apply_faults_arg(spec, a.faults);
  if (!a.until.empty()) spec.options.until = parse_until(a.until);
  spec.options.shuffle_ties = a.shuffle_ties;
  return spec;
}

namespace {

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

// The outcome block both `run` and `replay` print.
void print_outcome(const RunSpec& spec, const ScenarioResult& r, double wall_s, const char* prefix = "") {
  std::printf("%s%s: %s\n", prefix, run_title(spec).c_str(), r.passed ? "passed" : "FAILED");
  if (!r.passed) std::printf("  invariant failed: %s\n", r.failure.c_str());
  if (!r.passed && r.run.reason == StopReason::deadlock) std::printf("  %s\n", r.run.describe().c_str());
  for (const auto& line : r.report) std::printf("  %s\n", line.c_str());
  if (spec.options.faults != FaultMode::none) std::printf("  fault plan: %s\n", plan_summary(r.plan).c_str());
  std::printf("  virtual time %s, %llu events, trace hash %s, wall time %s\n", human_duration(r.run.now.since_start()).c_str(),
              static_cast<unsigned long long>(r.run.events), hash_hex(r.trace_hash).c_str(), human_seconds(wall_s).c_str());
}

}  // namespace

int cmd_run(const RunArgs& a, const std::string& program) {
  RunSpec spec = spec_from_args(a.world, a.seed);
  const bool explicit_trace = !a.trace.empty();
  const std::string trace_path = explicit_trace ? a.trace : default_trace_path(kDefaultTraceDir, spec);
  const std::string replay = replay_command(program, spec);

  auto body = [&]() -> int {
    try {
      auto jsonl = std::make_shared<SafeJsonlSink>(trace_path, /*defer_rename=*/!explicit_trace);
      std::shared_ptr<ClosedMemorySink> memory;
      ScenarioOptions o = spec.options;
      o.sinks.push_back(jsonl);
      if (a.timeline || !a.perfetto.empty()) o.sinks.push_back(memory = std::make_shared<ClosedMemorySink>());
      if (auto crash = test_crash_sink_for(o.seed)) o.sinks.push_back(crash);

      Stopwatch wall;
      ScenarioResult r;
      try {
        r = spec.scenario->run(o);
      } catch (const FaultPlanError& e) {
        jsonl->discard();
        throw UsageError(e.what());
      } catch (const std::exception& e) {
        r.passed = false;
        r.failure = fmt::format("the run threw an exception: {}", e.what());
      }
      double wall_s = wall.seconds();
      set_sanitizer_crash_report("");  // the run is over: a sanitizer report from now on is no crash of it
      o.sinks.clear();

      if (a.timeline) std::fputs(render_timeline(memory->records, {.width_chars = terminal_width()}).c_str(), stdout);
      if (!a.perfetto.empty()) write_perfetto_file(a.perfetto, memory->records);
      if (!explicit_trace) {
        if (r.passed) jsonl->discard();
        else jsonl->commit();
      }
      print_outcome(spec, r, wall_s);
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

  auto crash_report = [&](const std::string& how) {
    return fmt::format("{}: CRASHED: {}\n  trace (every record up to the crash): {}\n  replay: {}\n", run_title(spec), how,
                       trace_path, replay);
  };
  set_sanitizer_crash_report(crash_report("a sanitizer error (its report is on stderr)"));
  if (a.no_fork) return body();
  ChildStatus st = run_in_child(body);
  if (!st.signaled) return st.exit_code;
  std::fputs(crash_report(st.describe()).c_str(), stdout);
  return kExitFailed;
}

// --- reading traces ------------------------------------------------------------------------------------

TraceFile load_trace(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw UsageError(fmt::format("cannot read trace file '{}': it is a directory", path));
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

// --- replay ---------------------------------------------------------------------------------------------

namespace {

// Compares the rerun with the file record by record as it runs; remembers the first difference.
// Progress goes to memory shared with the parent, which reads it if the rerun crashes.
struct ReplayProgress {
  uint64_t compared = 0;
  uint64_t diverged = 0;  // 1 once a record differed
};

class ComparingSink : public TraceSink {
 public:
  ComparingSink(const std::vector<Record>& expected, ReplayProgress* progress) : expected_(expected), progress_(progress) {}
  void write(const Record& r) override {
    if (closed_) return;  // the run's own teardown, after the trace was closed: not in the file either
    uint64_t i = count_++;
    if (i == expected_.size()) first_extra = r;
    if (!difference && i < expected_.size() && record_hash(expected_[i]) != record_hash(r)) {
      difference = TraceDifference{i, expected_[i], r};
      progress_->diverged = 1;
    }
    progress_->compared = count_;
  }
  void close(uint64_t, uint64_t) override { closed_ = true; }
  uint64_t count() const { return count_; }
  std::optional<TraceDifference> difference;  // a record that differs
  std::optional<Record> first_extra;          // the first record beyond the file's last

 private:
  const std::vector<Record>& expected_;
  ReplayProgress* progress_;
  uint64_t count_ = 0;
  bool closed_ = false;
};

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

}  // namespace

int cmd_replay(const std::string& trace_path, bool no_fork) {
  TraceFile file = load_trace(trace_path);
  RunSpec spec = spec_from_header(file, trace_path);
  const size_t n = file.records.size();
  std::printf("replaying %s: %s, %zu records%s\n", trace_path.c_str(), spec.scenario->name.c_str(), n,
              file.final_hash ? "" : " and no footer (the recorded run was aborted)");

  void* shared = mmap(nullptr, sizeof(ReplayProgress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) throw std::runtime_error("mmap failed");
  auto* progress = new (shared) ReplayProgress{};
  struct Unmap {
    void* p;
    ~Unmap() { munmap(p, sizeof(ReplayProgress)); }
  } unmap{shared};

  auto body = [&]() -> int {
    auto compare = std::make_shared<ComparingSink>(file.records, progress);
    ScenarioOptions o = spec.options;
    o.sinks.push_back(compare);
    if (auto crash = test_crash_sink_for(o.seed)) o.sinks.push_back(crash);
    Stopwatch wall;
    ScenarioResult r;
    try {
      r = spec.scenario->run(o);
    } catch (const std::exception& e) {
      r.passed = false;
      r.failure = fmt::format("the run threw an exception: {}", e.what());
    }
    double wall_s = wall.seconds();
    std::optional<TraceDifference> d = compare->difference;
    if (!d && compare->count() < n) d = TraceDifference{compare->count(), file.records[compare->count()], std::nullopt};
    if (!d && compare->count() > n && !file.final_hash) {
      // The recorded run stopped without closing its trace (it crashed); this one went on.
      std::printf("the file's %zu records all match, but its run stopped there (no footer) and the rerun went on to %llu "
                  "records:\n  rerun: #%zu %s\n",
                  n, static_cast<unsigned long long>(compare->count()), n, format_record(*compare->first_extra).c_str());
      print_outcome(spec, r, wall_s, "rerun: ");
      return kExitFailed;
    }
    if (!d && compare->count() > n) d = TraceDifference{n, std::nullopt, compare->first_extra};
    if (d) {
      std::printf("DIVERGED at record #%llu: the rerun took another step than the trace file\n",
                  static_cast<unsigned long long>(d->index));
      print_difference(*d, file.records, "file:", "rerun:");
      print_outcome(spec, r, wall_s, "rerun: ");
      return kExitFailed;
    }
    if (file.final_hash && *file.final_hash != r.trace_hash) {
      std::printf("DIVERGED: every record is the same, but the file's footer says hash %s and the rerun's is %s "
                  "(the footer was edited, or records were dropped from the end)\n",
                  hash_hex(*file.final_hash).c_str(), hash_hex(r.trace_hash).c_str());
      return kExitFailed;
    }
    if (!file.final_hash) {
      std::printf("the file's %zu records all match and so does the rerun's end, but the file has no footer (its run "
                  "stopped right there without closing its trace)\n", n);
      print_outcome(spec, r, wall_s, "rerun: ");
      return kExitFailed;
    }
    std::printf("identical: %zu records, trace hash %s\n", n, hash_hex(r.trace_hash).c_str());
    print_outcome(spec, r, wall_s, "rerun: ");
    return kExitOk;
  };

  if (no_fork) return body();
  ChildStatus st = run_in_child(body);
  if (!st.signaled) return st.exit_code;
  // The rerun crashed. If the recorded run crashed at the same record, that is a faithful replay.
  if (!progress->diverged && !file.final_hash && progress->compared == n) {
    std::printf("identical: the rerun crashed with %s right after record #%zu, where the recorded run's trace ends too: "
                "the crash reproduces\n",
                st.describe().c_str(), n - 1);
    return kExitOk;
  }
  std::printf("the rerun CRASHED with %s after %llu records%s; the file holds %zu%s\n", st.describe().c_str(),
              static_cast<unsigned long long>(progress->compared),
              progress->diverged ? ", having diverged before" : ", all identical to the file's", n,
              file.final_hash ? " and a footer: the recorded run did not crash" : "");
  return kExitFailed;
}

// --- looking at traces ------------------------------------------------------------------------------------

int cmd_diff(const std::string& a, const std::string& b) {
  TraceFile left = load_trace(a), right = load_trace(b);
  std::optional<TraceDifference> d = first_difference(left.records, right.records);
  if (!d) {
    std::printf("identical: %zu records%s\n", left.records.size(),
                left.final_hash ? fmt::format(", trace hash {}", hash_hex(*left.final_hash)).c_str() : "");
    return kExitOk;
  }
  std::printf("the traces differ first at record #%llu (%s has %zu records, %s has %zu)\n",
              static_cast<unsigned long long>(d->index), a.c_str(), left.records.size(), b.c_str(), right.records.size());
  print_difference(*d, left.records, "A:", "B:");
  std::printf("  (A = %s, B = %s)\n", a.c_str(), b.c_str());
  return kExitFailed;
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

int cmd_list() {
  size_t w = 0;
  for (const auto& s : all_scenarios()) w = std::max(w, s.name.size());
  for (const auto& s : all_scenarios()) std::printf("%-*s  %s\n", static_cast<int>(w), s.name.c_str(), s.description.c_str());
  return kExitOk;
}

}  // namespace cfsim::cli
