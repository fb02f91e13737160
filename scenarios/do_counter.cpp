// do-counter: Durable Object storage under crashes. Clients send increments to three counter
// objects through their stubs; each object keeps its count in a SQL table and replies with the new
// value once the write is durable (the output gate). Fault model: objects are reset, their machine
// crashes (losing unconfirmed writes and the replies held behind them), commits fail, durability
// slows. Invariant: no acknowledged increment is ever lost, and nothing is counted that no client
// sent — each stored count lies between the increments acknowledged and the increments sent.

#include <fmt/format.h>

#include "model/durable_objects/durable_object.h"
#include "model/durable_objects/faults.h"
#include "scenarios/registry.h"

namespace cfsim {

namespace {

constexpr int kCounters = 3;
constexpr int kClients = 6;
constexpr int kRequestsPerClient = 40;

struct CounterObject : DurableObject {
  explicit CounterObject(DurableObjectState& c) : DurableObject(c) {
    ctx().storage().sql().exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
  }
  Response fetch(const Request& req) override {
    SqlStorage& s = ctx().storage().sql();
    if (req.path() == "/inc") {
      s.exec("INSERT INTO counter (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1");
      return Response(200, std::to_string(std::get<int64_t>(s.exec("SELECT n FROM counter WHERE id = 1").one()[0])));
    }
    auto row = s.exec("SELECT n FROM counter WHERE id = 1").next();
    return Response(200, row ? std::to_string(std::get<int64_t>((*row)[0])) : "0");
  }
};

using namespace std::chrono_literals;

// The kernel options, with the Durable Object options added to the trace header (so the trace
// alone replays the run).
SimOptions counter_sim_options(const Scenario& self, const ScenarioOptions& o, const DurableObjectOptions& do_options) {
  SimOptions so = sim_options_for(self, o);
  auto info = run_info(do_options, "do.COUNTER.");
  so.run_info.insert(so.run_info.end(), info.begin(), info.end());
  return so;
}

// Fault targets name a counter: "COUNTER/c0" .. "COUNTER/c<kCounters-1>".
ObjectTargetResolver counter_targets(DurableObjectNamespace& ns) {
  return [&ns](const FaultAction& a) -> std::pair<DurableObjectNamespace*, std::string> {
    for (int k = 0; k < kCounters; ++k)
      if (a.target == fmt::format("COUNTER/c{}", k)) return {&ns, a.target.substr(8)};
    throw FaultPlanError(fmt::format("fault '{}': target '{}' is not one of COUNTER/c0..c{}", a.verb, a.target, kCounters - 1));
  };
}

// One run: the kernel, the counters' namespace and its faults, what the clients sent and were
// told, and the run's steps in order (start the clients, read the counters, the report).
class CounterRun {
 public:
  CounterRun(const Scenario& self, const ScenarioOptions& o)
      : sim_(counter_sim_options(self, o, do_options_), o.sinks),
        ns_(sim_, "COUNTER", [](DurableObjectState& c) { return std::make_unique<CounterObject>(c); }, do_options_),
        faults_(sim_) {
    ns_.attach_fault_knobs(&knobs_);
    register_durable_object_faults(faults_, counter_targets(ns_), knobs_);
    result_.plan = apply_faults(faults_, self, o);
  }

  ScenarioResult run(const ScenarioOptions& o) {
    for (int c = 0; c < kClients; ++c) sim_.spawn(fmt::format("client-{}", c), [this, c] { send_increments(c); });
    result_.run = sim_.run(limits_for(o));
    for (int k = 0; k < kCounters; ++k) check_counter(k);
    report();
    close_trace(sim_, result_);
    return result_;
  }

 private:
  // One client: increments of counters drawn at random, each counted as sent before it goes and
  // as acknowledged once its reply arrives.
  void send_increments(int c) {
    Random rng = sim_.random(fmt::format("client-{}", c));
    for (int i = 0; i < kRequestsPerClient; ++i) {
      sim_.sleep_for(rng.exponential(25ms));
      int k = static_cast<int>(rng.below(kCounters));
      Request req;
      req.url = "https://counter/inc";
      ++sent_[k];
      try {
        ns_.get_by_name(fmt::format("c{}", k)).fetch(req);
        ++acked_[k];
      } catch (const DurableObjectError& e) {
        ++failed_requests_;
        sim_.record("app", "request_failed", {{"counter", k}, {"error", e.what()}});
      }
    }
  }

  // The invariant for counter k: acknowledged <= stored <= sent.
  void check_counter(int k) {
    ObjectHost& h = ns_.host(ns_.id_from_name(fmt::format("c{}", k)));
    h.storage_engine().commit();  // the world is over: read what is durable plus what would become so
    if (auto row = h.storage_engine().exec("SELECT n FROM counter WHERE id = 1").next()) stored_[k] = std::get<int64_t>((*row)[0]);
    if (stored_[k] < acked_[k])
      fail(result_, fmt::format("counter c{} holds {} but {} increments were acknowledged: an acknowledged write was lost", k, stored_[k], acked_[k]));
    else if (stored_[k] > sent_[k])
      fail(result_, fmt::format("counter c{} holds {} but only {} increments were sent", k, stored_[k], sent_[k]));
    sim_.record("check", "counter", {{"counter", k}, {"stored", stored_[k]}, {"acked", acked_[k]}, {"sent", sent_[k]}});
  }

  void report() {
    int total_sent = 0, total_acked = 0;
    int64_t total_stored = 0;
    for (int k = 0; k < kCounters; ++k) {
      total_sent += sent_[k];
      total_acked += acked_[k];
      total_stored += stored_[k];
    }
    result_.report = {
        fmt::format("{} increments sent, {} acknowledged, {} stored in Durable Object SQL storage", total_sent, total_acked, total_stored),
        fmt::format("{} requests failed under faults; {} of their increments were stored anyway (durable before the failure) and {} were lost unacknowledged",
                    failed_requests_, total_stored - total_acked, total_sent - total_stored),
    };
  }

  const DurableObjectOptions do_options_;
  Simulator sim_;
  DurableObjectNamespace ns_;
  FaultInjector faults_;
  DurableObjectFaultKnobs knobs_;
  ScenarioResult result_;
  std::vector<int> sent_ = std::vector<int>(kCounters, 0), acked_ = std::vector<int>(kCounters, 0);
  std::vector<int64_t> stored_ = std::vector<int64_t>(kCounters, 0);
  int failed_requests_ = 0;
};

ScenarioResult run_do_counter(const Scenario& self, const ScenarioOptions& o) { return CounterRun(self, o).run(o); }

}  // namespace

Scenario do_counter_scenario() {
  Scenario s;
  s.name = "do-counter";
  s.description = "Counters in Durable Object SQL storage under resets and crashes: acknowledged increments must never be lost.";
  std::vector<std::string> targets;
  for (int k = 0; k < kCounters; ++k) targets.push_back(fmt::format("COUNTER/c{}", k));
  s.fault_space = fault_space(durable_object_fault_verbs(), durable_object_fault_knobs(), {.objects = targets},
                              Duration::seconds(2), 10);
  s.run = [s](const ScenarioOptions& o) { return run_do_counter(s, o); };
  return s;
}

}  // namespace cfsim
