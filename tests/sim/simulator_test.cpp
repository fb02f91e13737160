#include "sim/simulator.h"

#include <gtest/gtest.h>

#include <chrono>

#include "sim/sync.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

TEST(Simulator, SleepResumesAtExactlyNowPlusDuration) {
  Simulator sim;
  std::vector<int64_t> woke;
  sim.spawn("a", [&] {
    sim.sleep_for(300ms);
    woke.push_back(sim.now().ns);
    sim.sleep_for(10min);
    woke.push_back(sim.now().ns);
  });
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::quiescent);
  ASSERT_EQ(woke.size(), 2u);
  EXPECT_EQ(woke[0], 300'000'000);
  EXPECT_EQ(woke[1], 300'000'000 + 600'000'000'000);
  EXPECT_EQ(r.now.ns, woke[1]);
}

TEST(Simulator, SameInstantEventsRunFifo) {
  Simulator sim;
  std::string order;
  for (char c : std::string("abcde")) sim.spawn(std::string(1, c), [&, c] { sim.sleep_for(1s); order += c; });
  sim.run();
  EXPECT_EQ(order, "abcde");
}

TEST(Simulator, KillUnwindsAndSkipsRest) {
  Simulator sim;
  bool after = false, destroyed = false;
  struct Flag {
    bool* b;
    ~Flag() { *b = true; }
  };
  auto victim = sim.spawn("victim", [&] {
    Flag f{&destroyed};
    sim.sleep_for(1h);
    after = true;
  });
  sim.spawn("killer", [&] {
    sim.sleep_for(1s);
    sim.kill(victim);
  });
  RunResult r = sim.run();
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(after);
  EXPECT_EQ(victim.state(), FiberState::killed);
  EXPECT_EQ(r.now.ns, 1'000'000'000);  // the victim's timer went stale: time did not jump to 1h
}

TEST(Simulator, ExceptionGoesToJoiner) {
  Simulator sim;
  std::string caught;
  sim.spawn("parent", [&] {
    auto child = sim.spawn("child", [&] {
      sim.sleep_for(5ms);
      throw std::runtime_error("boom");
    });
    try {
      child.join();
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  });
  RunResult r = sim.run();
  EXPECT_EQ(caught, "boom");
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_EQ(r.failed[0].name, "child");
}

TEST(Simulator, DeadlockNamesBlockedFibers) {
  Simulator sim;
  Channel<int> ch(sim, "mailbox");
  sim.spawn("reader", [&] { ch.recv(); });
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::deadlock);
  ASSERT_EQ(r.blocked.size(), 1u);
  EXPECT_EQ(r.blocked[0].name, "reader");
  EXPECT_EQ(r.blocked[0].waiting_on, "channel recv 'mailbox'");
}

TEST(Simulator, ChannelTimeoutAndPingPong) {
  Simulator sim;
  Channel<int> a(sim, "a"), b(sim, "b");
  int64_t sum = 0;
  WaitStatus st = WaitStatus::ok;
  sim.spawn("A", [&] {
    st = a.recv_for(2s).status;
    for (int i = 1; i <= 100; ++i) {
      b.send(i);
      sum += *a.recv();
    }
  });
  sim.spawn("B", [&] {
    for (int i = 0; i < 100; ++i) a.send(*b.recv());
  });
  RunResult r = sim.run();
  EXPECT_EQ(st, WaitStatus::timeout);
  EXPECT_EQ(sum, 5050);
  EXPECT_EQ(r.now.ns, 2'000'000'000);
  EXPECT_EQ(r.reason, StopReason::quiescent);
}

TEST(Simulator, BlockingOutsideFiberIsAnError) {
  Simulator sim;
  EXPECT_THROW(sim.sleep_for(1s), SimError);
  EXPECT_THROW(sim.yield(), SimError);
}

}  // namespace
