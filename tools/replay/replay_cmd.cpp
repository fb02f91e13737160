// `cfsim replay`: rerun the world a trace's header describes, in a child process, and compare the
// rerun with the file record by record as it runs. A crash of the rerun is a verdict too: faithful
// if the recorded run crashed at the same record.

#include <fmt/format.h>
#include <sys/mman.h>

#include <cstdio>

#include "tools/replay/build_info.h"
#include "tools/replay/commands.h"
#include "tools/replay/outcome.h"
#include "tools/replay/safe_sink.h"

namespace cfsim::cli {

namespace {

// How far the rerun got. It lives in memory shared with the parent, which reads it if the rerun
// crashes.
struct ReplayProgress {
  uint64_t compared = 0;
  uint64_t diverged = 0;  // 1 once a record differed
};

// A ReplayProgress in shared anonymous memory, unmapped when it goes.
class SharedProgress {
 public:
  SharedProgress() {
    void* p = mmap(nullptr, sizeof(ReplayProgress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    progress_ = new (p) ReplayProgress{};
  }
  ~SharedProgress() { munmap(progress_, sizeof(ReplayProgress)); }
  SharedProgress(const SharedProgress&) = delete;
  SharedProgress& operator=(const SharedProgress&) = delete;
  ReplayProgress* get() const { return progress_; }

 private:
  ReplayProgress* progress_;
};

// Compares the rerun with the file record by record as it runs; remembers the first difference.
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

struct Rerun {
  RunReport report;
  double wall_s = 0;
  std::shared_ptr<ComparingSink> compare;
};

Rerun rerun(const RunSpec& spec, const TraceFile& file, ReplayProgress* progress) {
  Rerun out;
  out.compare = std::make_shared<ComparingSink>(file.records, progress);
  ScenarioOptions o = spec.options;
  o.sinks.push_back(out.compare);
  if (auto crash = test_crash_sink_for(o.seed)) o.sinks.push_back(crash);
  Stopwatch wall;
  try {
    out.report = run_reported(spec, o);
  } catch (const FaultPlanError& e) {  // the header's plan no longer applies (the verbs changed)
    throw UsageError(fmt::format("the trace's fault plan cannot be applied: {}", e.what()));
  }
  out.wall_s = wall.seconds();
  return out;
}

// The first record where the rerun and the file part, counting a record one has and the other
// lacks; none when they hold the same records (or the file's run stopped early: see judge_rerun).
std::optional<TraceDifference> record_difference(const TraceFile& file, const ComparingSink& compare) {
  const size_t n = file.records.size();
  if (compare.difference) return compare.difference;
  if (compare.count() < n) return TraceDifference{compare.count(), file.records[compare.count()], std::nullopt};
  if (compare.count() > n && file.final_hash) return TraceDifference{n, std::nullopt, compare.first_extra};
  return std::nullopt;
}

// Prints the verdict of a rerun that ran to its end; returns the exit code.
int judge_rerun(const RunSpec& spec, const TraceFile& file, const Rerun& run) {
  const size_t n = file.records.size();
  const ComparingSink& compare = *run.compare;
  const ScenarioResult& r = run.report.result;
  std::optional<TraceDifference> d = record_difference(file, compare);
  if (!d && compare.count() > n) {
    // The recorded run stopped without closing its trace (it crashed); this one went on.
    std::printf("the file's %zu records all match, but its run stopped there (no footer) and the rerun went on to %llu "
                "records:\n  rerun: #%zu %s\n",
                n, static_cast<unsigned long long>(compare.count()), n, format_record(*compare.first_extra).c_str());
  } else if (d) {
    std::printf("DIVERGED at record #%llu: the rerun took another step than the trace file\n",
                static_cast<unsigned long long>(d->index));
    print_difference(*d, file.records, "file:", "rerun:");
  } else if (file.final_hash && *file.final_hash != r.trace_hash) {
    std::printf("DIVERGED: every record is the same, but the file's footer says hash %s and the rerun's is %s "
                "(the footer was edited, or records were dropped from the end)\n",
                hash_hex(*file.final_hash).c_str(), hash_hex(r.trace_hash).c_str());
    return kExitFailed;
  } else if (!file.final_hash) {
    std::printf("the file's %zu records all match and so does the rerun's end, but the file has no footer (its run "
                "stopped right there without closing its trace)\n", n);
  } else {
    std::printf("identical: %zu records, trace hash %s\n", n, hash_hex(r.trace_hash).c_str());
    print_outcome(spec, run.report, run.wall_s, "rerun: ");
    return kExitOk;
  }
  print_outcome(spec, run.report, run.wall_s, "rerun: ");
  return kExitFailed;
}

// Prints the verdict of a rerun that crashed; returns the exit code.
int judge_crash(const ChildStatus& st, const ReplayProgress& progress, const TraceFile& file) {
  const size_t n = file.records.size();
  // If the recorded run crashed at the same record, that is a faithful replay.
  if (!progress.diverged && !file.final_hash && progress.compared == n) {
    std::printf("identical: the rerun crashed with %s right after record #%zu, where the recorded run's trace ends too: "
                "the crash reproduces\n",
                st.describe().c_str(), n - 1);
    return kExitOk;
  }
  std::printf("the rerun CRASHED with %s after %llu records%s; the file holds %zu%s\n", st.describe().c_str(),
              static_cast<unsigned long long>(progress.compared),
              progress.diverged ? ", having diverged before" : ", all identical to the file's", n,
              file.final_hash ? " and a footer: the recorded run did not crash" : "");
  return kExitFailed;
}

// Before any record is compared: whether the trace was written by another build than this binary,
// which alone can make the rerun take other steps.
void print_build_note(const TraceFile& file) {
  if (file.build.empty()) {
    std::printf("  note: the trace does not record the build that wrote it (an older cfsim): if the rerun differs, "
                "another SQLite, Boost or compiler may be the reason\n");
    return;
  }
  std::vector<std::string> diffs = build_differences(file.build, this_build(), "trace", "this binary");
  if (diffs.empty()) return;
  std::printf("  note: the trace was written by another build than this binary's; the rerun may take other steps for "
              "that reason alone:\n");
  for (const auto& d : diffs) std::printf("    %s\n", d.c_str());
}

}  // namespace

int cmd_replay(const std::string& trace_path, bool no_fork) {
  TraceFile file = load_trace(trace_path);
  RunSpec spec = spec_from_header(file, trace_path);
  std::printf("replaying %s: %s, %zu records%s\n", trace_path.c_str(), spec.scenario->name.c_str(), file.records.size(),
              file.final_hash ? "" : " and no footer (the recorded run was aborted)");
  print_build_note(file);
  SharedProgress progress;
  auto body = [&]() -> int { return judge_rerun(spec, file, rerun(spec, file, progress.get())); };
  if (no_fork) return body();
  ChildStatus st = run_in_child(body);
  if (!st.signaled) return st.exit_code;
  return judge_crash(st, *progress.get(), file);
}

}  // namespace cfsim::cli
