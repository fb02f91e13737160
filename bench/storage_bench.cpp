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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: cfsim_bench_storage <kv-requests|sql-requests|kv-worker-requests|sql-worker-requests|kv-inline|sql-inline> [--no-trace-scheduling]\n";
    return 2;
  }
  const std::string workload = argv[1];
  const bool kv = workload.rfind("kv-", 0) == 0;
  const bool per_request = workload.find("-requests") != std::string::npos;
  const bool via_worker = workload.find("-worker-") != std::string::npos;
  if (workload != "kv-requests" && workload != "sql-requests" && workload != "kv-worker-requests" &&
      workload != "sql-worker-requests" && workload != "kv-inline" && workload != "sql-inline") {
    std::cerr << "cfsim_bench_storage: unknown workload '" << workload << "'\n";
    return 2;
  }
  SimOptions opts;
  opts.trace_scheduling = !(argc > 2 && std::string(argv[2]) == "--no-trace-scheduling");
  Simulator sim(opts);
  DurableObjectNamespace ns(sim, "BENCH", [](DurableObjectState& c) { return std::make_unique<BenchObject>(c); }, {});
  auto stub = ns.get_by_name("bench");
  int mismatches = 0;
  // The Worker: the pair's index travels in the URL, the object's check comes back as the status.
  WorkerOptions wo;
  wo.client_latency.median = Duration::zero();
  Worker worker(sim, [kv](const Request& req, Env& env) {
    int i = std::stoi(req.path().substr(1));
    bool same = env.durable_object("BENCH").get_by_name("bench").call<BenchObject>(
        [&](BenchObject& o) { return kv ? o.kv_pair(i) : o.sql_pair(i); });
    return Response(same ? 200 : 409, "");
  }, wo);
  worker.env().bind("BENCH", ns);

  auto start = Clock::now();
  sim.spawn("client", [&] {
    if (via_worker) {
      for (int i = 0; i < kPairs; ++i) {
        Request req;
        req.url = "https://bench.example/" + std::to_string(i);
        if (worker.client_fetch(std::move(req)).status != 200) ++mismatches;
      }
    } else if (per_request) {
      for (int i = 0; i < kPairs; ++i)
        if (!stub.call<BenchObject>([&, i](BenchObject& o) { return kv ? o.kv_pair(i) : o.sql_pair(i); })) ++mismatches;
    } else {
      stub.call<BenchObject>([&](BenchObject& o) {
        for (int i = 0; i < kPairs; ++i)
          if (!(kv ? o.kv_pair(i) : o.sql_pair(i))) ++mismatches;
      });
    }
  });
  RunResult r = sim.run();
  double wall = std::chrono::duration<double>(Clock::now() - start).count();

  ObjectStorage& s = ns.host(stub.id()).storage_engine();
  int64_t count = kv ? static_cast<int64_t>(s.kv_key_count())
                     : std::get<int64_t>(s.exec("SELECT count(*) FROM t").one()[0]);
  bool ok = mismatches == 0 && count == kDistinctIds && r.reason == StopReason::quiescent && r.failed.empty();
  rusage u{};
  getrusage(RUSAGE_SELF, &u);

  json out;
  out["workload"] = "storage-ops-" + workload;
  out["pairs"] = kPairs;
  out["wall_s"] = wall;
  if (per_request) {
    out["requests_per_s"] = kPairs / wall;
    out["us_per_request"] = wall * 1e6 / kPairs;
  } else {
    out["storage_ops_per_s"] = 2.0 * kPairs / wall;
    out["ns_per_op"] = wall * 1e9 / (2.0 * kPairs);
  }
  out["sim_end_us"] = r.now.ns / 1000;
  out["sim_events"] = r.events;
  out["trace_hash"] = hash_hex(r.trace_hash);
  out["trace_scheduling"] = opts.trace_scheduling;
  out["durability_latency_us"] = ns.options().durability_latency.ns / 1000;
  out["mismatches"] = mismatches;
  out["final_count"] = count;
  out["max_rss_kib"] = u.ru_maxrss;
  out["ok"] = ok;
  std::cout << out.dump() << std::endl;
  return ok ? 0 : 1;
}
