// sqlite-on-disk and sessions-sql: the platform guide's bad practice, side by side. Both apps keep
// user sessions behind one Worker and one container ("main"); clients create sessions and read
// them back later, with idle gaps that are sometimes longer than sleepAfter (10 min).
//
// - sqlite-on-disk keeps the sessions in a file on the container's disk (/data/sessions.db).
//   The disk is ephemeral: every stop — sleepAfter expiry, a crash, a host restart, a rollout —
//   wipes it, so the first sleep loses every session (platform-facts §1.8, §8 item 11).
// - sessions-sql keeps them in the Durable Object's SQL storage, which outlives every container
//   stop (§8 item 12); the container only does the compute (/work).
//
// Fault model (swarm): container crashes, host restarts, Durable Object resets and crashes.
// Invariant: every session whose creation was acknowledged (200) reads back with its data.

#include <fmt/format.h>

#include "model/world.h"
#include "scenarios/registry.h"
#include "scenarios/sessions_app.h"

namespace cfsim {

namespace {

using namespace std::chrono_literals;

constexpr int kClients = 4;
constexpr int kSessionsPerClient = 6;

ScenarioResult run_sessions(const Scenario& self, const ScenarioOptions& o, bool on_disk) {
  // The world writes every option into the trace header, so the trace alone replays the run.
  World world(sim_options_for(self, o), WorldOptions{}, o.sinks);
  Simulator& sim = world.sim();
  add_sessions_app(world, on_disk);
  world.declare_instances("SESSIONS", {"main"});
  world.set_worker([](const Request& r, Env& env) { return get_container(env.durable_object("SESSIONS"), "main").fetch(r); });
  ScenarioResult result;
  result.plan = plan_for(self, o);
  world.apply(result.plan);

  struct Created {
    std::string id, data;
    Time at;
  };
  std::vector<Created> acked;
  int create_failures = 0;
  auto make_request = [](std::string method, std::string path, std::string body = "") {
    Request r;
    r.method = std::move(method);
    r.url = "https://sessions.example" + path;
    r.body = std::move(body);
    return r;
  };
  auto request = [&](std::string method, std::string path, std::string body = "") {
    return world.fetch(make_request(std::move(method), std::move(path), std::move(body)));
  };
  std::vector<FiberHandle> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(world.client(fmt::format("{}", c), [&, c] {
      Random rng = sim.random(fmt::format("client-{}", c));
      for (int i = 0; i < kSessionsPerClient; ++i) {
        sim.sleep_for(rng.exponential(4min));  // sometimes longer than sleepAfter
        std::string id = fmt::format("c{}s{}", c, i), data = fmt::format("cart-{}", rng.below(1000));
        if (request("POST", "/session/" + id, data).status == 200) acked.push_back({id, data, sim.now()});
        else ++create_failures;
        request("GET", "/work");
      }
    }));
  }
  // After every client is done and the app has been idle longer than sleepAfter (so the container
  // has slept at least once), read every session back.
  int lost = 0;
  std::string first_loss;
  world.client("checker", [&] {
    for (auto& c : clients) c.join();
    sim.sleep_for(15min);
    for (const Created& s : acked) {
      Response r = fetch_retrying_5xx(world, make_request("GET", "/session/" + s.id));
      if (r.status == 200 && r.body == s.data) continue;
      ++lost;
      sim.record("check", "session_lost", {{"id", s.id}, {"created_at", s.at}, {"status", r.status}});
      if (first_loss.empty())
        first_loss = fmt::format("session {} created at {} is gone (GET returned {})", s.id, format_time(s.at), r.status);
    }
  });
  result.run = world.run(limits_for(o));

  const ContainerRuntime* rt = world.containers().find_runtime("SESSIONS", "main");
  const uint64_t starts = rt ? rt->start_count() : 0;
  if (lost > 0) {
    result.passed = false;
    result.failure = fmt::format("{} of {} acknowledged sessions were lost; first: {}", lost, acked.size(), first_loss);
  }
  sim.record("check", "sessions", {{"acknowledged", acked.size()}, {"lost", lost}, {"container_starts", starts}});
  const std::string where = on_disk ? "a file on the container's disk" : "the Durable Object's SQL storage";
  result.report.push_back(fmt::format("{} sessions acknowledged, kept in {}; {} readable at the end, {} lost ({} creations failed)",
                                      acked.size(), where, acked.size() - lost, lost, create_failures));
  result.report.push_back(fmt::format(
      "the container started {} times; each stop (sleepAfter after 10 min idle, crash, host restart) wiped its disk{}", starts,
      on_disk ? ", and the sessions with it" : ", which held no session"));
  sim.close_trace();
  result.trace_hash = sim.trace_hash();
  return result;
}

// Every drawable verb and knob of the platform over the one instance (World::fault_space).
FaultSpace session_faults() { return World::fault_space({.objects = {"SESSIONS/main"}}, Duration::seconds(40 * 60), 6); }

}  // namespace

Scenario sqlite_on_disk_scenario() {
  Scenario s;
  s.name = "sqlite-on-disk";
  s.description = "The guide's bad practice: sessions in a file on the container disk are lost at the first sleep.";
  s.fault_space = session_faults();
  s.run = [s](const ScenarioOptions& o) { return run_sessions(s, o, true); };
  return s;
}

Scenario sessions_sql_scenario() {
  Scenario s;
  s.name = "sessions-sql";
  s.description = "The same app keeping sessions in Durable Object SQL storage: they survive every container stop.";
  s.fault_space = session_faults();
  s.run = [s](const ScenarioOptions& o) { return run_sessions(s, o, false); };
  return s;
}

}  // namespace cfsim
