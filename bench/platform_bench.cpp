// cfsim_bench_platform: the W3 platform workloads of bench-workloads.md.
//
//   cfsim_bench_platform session-hour [--seeds K]   the sessions app (sessions in Durable Object
//       SQL storage, compute in a container) for one simulated hour: 100 clients, 10,000 requests
//       through the Worker, sleepAfter 10 minutes, random host restarts. Reports simulated seconds
//       per wall second, and seeds/s over K seeds (default 5), each its own world.
//   cfsim_bench_platform scale-n N                   N containers in one world, idle then busy:
//       each gets one request (a cold start), all sleep after 10 idle minutes, then each gets ten
//       more. Reports wall time per simulated event and peak memory (max RSS) for that N.
//   cfsim_bench_platform long-run [--hours H] [--seed S]   the long-run scenario (scenarios/long_run.h)
//       for H simulated hours (default 100): events, wall seconds, max RSS, and the world's
//       footprint at the first and the last hour mark, which must match for memory to be flat.
//
// One workload per process run, one JSON line. Timing starts just before the first client fiber
// is spawned and stops when run() returns.

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "model/world.h"
#include "scenarios/long_run.h"
#include "scenarios/registry.h"
#include "scenarios/sessions_app.h"
#include "sim/fault_injector.h"
#include "sim/trace_file.h"

namespace {

using namespace cfsim;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// The sessions app of the sessions-sql scenario (scenarios/sessions_app.h) in a world of its own,
// routed by the "x-shard" header: which container instance serves a client.
struct SessionsWorld {
  World world;
  Simulator& sim;
  explicit SessionsWorld(uint64_t seed, int max_instances) : world(SimOptions{.seed = seed}), sim(world.sim()) {
    add_sessions_app(world, /*sessions_on_disk=*/false, max_instances);
    world.set_worker([](const Request& r, Env& env) {
      std::string shard = r.headers.get("x-shard").value_or("main");
      return get_container(env.durable_object("SESSIONS"), shard).fetch(r);
    });
  }
  Response request(std::string method, std::string path, std::string shard, std::string body = "") {
    Request r;
    r.method = std::move(method);
    r.url = "https://sessions.example" + path;
    r.headers.set("x-shard", std::move(shard));
    r.body = std::move(body);
    return world.fetch(std::move(r));
  }
};

// One simulated hour: 100 clients x 100 requests spread over the hour, 10 container instances,
// a few random host restarts. Returns {events, ok}.
std::pair<uint64_t, bool> session_hour(uint64_t seed) {
  SessionsWorld w(seed, 20);
  std::vector<std::string> shards;  // the instances the clients use, and the plan may target
  for (int s = 0; s < 10; ++s) shards.push_back(fmt::format("shard-{}", s));
  w.world.declare_instances("SESSIONS", shards);
  Random plan_rng = w.sim.random("bench.restarts");
  FaultPlan plan;
  for (int i = 0; i < 4; ++i)
    plan.add({Time::zero() + Duration::seconds(plan_rng.uniform_int(60, 3500)), "container-restart-host",
              fmt::format("SESSIONS/shard-{}", plan_rng.below(10)), {}});
  w.world.apply(plan);
  int ok = 0, failed = 0;
  for (int c = 0; c < 100; ++c) {
    w.sim.spawn(fmt::format("client-{}", c), [&, c] {
      Random rng = w.sim.random(fmt::format("client-{}", c));
      std::string shard = fmt::format("shard-{}", c % 10);
      for (int i = 0; i < 100; ++i) {
        w.sim.sleep_for(rng.exponential(36s));  // 100 requests over about an hour
        std::string id = fmt::format("c{}-{}", c, i % 10);
        Response r = (i % 3 == 0) ? w.request("POST", "/session/" + id, shard, "data")
                     : (i % 3 == 1) ? w.request("GET", "/session/" + id, shard)
                                    : w.request("GET", "/work", shard);
        (r.status < 500 ? ok : failed)++;
      }
    });
  }
  RunResult r = w.sim.run(RunLimits{.until = Time::zero() + 1h});
  return {r.events, ok + failed > 9000 && r.now == Time::zero() + 1h};
}

// session-hour over seeds 1..K: simulated seconds per wall second and seeds/s. nullopt after a
// usage error (said on stderr).
std::optional<json> session_hour_bench(int argc, char** argv) {
  int seeds = 5;
  if (argc >= 4 && std::string(argv[2]) == "--seeds") seeds = std::stoi(argv[3]);
  if (seeds < 1) {
    std::cerr << "cfsim_bench_platform: --seeds must be at least 1\n";
    return std::nullopt;
  }
  auto start = Clock::now();
  uint64_t events = 0;
  bool ok = true;
  for (int s = 1; s <= seeds; ++s) {
    auto [e, good] = session_hour(static_cast<uint64_t>(s));
    events += e;
    ok = ok && good;
  }
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  json out;
  out["workload"] = "session-hour";
  out["seeds"] = seeds;
  out["wall_s"] = wall;
  out["wall_s_per_simulated_hour"] = wall / seeds;
  out["simulated_s_per_wall_s"] = 3600.0 * seeds / wall;
  out["seeds_per_s"] = seeds / wall;
  out["ns_per_event"] = wall * 1e9 / static_cast<double>(events);
  out["sim_events"] = events;
  out["sim_end_us"] = int64_t{3600} * 1'000'000;
  out["max_rss_kib"] = max_rss_kib();
  out["ok"] = ok;
  return out;
}

// scale-n N: N containers in one world, each cold-started, left to sleep, then busy again. nullopt
// after a usage error (said on stderr).
std::optional<json> scale_n_bench(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: cfsim_bench_platform scale-n N\n";
    return std::nullopt;
  }
  const int n = std::stoi(argv[2]);
  if (n < 1) {
    std::cerr << "cfsim_bench_platform: N must be at least 1\n";
    return std::nullopt;
  }
  SessionsWorld w(1, n);
  int ok = 0;
  auto start = Clock::now();
  for (int k = 0; k < n; ++k) {
    w.sim.spawn(fmt::format("client-{}", k), [&, k] {
      std::string shard = fmt::format("c{}", k);
      if (w.request("GET", "/work", shard).status == 200) ++ok;  // cold start
      w.sim.sleep_for(15min);                                     // idle: every container sleeps
      for (int i = 0; i < 10; ++i)                                 // busy again
        if (w.request("GET", "/work", shard).status == 200) ++ok;
    });
  }
  RunResult r = w.sim.run();
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  json out;
  out["workload"] = "scale-n";
  out["n"] = n;
  out["wall_s"] = wall;
  out["ns_per_event"] = wall * 1e9 / static_cast<double>(r.events);
  out["sim_events"] = r.events;
  out["sim_end_us"] = r.now.ns / 1000;
  out["trace_hash"] = hash_hex(r.trace_hash);
  out["max_rss_kib"] = max_rss_kib();
  out["requests_ok"] = ok;
  out["ok"] = ok == 11 * n && r.reason == StopReason::quiescent;
  return out;
}

json footprint_json(const LongRunFootprint& f) {
  return json{{"at_s", f.at.ns / 1000'000'000}, {"events", f.events}, {"live_fibers", f.live_fibers},
              {"queued_events", f.queued_events}, {"callback_slots", f.callback_slots}, {"fiber_stacks", f.fiber_stacks},
              {"object_hosts", f.object_hosts}, {"requests_in_flight", f.requests_in_flight},
              {"storage_pages", f.storage_pages}, {"container_starts", f.container_starts}, {"requests", f.requests}};
}

// The long-run scenario for `hours` simulated hours in this process; max RSS is read here, never in
// simulated code.
json long_run(int64_t hours, uint64_t seed) {
  const Scenario* s = find_scenario("long-run");
  ScenarioOptions o;
  o.seed = seed;
  o.until = Duration::seconds(hours * 3600);
  auto start = Clock::now();
  LongRunOutcome r = run_long_run(*s, o);
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const uint64_t events = r.hours.back().events;
  json out;
  out["workload"] = "long-run";
  out["simulated_hours"] = hours;
  out["seed"] = seed;
  out["sim_events"] = events;
  out["wall_s"] = wall;
  out["ns_per_event"] = wall * 1e9 / static_cast<double>(events);
  out["simulated_s_per_wall_s"] = 3600.0 * static_cast<double>(hours) / wall;
  out["max_rss_kib"] = max_rss_kib();
  out["trace_hash"] = hash_hex(r.result.trace_hash);
  out["first_hour"] = footprint_json(r.hours.front());
  out["last_hour"] = footprint_json(r.hours.size() >= 2 ? r.hours[r.hours.size() - 2] : r.hours.back());
  out["failure"] = r.result.failure;
  out["ok"] = r.result.passed && r.result.run.now == Time::zero() + o.until;
  return out;
}

}  // namespace

// long-run [--hours H] [--seed S]: nullopt after a usage error (said on stderr).
std::optional<json> long_run_bench(int argc, char** argv) {
  int64_t hours = 100;
  uint64_t seed = 1;
  for (int i = 2; i < argc; i += 2) {
    std::string flag = argv[i];
    try {
      if (i + 1 >= argc) throw std::invalid_argument("missing value");
      if (flag == "--hours") hours = std::stoll(argv[i + 1]);
      else if (flag == "--seed") seed = std::stoull(argv[i + 1]);
      else throw std::invalid_argument("unknown option");
    } catch (const std::exception&) {
      std::cerr << "usage: cfsim_bench_platform long-run [--hours H] [--seed S]\n";
      return std::nullopt;
    }
  }
  if (hours < 1 || hours > 24 * 365) {
    std::cerr << "cfsim_bench_platform: --hours must be 1..8760\n";
    return std::nullopt;
  }
  return long_run(hours, seed);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: cfsim_bench_platform session-hour [--seeds K] | scale-n N | long-run [--hours H] [--seed S]\n";
    return 2;
  }
  const std::string workload = argv[1];
  std::optional<json> out;
  if (workload == "session-hour") out = session_hour_bench(argc, argv);
  else if (workload == "scale-n") out = scale_n_bench(argc, argv);
  else if (workload == "long-run") out = long_run_bench(argc, argv);
  else std::cerr << "cfsim_bench_platform: unknown workload '" << workload << "'\n";
  if (!out) return 2;
  std::cout << out->dump() << std::endl;
  return (*out)["ok"].get<bool>() ? 0 : 1;
}
