// WebSockets: the pair itself (workerd's rules), and an upgrade end to end — client -> Worker ->
// Durable Object (the SDK's Container) -> container and back — after platform-facts §3
// ("WebSockets"), §1.5 (every message renews activity; in-flight requests pin the container),
// §8 item 18 and §9 ("WebSockets through RPC").
//
// Times are exact: cold start 2 s (sigma 0), DO <-> container hop 1 ms, client <-> edge 20 ms
// (sigma 0), sleep_after 60 s. So a message from the client reaches the DO's relay 20 ms after it
// is sent and the container app 21 ms after; an echo is back at the client 42 ms after the send.
// The alarm loop sleeps to exactly the activity deadline (container.cpp alarm()), and a signal
// reaches the process one hop (1 ms) after the SDK sends it: SIGTERM is recorded at
// last activity + 60 s + 1 ms.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §3 WebSockets, §8 item 18, §9 WebSockets through RPC: https://github.com/cloudflare/workerd/issues/2319;
//     @cloudflare/containers@0.3.7 dist/lib/container.js containerFetch; /containers/api/container-class/
//     (A8)
//   §1.5: container.js renewActivityTimeout, decrementInflight, isActivityExpired
//   §4.7 (a reset or shutdown terminates WebSockets):
//     /durable-objects/concepts/durable-object-lifecycle/ (D7)
#include "model/http/websocket.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "model/containers/container.h"
#include "model/worker/worker.h"
#include "testing/test_world.h"
#include "testing/workload_hash.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

Time at(Duration d) { return Time::zero() + d; }
constexpr Duration kSignalHop = Duration::millis(1);  // ContainerRuntime::signal: one hop later

// --- the pair on its own ---------------------------------------------------------------------------

TEST(WebSocketPair, MessagesArriveInOrderAfterEveryHopsLatencyBothWays) {
  Simulator sim(SimOptions{.trace_scheduling = false});
  auto [a, b] = WebSocket::make_pair(sim, "p");
  a->add_hop(5ms);
  b->add_hop(Duration(2ms));  // hops add up, whichever end adds them
  std::vector<std::pair<Time, std::string>> got_b, got_a;
  sim.spawn("a", [&, a = a] {
    a->send("1");
    a->send("2");
    sim.sleep_for(1ms);
    a->send("3");
    for (int i = 0; i < 2; ++i) got_a.emplace_back(sim.now(), a->receive().data);
  });
  sim.spawn("b", [&, b = b] {
    for (int i = 0; i < 3; ++i) {
      WebSocketEvent ev = b->receive();
      got_b.emplace_back(sim.now(), ev.data);
      if (i == 0) b->send("back:" + ev.data);
    }
    b->send("last");
  });
  sim.run();
  ASSERT_EQ(got_b.size(), 3u);
  EXPECT_EQ(got_b[0], std::make_pair(at(7ms), std::string("1")));
  EXPECT_EQ(got_b[1], std::make_pair(at(7ms), std::string("2")));
  EXPECT_EQ(got_b[2], std::make_pair(at(8ms), std::string("3")));
  ASSERT_EQ(got_a.size(), 2u);
  EXPECT_EQ(got_a[0], std::make_pair(at(14ms), std::string("back:1")));
  EXPECT_EQ(got_a[1], std::make_pair(at(15ms), std::string("last")));
  EXPECT_EQ(a->messages_sent(), 3u);
  EXPECT_EQ(b->messages_received(), 3u);
}

TEST(WebSocketPair, LognormalHopKeepsFifoOrder) {
  Simulator sim(SimOptions{.seed = 7, .trace_scheduling = false});
  auto [a, b] = WebSocket::make_pair(sim, "p");
  a->add_hop(20ms, 1.5, sim.random("hop"));  // widely spread draws: order must still hold
  std::vector<std::string> got;
  std::vector<Time> times;
  sim.spawn("a", [&, a = a] {
    for (int i = 0; i < 50; ++i) {
      a->send(std::to_string(i));
      sim.sleep_for(1ms);
    }
  });
  sim.spawn("b", [&, b = b] {
    for (int i = 0; i < 50; ++i) {
      got.push_back(b->receive().data);
      times.push_back(sim.now());
    }
  });
  sim.run();
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i], std::to_string(i));
  EXPECT_NE(times.front() - Time::zero(), Duration(20ms)) << "latency is drawn, not the median";
}

TEST(WebSocketPair, CloseCodesAndValidationAsWorkerd) {
  Simulator sim(SimOptions{.trace_scheduling = false});
  auto [a, b] = WebSocket::make_pair(sim, "p");
  // workerd: 1000..4999 except 1004, 1005, 1006, 1015 (TypeError "Invalid WebSocket close code: N.").
  for (int bad : {0, 999, 1004, 1005, 1006, 1015, 5000}) {
    try {
      a->close(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const WebSocketError& e) {
      EXPECT_EQ(std::string(e.what()), "Invalid WebSocket close code: " + std::to_string(bad) + ".");
    }
  }
  EXPECT_THROW(a->close(std::nullopt, std::string("why")), WebSocketError) << "a reason needs a code";
  EXPECT_THROW(a->close(1000, std::string(124, 'x')), WebSocketError) << "reason over 123 bytes";
  EXPECT_EQ(a->state(), WebSocketState::open) << "rejected closes change nothing";
  a->close();  // no code: the peer sees 1005
  EXPECT_EQ(a->state(), WebSocketState::closing);
  a->close(4000, "ignored");  // a second close does nothing
  try {
    a->send("late");
    ADD_FAILURE() << "send after close() must throw";
  } catch (const WebSocketError& e) {
    EXPECT_EQ(std::string(e.what()), "Can't call WebSocket send() after close().");
  }
  std::vector<WebSocketEvent> at_b, at_a;
  sim.spawn("b", [&, b = b] {
    at_b.push_back(b->receive());
    EXPECT_EQ(b->state(), WebSocketState::closing);
    b->send("after receiving close");  // allowed: only this end's own close() stops sends
    b->close(3000, "bye");
    EXPECT_EQ(b->state(), WebSocketState::closed);
    at_b.push_back(b->receive());  // the close again
  });
  sim.spawn("a", [&, a = a] {
    at_a.push_back(a->receive());
    at_a.push_back(a->receive());
  });
  sim.run();
  ASSERT_EQ(at_b.size(), 2u);
  EXPECT_TRUE(at_b[0].is_close());
  EXPECT_EQ(at_b[0].code, 1005);
  EXPECT_EQ(at_b[0].reason, "");
  EXPECT_EQ(at_b[1].code, 1005);
  ASSERT_EQ(at_a.size(), 2u);
  EXPECT_EQ(at_a[0].data, "after receiving close");
  EXPECT_EQ(at_a[1].code, 3000);
  EXPECT_EQ(at_a[1].reason, "bye");
  EXPECT_EQ(a->state(), WebSocketState::closed);
  for (int ok : {1000, 1001, 1011, 3000, 4999}) {
    auto [x, y] = WebSocket::make_pair(sim, "ok");
    EXPECT_NO_THROW(x->close(ok)) << ok;
  }
}

TEST(WebSocketPair, DestroyedEndIs1006BehindEarlierMessagesAndLaterSendsAreIgnored) {
  Simulator sim(SimOptions{.trace_scheduling = false});
  auto [a, b] = WebSocket::make_pair(sim, "p");
  a->add_hop(3ms);
  a->send("before");
  a.reset();  // dropped without a close frame
  std::vector<std::pair<Time, WebSocketEvent>> got;
  sim.spawn("b", [&, b = b] {
    got.emplace_back(sim.now(), b->receive());
    got.emplace_back(sim.now(), b->receive());
    b->send("into the void");  // ignored, no throw (workerd: the peer went away)
    b->close(1000);            // ignored too
  });
  sim.run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].second.data, "before");
  EXPECT_EQ(got[1].first, at(3ms));
  EXPECT_TRUE(got[1].second.is_close());
  EXPECT_EQ(got[1].second.code, 1006);
  EXPECT_EQ(got[1].second.reason, kWsDisconnectedReason);
  EXPECT_EQ(b->state(), WebSocketState::closed);
  EXPECT_EQ(b->messages_sent(), 0u);
}

TEST(WebSocketPair, ReceiveUntilTimesOut) {
  Simulator sim(SimOptions{.trace_scheduling = false});
  auto [a, b] = WebSocket::make_pair(sim, "p");
  a->add_hop(10ms);
  std::optional<WebSocketEvent> first, second;
  Time t_first;
  sim.spawn("b", [&, b = b] {
    first = b->receive_until(at(5ms));
    t_first = sim.now();
    second = b->receive_until(at(50ms));
  });
  sim.spawn("a", [&, a = a] { a->send("x"); });
  sim.run();
  EXPECT_FALSE(first.has_value());
  EXPECT_EQ(t_first, at(5ms));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->data, "x");
}

TEST(WebSocketPair, BadHopIsAClearError) {
  Simulator sim;
  auto [a, b] = WebSocket::make_pair(sim, "p");
  try {
    a->add_hop(Duration::millis(-1));
    ADD_FAILURE() << "negative latency accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("must be >= 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(b->add_hop(1ms, -0.5, sim.random("x")), std::invalid_argument);
  EXPECT_THROW(websocket_response(nullptr), std::invalid_argument);
}

// A hop above kWsMaxHopLatency is refused naming the value and the limit; a path of many hops at
// the cap adds up past Time::max() and saturates (the frame never arrives) instead of wrapping
// around into the past.
TEST(WebSocketPair, HopLatencyIsCappedAndLongPathsSaturate) {
  Simulator sim(SimOptions{.trace_scheduling = false});
  auto ends = WebSocket::make_pair(sim, "p");
  WebSocket::Ptr a = ends.first, b = ends.second;
  std::string msg;
  try {
    a->add_hop(Duration::max());
  } catch (const std::invalid_argument& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(format_duration(Duration::max())), std::string::npos) << msg;
  EXPECT_NE(msg.find(format_duration(kWsMaxHopLatency)), std::string::npos) << msg;
  EXPECT_THROW(a->add_hop(kWsMaxHopLatency + Duration::nanos(1)), std::invalid_argument);
  EXPECT_THROW(a->add_hop(Duration::max(), 0.5, sim.random("x")), std::invalid_argument);
  for (int i = 0; i < 300; ++i) a->add_hop(kWsMaxHopLatency);  // 300 x 365 days > 292 years
  std::optional<WebSocketEvent> got = WebSocketEvent{};
  sim.spawn("b", [&] { got = b->receive_until(at(1h)); });
  sim.spawn("a", [&] { a->send("x"); });
  sim.run(RunLimits{.until = at(2h)});
  EXPECT_FALSE(got.has_value()) << "arrived at " << format_duration(sim.now() - Time::zero());
}

TEST(WebSocketUpgrade, HelperAnswers426WithoutTheHeader) {
  Request r;
  EXPECT_FALSE(is_websocket_upgrade(r));
  std::optional<Response> bad = expect_websocket_upgrade(r);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 426);
  EXPECT_EQ(bad->body, "Expected Upgrade: websocket");
  r.headers.set("upgrade", "WebSocket");  // names and the token compare case-insensitively
  EXPECT_TRUE(is_websocket_upgrade(r));
  EXPECT_FALSE(expect_websocket_upgrade(r).has_value());
  r.headers.set("Upgrade", "h2c");
  EXPECT_FALSE(is_websocket_upgrade(r));
}

// --- end to end ---------------------------------------------------------------------------------------

struct AppLog {
  std::vector<std::pair<Time, std::string>> messages;  // what the container app received
  std::vector<std::pair<Time, WebSocketEvent>> closes;  // closes the container app received
  int late_messages = 0;        // after the client's close: send this many, 40 s apart, then close
  int rpc_sockets = 0;          // App::open_socket calls
  WebSocket::Ptr rpc_kept;      // the end App::open_socket kept
};

// The container app: "/" answers the readiness probe; "/ws" accepts an upgrade and echoes.
ContainerImage ws_image(AppLog* log) {
  ContainerImage img;
  img.main = [log](Process& p) {
    p.listen(8080, [&p, log](const Request& r) -> Response {
      if (r.path() != "/ws") return Response(200, "ok");
      if (std::optional<Response> bad = expect_websocket_upgrade(r)) return *bad;
      auto pair = WebSocket::make_pair(p.sim(), "app");
      WebSocket::Ptr mine = pair.first;
      p.spawn("ws", [&p, log, mine] {
        for (;;) {
          WebSocketEvent ev = mine->receive();
          if (ev.is_close()) {
            log->closes.emplace_back(p.sim().now(), ev);
            for (int i = 1; i <= log->late_messages; ++i) {
              p.sim().sleep_for(40s);
              mine->send("late" + std::to_string(i));
            }
            mine->close(1000);
            return;
          }
          log->messages.emplace_back(p.sim().now(), ev.data);
          if (ev.data == "app-closes") {
            mine->close(4001, "app done");
            continue;
          }
          mine->send("echo:" + ev.data);
        }
      });
      return websocket_response(pair.second);
    });
  };
  return img;
}

struct App : Container {
  AppLog& log;
  App(DurableObjectState& s, ContainerPlatform& p, AppLog& l) : Container(s, p), log(l) {
    default_port = 8080;
    sleep_after = 60s;
  }
  // RPC methods that try to hand a WebSocket to the caller (§9: "WebSockets through RPC").
  WebSocket::Ptr open_socket() {
    ++log.rpc_sockets;
    auto pair = WebSocket::make_pair(ctx().sim(), "rpc");
    log.rpc_kept = pair.first;
    return pair.second;
  }
  Response upgrade_via_rpc() {
    Request r;
    r.url = "http://app.example/ws";
    r.headers.set("Upgrade", "websocket");
    return container_fetch(r);
  }
};

ContainerPlatformOptions platform_options() {
  ContainerPlatformOptions o;
  o.cold_start = {2s, 0};
  o.hop_latency = 1ms;
  return o;
}

// The shared test world (testing/test_world.h) with App bound as APP and a Worker that sends
// every request to APP/a through stub.fetch (§3), but answers /rogue with a socket itself.
struct World : testing_support::TestWorld {
  AppLog log;
  DurableObjectNamespace& ns;
  WebSocket::Ptr rogue_kept;

  explicit World(uint64_t seed = 1, ContainerPlatformOptions po = platform_options(), WorkerOptions wo = {20ms, 0.0})
      : TestWorld(seed, world_options(po, wo)),
        ns(add_container("APP", ws_image(&log), [this](DurableObjectState& s) { return std::make_unique<App>(s, platform, log); })) {
    world.set_worker([this](const Request& r, Env& env) { return handle(r, env); });
  }
  static WorldOptions world_options(ContainerPlatformOptions po, WorkerOptions wo) {
    WorldOptions o = testing_support::exact_world_options(po);
    o.worker = wo;
    return o;
  }

  Response handle(const Request& r, Env& env) {
    if (r.path() == "/rogue") {  // a handler answering with a socket whether asked or not
      auto pair = WebSocket::make_pair(sim, "rogue");
      rogue_kept = pair.first;
      return websocket_response(pair.second);
    }
    return get_container(env.durable_object("APP"), "a").fetch(r);  // through stub.fetch (§3)
  }

  static Request req(std::string path) { return get(path); }
  // Warms the container with a plain request at t = 0 (ready at 2.1 s, done by 2.2 s).
  void warm() {
    sim.spawn("warm", [this] { EXPECT_EQ(worker.client_fetch(req("/hello")).status, 200); });
  }
  std::vector<Time> when(std::string_view cat, std::string_view name, std::string_view key = "",
                         std::string_view value = "") const {
    return times(cat, name, key, value);
  }
};

// §3, §8 item 18: an upgrade through stub.fetch() works end to end, with each hop's latency.
TEST(WebSocketEndToEnd, UpgradeThroughStubFetchRelaysBothWaysWithExactTimes_S3_Item18) {
  World w;
  w.warm();
  Time opened;
  std::vector<std::pair<Time, std::string>> got;
  WebSocketEvent close_seen;
  Time close_time;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(10s));
    Response r = w.worker.client_websocket(World::req("/ws"));
    ASSERT_EQ(r.status, 101);
    ASSERT_TRUE(r.websocket);
    opened = w.sim.now();
    WebSocket::Ptr ws = r.websocket;
    ws->send("a");
    ws->send("b");
    for (int i = 0; i < 2; ++i) got.emplace_back(w.sim.now(), ws->receive().data);
    w.sim.sleep_for(1s);
    ws->send("app-closes");
    close_seen = ws->receive();
    close_time = w.sim.now();
    ws->close(1000);  // completes the handshake
  });
  w.sim.run(RunLimits{.until = at(30s)});
  // Upgrade request: 20 ms to the edge, 1 ms to the container, 1 ms back, 20 ms to the client.
  EXPECT_EQ(opened, at(10s + 42ms));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], std::make_pair(opened + 42ms, std::string("echo:a")));
  EXPECT_EQ(got[1], std::make_pair(opened + 42ms, std::string("echo:b")));
  ASSERT_EQ(w.log.messages.size(), 3u);
  EXPECT_EQ(w.log.messages[0], std::make_pair(opened + 21ms, std::string("a")));
  EXPECT_EQ(w.log.messages[2].second, "app-closes");
  // The app's close code and reason reach the client unchanged (only 1005/1006 are rewritten).
  EXPECT_TRUE(close_seen.is_close());
  EXPECT_EQ(close_seen.code, 4001);
  EXPECT_EQ(close_seen.reason, "app done");
  EXPECT_EQ(close_time, opened + 42ms + 1s + 42ms);
  // The handshake completes at the app: the client's 1000 passes the relay as it is.
  ASSERT_EQ(w.log.closes.size(), 1u);
  EXPECT_EQ(w.log.closes[0].second.code, 1000);
  EXPECT_EQ(w.log.closes[0].first, close_time + 21ms);
  // Trace: one relay close record with the message counts, one ws_upgrade at the container.
  EXPECT_EQ(w.when("container", "ws_upgrade").size(), 1u);
  const Record* rc = w.last("container", "ws_close");
  ASSERT_NE(rc, nullptr);
  EXPECT_EQ(rc->field_text("closed_by"), "client");
  EXPECT_EQ(rc->field_text("to_container"), "3");
  EXPECT_EQ(rc->field_text("to_client"), "2");
  EXPECT_EQ(w.when("container", "ws_close").size(), 2u) << "one per side's close";
}

// §8 item 18, §9: a WebSocket returned from an RPC method fails at the caller with DataCloneError;
// the method still ran.
TEST(WebSocketEndToEnd, RpcReturningAWebSocketIsDataCloneError_Item18) {
  World w;
  w.warm();
  std::string err1, err2;
  WebSocketEvent kept_saw;
  w.sim.spawn("caller", [&] {
    w.sim.sleep_until(at(10s));
    DurableObjectStub stub = w.ns.get_by_name("a");
    try {
      stub.call<App>([](App& a) { return a.open_socket(); });
    } catch (const DataCloneError& e) {
      err1 = e.what();
    }
    kept_saw = w.log.rpc_kept->receive();  // the end that could not be sent was dropped
    try {
      stub.call<App>([](App& a) { return a.upgrade_via_rpc(); });  // containerFetch over RPC
    } catch (const DataCloneError& e) {
      err2 = e.what();
    }
  });
  w.sim.run(RunLimits{.until = at(20s)});
  const std::string expected = "Could not serialize object of type \"WebSocket\". This type does not support serialization.";
  EXPECT_EQ(err1, expected);
  EXPECT_EQ(err2, expected);
  EXPECT_EQ(w.log.rpc_sockets, 1) << "the method ran";
  EXPECT_EQ(kept_saw.code, 1006);
  EXPECT_EQ(w.when("container", "ws_upgrade").size(), 1u) << "the container did accept the RPC's upgrade";
  // Its socket went nowhere: the relay sees the drop and tells the app with 1000 (rewritten 1006).
  ASSERT_EQ(w.log.closes.size(), 1u);
  EXPECT_EQ(w.log.closes[0].second.code, 1000);
  static_assert(std::is_base_of_v<std::runtime_error, DataCloneError>);
}

// The 426 helper, and the Worker's own check: no socket for a request that did not ask for one.
TEST(WebSocketEndToEnd, NoUpgradeHeaderGets426AndAWorkerCannotForceASocket) {
  World w;
  w.warm();
  Response plain, not_ws, rogue, rogue_ws;
  WebSocketEvent rogue_kept_saw;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(10s));
    plain = w.worker.client_fetch(World::req("/ws"));
    not_ws = w.worker.client_websocket(World::req("/other"));  // the app answers 200, no socket
    rogue = w.worker.client_fetch(World::req("/rogue"));
    rogue_kept_saw = w.rogue_kept->receive();
    rogue_ws = w.worker.client_websocket(World::req("/rogue"));
  });
  w.sim.run(RunLimits{.until = at(20s)});
  EXPECT_EQ(plain.status, 426);
  EXPECT_EQ(plain.body, "Expected Upgrade: websocket");
  EXPECT_FALSE(plain.websocket);
  EXPECT_EQ(not_ws.status, 200);
  EXPECT_FALSE(not_ws.websocket);
  EXPECT_EQ(rogue.status, 500);
  EXPECT_NE(rogue.body.find("did not contain the header \"Upgrade: websocket\""), std::string::npos) << rogue.body;
  EXPECT_FALSE(rogue.websocket);
  EXPECT_EQ(rogue_kept_saw.code, 1006);
  EXPECT_EQ(rogue_ws.status, 101);
  EXPECT_TRUE(rogue_ws.websocket);
}

// §1.5: every message in either direction renews the activity window. A chatty socket keeps the
// container past sleep_after; after the last message and the close, SIGTERM comes sleep_after later.
TEST(WebSocketEndToEnd, ChattySocketKeepsTheContainerAliveAndSigtermIsSleepAfterLater_S1_5) {
  World w;
  w.warm();
  Time last_send;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(10s));
    Response r = w.worker.client_websocket(World::req("/ws"));
    ASSERT_EQ(r.status, 101);
    for (int i = 0; i < 10; ++i) {
      w.sim.sleep_for(30s);
      r.websocket->send("m" + std::to_string(i));
      last_send = w.sim.now();
    }
    r.websocket->close();  // no code, right after the last message
    while (!r.websocket->receive().is_close()) {
    }
  });
  w.sim.run(RunLimits{.until = at(30min)});
  EXPECT_EQ(w.log.messages.size(), 10u);
  // The close reaches the relay 20 ms after it is sent (with the last message): the in-flight
  // count drops there and renews; then the echo of the last message passes (and renews) at 22 ms.
  ASSERT_EQ(w.sigterms().size(), 1u);
  // The last activity is the echo of the last message passing the relay, 22 ms after the send.
  EXPECT_EQ(w.sigterms()[0], last_send + 22ms + 60s + kSignalHop);
  EXPECT_GT(w.sigterms()[0], at(10s + 5min)) << "alive long past one sleep_after";
  const Record* rc = w.last("container", "ws_close");
  ASSERT_NE(rc, nullptr);
  EXPECT_EQ(rc->field_text("to_container"), "10");
  EXPECT_EQ(rc->field_text("to_client"), "10");
}

// §1.5 again, without the in-flight pin: after the client's close (no code) the in-flight count
// is 0, but each message the app still sends renews the window. Also: the client's close without
// a code reaches the container as 1000 (the SDK rewrites 1005, §3).
TEST(WebSocketEndToEnd, EachMessageRenewsActivityAndClientCloseWithoutCodeIs1000AtTheContainer_S1_5_S3) {
  World w;
  w.warm();
  w.log.late_messages = 3;  // 40 s apart after the client's close, then the app closes
  Time closed_at;
  std::vector<std::pair<Time, WebSocketEvent>> client_got;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(10s));
    Response r = w.worker.client_websocket(World::req("/ws"));
    ASSERT_EQ(r.status, 101);
    r.websocket->close();
    closed_at = w.sim.now();
    for (;;) {
      WebSocketEvent ev = r.websocket->receive();
      client_got.emplace_back(w.sim.now(), ev);
      if (ev.is_close()) break;
    }
  });
  w.sim.run(RunLimits{.until = at(30min)});
  ASSERT_EQ(w.log.closes.size(), 1u);
  EXPECT_EQ(w.log.closes[0].second.code, 1000) << "1005 rewritten to 1000";
  EXPECT_EQ(w.log.closes[0].first, closed_at + 21ms);
  // The app's messages leave it at +40, +80, +120 s and reach the relay 1 ms later.
  const Time app_got_close = closed_at + 21ms;
  ASSERT_EQ(client_got.size(), 4u);
  EXPECT_EQ(client_got[2].first, app_got_close + 120s + 21ms);
  EXPECT_EQ(client_got[2].second.data, "late3");
  EXPECT_EQ(client_got[3].second.code, 1000);
  ASSERT_EQ(w.sigterms().size(), 1u);
  // Without the renewals it would be closed_at + 20 ms + 60 s.
  EXPECT_EQ(w.sigterms()[0], app_got_close + 120s + 1ms + 60s + kSignalHop);
}

// §1.5: an open socket with no traffic pins the container while it is in flight (0.3.7: the
// counter > 0 means not expired, and the alarm's check renews); it sleeps 60 s after the close.
TEST(WebSocketEndToEnd, IdleOpenSocketPinsTheContainerUntilItCloses_S1_5) {
  World w;
  w.warm();
  Time close_sent;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(10s));
    Response r = w.worker.client_websocket(World::req("/ws"));
    ASSERT_EQ(r.status, 101);
    w.sim.sleep_for(20min);
    r.websocket->close(1000);
    close_sent = w.sim.now();
    r.websocket->receive();
  });
  w.sim.run(RunLimits{.until = at(40min)});
  EXPECT_TRUE(w.log.messages.empty());
  ASSERT_EQ(w.sigterms().size(), 1u);
  EXPECT_EQ(w.sigterms()[0], close_sent + 20ms + 60s + kSignalHop);
}

// §3: the container stopping drops its socket (1006 at the relay), which the SDK passes on to the
// client as 1000.
TEST(WebSocketEndToEnd, ContainerStopIs1000AtTheClient_S3) {
  World w;
  w.warm();
  Time crash_at = at(15s);
  std::pair<Time, WebSocketEvent> got;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(10s));
    Response r = w.worker.client_websocket(World::req("/ws"));
    ASSERT_EQ(r.status, 101);
    WebSocketEvent ev = r.websocket->receive();
    got = {w.sim.now(), ev};
  });
  w.sim.call_at(crash_at, [&] { w.platform.runtime(w.ns.id_from_name("a")).crash(1); });
  w.sim.run(RunLimits{.until = at(20s)});
  EXPECT_TRUE(got.second.is_close());
  EXPECT_EQ(got.second.code, 1000) << "1006 rewritten to 1000";
  EXPECT_EQ(got.second.reason, kWsDisconnectedReason);
  EXPECT_EQ(got.first, crash_at + 1ms + 20ms);
  ASSERT_EQ(w.when("container", "ws_close", "closed_by", "container").size(), 1u);
  EXPECT_EQ(w.when("container", "ws_close", "closed_by", "container")[0], crash_at + 1ms);
  EXPECT_EQ(w.when("container", "ws_close", "code", "1006").size(), 2u)
      << "the container's drop, then the client's end dropped when the client fiber ended";
}

// A Durable Object reset ends the relay: both the client and the app see the connection drop.
TEST(WebSocketEndToEnd, ObjectResetDropsTheRelayedSocket_S4_7) {
  World w;
  w.warm();
  std::pair<Time, WebSocketEvent> got;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(10s));
    Response r = w.worker.client_websocket(World::req("/ws"));
    ASSERT_EQ(r.status, 101);
    WebSocketEvent ev = r.websocket->receive();
    got = {w.sim.now(), ev};
  });
  w.sim.call_at(at(12s), [&] { w.ns.host(w.ns.id_from_name("a")).reset("test reset"); });
  w.sim.run(RunLimits{.until = at(20s)});
  EXPECT_EQ(got.second.code, 1006);
  EXPECT_EQ(got.first, at(12s + 20ms));
  ASSERT_EQ(w.log.closes.size(), 1u);
  EXPECT_EQ(w.log.closes[0].second.code, 1006);
  EXPECT_EQ(w.log.closes[0].first, at(12s + 1ms));
}

TEST(WebSocketEndToEnd, SameSeedSameTrace) {
  auto run = [](uint64_t seed) {
    ContainerPlatformOptions po = platform_options();
    po.cold_start.sigma = 0.3;
    World w(seed, po, WorkerOptions{20ms, 0.8});  // random latencies, per message
    w.warm();
    w.sim.spawn("client", [&w] {
      w.sim.sleep_until(at(10s));
      Response r = w.worker.client_websocket(World::req("/ws"));
      if (!r.websocket) return;
      for (int i = 0; i < 20; ++i) {
        r.websocket->send(std::to_string(i));
        w.sim.sleep_for(100ms);
      }
      r.websocket->close();
      while (!r.websocket->receive().is_close()) {
      }
    });
    w.sim.run(RunLimits{.until = at(10min)});
    EXPECT_EQ(w.log.messages.size(), 20u);
    // The workload, not the trace hash: the header holds the seed, so trace hashes always differ.
    return testing_support::workload_hash(w.sink->records);
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2)) << "the latencies do depend on the seed";
}

}  // namespace
