// `cfsim sweep` and `cfsim merge`. A sweep runs one scenario over a range of seeds, each seed in its
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
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "tools/replay/commands.h"
#include "tools/replay/safe_sink.h"

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

ojson result_json(const RunSpec& spec, const ScenarioResult& r, double wall_s) {
  ojson j;
  j["scenario"] = spec.scenario->name;
  j["seed"] = spec.options.seed;
  j["passed"] = r.passed;
  j["failure"] = r.failure;
  j["trace_hash"] = hash_hex(r.trace_hash);
  j["events"] = r.run.events;
  j["sim_end"] = r.run.now.ns;
  j["wall_s"] = wall_s;
  return j;
}

ScenarioResult run_seed(const RunSpec& spec, std::shared_ptr<TraceSink> trace) {
  ScenarioOptions o = spec.options;
  if (trace) o.sinks.push_back(std::move(trace));
  if (auto crash = test_crash_sink_for(o.seed)) o.sinks.push_back(crash);
  try {
    return spec.scenario->run(o);
  } catch (const FaultPlanError&) {
    throw;
  } catch (const std::exception& e) {
    ScenarioResult r;
    r.passed = false;
    r.failure = fmt::format("the run threw an exception: {}", e.what());
    return r;
  }
}

// The child's work for one seed; prints one JSON line on stdout (the pipe to the parent).
int seed_child(const RunSpec& spec, const std::string& trace_path, bool trace_mode, const std::string& first_crash) {
  ojson j;
  try {
    if (trace_mode) {
      // The seed crashed before: run it again writing a crash-safe trace. Normally it crashes again.
      Stopwatch wall;
      ScenarioResult r = run_seed(spec, std::make_shared<SafeJsonlSink>(trace_path));
      j = result_json(spec, r, wall.seconds());
      j["passed"] = false;
      j["failure"] = fmt::format("crashed ({}) in its first run but not when rerun to write its trace: the seed is not "
                                 "deterministic (the rerun {})", first_crash, r.passed ? "passed" : "failed: " + r.failure);
      j["trace"] = trace_path;
    } else {
      Stopwatch wall;
      ScenarioResult r = run_seed(spec, nullptr);
      j = result_json(spec, r, wall.seconds());
      if (!r.passed) {
        // Leave the failing seed's trace, and check that the seed replays.
        ScenarioResult again = run_seed(spec, std::make_shared<SafeJsonlSink>(trace_path));
        if (again.trace_hash != r.trace_hash)
          j["failure"] = fmt::format("{} (and a second run of the seed took other steps: hash {} then {}: the seed is not "
                                     "deterministic)", r.failure, hash_hex(r.trace_hash), hash_hex(again.trace_hash));
        j["trace"] = trace_path;
      }
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

// Progress on stderr: a bar redrawn in place on a terminal, a plain line per tenth otherwise.
class Progress {
 public:
  explicit Progress(uint64_t total) : total_(total), tty_(isatty(STDERR_FILENO)) {}
  void failure_line(const std::string& text) {
    clear();
    std::fprintf(stderr, "%s\n", text.c_str());
    draw(true);
  }
  void update(uint64_t done, uint64_t failed) {
    done_ = done;
    failed_ = failed;
    draw(false);
  }
  void finish() { clear(); }

 private:
  void clear() {
    if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
    drawn_ = false;
  }
  void draw(bool force) {
    double t = clock_.seconds();
    double rate = t > 0 ? static_cast<double>(done_) / t : 0;
    double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0;
    std::string stats = fmt::format("{}/{} seeds, {} failed, {:.1f} seeds/s, ETA {}", done_, total_, failed_, rate,
                                    done_ == total_ ? "0s" : human_seconds(eta));
    if (tty_) {
      if (!force && t - last_draw_ < 0.1 && done_ != total_) return;
      last_draw_ = t;
      constexpr int kBar = 30;
      int filled = total_ ? static_cast<int>(kBar * done_ / total_) : kBar;
      std::fprintf(stderr, "\r\033[K[%s%s] %s", std::string(filled, '#').c_str(), std::string(kBar - filled, '.').c_str(),
                   stats.c_str());
      std::fflush(stderr);
      drawn_ = true;
    } else {
      uint64_t tenth = total_ ? done_ * 10 / total_ : 10;
      if (done_ == 0 || tenth == last_tenth_) return;
      last_tenth_ = tenth;
      std::fprintf(stderr, "sweep: %s\n", stats.c_str());
    }
  }

  uint64_t total_, done_ = 0, failed_ = 0;
  bool tty_, drawn_ = false;
  uint64_t last_tenth_ = 0;
  double last_draw_ = -1;
  Stopwatch clock_;
};

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

// Writes result lines to a file (through "<out>.tmp", renamed at the end) or to stdout.
class ResultWriter {
 public:
  explicit ResultWriter(std::string path) : path_(std::move(path)) {
    if (path_.empty()) return;
    make_parent_dirs(path_);
    tmp_ = path_ + ".tmp";
    f_ = std::fopen(tmp_.c_str(), "w");
    if (!f_) throw UsageError(fmt::format("cannot create results file '{}': {}", tmp_, std::strerror(errno)));
  }
  ~ResultWriter() { close(); }
  void write(const std::string& line) {
    std::FILE* f = f_ ? f_ : stdout;
    std::fputs(line.c_str(), f);
    std::fputc('\n', f);
    std::fflush(f);
  }
  void close() {
    if (!f_) return;
    std::fclose(f_);
    f_ = nullptr;
    std::rename(tmp_.c_str(), path_.c_str());
  }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

struct FailureNote {
  uint64_t seed;
  std::string failure, replay, trace;
};

void print_failures(std::FILE* to, const std::vector<FailureNote>& failures) {
  constexpr size_t kShown = 20;
  if (failures.empty()) return;
  std::fprintf(to, "failing seeds:\n");
  for (size_t i = 0; i < failures.size() && i < kShown; ++i) {
    const auto& f = failures[i];
    std::fprintf(to, "  seed %llu: %s\n", static_cast<unsigned long long>(f.seed), f.failure.c_str());
    if (!f.replay.empty()) std::fprintf(to, "    replay: %s\n", f.replay.c_str());
    if (!f.trace.empty()) std::fprintf(to, "    trace:  %s\n", f.trace.c_str());
  }
  if (failures.size() > kShown) std::fprintf(to, "  ... and %zu more (see the result lines)\n", failures.size() - kShown);
}

}  // namespace

int cmd_sweep(const SweepArgs& a, const std::string& program) {
  if (a.seeds.empty()) throw UsageError("sweep needs --seeds A..B");
  ShardSeeds seeds{parse_seed_range(a.seeds), parse_shard(a.shard)};
  if (a.jobs < 1 || a.jobs > 256) throw UsageError(fmt::format("bad --jobs {}: from 1 to 256", a.jobs));
  const RunSpec base = spec_from_args(a.world, "0");
  auto spec_for = [&](uint64_t seed) {
    RunSpec s = base;
    s.options.seed = seed;
    return s;
  };
  const uint64_t total = seeds.size();
  ResultWriter results(a.out);
  std::FILE* human = a.out.empty() ? stderr : stdout;
  Progress progress(total);
  Stopwatch clock;

  std::deque<Job> queue;
  uint64_t next_index = 0;  // next seed of the shard to queue
  std::vector<Running> running;
  std::map<uint64_t, std::string> finished;  // seed -> result line, until it is written in order
  uint64_t next_to_write = 0, done = 0, failed = 0;
  std::vector<FailureNote> failures;
  std::string usage_error;

  auto start = [&](const Job& job) {
    RunSpec spec = spec_for(job.seed);
    std::string trace = default_trace_path(a.trace_dir, spec);
    Child c = spawn_child([&, spec, trace] { return seed_child(spec, trace, job.trace_mode, job.first_crash); });
    running.push_back(Running{job, c.pid, c.fd, {}, {}});
  };

  auto record = [&](uint64_t seed, ojson j) {
    ++done;
    if (!j.value("passed", false)) {
      ++failed;
      RunSpec spec = spec_for(seed);
      j["replay"] = replay_command(program, spec);
      FailureNote note{seed, j.value("failure", ""), j["replay"], j.value("trace", "")};
      progress.failure_line(fmt::format("seed {}: FAILED: {}", seed, note.failure));
      failures.push_back(std::move(note));
    }
    finished[seed] = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    while (next_to_write < total && finished.count(seeds.at(next_to_write))) {
      auto it = finished.find(seeds.at(next_to_write));
      results.write(it->second);
      finished.erase(it);
      ++next_to_write;
    }
    progress.update(done, failed);
  };

  auto on_child_done = [&](Running& r) {
    ChildStatus st = wait_child(r.pid);
    std::optional<ojson> j = st.signaled ? std::nullopt : last_json_line(r.output);
    if (j && j->contains("usage_error")) {
      usage_error = (*j)["usage_error"].get<std::string>();
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
      queue.push_front(Job{r.job.seed, true, how, r.wall.seconds()});
      return;
    }
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
    std::string trace = default_trace_path(a.trace_dir, spec);
    if (std::filesystem::exists(trace)) crash["trace"] = trace;
    record(r.job.seed, std::move(crash));
  };

  while (usage_error.empty() && (next_index < total || !queue.empty() || !running.empty())) {
    while (running.size() < a.jobs && (!queue.empty() || next_index < total)) {
      if (queue.empty()) queue.push_back(Job{seeds.at(next_index++), false, "", 0});
      Job job = queue.front();
      queue.pop_front();
      start(job);
    }
    std::vector<pollfd> fds;
    for (const auto& r : running) fds.push_back(pollfd{r.fd, POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), 100);
    if (n < 0 && errno != EINTR) throw std::runtime_error(fmt::format("poll failed: {}", std::strerror(errno)));
    for (size_t i = fds.size(); i-- > 0;) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t got = ::read(running[i].fd, buf, sizeof buf);
      if (got > 0) {
        running[i].output.append(buf, static_cast<size_t>(got));
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      ::close(running[i].fd);
      Running r = std::move(running[i]);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      on_child_done(r);
    }
    progress.update(done, failed);
  }
  progress.finish();

  if (!usage_error.empty()) {
    for (auto& r : running) {  // stop the other children of this sweep
      ::kill(r.pid, SIGTERM);
      ::close(r.fd);
      wait_child(r.pid);
    }
    throw UsageError(usage_error);
  }
  results.close();

  double secs = clock.seconds();
  std::fprintf(human, "sweep %s, seeds %s", base.scenario->name.c_str(), a.seeds.c_str());
  if (seeds.shard.count > 1)
    std::fprintf(human, " (shard %s: %llu seeds)", a.shard.c_str(), static_cast<unsigned long long>(total));
  std::fprintf(human, ", faults %s: %llu passed, %llu failed, in %s (%.1f seeds/s)\n", a.world.faults.c_str(),
               static_cast<unsigned long long>(done - failed), static_cast<unsigned long long>(failed),
               human_seconds(secs).c_str(), secs > 0 ? static_cast<double>(done) / secs : 0.0);
  if (!a.out.empty()) std::fprintf(human, "results: %s\n", a.out.c_str());
  print_failures(human, failures);
  return failed ? kExitFailed : kExitOk;
}

// --- merge -------------------------------------------------------------------------------------------------

int cmd_merge(const std::vector<std::string>& inputs, const std::string& out) {
  struct Line {
    std::string text, file;
    bool passed;
    std::string failure, replay, trace;
  };
  std::map<uint64_t, Line> by_seed;
  std::string scenario;
  for (const auto& path : inputs) {
    std::ifstream in(path);
    if (!in) throw UsageError(fmt::format("cannot read results file '{}': {}", path, std::strerror(errno)));
    std::string text;
    size_t line_no = 0;
    while (std::getline(in, text)) {
      ++line_no;
      if (text.empty()) continue;
      ojson j = ojson::parse(text, nullptr, false);
      auto seed = j.is_object() ? j.find("seed") : j.end();
      auto passed = j.is_object() ? j.find("passed") : j.end();
      if (j.is_discarded() || !j.is_object() || seed == j.end() || !seed->is_number_unsigned() || passed == j.end() ||
          !passed->is_boolean())
        throw UsageError(fmt::format("{}:{}: not a sweep result line (a JSON object with seed and passed)", path, line_no));
      std::string s = j.value("scenario", "");
      if (!scenario.empty() && !s.empty() && s != scenario)
        throw UsageError(fmt::format("{}:{}: results of scenario '{}' cannot be merged with results of '{}'", path, line_no, s, scenario));
      if (scenario.empty()) scenario = s;
      uint64_t sd = seed->get<uint64_t>();
      if (auto it = by_seed.find(sd); it != by_seed.end())
        throw UsageError(fmt::format("seed {} appears in both {} and {}:{}: overlapping shards?", sd, it->second.file, path, line_no));
      auto text_of = [&](const char* key) {
        auto f = j.find(key);
        return f != j.end() && f->is_string() ? f->get<std::string>() : std::string();
      };
      by_seed[sd] = Line{text, path, passed->get<bool>(), text_of("failure"), text_of("replay"), text_of("trace")};
    }
  }
  if (by_seed.empty()) throw UsageError("merge: the results files hold no result lines");

  ResultWriter results(out);
  std::vector<FailureNote> failures;
  std::vector<uint64_t> missing;
  uint64_t expected = by_seed.begin()->first, missing_count = 0;
  for (const auto& [seed, line] : by_seed) {
    results.write(line.text);
    if (!line.passed) failures.push_back(FailureNote{seed, line.failure, line.replay, line.trace});
    if (seed > expected) {
      missing_count += seed - expected;
      for (uint64_t s = expected; s < seed && missing.size() < 10; ++s) missing.push_back(s);
    }
    expected = seed + 1;
  }
  results.close();
  std::FILE* human = out.empty() ? stderr : stdout;
  std::string missing_text = "none missing";
  if (missing_count) {
    missing_text = fmt::format("{} missing: ", missing_count);
    for (size_t i = 0; i < missing.size(); ++i) missing_text += fmt::format("{}{}", i ? ", " : "", missing[i]);
    if (missing_count > missing.size()) missing_text += ", ...";
  }
  std::fprintf(human, "merged %zu file%s: %zu results%s, seeds %llu..%llu (%s); %zu passed, %zu failed\n", inputs.size(),
               inputs.size() == 1 ? "" : "s", by_seed.size(), scenario.empty() ? "" : (" for " + scenario).c_str(),
               static_cast<unsigned long long>(by_seed.begin()->first), static_cast<unsigned long long>(by_seed.rbegin()->first),
               missing_text.c_str(), by_seed.size() - failures.size(), failures.size());
  if (!out.empty()) std::fprintf(human, "results: %s\n", out.c_str());
  print_failures(human, failures);
  return failures.empty() ? kExitOk : kExitFailed;
}

}  // namespace cfsim::cli
