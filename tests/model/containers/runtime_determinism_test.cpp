// The raw runtime under random cold starts (exec, timeouts, a rollout): the same seed gives the
// same trace. The app and world: raw_runtime_fixture.h.
#include <gtest/gtest.h>

#include "testing/workload_hash.h"

#include "raw_runtime_fixture.h"

using namespace std::chrono_literals;

namespace cfsim::raw_runtime_test {
namespace {

// --- determinism -------------------------------------------------------------------------------------------

TEST(ContainerRuntimeMore, SameSeedSameTrace) {
  auto run = [](uint64_t seed) {
    ContainerPlatformOptions o;  // the default, random cold starts
    World w({}, o, seed);
    w.platform.add_image_version("RAW", make_image("v2"));
    w.send("a", "/start-idle60", Time::zero());
    w.start_raw("b", Time::zero(), {{"ON_TERM", "exit-after-5s"}}, 20min);
    w.start_raw("c", Time::zero(), {{"ON_TERM", "exit-after-5s"}});
    w.sim.call_at(at(10s), [&] { w.rt("b").exec({"sleep", "30"}); });
    w.sim.call_at(at(5min), [&] { w.platform.rollout("RAW", "v2"); });
    w.run_until(at(1h));
    // The workload, not the trace hash: the header holds the seed, so trace hashes always differ.
    return testing_support::workload_hash(w.sink->records);
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8)) << "the seed drives the cold starts";
}

}  // namespace
}  // namespace cfsim::raw_runtime_test
