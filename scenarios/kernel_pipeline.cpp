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

ScenarioResult run_pipeline(const Scenario& self, const ScenarioOptions& o) {
  using namespace std::chrono_literals;
  Simulator sim(sim_options_for(self, o), o.sinks);
  FaultInjector faults(sim);
  ScenarioResult result;

  Channel<int> jobs(sim, "jobs", 8);
  std::map<int, int> acks;            // job id -> times acknowledged
  std::map<int, Event*> ack_events;   // job id -> the event its submitter waits on
  std::vector<FiberHandle> workers(kWorkers);
  int killed = 0, restarts = 0;

  std::function<void(int)> start_worker = [&](int w) {
    workers[w] = sim.spawn(fmt::format("worker-{}", w), [&, w] {
      Random rng = sim.random(fmt::format("worker-{}", w));
      for (;;) {
        std::optional<int> job = jobs.recv();
        if (!job) return;
        sim.sleep_for(rng.lognormal(20ms, 0.5));  // the work
        if (faults.buggify("worker.slow")) sim.sleep_for(2s);
        acks[*job]++;
        sim.record("app", "ack", {{"job", *job}, {"worker", w}});
        if (auto it = ack_events.find(*job); it != ack_events.end()) it->second->set();
      }
    }, SpawnOptions{.daemon = true});
  };
  for (int w = 0; w < kWorkers; ++w) start_worker(w);

  faults.define(kill_worker_verb(), [&](const FaultAction& a) {
    const int w = static_cast<int>(a.arg_int("index"));  // 0..kWorkers-1: checked when the plan was applied
    if (!workers[w].done()) {
      sim.kill(workers[w]);
      ++killed;
      sim.call_after(1s, [&, w] {
        ++restarts;
        start_worker(w);
      });
    }
  });
  FaultPlan plan = plan_for(self, o);
  faults.apply(plan);
  if (o.faults == FaultMode::swarm) faults.set_buggify(true);
  result.plan = plan;

  int given_up = 0;
  auto client = sim.spawn("client", [&] {
    Random rng = sim.random("client");
    std::vector<FiberHandle> submitters;
    for (int j = 0; j < kJobs; ++j) {
      sim.sleep_for(rng.exponential(50ms));
      submitters.push_back(sim.spawn(fmt::format("submit-{}", j), [&, j] {
        Event done(sim, fmt::format("ack-{}", j));
        ack_events[j] = &done;
        int attempt = 0;
        do {
          jobs.send(j);
          if (done.wait_for(1s)) break;
          sim.record("app", "retry", {{"job", j}, {"attempt", attempt}});
        } while (++attempt < kMaxAttempts);
        if (!done.is_set()) ++given_up;
        ack_events.erase(j);
      }));
    }
    for (auto& s : submitters) s.join();
    jobs.close();
  });

  result.run = sim.run(limits_for(o));
  int missing = 0;
  for (int j = 0; j < kJobs; ++j)
    if (acks[j] == 0) ++missing;
  int duplicates = 0;
  for (const auto& [j, n] : acks) duplicates += n > 1 ? n - 1 : 0;
  if (!client.done()) {
    result.passed = false;
    result.failure = fmt::format("the client did not finish by {} ({})", format_time(result.run.now), to_string(result.run.reason));
  } else if (missing > 0) {
    result.passed = false;
    result.failure = fmt::format("{} of {} jobs were never acknowledged", missing, kJobs);
  }
  sim.record("check", "every_job_acknowledged", {{"passed", result.passed}, {"missing", missing}});
  result.report = {
      fmt::format("{} jobs, {} acknowledged at least once, {} acknowledged more than once ({} duplicate acks)",
                  kJobs, kJobs - missing, duplicates > 0 ? duplicates : 0, duplicates),
      fmt::format("{} workers killed, {} restarted; {} submitters gave up", killed, restarts, given_up),
  };
  sim.close_trace();
  result.trace_hash = sim.trace_hash();
  return result;
}

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
