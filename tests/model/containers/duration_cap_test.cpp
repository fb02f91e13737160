// Durations that would overflow virtual time (kMaxContainerDuration): a hard timeout, an
// inactivity timeout, a rollout grace period or a platform option above the cap is rejected before
// anything changes; at the cap everything works. The app and world: raw_runtime_fixture.h.
#include <gtest/gtest.h>

#include "raw_runtime_fixture.h"

using namespace std::chrono_literals;

namespace cfsim::raw_runtime_test {
namespace {

// --- limits: durations that would overflow virtual time ------------------------------------------------------

TEST(Limits, DurationsAboveTheCapAreRejectedBeforeAnythingChanges) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  ContainerRuntime& rt = w.rt("cap");
  const std::string cap = format_duration(kMaxContainerDuration);
  for (Duration bad : {kMaxContainerDuration + Duration::nanos(1), Duration::max()}) {
    ContainerStartOptions o;
    o.hard_timeout = bad;
    std::string msg;
    try {
      rt.start(o);
    } catch (const std::out_of_range& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find(format_duration(bad)), std::string::npos) << msg;
    EXPECT_NE(msg.find(cap), std::string::npos) << msg;
    EXPECT_FALSE(rt.running()) << "a refused start leaves the runtime stopped";
    EXPECT_EQ(rt.start_count(), 0u);
    EXPECT_EQ(w.platform.running_instances("RAW"), 0);
  }
  // At the cap everything is accepted, and the run works as usual.
  w.sim.call_at(at(1s), [&] {
    ContainerStartOptions ok;
    ok.hard_timeout = kMaxContainerDuration;
    rt.start(ok);
    rt.set_inactivity_timeout(kMaxContainerDuration);
  });
  w.sim.call_at(at(30s), [&] { w.platform.rollout("RAW", "v2", RolloutOptions{{100}, kMaxContainerDuration}); });
  w.run_until(at(1min));
  EXPECT_TRUE(rt.running());
  EXPECT_EQ(rt.start_count(), 1u);
  EXPECT_EQ(w.platform.running_instances("RAW"), 1);
  EXPECT_EQ(w.times("container", "rollout_grace_wait"), (std::vector<Time>{at(30s)}));
  EXPECT_TRUE(w.platform.rollout_in_progress("RAW"));

  std::string msg;
  try {
    rt.set_inactivity_timeout(Duration::max());
  } catch (const std::invalid_argument& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(cap), std::string::npos) << msg;
  EXPECT_EQ(rt.inactivity_timeout(), kMaxContainerDuration) << "the refused value did not replace the setting";
  EXPECT_THROW(w.platform.rollout("RAW", "v1", RolloutOptions{{100}, kMaxContainerDuration + Duration::nanos(1)}),
               std::invalid_argument);
  EXPECT_EQ(w.platform.current_version("RAW"), "v2") << "the refused rollout changed nothing";
  for (Duration* (*field)(ContainerPlatformOptions&) :
       {+[](ContainerPlatformOptions& o) { return &o.cold_start.median; }, +[](ContainerPlatformOptions& o) { return &o.hop_latency; },
        +[](ContainerPlatformOptions& o) { return &o.stop_grace_period; }}) {
    ContainerPlatformOptions po = exact_options();
    *field(po) = Duration::max();
    EXPECT_THROW(ContainerPlatform(w.sim, w.net, po), std::invalid_argument);
  }
}

}  // namespace
}  // namespace cfsim::raw_runtime_test
