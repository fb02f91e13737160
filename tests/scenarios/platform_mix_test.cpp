// platform-mix: orders, streamed reports and WebSocket echoes through one Worker under container,
// Durable Object and network faults (issue: containers; platform-facts §3, §1.5, §8 items 8, 12, 18).
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §3, §8 item 18: https://github.com/cloudflare/workerd/issues/2319; @cloudflare/containers@0.3.7
//     dist/lib/container.js containerFetch
//   §1.5, §8 item 8: container.js renewActivityTimeout, decrementInflight, isActivityExpired
//   §8 item 12: /containers/platform-details/rollouts/ (A5), /containers/api/container-class/ (A8)
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "scenarios/registry.h"
#include "sim/trace.h"
#include "testing/workload_hash.h"

using namespace cfsim;

namespace {

struct MixRun {
  ScenarioResult result;
  std::map<std::string, int64_t> counts;  // the fields of the closing "check mix" record
  uint64_t workload_hash = 0;             // every record but the header (which holds the seed)
};

MixRun run_mix(uint64_t seed, FaultMode faults) {
  auto sink = std::make_shared<MemorySink>();
  ScenarioOptions o;
  o.seed = seed;
  o.faults = faults;
  o.sinks = {sink};
  MixRun out;
  out.result = find_scenario("platform-mix")->run(o);
  out.workload_hash = testing_support::workload_hash(sink->records);
  for (const Record& r : sink->records)
    if (r.category == "check" && r.name == "mix")
      for (const auto& [k, v] : r.fields)
        if (const auto* n = std::get_if<int64_t>(&v)) out.counts[k] = *n;
  return out;
}

TEST(PlatformMix, WithoutFaultsEverythingArrives) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    MixRun r = run_mix(seed, FaultMode::none);
    EXPECT_TRUE(r.result.passed) << "seed " << seed << ": " << r.result.failure;
    EXPECT_EQ(r.counts["orders_acked"], 15) << "seed " << seed;
    EXPECT_EQ(r.counts["reports_whole"], 18) << "seed " << seed;
    EXPECT_EQ(r.counts["reports_broken"], 0) << "seed " << seed;
    EXPECT_EQ(r.counts["echoes"], 24) << "seed " << seed;
    EXPECT_EQ(r.counts["sockets_dropped"], 0) << "seed " << seed;
  }
}

// 100 seeds x 2 runs with seed-drawn faults: every run keeps the invariants, the same seed gives
// the same trace hash, and the faults do bite (bodies cut, sockets dropped, orders refused), so
// the invariants were tested against real failures.
TEST(PlatformMix, HundredSeedsTwiceUnderRandomFaultsKeepTheInvariantsWithIdenticalHashes) {
  std::set<uint64_t> distinct;
  int64_t broken = 0, dropped = 0, acked = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    MixRun a = run_mix(seed, FaultMode::swarm), b = run_mix(seed, FaultMode::swarm);
    EXPECT_TRUE(a.result.passed) << "seed " << seed << ": " << a.result.failure;
    EXPECT_EQ(a.result.trace_hash, b.result.trace_hash) << "seed " << seed;
    EXPECT_EQ(a.counts, b.counts) << "seed " << seed;
    distinct.insert(a.workload_hash);
    broken += a.counts["reports_broken"];
    dropped += a.counts["sockets_dropped"];
    acked += a.counts["orders_acked"];
  }
  EXPECT_EQ(distinct.size(), 100u) << "different seeds should give different runs (workloads, not headers)";
  EXPECT_GT(broken, 0) << "no streamed body was ever cut by a stop";
  EXPECT_GT(dropped, 0) << "no WebSocket was ever closed under its client";
  EXPECT_LT(acked, 1500) << "no order ever failed: the payment faults never bit";
}

}  // namespace
