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


#include "model/container.h"
#include "model/net.h"
#include "model/worker.h"
#include "scenarios/registry.h"

namespace cfsim {

namespace {

using namespace std::chrono_literals;

constexpr int kClients = 4;
constexpr int kSessionsPerClient = 6;

std::string session_id(const Request& r) { return r.path().substr(std::string("/session/").size()); }
bool is_session(const Request& r) { return r.path().rfind("/session/", 0) == 0; }

// The container's program. With `sessions_on_disk` it also serves /session/* from a file.
void session_app(Process& p, bool sessions_on_disk) {
  p.fs().mkdir("/data", true);
  p.listen(8080, [&p, sessions_on_disk](const Request& r) {
    if (r.path() == "/work") {
      p.sim().sleep_for(5ms);  // the compute the container is there for
      return Response(200, "worked");
    }
    if (!sessions_on_disk || !is_session(r)) return Response(404, "not found");
    const std::string id = session_id(r), file = "/data/sessions.db";
    if (r.method == "POST") {
      p.fs().append_file(file, id + "=" + r.body + "\n");
      return Response(200, "created");
    }
    if (!p.fs().exists(file)) return Response(404, "no such session");
    std::string all = p.fs().read_file(file), found;
    for (size_t pos = 0; pos < all.size();) {
      size_t nl = all.find('\n', pos);
      std::string line = all.substr(pos, nl - pos);
      if (line.rfind(id + "=", 0) == 0) found = line.substr(id.size() + 1);
      pos = nl == std::string::npos ? all.size() : nl + 1;
    }
    return found.empty() ? Response(404, "no such session") : Response(200, found);
  });
  p.on_signal(kSigTerm, [&p] { p.exit(0); });  // a well-behaved app: exit on SIGTERM
}

struct DiskSessions : Container {
  DiskSessions(DurableObjectState& c, ContainerPlatform& p) : Container(c, p) {
    default_port = 8080;
    sleep_after = 10min;
  }
};

struct SqlSessions : Container {
  SqlSessions(DurableObjectState& c, ContainerPlatform& p) : Container(c, p) {
    default_port = 8080;
    sleep_after = 10min;
    ctx().storage().exec("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, data TEXT)");
  }
  Response fetch(const Request& r) override {
    if (!is_session(r)) return Container::fetch(r);
    ObjectStorage& s = ctx().storage();
    if (r.method == "POST") {
      s.exec("INSERT OR REPLACE INTO sessions (id, data) VALUES (?, ?)", {session_id(r), r.body});
      return Response(200, "created");
    }
    auto row = s.exec("SELECT data FROM sessions WHERE id = ?", {session_id(r)}).next();
    return row ? Response(200, std::get<std::string>((*row)[0])) : Response(404, "no such session");
  }
};

ScenarioResult run_sessions(const Scenario& self, const ScenarioOptions& o, bool on_disk) {
  // Every option of the world goes into the trace header, so the trace alone replays the run.
  const NetworkOptions net_options;
  const ContainerPlatformOptions platform_options;
  const DurableObjectOptions do_options;
  SimOptions so = sim_options_for(self, o);
  for (auto info : {run_info(net_options), run_info(platform_options), run_info(do_options, "do.SESSIONS.")})
    so.run_info.insert(so.run_info.end(), info.begin(), info.end());
  Simulator sim(so, o.sinks);
  Network net(sim, net_options);
  ContainerPlatform platform(sim, net, platform_options);
  DurableObjectNamespace ns(sim, "SESSIONS", [&platform, on_disk](DurableObjectState& c) -> std::unique_ptr<DurableObject> {
    if (on_disk) return std::make_unique<DiskSessions>(c, platform);
    return std::make_unique<SqlSessions>(c, platform);
  }, do_options);
  ContainerImage image;
  image.main = [on_disk](Process& p) { session_app(p, on_disk); };
  platform.register_namespace(ns, image);
  Worker worker(sim, [](const Request& r, Env& env) { return get_container(env.durable_object("SESSIONS"), "main").fetch(r); });
  worker.env().bind("SESSIONS", ns);
  FaultInjector faults(sim);
  platform.register_faults(faults);
  register_durable_object_faults(faults, {&ns});
  ScenarioResult result;
  result.plan = plan_for(self, o);
  faults.apply(result.plan);

  struct Created {
    std::string id, data;
    Time at;
  };
  std::vector<Created> acked;
  int create_failures = 0;
  auto request = [&](std::string method, std::string path, std::string body = "") {
    Request r;
    r.method = std::move(method);
    r.url = "https://sessions.example" + path;
    r.body = std::move(body);
    return worker.client_fetch(std::move(r));
  };
  std::vector<FiberHandle> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(sim.spawn(fmt::format("client-{}", c), [&, c] {
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
  sim.spawn("checker", [&] {
    for (auto& c : clients) c.join();
    sim.sleep_for(15min);
    for (const Created& s : acked) {
      // A 5xx is an outage (a fault during the read-back), not a verdict: ask again.
      Response r = request("GET", "/session/" + s.id);
      for (int attempt = 0; r.status >= 500 && attempt < 5; ++attempt) {
        sim.sleep_for(5s);
        r = request("GET", "/session/" + s.id);
      }
      if (r.status == 200 && r.body == s.data) continue;
      ++lost;
      sim.record("check", "session_lost", {{"id", s.id}, {"created_at", s.at}, {"status", r.status}});
      if (first_loss.empty())
        first_loss = fmt::format("session {} created at {} is gone (GET returned {})", s.id, format_time(s.at), r.status);
    }
  });
  result.run = sim.run(limits_for(o));

  const ContainerRuntime* rt = platform.find_runtime("SESSIONS", "main");
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

FaultSpace session_faults() {
  FaultSpace f;
  f.verbs = {{"crash", {"SESSIONS/main"}, {{"exit_code", 1, 2}}},
             {"restart-host", {"SESSIONS/main"}, {}},
             {"do-reset", {"SESSIONS/main"}, {}},
             {"do-crash", {"SESSIONS/main"}, {}}};
  f.horizon = Duration::seconds(40 * 60);
  f.max_actions = 6;
  return f;
}

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
