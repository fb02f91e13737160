// cfsim_bench_storage: the `storage-ops` workload of bench-workloads.md (W3), for Durable Object
// storage. 100,000 KV put+get pairs, and 100,000 SQL pairs
//   INSERT OR REPLACE INTO t(id, v) VALUES (?, ?)   then   SELECT v FROM t WHERE id = ?
// measured two ways:
//   (a) *-requests: one pair per request, from a client fiber through the object's stub,
//       reporting requests/s. Each request passes the input gate, runs in its own fiber, and its
//       reply waits for durability (the output gate). *-worker-requests: the same, each request
//       entering through the Worker's fetch handler (client latency 0), as bench-workloads.md asks
//       once the Worker exists.
//   (b) *-inline: every pair inside one request, reporting storage operations/s (a statement or a
//       KV call counts as one).
//
//   cfsim_bench_storage <kv-requests|sql-requests|kv-worker-requests|sql-worker-requests|kv-inline|sql-inline>
//                       [--no-trace-scheduling]
//
// Timing starts just before the client fiber is spawned and stops when run() returns. Checks: every
// get/select returns the value just written, and the final row/key count is the number of ids.

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include "model/durable_objects/durable_object.h"
#include "model/worker/worker.h"
#include "sim/trace_file.h"

namespace {

using namespace cfsim;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

constexpr int kPairs = 100'000;
constexpr int kDistinctIds = 1000;  // ids cycle, so the table stays small as in a real object

struct BenchObject : DurableObject {
  explicit BenchObject(DurableObjectState& c) : DurableObject(c) {
    if (ctx().storage().backend() == StorageBackend::sqlite)
      ctx().storage().sql().exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)");
  }
  // One KV pair; returns whether the get saw the put.
  bool kv_pair(int i) {
    std::string key = "k" + std::to_string(i % kDistinctIds);
    ctx().storage().put(key, StoredValue(int64_t{i}));
    auto v = ctx().storage().get(key);
    return v && v->as_int() == i;
  }
  bool sql_pair(int i) {
    int64_t id = i % kDistinctIds;
    std::string v = "v" + std::to_string(i);
    ctx().storage().sql().exec("INSERT OR REPLACE INTO t(id, v) VALUES (?, ?)", {id, v});
    auto row = ctx().storage().sql().exec("SELECT v FROM t WHERE id = ?", {id}).next();
    return row && std::get<std::string>((*row)[0]) == v;
  }
};

// The workload named on the command line.
struct Workload {
  std::string name;
  bool kv = false;           // KV pairs (else SQL pairs)
  bool per_request = false;  // one pair per request (else every pair in one request)
  bool via_worker = false;   // each request through the Worker's fetch handler
  bool trace_scheduling = true;
};

constexpr const char* kUsage =
    "usage: cfsim_bench_storage <kv-requests|sql-requests|kv-worker-requests|sql-worker-requests|kv-inline|sql-inline> "
    "[--no-trace-scheduling]\n";

// The workload, or nullopt after saying what is wrong on stderr.
std::optional<Workload> parse_workload(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return std::nullopt;
  }
  Workload w;
  w.name = argv[1];
  if (w.name != "kv-requests" && w.name != "sql-requests" && w.name != "kv-worker-requests" && w.name != "sql-worker-requests" &&
      w.name != "kv-inline" && w.name != "sql-inline") {
    std::cerr << "cfsim_bench_storage: unknown workload '" << w.name << "'\n";
    return std::nullopt;
  }
  w.kv = w.name.rfind("kv-", 0) == 0;
  w.per_request = w.name.find("-requests") != std::string::npos;
  w.via_worker = w.name.find("-worker-") != std::string::npos;
  w.trace_scheduling = !(argc > 2 && std::string(argv[2]) == "--no-trace-scheduling");
  return w;
}

// The world of one run: the kernel, one object ("bench") and a Worker in front of it.
struct BenchWorld {
  explicit BenchWorld(const Workload& w)
      : sim(SimOptions{.trace_scheduling = w.trace_scheduling}),
        ns(sim, "BENCH", [](DurableObjectState& c) { return std::make_unique<BenchObject>(c); }, {}),
        stub(ns.get_by_name("bench")),
        worker(sim, [kv = w.kv](const Request& req, Env& env) {
          // The pair's index travels in the URL, the object's check comes back as the status.
          int i = std::stoi(req.path().substr(1));
          bool same = env.durable_object("BENCH").get_by_name("bench").call<BenchObject>(
              [&](BenchObject& o) { return kv ? o.kv_pair(i) : o.sql_pair(i); });
          return Response(same ? 200 : 409, "");
        }, worker_options()) {
    worker.env().bind("BENCH", ns);
  }
  static WorkerOptions worker_options() {
    WorkerOptions wo;
    wo.client_latency.median = Duration::zero();
    return wo;
  }
  // How many keys or rows the object holds at the end.
  int64_t final_count(bool kv) {
    ObjectStorage& s = ns.host(stub.id()).storage_engine();
    return kv ? static_cast<int64_t>(s.kv_key_count()) : std::get<int64_t>(s.exec("SELECT count(*) FROM t").one()[0]);
  }

  Simulator sim;
  DurableObjectNamespace ns;
  DurableObjectStub stub;
  Worker worker;
};

// The client fiber: every pair, the way the workload says; counts the pairs whose read missed.
void spawn_client(BenchWorld& b, const Workload& w, int& mismatches) {
  b.sim.spawn("client", [&b, &w, &mismatches, kv = w.kv] {
    if (w.via_worker) {
      for (int i = 0; i < kPairs; ++i) {
        Request req;
        req.url = "https://bench.example/" + std::to_string(i);
        if (b.worker.client_fetch(std::move(req)).status != 200) ++mismatches;
      }
    } else if (w.per_request) {
      for (int i = 0; i < kPairs; ++i)
        if (!b.stub.call<BenchObject>([&, i](BenchObject& o) { return kv ? o.kv_pair(i) : o.sql_pair(i); })) ++mismatches;
    } else {
      b.stub.call<BenchObject>([&](BenchObject& o) {
        for (int i = 0; i < kPairs; ++i)
          if (!(kv ? o.kv_pair(i) : o.sql_pair(i))) ++mismatches;
      });
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Workload> w = parse_workload(argc, argv);
  if (!w) return 2;
  BenchWorld b(*w);
  int mismatches = 0;
  auto start = Clock::now();
  spawn_client(b, *w, mismatches);
  RunResult r = b.sim.run();
  double wall = std::chrono::duration<double>(Clock::now() - start).count();

  const int64_t count = b.final_count(w->kv);
  const bool ok = mismatches == 0 && count == kDistinctIds && r.reason == StopReason::quiescent && r.failed.empty();
  rusage u{};
  getrusage(RUSAGE_SELF, &u);

  json out;
  out["workload"] = "storage-ops-" + w->name;
  out["pairs"] = kPairs;
  out["wall_s"] = wall;
  if (w->per_request) {
    out["requests_per_s"] = kPairs / wall;
    out["us_per_request"] = wall * 1e6 / kPairs;
  } else {
    out["storage_ops_per_s"] = 2.0 * kPairs / wall;
    out["ns_per_op"] = wall * 1e9 / (2.0 * kPairs);
  }
  out["sim_end_us"] = r.now.ns / 1000;
  out["sim_events"] = r.events;
  out["trace_hash"] = hash_hex(r.trace_hash);
  out["trace_scheduling"] = w->trace_scheduling;
  out["durability_latency_us"] = b.ns.options().durability_latency.ns / 1000;
  out["mismatches"] = mismatches;
  out["final_count"] = count;
  out["max_rss_kib"] = u.ru_maxrss;
  out["ok"] = ok;
  std::cout << out.dump() << std::endl;
  return ok ? 0 : 1;
}
