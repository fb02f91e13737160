// kernel-pipeline: a kernel-only demonstration (no platform model). A client submits jobs to a
// pool of workers through a bounded channel and waits for each acknowledgement with a deadline,
// resubmitting on timeout (at-least-once delivery). Fault model: a worker can be killed at any
// moment ("app-kill-worker"), losing the job in its hands; a supervisor restarts it after 1 s.
// Invariant: every job is acknowledged at least once before the client gives up.

#include <fmt/format.h>

#include <map>

#include "scenarios/registry.h"
#include "sim/sync.h"

namespace cfsim {

namespace {

constexpr int kWorkers = 4;

// The scenario's own verb: kill one worker fiber (it restarts a second later).
FaultVerbDecl kill_worker_verb() {
  return {.name = "app-kill-worker",
          .seam = "app",
          .args = {{.name = "index", .about = "which worker", .lo = 0, .hi = kWorkers - 1, .draw_lo = 0, .draw_hi = kWorkers - 1}},
          .models = "a worker process killed mid-job (the kernel's kill: it observes nothing)",
          .old_names = {"kill-worker"}};
}
constexpr int kJobs = 200;
constexpr int kMaxAttempts = 20;

using namespace std::chrono_literals;

// One run: the kernel, the job channel and its workers, and the run's steps in order (start the
// workers, arm the faults, start the client, the verdict and report).
class PipelineRun {
 public:
  PipelineRun(const Scenario& self, const ScenarioOptions& o)
      : sim_(sim_options_for(self, o), o.sinks), faults_(sim_), jobs_(sim_, "jobs", 8), workers_(kWorkers) {
    for (int w = 0; w < kWorkers; ++w) start_worker(w);
    arm_faults(self, o);
  }

  ScenarioResult run(const ScenarioOptions& o) {
    FiberHandle client = sim_.spawn("client", [this] { submit_all(); });
    result_.run = sim_.run(limits_for(o));
    judge(client);
    close_trace(sim_, result_);
    return result_;
  }

 private:
  void start_worker(int w) {
    workers_[w] = sim_.spawn(fmt::format("worker-{}", w), [this, w] { work(w); }, SpawnOptions{.daemon = true});
  }

  // A worker takes jobs until the channel closes, acknowledging each when done with it.
  void work(int w) {
    Random rng = sim_.random(fmt::format("worker-{}", w));
    for (;;) {
      std::optional<int> job = jobs_.recv();
      if (!job) return;
      sim_.sleep_for(rng.lognormal(20ms, 0.5));  // the work
      if (faults_.buggify("worker.slow")) sim_.sleep_for(2s);
      acks_[*job]++;
      sim_.record("app", "ack", {{"job", *job}, {"worker", w}});
      if (auto it = ack_events_.find(*job); it != ack_events_.end()) it->second->set();
    }
  }

  // The scenario's own verb (a killed worker is restarted by its supervisor 1 s later), then the
  // run's plan; swarm runs turn buggify on.
  void arm_faults(const Scenario& self, const ScenarioOptions& o) {
    faults_.define(kill_worker_verb(), [this](const FaultAction& a) {
      const int w = static_cast<int>(a.arg_int("index"));  // 0..kWorkers-1: checked when the plan was applied
      if (workers_[w].done()) return;
      sim_.kill(workers_[w]);
      ++killed_;
      sim_.call_after(1s, [this, w] {
        ++restarts_;
        start_worker(w);
      });
    });
    result_.plan = apply_faults(faults_, self, o);
  }

  // The client: one submitter per job, then closes the channel once every submitter is done.
  void submit_all() {
    Random rng = sim_.random("client");
    std::vector<FiberHandle> submitters;
    for (int j = 0; j < kJobs; ++j) {
      sim_.sleep_for(rng.exponential(50ms));
      submitters.push_back(sim_.spawn(fmt::format("submit-{}", j), [this, j] { submit(j); }));
    }
    for (auto& s : submitters) s.join();
    jobs_.close();
  }

  // Sends job j and waits up to 1 s for its acknowledgement, resubmitting on timeout, at most
  // kMaxAttempts times.
  void submit(int j) {
    Event done(sim_, fmt::format("ack-{}", j));
    ack_events_[j] = &done;
    int attempt = 0;
    do {
      jobs_.send(j);
      if (done.wait_for(1s)) break;
      sim_.record("app", "retry", {{"job", j}, {"attempt", attempt}});
    } while (++attempt < kMaxAttempts);
    if (!done.is_set()) ++given_up_;
    ack_events_.erase(j);
  }

  void judge(const FiberHandle& client) {
    int missing = 0;
    for (int j = 0; j < kJobs; ++j)
      if (acks_[j] == 0) ++missing;
    int duplicates = 0;
    for (const auto& [j, n] : acks_) duplicates += n > 1 ? n - 1 : 0;
    if (!client.done())
      fail(result_, fmt::format("the client did not finish by {} ({})", format_time(result_.run.now), to_string(result_.run.reason)));
    else if (missing > 0)
      fail(result_, fmt::format("{} of {} jobs were never acknowledged", missing, kJobs));
    sim_.record("check", "every_job_acknowledged", {{"passed", result_.passed}, {"missing", missing}});
    result_.report = {
        fmt::format("{} jobs, {} acknowledged at least once, {} acknowledged more than once ({} duplicate acks)",
                    kJobs, kJobs - missing, duplicates > 0 ? duplicates : 0, duplicates),
        fmt::format("{} workers killed, {} restarted; {} submitters gave up", killed_, restarts_, given_up_),
    };
  }

  Simulator sim_;
  FaultInjector faults_;
  ScenarioResult result_;
  Channel<int> jobs_;
  std::map<int, int> acks_;           // job id -> times acknowledged
  std::map<int, Event*> ack_events_;  // job id -> the event its submitter waits on
  std::vector<FiberHandle> workers_;
  int killed_ = 0, restarts_ = 0, given_up_ = 0;
};

ScenarioResult run_pipeline(const Scenario& self, const ScenarioOptions& o) { return PipelineRun(self, o).run(o); }

}  // namespace

Scenario kernel_pipeline_scenario() {
  Scenario s;
  s.name = "kernel-pipeline";
  s.description = "Kernel demo: a client feeds jobs to workers that get killed; retries must get every job acknowledged.";
  s.own_fault_verbs = {kill_worker_verb()};
  s.fault_space = fault_space(s.own_fault_verbs, {}, {}, Duration::seconds(30), 12);
  s.run = [s](const ScenarioOptions& o) { return run_pipeline(s, o); };
  return s;
}

}  // namespace cfsim
