// sim/timer.h: a one-shot timer keeps its event and its armed flag together.
#include "sim/timer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

using namespace cfsim;
using namespace std::chrono_literals;

TEST(Timer, FiresOnceAtItsTimeThenIsDisarmed) {
  Simulator sim;
  Timer t(sim);
  std::vector<Time> fired;
  EXPECT_FALSE(t.armed());
  t.arm_after(5s, [&] {
    EXPECT_FALSE(t.armed()) << "disarmed before its callback runs";
    fired.push_back(sim.now());
  });
  EXPECT_TRUE(t.armed());
  EXPECT_EQ(t.due(), Time::zero() + 5s);
  sim.run();
  EXPECT_EQ(fired, std::vector<Time>{Time::zero() + 5s});
  EXPECT_FALSE(t.armed());
  EXPECT_FALSE(t.cancel());
}

TEST(Timer, ArmingAgainReplacesCancelStopsAndTheCallbackMayRearm) {
  Simulator sim;
  Timer t(sim);
  std::vector<std::string> fired;
  t.arm_after(5s, [&] { fired.push_back("first"); });
  t.arm_after(7s, [&] { fired.push_back("second"); });  // replaces the first
  sim.run(RunLimits{.until = Time::zero() + 6s});
  EXPECT_TRUE(fired.empty());
  EXPECT_TRUE(t.cancel());
  EXPECT_FALSE(t.armed());
  int ticks = 0;
  std::function<void()> tick = [&] {
    if (++ticks < 3) t.arm_after(1s, tick);
  };
  t.arm_after(1s, tick);
  sim.run();
  EXPECT_TRUE(fired.empty());
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(sim.now(), Time::zero() + 9s) << "6 s, then three ticks of 1 s";
}

TEST(Timer, DestroyingATimerCancelsIt) {
  Simulator sim;
  bool fired = false;
  {
    Timer t(sim);
    t.arm_after(1s, [&] { fired = true; });
  }
  sim.run();
  EXPECT_FALSE(fired);
}
