// The IoContext abort (§1.2, W2 monitorOnBackgroundIfNeeded): an unmonitored container that dies
// with a runtime error resets its object; a monitored one, an exit code or an inactive object do
// not, and the SDK class (which always monitors) never is. The app and world: raw_runtime_fixture.h.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §1.2 IoContext abort: cloudflare/workerd src/workerd/api/container.c++ monitorOnBackgroundIfNeeded (W2);
//     superseded at workerd 6552d999c79e, src/workerd/server/container-client.c++ (W4)
//   §1.3 the SDK monitors: @cloudflare/containers@0.3.7 dist/lib/container.js setupMonitorCallbacks
#include <gtest/gtest.h>

#include "raw_runtime_fixture.h"
#include "model/containers/faults.h"
#include "testing/bare_faults.h"

using namespace std::chrono_literals;

namespace cfsim::raw_runtime_test {
namespace {

// --- the IoContext abort (§1.2, W2 monitorOnBackgroundIfNeeded) --------------------------------------------

DurableObjectOptions long_lived() {
  DurableObjectOptions o;
  o.idle_eviction_after = 10h;  // the object stays constructed
  return o;
}

TEST(Abort, UnmonitoredRuntimeErrorResetsTheObject_S1_2) {
  World w(long_lived());
  std::pair<int, std::string> started, in_flight;
  w.send("a", "/start", Time::zero(), &started);
  w.send("a", "/wait", at(20s), &in_flight);  // inside the object when the container dies
  w.sim.call_at(at(30s), [&] { w.rt("a").platform_stop(false); });  // restart-host: SIGTERM, no handler
  w.run_until(at(5min));
  EXPECT_EQ(started.first, 200);
  const std::string error = "Runtime signalled the container to exit: 143";
  ASSERT_EQ(w.records("container", "abort").size(), 1u);
  EXPECT_EQ(w.records("container", "abort")[0].time, at(30s));
  ASSERT_EQ(w.records("do", "reset").size(), 1u);
  EXPECT_EQ(w.records("do", "reset")[0].field_text("reason"), error);
  EXPECT_EQ(in_flight, std::make_pair(-1, error)) << "the request in flight fails with the container's error";
  EXPECT_EQ(w.host("a").incarnation(), 1u);
}

TEST(Abort, NotWhenMonitoredNotForAProcessExitNotWhenInactive_S1_2) {
  World w(long_lived());
  w.send("monitored", "/start-monitored", Time::zero());
  w.sim.call_at(at(30s), [&] { w.rt("monitored").platform_stop(false); });
  w.send("exit3", "/start-exit3", Time::zero());  // exits 3 by itself at 22 s
  w.run_until(at(5min));
  EXPECT_EQ(w.rt("monitored").last_exit()->exit_code, 143);
  EXPECT_EQ(w.rt("exit3").last_exit()->exit_code, 3);
  EXPECT_TRUE(w.records("container", "abort").empty());
  EXPECT_TRUE(w.records("do", "reset").empty()) << "monitor() called, or an exit code rather than a runtime error";

  World v;  // evicted 10 s after its request: no IoContext to abort
  v.send("a", "/start", Time::zero());
  v.sim.call_at(at(30s), [&] { v.rt("a").platform_stop(false); });
  v.run_until(at(5min));
  ASSERT_EQ(v.records("container", "unmonitored_error").size(), 1u);
  EXPECT_EQ(v.records("container", "unmonitored_error")[0].field_text("object_constructed"), "false");
  EXPECT_TRUE(v.records("container", "abort").empty());
}

TEST(Abort, TheSdkClassAlwaysMonitorsSoItIsNeverReset_S1_2) {
  World w(long_lived());
  FaultInjector faults(w.sim);
  register_container_faults(faults, w.platform, testing_support::any_instance_of({&w.raw, &w.sdk}), w.fault_knobs);
  FaultPlan plan;
  plan.add(FaultAction{at(30s), "container-restart-host", "SDK/a", {}});
  faults.apply(plan);
  w.sim.spawn("client", [&] { w.sdk.get_by_name("a").fetch(Request{"GET", "http://app/", {}, ""}); });
  w.run_until(at(5min));
  EXPECT_EQ(w.platform.runtime(w.sdk.id_from_name("a")).last_exit()->exit_code, 143);
  EXPECT_TRUE(w.records("container", "abort").empty());
  EXPECT_TRUE(w.records("container", "unmonitored_error").empty());
  EXPECT_EQ(w.sdk.host(w.sdk.id_from_name("a")).constructions(), 1u);
}

}  // namespace
}  // namespace cfsim::raw_runtime_test
