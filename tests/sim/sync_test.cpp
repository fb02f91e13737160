// Promise/future, channel, event and mutex in virtual time. Every blocking call is checked at the
// exact virtual time it returns, and every misuse for a clear message.
#include "sim/sync.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kMs = 1'000'000;

Time at_ms(int64_t ms) { return Time::from_ns(ms * kMs); }

template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(WaitStatus, Names) {
  EXPECT_STREQ(to_string(WaitStatus::ok), "ok");
  EXPECT_STREQ(to_string(WaitStatus::timeout), "timeout");
  EXPECT_STREQ(to_string(WaitStatus::closed), "closed");
}

// --- promise / future --------------------------------------------------------------------------------

TEST(Future, GetBlocksUntilTheValueIsSetAndEveryWaiterGetsACopy) {
  Simulator sim;
  Promise<std::string> p(sim, "greeting");
  std::vector<std::pair<std::string, int64_t>> got;
  for (int i = 0; i < 3; ++i)
    sim.spawn("waiter", [&, f = p.future()]() mutable {
      std::string v = f.get();
      got.push_back({v, sim.now().ns});
    });
  sim.spawn("setter", [&] {
    sim.sleep_for(2500ms);
    EXPECT_FALSE(p.ready());
    p.set_value("hello");
    EXPECT_TRUE(p.ready());
  });
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::quiescent);
  std::vector<std::pair<std::string, int64_t>> want(3, {"hello", 2500 * kMs});
  EXPECT_EQ(got, want);
}

TEST(Future, AStoredExceptionIsRethrownToEveryGetter) {
  Simulator sim;
  Promise<int> p(sim, "p");
  std::vector<std::string> errors;
  std::vector<int64_t> at;
  for (int i = 0; i < 2; ++i)
    sim.spawn("getter", [&] {
      try {
        p.future().get();
      } catch (const std::runtime_error& e) {
        errors.push_back(e.what());
        at.push_back(sim.now().ns);
      }
    });
  sim.spawn("setter", [&] {
    sim.sleep_for(1s);
    p.set_exception(std::make_exception_ptr(std::runtime_error("upstream 503")));
  });
  sim.run();
  EXPECT_EQ(errors, (std::vector<std::string>{"upstream 503", "upstream 503"}));
  EXPECT_EQ(at, (std::vector<int64_t>{kSec, kSec}));
  Future<int> f = p.future();
  EXPECT_TRUE(f.ready());
  EXPECT_THROW(f.get(), std::runtime_error);  // ready: works even outside a fiber
}

TEST(Future, WaitUntilTimesOutAtTheDeadlineThenGetStillWorks) {
  Simulator sim;
  Promise<int> p(sim, "slow");
  bool first = true;
  int64_t timed_out_at = -1, got_at = -1;
  int v = 0;
  sim.spawn("waiter", [&] {
    Future<int> f = p.future();
    first = f.wait_until(at_ms(700));
    timed_out_at = sim.now().ns;
    EXPECT_TRUE(f.wait_for(10s));  // ready at 2 s, well before 10.7 s
    v = f.get();
    got_at = sim.now().ns;
  });
  sim.spawn("setter", [&] {
    sim.sleep_for(2s);
    p.set_value(17);
  });
  RunResult r = sim.run();
  EXPECT_FALSE(first);
  EXPECT_EQ(timed_out_at, 700 * kMs);
  EXPECT_EQ(v, 17);
  EXPECT_EQ(got_at, 2 * kSec);
  EXPECT_EQ(r.now.ns, 2 * kSec);  // the 10 s deadline's timer went stale: time did not jump there
}

TEST(Future, WaitWithAPastDeadlineTimesOutWithoutSuspending) {
  Simulator sim;
  Promise<int> p(sim);
  std::string order;
  sim.spawn("a", [&] {
    sim.sleep_for(1s);
    EXPECT_FALSE(p.future().wait_until(at_ms(500)));
    EXPECT_FALSE(p.future().wait_for(0ns));
    EXPECT_FALSE(p.future().wait_for(-1s));
    order += "a";
  });
  sim.spawn("b", [&] {
    sim.sleep_for(1s);
    order += "b";
  });
  sim.run();
  EXPECT_EQ(order, "ab");
  EXPECT_EQ(sim.now().ns, kSec);
}

TEST(Future, AReadyFutureNeverBlocks) {
  Simulator sim;
  Promise<int> p(sim);
  p.set_value(3);
  std::string order;
  sim.spawn("a", [&] {
    Future<int> f = p.future();
    EXPECT_EQ(f.get(), 3);
    EXPECT_TRUE(f.wait_until(Time::zero()));
    EXPECT_TRUE(f.wait_for(1h));
    EXPECT_EQ(f.get(), 3);  // get() may be called again: futures are shared
    order += "a";
  });
  sim.spawn("b", [&] { order += "b"; });
  sim.run();
  EXPECT_EQ(order, "ab");  // a never suspended, so b could not run in between
  EXPECT_EQ(sim.now().ns, 0);
  EXPECT_EQ(p.future().get(), 3);  // and outside a fiber, too
}

TEST(Future, SettingTwiceIsAnErrorNamingThePromise) {
  Simulator sim;
  Promise<int> p(sim, "reply");
  p.set_value(1);
  std::string msg = message_of<SimError>([&] { p.set_value(2); });
  EXPECT_TRUE(contains(msg, "promise 'reply' is already satisfied")) << msg;
  EXPECT_THROW(p.set_exception(std::make_exception_ptr(std::runtime_error("x"))), SimError);
  EXPECT_EQ(p.future().get(), 1);  // the first value stands

  Promise<int> q(sim, "q");
  q.set_exception(std::make_exception_ptr(std::runtime_error("x")));
  EXPECT_THROW(q.set_value(1), SimError);
}

TEST(Future, AnEmptyFutureIsAnErrorNotACrash) {
  Future<int> f;
  EXPECT_FALSE(f.valid());
  EXPECT_FALSE(f.ready());
  EXPECT_TRUE(contains(message_of<SimError>([&] { f.get(); }), "no shared state"));
  EXPECT_TRUE(contains(message_of<SimError>([&] { f.wait_until(Time::zero()); }), "no shared state"));
  EXPECT_TRUE(contains(message_of<SimError>([&] { f.wait_for(1s); }), "no shared state"));
}

TEST(Future, GetOfAnUnreadyFutureOutsideAFiberIsAnError) {
  Simulator sim;
  Promise<int> p(sim, "p");
  EXPECT_TRUE(contains(message_of<SimError>([&] { p.future().get(); }), "outside a fiber"));
}

TEST(Future, AHugeWaitForMeansForever) {
  Simulator sim;
  Promise<int> p(sim, "p");
  bool ok = false;
  sim.spawn("w", [&] {
    sim.sleep_for(1s);
    ok = p.future().wait_for(Duration::max());  // now + max would overflow: it must not wrap
  });
  sim.call_at(at_ms(5000), [&] { p.set_value(1); });
  sim.run();
  EXPECT_TRUE(ok);
  EXPECT_EQ(sim.now().ns, 5 * kSec);
}

// --- channel --------------------------------------------------------------------------------------------

TEST(Channel, CapacityZeroIsAnErrorNamingTheChannel) {
  Simulator sim;
  std::string msg = message_of<SimError>([&] { Channel<int> c(sim, "pipe", 0); });
  EXPECT_TRUE(contains(msg, "channel 'pipe'")) << msg;
  EXPECT_TRUE(contains(msg, "capacity must be at least 1 (got 0)")) << msg;
}

TEST(Channel, UnboundedSendsNeverBlockAndArriveInOrder) {
  Simulator sim;
  Channel<int> ch(sim, "ch");
  std::vector<int> got;
  sim.spawn("sender", [&] {
    for (int i = 0; i < 1000; ++i) ch.send(i);
    EXPECT_EQ(sim.now().ns, 0);
    EXPECT_EQ(ch.size(), 1000u);
  });
  sim.spawn("receiver", [&] {
    sim.sleep_for(1s);
    while (auto v = ch.try_recv()) got.push_back(*v);
  });
  sim.run();
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[i], i);
}

TEST(Channel, ABoundedChannelBlocksTheSenderWhileFull) {
  Simulator sim;
  Channel<int> ch(sim, "bounded", 2);
  std::vector<int64_t> sent_at;
  std::vector<std::pair<int, int64_t>> got;
  sim.spawn("sender", [&] {
    for (int i = 0; i < 5; ++i) {
      ch.send(i);
      sent_at.push_back(sim.now().ns);
    }
    ch.close();
  });
  sim.spawn("receiver", [&] {
    for (;;) {
      sim.sleep_for(1s);
      auto v = ch.recv();
      if (!v) break;
      got.push_back({*v, sim.now().ns});
    }
  });
  sim.run();
  // Two fit at once; each later send waits for the receive that makes room (1 s, 2 s, 3 s).
  EXPECT_EQ(sent_at, (std::vector<int64_t>{0, 0, kSec, 2 * kSec, 3 * kSec}));
  EXPECT_EQ(got, (std::vector<std::pair<int, int64_t>>{{0, kSec}, {1, 2 * kSec}, {2, 3 * kSec}, {3, 4 * kSec}, {4, 5 * kSec}}));
}

TEST(Channel, BlockedSendersAndReceiversAreServedFifo) {
  Simulator sim;
  Channel<std::string> ch(sim, "ch", 1);
  std::vector<std::string> got;
  ch.try_send("first");
  for (std::string who : {"s1", "s2", "s3"})
    sim.spawn(who, [&, who] { ch.send(who); });
  sim.spawn("receiver", [&] {
    sim.sleep_for(1s);
    for (int i = 0; i < 4; ++i) got.push_back(*ch.recv());
  });
  sim.run();
  EXPECT_EQ(got, (std::vector<std::string>{"first", "s1", "s2", "s3"}));

  Simulator sim2;
  Channel<int> in(sim2, "in");
  std::vector<std::pair<std::string, int>> by;
  for (std::string who : {"r1", "r2", "r3"})
    sim2.spawn(who, [&, who] { by.push_back({who, *in.recv()}); });
  sim2.spawn("sender", [&] {
    sim2.sleep_for(1s);
    for (int i = 10; i < 13; ++i) in.send(i);
  });
  sim2.run();
  EXPECT_EQ(by, (std::vector<std::pair<std::string, int>>{{"r1", 10}, {"r2", 11}, {"r3", 12}}));
}

TEST(Channel, CloseLetsReceiversDrainThenReportsClosed) {
  Simulator sim;
  Channel<int> ch(sim, "jobs");
  std::vector<int> got;
  WaitStatus last = WaitStatus::ok;
  int64_t ended_at = -1;
  sim.spawn("producer", [&] {
    for (int i = 1; i <= 3; ++i) ch.send(i);
    ch.close();
    EXPECT_TRUE(ch.closed());
  });
  sim.spawn("consumer", [&] {
    sim.sleep_for(1s);
    while (auto v = ch.recv()) got.push_back(*v);
    last = ch.recv_for(1h).status;  // closed and empty: at once, no timeout wait
    ended_at = sim.now().ns;
  });
  sim.run();
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(last, WaitStatus::closed);
  EXPECT_EQ(ended_at, kSec);
}

TEST(Channel, CloseWakesBlockedReceiversWithClosed) {
  Simulator sim;
  Channel<int> ch(sim, "ch");
  std::vector<std::pair<WaitStatus, int64_t>> ends;
  sim.spawn("r1", [&] { ends.push_back({ch.recv_until(Time::max()).status, sim.now().ns}); });
  sim.spawn("r2", [&] { ends.push_back({ch.recv_for(1h).status, sim.now().ns}); });
  std::optional<int> plain = 5;
  sim.spawn("r3", [&] { plain = ch.recv(); });
  sim.call_after(3s, [&] { ch.close(); });
  RunResult r = sim.run();
  EXPECT_EQ(ends, (std::vector<std::pair<WaitStatus, int64_t>>{{WaitStatus::closed, 3 * kSec}, {WaitStatus::closed, 3 * kSec}}));
  EXPECT_EQ(plain, std::nullopt);
  EXPECT_EQ(r.now.ns, 3 * kSec);
}

TEST(Channel, SendOnAClosedChannelThrowsChannelClosed) {
  Simulator sim;
  Channel<int> ch(sim, "outbox", 1);
  std::string msg;
  WaitStatus until_status = WaitStatus::ok;
  bool try_result = true;
  sim.spawn("s", [&] {
    ch.close();
    msg = message_of<ChannelClosed>([&] { ch.send(1); });
    until_status = ch.send_until(1, Time::max());
    try_result = ch.try_send(1);
  });
  sim.run();
  EXPECT_TRUE(contains(msg, "send on closed channel 'outbox'")) << msg;
  EXPECT_EQ(until_status, WaitStatus::closed);
  EXPECT_FALSE(try_result);
  EXPECT_EQ(ch.size(), 0u);
}

TEST(Channel, CloseWakesBlockedSendersWithChannelClosed) {
  Simulator sim;
  Channel<int> ch(sim, "ch", 1);
  std::string msg;
  int64_t at = -1;
  sim.spawn("s", [&] {
    ch.send(1);
    msg = message_of<ChannelClosed>([&] { ch.send(2); });
    at = sim.now().ns;
  });
  sim.call_after(4s, [&] { ch.close(); });
  sim.run();
  EXPECT_TRUE(contains(msg, "closed")) << msg;
  EXPECT_EQ(at, 4 * kSec);
  EXPECT_EQ(ch.size(), 1u);  // what was in it stays for receivers to drain
  EXPECT_EQ(ch.try_recv(), 1);
}

TEST(Channel, SendUntilTimesOutAtTheDeadlineAndLeavesNothingBehind) {
  Simulator sim;
  Channel<int> ch(sim, "ch", 1);
  WaitStatus st = WaitStatus::ok;
  int64_t at = -1;
  sim.spawn("s", [&] {
    EXPECT_EQ(ch.send_until(1, at_ms(10)), WaitStatus::ok);  // room: no wait
    st = ch.send_until(2, at_ms(1500));
    at = sim.now().ns;
  });
  sim.run();
  EXPECT_EQ(st, WaitStatus::timeout);
  EXPECT_EQ(at, 1500 * kMs);
  EXPECT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch.try_recv(), 1);
  EXPECT_EQ(ch.try_recv(), std::nullopt);
}

TEST(Channel, RecvForTimesOutAtTheDeadlineAndAPastDeadlineDoesNotWait) {
  Simulator sim;
  Channel<int> ch(sim, "ch");
  std::vector<std::pair<WaitStatus, int64_t>> r;
  sim.spawn("r", [&] {
    r.push_back({ch.recv_for(250ms).status, sim.now().ns});
    r.push_back({ch.recv_until(at_ms(100)).status, sim.now().ns});
    auto got = ch.recv_for(1s);
    r.push_back({got.status, sim.now().ns});
    EXPECT_EQ(got.value, 8);
  });
  sim.call_at(at_ms(900), [&] { ch.send(8); });
  sim.run();
  EXPECT_EQ(r, (std::vector<std::pair<WaitStatus, int64_t>>{
                   {WaitStatus::timeout, 250 * kMs}, {WaitStatus::timeout, 250 * kMs}, {WaitStatus::ok, 900 * kMs}}));
}

TEST(Channel, TrySendAndTryRecvNeverBlock) {
  Simulator sim;
  Channel<int> ch(sim, "ch", 2);
  EXPECT_EQ(ch.try_recv(), std::nullopt);
  EXPECT_TRUE(ch.try_send(1));
  EXPECT_TRUE(ch.try_send(2));
  EXPECT_FALSE(ch.try_send(3));  // full
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch.try_recv(), 1);
  EXPECT_TRUE(ch.try_send(3));
  EXPECT_EQ(ch.try_recv(), 2);
  EXPECT_EQ(ch.try_recv(), 3);
  EXPECT_EQ(ch.name(), "ch");
}

TEST(Channel, TryRecvWakesABlockedSenderAndTrySendWakesABlockedReceiver) {
  Simulator sim;
  Channel<int> ch(sim, "ch", 1);
  int64_t sent_at = -1, recv_at = -1;
  std::optional<int> got;
  ch.try_send(1);
  sim.spawn("sender", [&] {
    ch.send(2);
    sent_at = sim.now().ns;
  });
  sim.call_after(2s, [&] { EXPECT_EQ(ch.try_recv(), 1); });
  Channel<int> other(sim, "other");
  sim.spawn("receiver", [&] {
    got = other.recv();
    recv_at = sim.now().ns;
  });
  sim.call_after(3s, [&] { EXPECT_TRUE(other.try_send(4)); });
  sim.run();
  EXPECT_EQ(sent_at, 2 * kSec);
  EXPECT_EQ(got, 4);
  EXPECT_EQ(recv_at, 3 * kSec);
}

TEST(Channel, CarriesMoveOnlyValues) {
  Simulator sim;
  Channel<std::unique_ptr<int>> ch(sim, "ptrs", 1);
  int sum = 0;
  sim.spawn("s", [&] {
    for (int i = 1; i <= 3; ++i) ch.send(std::make_unique<int>(i));
    ch.close();
  });
  sim.spawn("r", [&] {
    while (auto p = ch.recv()) sum += **p;
  });
  sim.run();
  EXPECT_EQ(sum, 6);
}

// A receiver that is handed a message but killed before it runs must not take the wake-up with it:
// the next receiver gets the message.
TEST(Channel, AKilledReceiverPassesItsWakeUpOn) {
  Simulator sim;
  Channel<int> ch(sim, "ch");
  std::optional<int> got;
  int64_t got_at = -1;
  auto r1 = sim.spawn("r1", [&] { ch.recv(); });
  sim.spawn("r2", [&] {
    got = ch.recv();
    got_at = sim.now().ns;
  });
  sim.spawn("sender", [&] {
    sim.sleep_for(1s);
    ch.send(5);       // wakes r1
    sim.kill(r1);     // before r1 runs
  });
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::quiescent) << r.describe();
  EXPECT_EQ(got, 5);
  EXPECT_EQ(got_at, kSec);
}

TEST(Channel, AKilledSenderPassesItsWakeUpOn) {
  Simulator sim;
  Channel<int> ch(sim, "ch", 1);
  ch.try_send(0);
  auto s1 = sim.spawn("s1", [&] { ch.send(1); });
  int64_t s2_at = -1;
  sim.spawn("s2", [&] {
    ch.send(2);
    s2_at = sim.now().ns;
  });
  std::vector<int> got;
  sim.spawn("receiver", [&] {
    sim.sleep_for(1s);
    got.push_back(*ch.recv());  // wakes s1
    sim.kill(s1);               // before s1 runs
    sim.sleep_for(1s);
    got.push_back(*ch.recv());
  });
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::quiescent) << r.describe();
  EXPECT_EQ(got, (std::vector<int>{0, 2}));
  EXPECT_EQ(s2_at, kSec);
}

TEST(Channel, AQueueDestroyedUnderABlockedFiberLeavesAReportableDeadlock) {
  Simulator sim;
  auto ch = std::make_unique<Channel<int>>(sim, "doomed");
  auto h = sim.spawn("r", [&] { ch->recv(); });
  sim.run();
  ch.reset();  // the waiter is orphaned, not dangling
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::deadlock);
  ASSERT_EQ(r.blocked.size(), 1u);
  EXPECT_EQ(r.blocked[0].id, h.id());
  EXPECT_EQ(r.blocked[0].waiting_on, "channel recv (destroyed while waited on)");
}  // destroying the simulator unwinds "r" without touching the dead channel (ASan checks)

// The wake-up hand-on must not touch a channel that was destroyed between the wake-up and the kill.
TEST(Channel, AWokenReceiverKilledAfterTheChannelIsGoneUnwindsCleanly) {
  Simulator sim;
  auto ch = std::make_unique<Channel<int>>(sim, "short-lived");
  bool after = false;
  auto r1 = sim.spawn("r1", [&, c = ch.get()] {
    c->recv();
    after = true;
  });
  sim.spawn("r2", [&, c = ch.get()] { c->recv(); });
  sim.call_after(1s, [&] {
    ch->send(1);  // wakes r1
    ch.reset();   // r2 is orphaned; r1 is woken but has not run
    sim.kill(r1);
  });
  RunResult r = sim.run();
  EXPECT_FALSE(after);
  EXPECT_EQ(r1.state(), FiberState::killed);
  ASSERT_EQ(r.blocked.size(), 1u);
  EXPECT_EQ(r.blocked[0].name, "r2");
}  // ASan checks that neither unwinding touched the freed channel

// --- event --------------------------------------------------------------------------------------------

TEST(Event, WaitBlocksUntilSetAndWakesEveryWaiter) {
  Simulator sim;
  Event ev(sim, "ready");
  std::vector<int64_t> woke;
  for (int i = 0; i < 3; ++i)
    sim.spawn("w", [&] {
      ev.wait();
      woke.push_back(sim.now().ns);
    });
  sim.call_at(at_ms(1234), [&] { ev.set(); });
  sim.run();
  EXPECT_EQ(woke, (std::vector<int64_t>{1234 * kMs, 1234 * kMs, 1234 * kMs}));
  EXPECT_TRUE(ev.is_set());
}

TEST(Event, WhileSetWaitReturnsAtOnceAndResetMakesItBlockAgain) {
  Simulator sim;
  Event ev(sim, "gate");
  ev.set();
  std::vector<int64_t> passed;
  std::string order;
  sim.spawn("a", [&] {
    ev.wait();
    EXPECT_TRUE(ev.wait_for(0ns));
    order += "a";  // did not suspend
    passed.push_back(sim.now().ns);
    ev.reset();
    EXPECT_FALSE(ev.is_set());
    ev.wait();
    passed.push_back(sim.now().ns);
  });
  sim.spawn("b", [&] { order += "b"; });
  sim.call_at(at_ms(3000), [&] { ev.set(); });
  sim.run();
  EXPECT_EQ(order, "ab");
  EXPECT_EQ(passed, (std::vector<int64_t>{0, 3 * kSec}));
}

TEST(Event, WaitUntilTimesOutAtTheDeadline) {
  Simulator sim;
  Event ev(sim, "never");
  std::vector<std::pair<bool, int64_t>> r;
  sim.spawn("w", [&] {
    r.push_back({ev.wait_until(at_ms(400)), sim.now().ns});
    r.push_back({ev.wait_for(600ms), sim.now().ns});
    r.push_back({ev.wait_for(1h), sim.now().ns});
  });
  sim.call_at(at_ms(1500), [&] { ev.set(); });
  sim.run();
  EXPECT_EQ(r, (std::vector<std::pair<bool, int64_t>>{{false, 400 * kMs}, {false, 1000 * kMs}, {true, 1500 * kMs}}));
}

// --- mutex --------------------------------------------------------------------------------------------

TEST(Mutex, WaitersGetTheLockInArrivalOrder) {
  Simulator sim;
  Mutex mu(sim, "mu");
  std::vector<std::pair<std::string, int64_t>> acquired;
  auto worker = [&](std::string name, Duration arrive) {
    sim.spawn(name, [&, name, arrive] {
      sim.sleep_for(arrive);
      LockGuard g(mu);
      acquired.push_back({name, sim.now().ns});
      sim.sleep_for(1s);
    });
  };
  worker("holder", 0ns);
  worker("w3", 300ms);  // spawned first, arrives last
  worker("w1", 100ms);
  worker("w2", 200ms);
  sim.run();
  EXPECT_EQ(acquired, (std::vector<std::pair<std::string, int64_t>>{
                          {"holder", 0}, {"w1", kSec}, {"w2", 2 * kSec}, {"w3", 3 * kSec}}));
  EXPECT_FALSE(mu.locked());
}

TEST(Mutex, UnlockHandsOverSoNobodyCanBarge) {
  Simulator sim;
  Mutex mu(sim, "mu");
  std::vector<std::string> order;
  bool barged = true;
  sim.spawn("holder", [&] {
    mu.lock();
    sim.sleep_for(1s);
    mu.unlock();
    // The waiter has not run yet, but it already owns the lock.
    EXPECT_TRUE(mu.locked());
    barged = mu.try_lock();
    order.push_back("holder-relock-attempt");
    mu.lock();  // queues behind the waiter
    order.push_back("holder@" + std::to_string(sim.now().ns / kMs));
    mu.unlock();
  });
  sim.spawn("waiter", [&] {
    sim.sleep_for(10ms);
    mu.lock();
    order.push_back("waiter@" + std::to_string(sim.now().ns / kMs));
    sim.sleep_for(500ms);
    mu.unlock();
  });
  sim.spawn("latecomer", [&] {
    sim.sleep_for(1s);  // due at the unlock's instant: runs after the holder but before the woken waiter
    order.push_back(mu.try_lock() ? "latecomer-barged" : "latecomer-refused");
  });
  sim.run();
  EXPECT_FALSE(barged);
  EXPECT_EQ(order, (std::vector<std::string>{"holder-relock-attempt", "latecomer-refused", "waiter@1000", "holder@1500"}));
}

TEST(Mutex, LockUntilTimesOutAtTheDeadlineAndTheLockGoesToTheNextWaiter) {
  Simulator sim;
  Mutex mu(sim, "mu");
  std::vector<std::string> log;
  sim.spawn("holder", [&] {
    mu.lock();
    sim.sleep_for(2s);
    mu.unlock();
  });
  sim.spawn("impatient", [&] {
    bool ok = mu.lock_for(500ms);
    log.push_back(std::string(ok ? "impatient-locked@" : "impatient-gave-up@") + std::to_string(sim.now().ns / kMs));
    EXPECT_TRUE(mu.locked());  // still the holder's
  });
  sim.spawn("patient", [&] {
    bool ok = mu.lock_until(at_ms(5000));
    log.push_back(std::string(ok ? "patient-locked@" : "patient-gave-up@") + std::to_string(sim.now().ns / kMs));
    if (ok) mu.unlock();
  });
  sim.run();
  EXPECT_EQ(log, (std::vector<std::string>{"impatient-gave-up@500", "patient-locked@2000"}));
  EXPECT_FALSE(mu.locked());
}

TEST(Mutex, TryLockAndLockOfAFreeMutexNeverBlock) {
  Simulator sim;
  Mutex mu(sim, "mu");
  std::string order;
  sim.spawn("a", [&] {
    EXPECT_TRUE(mu.try_lock());
    mu.unlock();
    EXPECT_TRUE(mu.lock_until(Time::zero()));
    mu.unlock();
    mu.lock();
    mu.unlock();
    order += "a";
  });
  sim.spawn("b", [&] { order += "b"; });
  sim.run();
  EXPECT_EQ(order, "ab");
}

TEST(Mutex, UnlockByANonOwnerIsAnError) {
  Simulator sim;
  Mutex mu(sim, "table");
  std::string free_msg, other_msg;
  sim.spawn("a", [&] {
    free_msg = message_of<SimError>([&] { mu.unlock(); });
    mu.lock();
    sim.sleep_for(1s);
    mu.unlock();
  });
  sim.spawn("b", [&] { other_msg = message_of<SimError>([&] { mu.unlock(); }); });
  sim.run();
  EXPECT_TRUE(contains(free_msg, "mutex 'table': unlock by fiber 1 which does not hold it")) << free_msg;
  EXPECT_TRUE(contains(other_msg, "mutex 'table': unlock by fiber 2 which does not hold it")) << other_msg;
  EXPECT_FALSE(mu.locked());
}

TEST(Mutex, RecursiveLockingIsAnError) {
  Simulator sim;
  Mutex mu(sim, "m");
  std::string lock_msg, try_msg;
  sim.spawn("a", [&] {
    mu.lock();
    lock_msg = message_of<SimError>([&] { mu.lock(); });
    try_msg = message_of<SimError>([&] { mu.try_lock(); });
    mu.unlock();
  });
  RunResult r = sim.run();
  EXPECT_TRUE(contains(lock_msg, "mutex 'm': fiber 1 already holds it (not recursive)")) << lock_msg;
  EXPECT_TRUE(contains(try_msg, "not recursive")) << try_msg;
  EXPECT_TRUE(r.failed.empty());
  EXPECT_FALSE(mu.locked());
}

TEST(Mutex, UseOutsideAFiberIsAnError) {
  Simulator sim;
  Mutex mu(sim, "m");
  EXPECT_TRUE(contains(message_of<SimError>([&] { mu.lock(); }), "outside a fiber"));
  EXPECT_TRUE(contains(message_of<SimError>([&] { mu.try_lock(); }), "outside a fiber"));
  EXPECT_TRUE(contains(message_of<SimError>([&] { mu.unlock(); }), "outside a fiber"));
}

TEST(Mutex, AKilledHolderReleasesThroughLockGuard) {
  Simulator sim;
  Mutex mu(sim, "mu");
  int64_t got_at = -1;
  auto holder = sim.spawn("holder", [&] {
    LockGuard g(mu);
    sim.sleep_for(1h);
  });
  sim.spawn("waiter", [&] {
    LockGuard g(mu);
    got_at = sim.now().ns;
  });
  sim.call_after(7s, [&] { sim.kill(holder); });
  sim.run();
  EXPECT_EQ(got_at, 7 * kSec);
  EXPECT_FALSE(mu.locked());
}

// A waiter that is handed the lock but killed before it runs must pass the lock on, or the mutex
// would be owned by a dead fiber forever.
TEST(Mutex, AKilledWaiterPassesAHandedOverLockOn) {
  Simulator sim;
  Mutex mu(sim, "mu");
  FiberHandle w1;
  int64_t w2_at = -1;
  sim.spawn("holder", [&] {
    mu.lock();
    sim.sleep_for(1s);
    mu.unlock();  // hands the lock to w1
    sim.kill(w1); // before w1 runs
  });
  w1 = sim.spawn("w1", [&] {
    sim.sleep_for(1ms);
    mu.lock();
    ADD_FAILURE() << "w1 must never get here";
  });
  sim.spawn("w2", [&] {
    sim.sleep_for(2ms);
    mu.lock();
    w2_at = sim.now().ns;
    mu.unlock();
  });
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::quiescent) << r.describe();
  EXPECT_EQ(w2_at, kSec);
  EXPECT_FALSE(mu.locked());
}

TEST(Mutex, AHandedOverWaiterKilledAfterTheMutexIsGoneUnwindsCleanly) {
  Simulator sim;
  auto mu = std::make_unique<Mutex>(sim, "short-lived");
  FiberHandle w;
  sim.spawn("holder", [&] {
    mu->lock();
    sim.sleep_for(1s);
    mu->unlock();  // hands the lock to w
    mu.reset();
    sim.kill(w);
  });
  w = sim.spawn("w", [&, m = mu.get()] {
    sim.sleep_for(1ms);
    m->lock();
  });
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::quiescent);
  EXPECT_EQ(w.state(), FiberState::killed);
}  // ASan checks that the unwinding did not touch the freed mutex

TEST(Mutex, AKilledWaiterThatWasNotHandedTheLockLeavesTheQueue) {
  Simulator sim;
  Mutex mu(sim, "mu");
  std::vector<std::string> got;
  sim.spawn("holder", [&] {
    mu.lock();
    sim.sleep_for(1s);
    mu.unlock();
  });
  auto w1 = sim.spawn("w1", [&] {
    mu.lock();
    got.push_back("w1");
  });
  sim.spawn("w2", [&] {
    mu.lock();
    got.push_back("w2@" + std::to_string(sim.now().ns / kMs));
    mu.unlock();
  });
  sim.call_after(500ms, [&] { sim.kill(w1); });
  sim.run();
  EXPECT_EQ(got, (std::vector<std::string>{"w2@1000"}));
  EXPECT_FALSE(mu.locked());
}

}  // namespace
