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

ScenarioResult run_do_counter(const Scenario& self, const ScenarioOptions& o) {
  using namespace std::chrono_literals;
  const DurableObjectOptions do_options;
  SimOptions so = sim_options_for(self, o);
  auto info = run_info(do_options, "do.COUNTER.");  // the trace header holds every option
  so.run_info.insert(so.run_info.end(), info.begin(), info.end());
  Simulator sim(so, o.sinks);
  DurableObjectNamespace ns(sim, "COUNTER", [](DurableObjectState& c) { return std::make_unique<CounterObject>(c); }, do_options);
  FaultInjector faults(sim);
  DurableObjectFaultKnobs knobs;
  ns.attach_fault_knobs(&knobs);
  register_durable_object_faults(faults, [&ns](const FaultAction& a) -> std::pair<DurableObjectNamespace*, std::string> {
    for (int k = 0; k < kCounters; ++k)
      if (a.target == fmt::format("COUNTER/c{}", k)) return {&ns, a.target.substr(8)};
    throw FaultPlanError(fmt::format("fault '{}': target '{}' is not one of COUNTER/c0..c{}", a.verb, a.target, kCounters - 1));
  }, knobs);
  ScenarioResult result;
  result.plan = plan_for(self, o);
  faults.apply(result.plan);

  std::vector<int> sent(kCounters, 0), acked(kCounters, 0);
  int failed_requests = 0;
  for (int c = 0; c < kClients; ++c) {
    sim.spawn(fmt::format("client-{}", c), [&, c] {
      Random rng = sim.random(fmt::format("client-{}", c));
      for (int i = 0; i < kRequestsPerClient; ++i) {
        sim.sleep_for(rng.exponential(25ms));
        int k = static_cast<int>(rng.below(kCounters));
        Request req;
        req.url = "https://counter/inc";
        ++sent[k];
        try {
          ns.get_by_name(fmt::format("c{}", k)).fetch(req);
          ++acked[k];
        } catch (const DurableObjectError& e) {
          ++failed_requests;
          sim.record("app", "request_failed", {{"counter", k}, {"error", e.what()}});
        }
      }
    });
  }
  result.run = sim.run(limits_for(o));

  std::vector<int64_t> stored(kCounters, 0);
  for (int k = 0; k < kCounters; ++k) {
    ObjectHost& h = ns.host(ns.id_from_name(fmt::format("c{}", k)));
    h.storage_engine().commit();  // the world is over: read what is durable plus what would become so
    if (auto row = h.storage_engine().exec("SELECT n FROM counter WHERE id = 1").next()) stored[k] = std::get<int64_t>((*row)[0]);
    if (stored[k] < acked[k] && result.passed) {
      result.passed = false;
      result.failure = fmt::format("counter c{} holds {} but {} increments were acknowledged: an acknowledged write was lost", k, stored[k], acked[k]);
    } else if (stored[k] > sent[k] && result.passed) {
      result.passed = false;
      result.failure = fmt::format("counter c{} holds {} but only {} increments were sent", k, stored[k], sent[k]);
    }
    sim.record("check", "counter", {{"counter", k}, {"stored", stored[k]}, {"acked", acked[k]}, {"sent", sent[k]}});
  }
  int total_sent = 0, total_acked = 0;
  int64_t total_stored = 0;
  for (int k = 0; k < kCounters; ++k) {
    total_sent += sent[k];
    total_acked += acked[k];
    total_stored += stored[k];
  }
  result.report = {
      fmt::format("{} increments sent, {} acknowledged, {} stored in Durable Object SQL storage", total_sent, total_acked, total_stored),
      fmt::format("{} requests failed under faults; {} of their increments were stored anyway (durable before the failure) and {} were lost unacknowledged",
                  failed_requests, total_stored - total_acked, total_sent - total_stored),
  };
  sim.close_trace();
  result.trace_hash = sim.trace_hash();
  return result;
}

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
