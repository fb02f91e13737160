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

Request session_request(std::string method, std::string path, std::string body = "") {
  return Request{.method = std::move(method), .url = "https://sessions.example" + path, .body = std::move(body)};
}

struct Created {
  std::string id, data;
  Time at;
};

// One run: the world, what the clients were told, and the run's steps in order (build the app,
// start the clients, the final check, the verdict and report).
class SessionsRun {
 public:
  SessionsRun(const Scenario& self, const ScenarioOptions& o, bool on_disk)
      // The world writes every option into the trace header, so the trace alone replays the run.
      : world_(sim_options_for(self, o), WorldOptions{}, o.sinks), sim_(world_.sim()), on_disk_(on_disk) {
    add_sessions_app(world_, on_disk);
    world_.declare_instances("SESSIONS", {"main"});
    world_.set_worker([](const Request& r, Env& env) { return get_container(env.durable_object("SESSIONS"), "main").fetch(r); });
    result_.plan = apply_faults(world_.faults(), self, o);
  }

  ScenarioResult run(const ScenarioOptions& o) {
    for (int c = 0; c < kClients; ++c) clients_.push_back(world_.client(fmt::format("{}", c), [this, c] { use_sessions(c); }));
    // After every client is done and the app has been idle longer than sleepAfter (so the
    // container has slept at least once), read every session back.
    start_final_check(world_, clients_, 15min, [this] { read_back(); });
    result_.run = world_.run(limits_for(o));
    judge();
    close_trace(sim_, result_);
    return result_;
  }

 private:
  Response request(std::string method, std::string path, std::string body = "") {
    return world_.fetch(session_request(std::move(method), std::move(path), std::move(body)));
  }

  // One client: creates its sessions, each after an idle gap, and asks for some compute after each.
  void use_sessions(int c) {
    Random rng = sim_.random(fmt::format("client-{}", c));
    for (int i = 0; i < kSessionsPerClient; ++i) {
      sim_.sleep_for(rng.exponential(4min));  // sometimes longer than sleepAfter
      std::string id = fmt::format("c{}s{}", c, i), data = fmt::format("cart-{}", rng.below(1000));
      if (request("POST", "/session/" + id, data).status == 200) acked_.push_back({id, data, sim_.now()});
      else ++create_failures_;
      request("GET", "/work");
    }
  }

  void read_back() {
    for (const Created& s : acked_) {
      Response r = fetch_retrying_5xx(world_, session_request("GET", "/session/" + s.id));
      if (r.status == 200 && r.body == s.data) continue;
      ++lost_;
      sim_.record("check", "session_lost", {{"id", s.id}, {"created_at", s.at}, {"status", r.status}});
      if (first_loss_.empty())
        first_loss_ = fmt::format("session {} created at {} is gone (GET returned {})", s.id, format_time(s.at), r.status);
    }
  }

  void judge() {
    const ContainerRuntime* rt = world_.containers().find_runtime("SESSIONS", "main");
    const uint64_t starts = rt ? rt->start_count() : 0;
    if (lost_ > 0) fail(result_, fmt::format("{} of {} acknowledged sessions were lost; first: {}", lost_, acked_.size(), first_loss_));
    sim_.record("check", "sessions", {{"acknowledged", acked_.size()}, {"lost", lost_}, {"container_starts", starts}});
    const std::string where = on_disk_ ? "a file on the container's disk" : "the Durable Object's SQL storage";
    result_.report.push_back(fmt::format("{} sessions acknowledged, kept in {}; {} readable at the end, {} lost ({} creations failed)",
                                         acked_.size(), where, acked_.size() - lost_, lost_, create_failures_));
    result_.report.push_back(fmt::format(
        "the container started {} times; each stop (sleepAfter after 10 min idle, crash, host restart) wiped its disk{}", starts,
        on_disk_ ? ", and the sessions with it" : ", which held no session"));
  }

  World world_;
  Simulator& sim_;
  const bool on_disk_;  // sqlite-on-disk: the sessions live on the container's disk
  ScenarioResult result_;
  std::vector<FiberHandle> clients_;
  std::vector<Created> acked_;  // sessions whose creation was acknowledged
  int create_failures_ = 0;
  int lost_ = 0;
  std::string first_loss_;
};

ScenarioResult run_sessions(const Scenario& self, const ScenarioOptions& o, bool on_disk) { return SessionsRun(self, o, on_disk).run(o); }

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
