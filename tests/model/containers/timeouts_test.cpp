// The raw runtime's timeouts: the hard timeout (§1.2 capnp hardTimeoutMs, §10) and
// setInactivityTimeout (§1.2, §10), including what puts an inactivity stop off (an open
// connection, a streamed body, a WebSocket). The app and world: raw_runtime_fixture.h.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §1.2 hardTimeoutMs: cloudflare/workerd src/workerd/io/container.capnp StartParams.hardTimeoutMs (W1)
//   §1.2 setInactivityTimeout: the same file, setInactivityTimeout (W1); /containers/concepts/architecture/
//     (A1) and /containers/api/durable-object-container/ (A7). §10 lists open items: assumptions, no source
#include <gtest/gtest.h>

#include "raw_runtime_fixture.h"

using namespace std::chrono_literals;

namespace cfsim::raw_runtime_test {
namespace {

// --- hard timeout (§1.2 capnp StartParams.hardTimeoutMs; §10: an assumption) ----------------------------

TEST(HardTimeout, EndsTheRunThatLongAfterStart_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("h");
  std::string monitor_error;
  int monitor_code = -1;
  w.sim.spawn("do", [&] {
    ContainerStartOptions o;
    o.hard_timeout = 30s;
    rt.start(o);
    try {
      rt.monitor();
    } catch (const ContainerExitError& e) {
      monitor_error = e.what();
      monitor_code = e.exit_code();
    }
  });
  w.run_until(at(60s));
  EXPECT_FALSE(rt.running());
  ASSERT_EQ(w.times("container", "exit").size(), 1u);
  EXPECT_EQ(w.times("container", "exit")[0], at(30s));
  EXPECT_EQ(rt.last_exit()->cause, "hard-timeout");
  EXPECT_EQ(rt.last_exit()->exit_code, 137);
  EXPECT_EQ(monitor_error, "Runtime signalled the container to exit: 137");
  EXPECT_EQ(monitor_code, 137);
  ContainerStartOptions neg;
  neg.hard_timeout = -1s;
  EXPECT_THROW(rt.start(neg), std::out_of_range);
  EXPECT_FALSE(rt.running());
}

TEST(HardTimeout, BelongsToOneRunAndZeroMeansNone_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("h");
  w.start_raw("h", Time::zero(), {}, 30s);
  w.sim.call_at(at(10s), [&] { rt.destroy(); });  // ends run 1 before its hard timeout
  w.start_raw("h", at(20s));                      // run 2: no hard timeout
  w.run_until(at(2h));
  EXPECT_TRUE(rt.running()) << "run 1's hard timeout must not end run 2 (at 30 s), and zero means none";
  EXPECT_EQ(rt.start_count(), 2u);
  EXPECT_TRUE(w.records("container", "hard_timeout").empty());
}

// --- setInactivityTimeout (§1.2, §10) ----------------------------------------------------------------------

TEST(InactivityTimeout, StopsThatLongAfterTheObjectBecomesInactive_S1_2) {
  World w;  // objects are evicted 10 s after their last request (idle_eviction_after)
  w.send("a", "/start-idle60", Time::zero());
  w.run_until(at(5min));
  ContainerRuntime& rt = w.rt("a");
  ASSERT_EQ(w.times("do", "evict").size(), 1u);
  EXPECT_EQ(w.times("do", "evict")[0], at(10s));
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(70s)) << "evicted at 10 s + 60 s";
  EXPECT_FALSE(rt.running());
  EXPECT_EQ(rt.last_exit()->exit_code, 128 + kSigTerm) << "a platform stop: SIGTERM without a handler";
  ASSERT_EQ(w.records("container", "exit").size(), 1u);
  EXPECT_EQ(w.records("container", "exit")[0].field_text("platform_stop"), "inactivity");
  EXPECT_THROW(rt.set_inactivity_timeout(Duration::zero()), std::invalid_argument);
  EXPECT_THROW(rt.set_inactivity_timeout(-1s), std::invalid_argument);
}

TEST(InactivityTimeout, ANewRequestCancelsThePendingStop_S1_2) {
  World w;
  w.send("a", "/start-idle60", Time::zero());
  w.send("a", "/ping", at(40s));  // the object was evicted at 10 s: this constructs it again
  w.run_until(at(5min));
  EXPECT_EQ(w.times("container", "inactivity_stop_scheduled"), (std::vector<Time>{at(10s), at(50s)}));
  ASSERT_EQ(w.records("container", "inactivity_stop_cancelled").size(), 1u);
  EXPECT_EQ(w.records("container", "inactivity_stop_cancelled")[0].time, at(40s));
  EXPECT_EQ(w.records("container", "inactivity_stop_cancelled")[0].field_text("why"), "object-active");
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(110s)) << "evicted again at 50 s + 60 s";
}

TEST(InactivityTimeout, AnOpenConnectionKeepsItRunning_S1_2) {
  World w;
  w.send("a", "/start-idle60", Time::zero());
  std::string body;
  // A connection to the container that outlives the object's requests (held from outside).
  w.sim.spawn("conn", [&] {
    w.sim.sleep_until(at(3s));
    body = w.rt("a").get_tcp_port(8080).fetch(Request{"GET", "http://c/slow", {}, ""}).body;
  });
  w.run_until(at(30min));
  EXPECT_EQ(body, "slow");
  EXPECT_EQ(w.times("do", "evict")[0], at(10s));
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(3s + 20min + 60s))
      << "not while the connection is open: 60 s after it closes";
}

// A streamed body still flowing counts as an open connection: each expiry while it flows puts the
// stop off by another timeout (§1.2; docs/containers.md "setInactivityTimeout").
TEST(InactivityTimeout, AnOpenStreamedBodyPutsOffTheStop_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("s");
  w.start_raw("s", Time::zero());  // from outside any object: the object is never constructed
  w.sim.call_at(at(1s), [&] { rt.set_inactivity_timeout(60s); });
  std::string body;
  w.sim.spawn("reader", [&] {
    w.sim.sleep_until(at(5s));
    Response r = rt.get_tcp_port(8080).fetch(Request{"GET", "http://c/stream", {}, ""});
    body = r.stream->read_all();  // the body ends at 155 s
  });
  w.run_until(at(10min));
  EXPECT_EQ(body, "first");
  // The connection closed with the headers at 5 s: expiries at 65 s and 125 s find the body open.
  EXPECT_EQ(w.times("container", "inactivity_stop_deferred"), (std::vector<Time>{at(65s), at(125s)}));
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(185s)) << "the first expiry after the body ended (155 s)";
  EXPECT_FALSE(rt.running());
}

TEST(InactivityTimeout, AnOpenWebSocketPutsOffTheStop_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("ws");
  w.start_raw("ws", Time::zero());
  w.sim.call_at(at(1s), [&] { rt.set_inactivity_timeout(60s); });
  std::string echoed;
  int close_code = 0;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(5s));
    Response r = rt.get_tcp_port(8080).fetch(Request{"GET", "http://c/ws", {{"Upgrade", "websocket"}}, ""});
    WebSocket::Ptr ws = r.websocket;
    if (!ws) return;
    ws->send("hi");
    echoed = ws->receive().data;
    w.sim.sleep_until(at(100s));
    ws->close(kWsNormalClosure);
    close_code = ws->receive().code;  // the app closes back: the socket is closed at 100 s
  });
  w.run_until(at(10min));
  EXPECT_EQ(echoed, "hi");
  EXPECT_EQ(close_code, kWsNormalClosure);
  EXPECT_EQ(w.times("container", "inactivity_stop_deferred"), (std::vector<Time>{at(65s)})) << "open at 65 s";
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(125s)) << "closed by the next expiry";
}

TEST(InactivityTimeout, WithoutATimeoutTheContainerKeepsRunning_S1_2) {
  World w;
  w.send("a", "/start", Time::zero());
  w.run_until(at(3h));
  EXPECT_EQ(w.times("do", "evict").size(), 1u);
  EXPECT_TRUE(w.rt("a").running()) << "§10: the model never stops it without setInactivityTimeout";
  EXPECT_TRUE(w.records("container", "inactivity_stop_scheduled").empty());
}

}  // namespace
}  // namespace cfsim::raw_runtime_test
