// The long-run world (scenarios/long_run.h) keeps a flat footprint: over a few simulated hours,
// the counts that would grow with a leak (live fibers, queued events, the callback table, fiber
// stacks, objects, requests in flight, storage pages) grow by less than a small bound per hour,
// measured on the hour marks, where every hour is in the same phase (clients about to start, every
// container asleep). Counts, not RSS: they are deterministic, so the bounds can be tight.

#include <gtest/gtest.h>

#include "scenarios/long_run.h"
#include "scenarios/registry.h"

using namespace cfsim;

namespace {

constexpr int kHours = 6;

LongRunOutcome run_hours(int hours, uint64_t seed = 1) {
  const Scenario* s = find_scenario("long-run");
  EXPECT_NE(s, nullptr);
  ScenarioOptions o;
  o.seed = seed;
  o.until = Duration::seconds(int64_t{3600} * hours);
  return run_long_run(*s, o);
}

// Growth per simulated hour of one count, from the hour-2 mark (the first hour warms up: tables,
// caches, the stack pool) to the last hour mark.
template <class F>
double growth_per_hour(const std::vector<LongRunFootprint>& hours, F count) {
  const LongRunFootprint& a = hours[1];
  const LongRunFootprint& b = hours[hours.size() - 2];  // the last entry is the run's end, not a mark
  return (static_cast<double>(count(b)) - static_cast<double>(count(a))) / static_cast<double>((b.at - a.at) / Duration::seconds(3600));
}

}  // namespace

TEST(LongRun, FootprintStaysFlatHourAfterHour) {
  LongRunOutcome r = run_hours(kHours);
  ASSERT_TRUE(r.result.passed) << r.result.failure;
  ASSERT_EQ(r.hours.size(), static_cast<size_t>(kHours)) << "one footprint per hour mark, then one at the end";
  const auto& h = r.hours;
  EXPECT_LE(growth_per_hour(h, [](const auto& f) { return f.live_fibers; }), 0.0);
  EXPECT_LE(growth_per_hour(h, [](const auto& f) { return f.queued_events; }), 2.0);
  EXPECT_LE(growth_per_hour(h, [](const auto& f) { return f.callback_slots; }), 2.0);
  EXPECT_LE(growth_per_hour(h, [](const auto& f) { return f.fiber_stacks; }), 1.0);
  EXPECT_LE(growth_per_hour(h, [](const auto& f) { return f.requests_in_flight; }), 0.0);
  EXPECT_LE(growth_per_hour(h, [](const auto& f) { return f.storage_pages; }), 1.0);
  for (size_t i = 1; i + 1 < h.size(); ++i) {
    EXPECT_EQ(h[i].object_hosts, h[0].object_hosts) << "hour mark " << i + 1;
    EXPECT_EQ(h[i].live_fibers, h[1].live_fibers) << "hour mark " << i + 1;
  }
}

TEST(LongRun, EveryHourDoesTheSameWork) {
  // Enough events per hour that 100 hours are more than 10^7 (the bench figure), and every
  // container sleeps and starts again each hour, so the lifecycle is exercised, not just requests.
  LongRunOutcome r = run_hours(3);
  ASSERT_TRUE(r.result.passed) << r.result.failure;
  const auto& h = r.hours;
  ASSERT_EQ(h.size(), 3u);
  for (size_t i = 1; i < h.size(); ++i) {
    EXPECT_GT(h[i].events - h[i - 1].events, 100'000u) << "hour " << i + 1;
    EXPECT_EQ(h[i].container_starts - h[i - 1].container_starts, 4u) << "every shard cold-starts once an hour";
  }
}

TEST(LongRun, TheDefaultRunPassesUnderSwarmFaults) {
  const Scenario* s = find_scenario("long-run");
  ASSERT_NE(s, nullptr);
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    ScenarioOptions o;
    o.seed = seed;
    o.faults = FaultMode::swarm;
    ScenarioResult r = s->run(o);
    EXPECT_TRUE(r.passed) << "seed " << seed << ": " << r.failure;
  }
}
