// The platform guide's bad practice as a test (issue: containers): sessions kept on the container
// disk are lost at the first sleep; the same app keeping them in Durable Object storage is not
// (platform-facts §1.8, §8 items 11-12).
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §1.8 and §8 item 11: /containers/concepts/architecture/ (A1), /containers/faq/ (A3)
//   §8 item 12: /containers/platform-details/rollouts/ (A5), /containers/api/container-class/ (A8)
#include <gtest/gtest.h>

#include <set>

#include "scenarios/registry.h"
#include "testing/workload_hash.h"

using namespace cfsim;

namespace {

ScenarioResult run(std::string_view name, uint64_t seed, FaultMode faults = FaultMode::none) {
  ScenarioOptions o;
  o.seed = seed;
  o.faults = faults;
  return find_scenario(name)->run(o);
}

TEST(SessionsScenarios, SqliteOnDiskLosesSessionsAtTheFirstSleep_S1_8_S8_item11) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    ScenarioResult r = run("sqlite-on-disk", seed);
    EXPECT_FALSE(r.passed) << "seed " << seed << ": the disk should have been wiped by a sleep";
    EXPECT_NE(r.failure.find("acknowledged sessions were lost"), std::string::npos) << r.failure;
    ASSERT_EQ(r.report.size(), 2u);
    EXPECT_NE(r.report[0].find("a file on the container's disk"), std::string::npos);
  }
}

TEST(SessionsScenarios, SessionsInDurableObjectStorageSurviveEveryStop_S8_item12) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    ScenarioResult r = run("sessions-sql", seed);
    EXPECT_TRUE(r.passed) << "seed " << seed << ": " << r.failure;
    ASSERT_EQ(r.report.size(), 2u);
    EXPECT_NE(r.report[0].find(" 0 lost"), std::string::npos) << r.report[0];
    EXPECT_EQ(r.report[1].find("started 0 times"), std::string::npos) << "the container must have run: " << r.report[1];
  }
}

TEST(SessionsScenarios, SessionsInDurableObjectStorageSurviveSwarmFaults) {
  int container_faults = 0;
  for (uint64_t seed = 1; seed <= 15; ++seed) {
    ScenarioResult r = run("sessions-sql", seed, FaultMode::swarm);
    EXPECT_TRUE(r.passed) << "seed " << seed << ": " << r.failure;
    for (const auto& a : r.plan.actions) container_faults += a.verb == "container-crash" || a.verb == "container-restart-host";
  }
  EXPECT_GT(container_faults, 0) << "swarm never stopped a container: the test would prove nothing";
}

}  // namespace

namespace {

// Determinism of the whole platform model: 100 seeds x 2 runs of a mixed workload (Worker, Durable
// Object storage, container lifecycle, disk, network) with seed-drawn faults; identical hashes.
TEST(SessionsScenarios, HundredSeedsTwiceGiveIdenticalHashesUnderRandomFaults) {
  const Scenario* s = find_scenario("sessions-sql");
  std::set<uint64_t> distinct;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    ScenarioOptions o;
    o.seed = seed;
    o.faults = FaultMode::swarm;
    ScenarioResult b = s->run(o);
    auto workload = std::make_shared<testing_support::WorkloadHashSink>();  // the trace hash covers the seed
    o.sinks = {workload};
    ScenarioResult a = s->run(o);
    ASSERT_EQ(a.trace_hash, b.trace_hash) << "seed " << seed;
    distinct.insert(workload->hash());
  }
  EXPECT_EQ(distinct.size(), 100u) << "different seeds should take different paths (workloads, not headers)";
}

}  // namespace
