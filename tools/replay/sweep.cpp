// `cfsim sweep`. A sweep runs one scenario over a range of seeds, each seed in its
// own forked child (so a crash in one seed is a reported result, not the end of the sweep), --jobs
// at once. A child that finds a failure runs the seed again with a trace file, leaving the trace
// and checking that the second run took the same steps; a child that crashes is followed by one
// that reruns the seed with a crash-safe trace, so a crash too leaves its trace. Results come out
// as one JSON line per seed, in seed order whatever order the children finish in.

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "tools/replay/commands.h"
#include "tools/replay/run_tally.h"
#include "tools/replay/safe_sink.h"
#include "tools/replay/sweep_progress.h"
#include "tools/replay/sweep_results.h"

namespace cfsim::cli {

using ojson = nlohmann::ordered_json;

namespace {

// The seeds of one shard: first + index + k * count, k = 0, 1, ... while within the range.
struct ShardSeeds {
  SeedRange range;
  Shard shard;
  uint64_t size() const {
    uint64_t n = range.count();
    return shard.index >= n ? 0 : (n - shard.index + shard.count - 1) / shard.count;
  }
  uint64_t at(uint64_t k) const { return range.first + shard.index + k * shard.count; }
};

ojson result_json(const RunSpec& spec, const RunReport& report, double wall_s) {
  const ScenarioResult& r = report.result;
  ojson j;
  j["scenario"] = spec.scenario->name;
  j["seed"] = spec.options.seed;
  j["passed"] = r.passed;
  j["failure"] = r.failure;
  j["trace_hash"] = hash_hex(r.trace_hash);
  if (report.events_known) j["events"] = r.run.events;
  else j["events"] = nullptr;  // the exception ended the kernel's loop before it counted them
  j["sim_end"] = r.run.now.ns;
  j["wall_s"] = wall_s;
  if (report.exception) {
    j["records"] = report.records;
    j["exception"] = *report.exception;
  }
  return j;
}

RunReport run_seed(const RunSpec& spec, std::shared_ptr<TraceSink> trace) {
  ScenarioOptions o = spec.options;
  const bool traced = trace != nullptr;
  if (trace) o.sinks.push_back(std::move(trace));
  if (auto crash = test_crash_sink_for(o.seed)) o.sinks.push_back(crash);
  return run_reported(spec, o, /*watch=*/traced);
}

// A seed that failed in its first (untraced) run: run it again writing its trace, and write the
// result of the run that happened. A run that threw took its numbers with it; the traced rerun's
// (the same run, if the seed is deterministic) stand for them.
void rerun_failed_seed(const RunSpec& spec, const std::string& trace_path, RunReport first, double wall_s, ojson& j) {
  RunReport again = run_seed(spec, std::make_shared<SafeJsonlSink>(trace_path));
  const bool threw = first.exception.has_value();
  const bool same = threw ? again.exception == first.exception : again.result.trace_hash == first.result.trace_hash;
  std::string how = threw ? (again.exception ? "it threw another exception: " + *again.exception : "it did not throw")
                          : fmt::format("hash {} then {}", hash_hex(first.result.trace_hash), hash_hex(again.result.trace_hash));
  if (threw && same) first = again;
  j = result_json(spec, first, wall_s);
  if (!same)
    j["failure"] = fmt::format("{} (and a second run of the seed took other steps: {}: the seed is not deterministic)",
                               first.result.failure, how);
  j["trace"] = trace_path;
}

// The child's work for one seed; prints one JSON line on stdout (the pipe to the parent).
int seed_child(const RunSpec& spec, const std::string& trace_path, bool trace_mode, const std::string& first_crash) {
  ojson j;
  try {
    if (trace_mode) {
      // The seed crashed before: run it again writing a crash-safe trace. Normally it crashes again.
      Stopwatch wall;
      RunReport r = run_seed(spec, std::make_shared<SafeJsonlSink>(trace_path));
      j = result_json(spec, r, wall.seconds());
      j["passed"] = false;
      j["failure"] = fmt::format("crashed ({}) in its first run but not when rerun to write its trace: the seed is not "
                                 "deterministic (the rerun {})",
                                 first_crash, r.result.passed ? "passed" : "failed: " + r.result.failure);
      j["trace"] = trace_path;
    } else {
      Stopwatch wall;
      RunReport r = run_seed(spec, nullptr);
      double wall_s = wall.seconds();
      if (r.result.passed) j = result_json(spec, r, wall_s);
      else rerun_failed_seed(spec, trace_path, std::move(r), wall_s, j);
    }
  } catch (const FaultPlanError& e) {
    j = ojson{{"usage_error", e.what()}};
  } catch (const UsageError& e) {
    j = ojson{{"usage_error", e.what()}};
  }
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

struct Job {
  uint64_t seed;
  bool trace_mode = false;
  std::string first_crash;  // when trace_mode: how the first run ended
  double first_wall_s = 0;
};

struct Running {
  Job job;
  pid_t pid;
  int fd;
  std::string output;
  Stopwatch wall;
};

// The last line of a child's output that is a JSON object, if any.
std::optional<ojson> last_json_line(const std::string& text) {
  std::optional<ojson> found;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    ojson j = ojson::parse(text.substr(pos, nl - pos), nullptr, false);
    if (!j.is_discarded() && j.is_object()) found = std::move(j);
    pos = nl + 1;
  }
  return found;
}

// The seeds of a sweep's command line, checked in the order people read the options.
ShardSeeds checked_seeds(const SweepArgs& a) {
  if (a.seeds.empty()) throw UsageError("sweep needs --seeds A..B");
  ShardSeeds seeds{parse_seed_range(a.seeds), parse_shard(a.shard)};
  if (a.jobs < 1 || a.jobs > 256) throw UsageError(fmt::format("bad --jobs {}: from 1 to 256", a.jobs));
  return seeds;
}

// The parent's side of a sweep: keeps --jobs children running, collects each one's result line,
// reruns a crashed seed to leave its trace, and writes the results in seed order.
class Sweep {
 public:
  Sweep(const SweepArgs& a, const std::string& program)
      : a_(a), program_(program), seeds_(checked_seeds(a)), base_(spec_from_args(a.world, "0")), total_(seeds_.size()),
        results_(a.out), human_(a.out.empty() ? stderr : stdout), progress_(total_) {}

  int run();

 private:
  RunSpec spec_for(uint64_t seed) const {
    RunSpec s = base_;
    s.options.seed = seed;
    return s;
  }
  bool work_left() const { return next_index_ < total_ || !queue_.empty() || !running_.empty(); }
  void start_jobs();
  void start(const Job& job);
  void poll_children();
  void on_child_done(Running& r);
  ojson crash_result(const Running& r) const;
  void record(uint64_t seed, ojson j);
  void stop_children();
  void print_summary(double secs) const;

  const SweepArgs& a_;
  const std::string& program_;
  const ShardSeeds seeds_;
  const RunSpec base_;
  const uint64_t total_;
  ResultWriter results_;
  std::FILE* const human_;
  Progress progress_;
  Stopwatch clock_;

  std::deque<Job> queue_;  // reruns of crashed seeds, ahead of new seeds
  uint64_t next_index_ = 0;  // next seed of the shard to queue
  std::vector<Running> running_;
  std::map<uint64_t, std::string> finished_;  // seed -> result line, until it is written in order
  uint64_t next_to_write_ = 0, done_ = 0, failed_ = 0;
  std::vector<FailureNote> failures_;
  std::string usage_error_;
};

int Sweep::run() {
  while (usage_error_.empty() && work_left()) {
    start_jobs();
    poll_children();
    progress_.update(done_, failed_);
  }
  progress_.finish();
  if (!usage_error_.empty()) {
    stop_children();
    throw UsageError(usage_error_);
  }
  results_.close();
  print_summary(clock_.seconds());
  return failed_ ? kExitFailed : kExitOk;
}

void Sweep::start_jobs() {
  while (running_.size() < a_.jobs && (!queue_.empty() || next_index_ < total_)) {
    if (queue_.empty()) queue_.push_back(Job{seeds_.at(next_index_++), false, "", 0});
    Job job = queue_.front();
    queue_.pop_front();
    start(job);
  }
}

void Sweep::start(const Job& job) {
  RunSpec spec = spec_for(job.seed);
  std::string trace = default_trace_path(a_.trace_dir, spec);
  Child c = spawn_child([&, spec, trace] { return seed_child(spec, trace, job.trace_mode, job.first_crash); });
  running_.push_back(Running{job, c.pid, c.fd, {}, {}});
}

// Waits up to 100 ms for output; a child whose pipe closed is done.
void Sweep::poll_children() {
  std::vector<pollfd> fds;
  for (const auto& r : running_) fds.push_back(pollfd{r.fd, POLLIN, 0});
  int n = ::poll(fds.data(), fds.size(), 100);
  if (n < 0 && errno != EINTR) throw std::runtime_error(fmt::format("poll failed: {}", std::strerror(errno)));
  for (size_t i = fds.size(); i-- > 0;) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[4096];
    ssize_t got = ::read(running_[i].fd, buf, sizeof buf);
    if (got > 0) {
      running_[i].output.append(buf, static_cast<size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    ::close(running_[i].fd);
    Running r = std::move(running_[i]);
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
    on_child_done(r);
  }
}

void Sweep::on_child_done(Running& r) {
  ChildStatus st = wait_child(r.pid);
  // A child killed while writing a trace (SIGKILL: no handler renamed it) leaves it under its
  // temporary name: keep what it wrote.
  if (st.signaled) salvage_trace(default_trace_path(a_.trace_dir, spec_for(r.job.seed)), r.pid);
  std::optional<ojson> j = st.signaled ? std::nullopt : last_json_line(r.output);
  if (j && j->contains("usage_error")) {
    usage_error_ = (*j)["usage_error"].get<std::string>();
    return;
  }
  if (j) {
    if (r.job.trace_mode) (*j)["wall_s"] = r.job.first_wall_s;
    record(r.job.seed, std::move(*j));
    return;
  }
  std::string how = st.signaled ? st.describe() : fmt::format("{} without a result", st.describe());
  if (!r.job.trace_mode) {
    // Run it once more, writing a crash-safe trace; report it when that child is done.
    queue_.push_front(Job{r.job.seed, true, how, r.wall.seconds()});
    return;
  }
  record(r.job.seed, crash_result(r));
}

// The result line of a seed that crashed twice (its rerun wrote the trace).
ojson Sweep::crash_result(const Running& r) const {
  RunSpec spec = spec_for(r.job.seed);
  ojson crash;
  crash["scenario"] = spec.scenario->name;
  crash["seed"] = r.job.seed;
  crash["passed"] = false;
  crash["failure"] = fmt::format("crashed: {}", r.job.first_crash);
  crash["trace_hash"] = nullptr;
  crash["events"] = nullptr;
  crash["sim_end"] = nullptr;
  crash["wall_s"] = r.job.first_wall_s;
  std::string trace = default_trace_path(a_.trace_dir, spec);
  if (std::filesystem::exists(trace)) crash["trace"] = trace;
  return crash;
}

// A seed's result: noted if it failed, then written once every earlier seed's result is.
void Sweep::record(uint64_t seed, ojson j) {
  ++done_;
  if (!j.value("passed", false)) {
    ++failed_;
    j["replay"] = replay_command(program_, spec_for(seed));
    FailureNote note{seed, j.value("failure", ""), j["replay"], j.value("trace", "")};
    progress_.failure_line(fmt::format("seed {}: FAILED: {}", seed, note.failure));
    failures_.push_back(std::move(note));
  }
  finished_[seed] = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  while (next_to_write_ < total_ && finished_.count(seeds_.at(next_to_write_))) {
    auto it = finished_.find(seeds_.at(next_to_write_));
    results_.write(it->second);
    finished_.erase(it);
    ++next_to_write_;
  }
  progress_.update(done_, failed_);
}

// After a usage error in one child: stop the others.
void Sweep::stop_children() {
  for (auto& r : running_) {
    ::kill(r.pid, SIGTERM);
    ::close(r.fd);
    wait_child(r.pid);
  }
}

void Sweep::print_summary(double secs) const {
  std::fprintf(human_, "sweep %s, seeds %s", base_.scenario->name.c_str(), a_.seeds.c_str());
  if (seeds_.shard.count > 1)
    std::fprintf(human_, " (shard %s: %llu seeds)", a_.shard.c_str(), static_cast<unsigned long long>(total_));
  std::fprintf(human_, ", faults %s: %llu passed, %llu failed, in %s (%.1f seeds/s)\n", a_.world.faults.c_str(),
               static_cast<unsigned long long>(done_ - failed_), static_cast<unsigned long long>(failed_),
               human_seconds(secs).c_str(), secs > 0 ? static_cast<double>(done_) / secs : 0.0);
  if (!a_.out.empty()) std::fprintf(human_, "results: %s\n", a_.out.c_str());
  print_failures(human_, failures_);
}

}  // namespace

int cmd_sweep(const SweepArgs& a, const std::string& program) { return Sweep(a, program).run(); }

}  // namespace cfsim::cli
