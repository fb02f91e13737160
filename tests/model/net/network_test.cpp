// Network model tests. Each cites the platform fact it checks (platform-facts.md §7, §8 items 37-38).
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §7.2 and §8 items 37-38: /containers/configuration/outbound-traffic/ (A9); @cloudflare/containers@0.3.7
//     dist/lib/container.js ContainerProxy.fetch, normalizeHostname, simpleGlobMatch
//   §7.2 DNS (version-dependent) and A16: DNS to Cloudflare's resolvers without internet (A9); the
//     older note, no DNS at all: cloudflare/cloudflare-docs
//     src/content/partials/containers/outbound-by-host-dns-note.mdx; that a lookup then hangs (a DNS
//     timeout here) rather than failing fast is a user report,
//     https://github.com/alchemy-run/alchemy/pull/85, UNCONFIRMED by the docs
//   §7.3: /containers/concepts/architecture/ (A1), /containers/platform-details/workers-connections/ (A10);
//     that no network joins container instances is UNCONFIRMED (inferred from the docs)
//   §1.2 (raw start: internet off): workerd src/workerd/io/container.capnp StartParams.enableInternet (W1)
#include "model/net/faults.h"
#include "model/net/network.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <chrono>

#include "sim/fault_injector.h"
#include "sim/trace.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

constexpr Lognormal kExact10ms{Duration::millis(10), 0.0};  // sigma 0: every one-way hop is exactly 10 ms

struct Caught {
  std::optional<NetError::Kind> kind;
  std::string message;
};

template <class F>
Caught catch_net(F&& f) {
  try {
    f();
  } catch (const NetError& e) {
    return {e.kind(), e.what()};
  }
  return {};
}

Request req(std::string method, std::string url, std::string body = "") {
  Request r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.body = std::move(body);
  return r;
}
Request get(std::string url) { return req("GET", std::move(url)); }

SimOptions sim_options(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  o.trace_scheduling = false;
  return o;
}

EgressPolicy internet_on() {
  EgressPolicy p;
  p.internet = true;
  return p;
}

class NetTest : public ::testing::Test {
 protected:
  explicit NetTest(NetworkOptions o = {}, uint64_t seed = 7)
      : sim(sim_options(seed), {sink}), net(sim, o) {}

  // Runs `body` in a fiber to quiescence; rethrows what escaped it.
  void run(std::function<void()> body) {
    FiberHandle h = sim.spawn("test", std::move(body));
    RunResult r = sim.run();
    ASSERT_EQ(r.reason, StopReason::quiescent) << r.describe();
    h.join();
  }
  std::vector<Record> records(std::string_view name) const {
    std::vector<Record> out;
    for (const auto& r : sink->records)
      if (r.category == "net" && r.name == name) out.push_back(r);
    return out;
  }
  // An HTTP service answering "<path> from api" that counts its calls.
  void add_api(std::string name = "api.example.com", Lognormal lat = kExact10ms) {
    net.add_http_service(name, [this](const Request& r) {
      ++api_calls;
      return Response(200, r.path() + " from api");
    }, lat);
  }

  std::shared_ptr<MemorySink> sink = std::make_shared<MemorySink>();
  Simulator sim;
  Network net;
  int api_calls = 0;
};

// --- isolation (§7.3) -------------------------------------------------------------------------------

TEST_F(NetTest, ContainerToContainerHasNoRoute_Section7_3) {
  add_api();
  EndpointId a = net.attach("SESSIONS/main", internet_on());
  EndpointId b = net.attach("SESSIONS/other", internet_on());
  EXPECT_NE(net.address(a), net.address(b));
  EXPECT_TRUE(net.address(b).starts_with("10."));
  Caught c, off;
  EndpointId quiet = net.attach("SESSIONS/quiet", EgressPolicy{});  // internet off: still no route
  run([&] {
    c = catch_net([&] { net.fetch(a, get("http://" + net.address(b) + ":8080/x")); });
    off = catch_net([&] { net.fetch(quiet, get("http://" + net.address(b) + "/")); });
  });
  ASSERT_EQ(c.kind, NetError::Kind::no_route);
  EXPECT_NE(c.message.find("containers cannot reach each other"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("SESSIONS/main"), std::string::npos) << c.message;
  EXPECT_EQ(off.kind, NetError::Kind::no_route);
  EXPECT_EQ(net.egress_bytes(a), 0);
  auto f = records("fetch");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].field_text("error"), "no_route");
  EXPECT_EQ(f[0].field_text("host"), net.address(b));
}

TEST_F(NetTest, AddressesAreNeverReusedAfterDetach) {
  EndpointId a = net.attach("c/a", {});
  std::string addr = net.address(a);
  net.detach(a);
  EndpointId b = net.attach("c/a", {});  // the restarted instance
  EXPECT_NE(net.address(b), addr);
  EXPECT_FALSE(net.attached(a));
  EXPECT_TRUE(net.attached(b));
}

// --- egress with internet (§7.2) --------------------------------------------------------------------

TEST_F(NetTest, InternetOnReachesServiceWithExactLatencyAndHandlerInOwnFiber_Section7_2) {
  uint32_t caller_fiber = 0, server_fiber = 0;
  net.add_http_service("api.example.com", [&](const Request& r) {
    server_fiber = sim.current().id();
    sim.sleep_for(5ms);  // the handler may sleep: it runs in its own fiber
    return Response(201, "got " + r.body);
  }, kExact10ms);
  EndpointId a = net.attach("SESSIONS/main", internet_on());
  Response resp;
  Duration took;
  run([&] {
    caller_fiber = sim.current().id();
    Time t0 = sim.now();
    resp = net.fetch(a, req("POST", "https://API.example.com./v1", "x"));
    took = sim.now() - t0;
  });
  EXPECT_EQ(resp.status, 201);
  EXPECT_EQ(resp.body, "got x");
  EXPECT_EQ(took, Duration::millis(25));  // 10 ms there + 5 ms handling + 10 ms back
  EXPECT_NE(server_fiber, 0u);
  EXPECT_NE(server_fiber, caller_fiber);
  auto f = records("fetch");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].field_text("route"), "internet");
  EXPECT_EQ(f[0].field_text("status"), "201");
  EXPECT_EQ(f[0].field_text("host"), "api.example.com");  // case and trailing dot normalised
}

TEST_F(NetTest, ServiceHandlerThrowingIsA500) {
  net.add_http_service("api.example.com", [](const Request&) -> Response { throw std::runtime_error("boom"); }, kExact10ms);
  EndpointId a = net.attach("c", internet_on());
  Response resp;
  run([&] { resp = net.fetch(a, get("http://api.example.com/")); });
  EXPECT_EQ(resp.status, 500);
  EXPECT_NE(resp.body.find("boom"), std::string::npos);
}

// --- the SDK proxy's decision order (§7.2, §8 item 37) ---------------------------------------------

TEST_F(NetTest, InternetOffWithoutHandlersIs520AndTcpDenied_Item37) {
  add_api();
  net.add_database("db.internal", 4, kExact10ms);
  EndpointId a = net.attach("c", EgressPolicy{});  // raw ctx.container default: internet off (§1.2)
  Response resp;
  Duration took;
  Caught db;
  run([&] {
    Time t0 = sim.now();
    resp = net.fetch(a, get("http://api.example.com/"));
    took = sim.now() - t0;
    db = catch_net([&] { net.connect_db(a, "db.internal"); });
  });
  EXPECT_EQ(resp.status, 520);
  EXPECT_EQ(resp.body, "Origin is disallowed");
  EXPECT_EQ(took, Duration::zero());
  EXPECT_EQ(api_calls, 0);
  EXPECT_EQ(db.kind, NetError::Kind::denied);
  EXPECT_EQ(net.open_connections("db.internal"), 0);
  EXPECT_EQ(net.egress_bytes(a), 0);
  ASSERT_EQ(records("denied").size(), 1u);
}

TEST_F(NetTest, DeniedHostIs520EvenWithInternetAndCatchAll_Section7_2) {
  add_api("x.evil.com");
  EgressPolicy p = internet_on();
  p.denied_hosts = {"*.EVIL.com."};  // normalised: case and trailing dots
  int catch_all = 0;
  p.outbound = [&](const Request&) { ++catch_all; return Response(200, "catch-all"); };
  EndpointId a = net.attach("c", p);
  Response resp;
  run([&] { resp = net.fetch(a, get("http://x.evil.com./")); });
  EXPECT_EQ(resp.status, 520);
  EXPECT_EQ(api_calls, 0);
  EXPECT_EQ(catch_all, 0);
  auto d = records("denied");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].field_text("reason").find("*.evil.com"), std::string::npos);
}

TEST_F(NetTest, AllowlistGrantsInternetAndRejectsTheRest_Section7_2) {
  add_api();
  add_api("other.example.com");
  EgressPolicy off;
  off.allowed_hosts = {"api.example.com"};
  EgressPolicy on = internet_on();
  on.allowed_hosts = {"api.*"};
  EndpointId a = net.attach("off", off), b = net.attach("on", on);
  Response a_api, a_other, b_other;
  run([&] {
    a_api = net.fetch(a, get("http://api.example.com/p"));
    a_other = net.fetch(a, get("http://other.example.com/"));
    b_other = net.fetch(b, get("http://other.example.com/"));  // internet on, but not allowlisted
  });
  EXPECT_EQ(a_api.status, 200);  // allowlisted => internet even with enableInternet=false
  EXPECT_EQ(a_api.body, "/p from api");
  EXPECT_EQ(a_other.status, 520);
  EXPECT_EQ(b_other.status, 520);
  EXPECT_EQ(api_calls, 1);
}

TEST_F(NetTest, HostGlobsMatchAnyRunOfCharacters_Section7_2) {
  EgressPolicy p;
  p.allowed_hosts = {"a*b*c.org", "exact.net"};
  p.outbound = [](const Request&) { return Response(200, "through"); };  // observes what the allowlist lets by
  EndpointId a = net.attach("c", p);
  std::map<std::string, int> status;
  run([&] {
    for (std::string h : {"abc.org", "axxbyyc.org", "ABC.ORG..", "acb.org", "abc.org.evil", "exact.net", "xexact.net"})
      status[h] = net.fetch(a, get("http://" + h + "/")).status;
  });
  EXPECT_EQ(status["abc.org"], 200);
  EXPECT_EQ(status["axxbyyc.org"], 200);
  EXPECT_EQ(status["ABC.ORG.."], 200);  // case and trailing dots normalised
  EXPECT_EQ(status["acb.org"], 520);
  EXPECT_EQ(status["abc.org.evil"], 520);
  EXPECT_EQ(status["exact.net"], 200);
  EXPECT_EQ(status["xexact.net"], 520);
}

TEST_F(NetTest, HandlerOrderExactThenGlobThenCatchAll_Section7_2) {
  add_api();
  EgressPolicy p = internet_on();
  p.outbound_by_host["*.example.com"] = [](const Request&) { return Response(200, "glob"); };
  p.outbound_by_host["api.example.com"] = [](const Request&) { return Response(200, "exact"); };
  // Two globs match "abc.org": the first in key (byte) order wins, "a*" before "ab*". (The SDK
  // walks its object in insertion order; a std::map has none.)
  p.outbound_by_host["ab*"] = [](const Request&) { return Response(200, "glob ab*"); };
  p.outbound_by_host["a*"] = [](const Request&) { return Response(200, "glob a*"); };
  p.outbound = [](const Request&) { return Response(200, "catch-all"); };
  EndpointId a = net.attach("c", p);
  std::string exact, glob, first_glob, all;
  Duration took;
  run([&] {
    Time t0 = sim.now();
    exact = net.fetch(a, get("http://api.example.com/")).body;
    glob = net.fetch(a, get("http://www.example.com/")).body;
    first_glob = net.fetch(a, get("http://abc.org/")).body;
    all = net.fetch(a, get("http://elsewhere.org/")).body;
    took = sim.now() - t0;
  });
  EXPECT_EQ(exact, "exact");
  EXPECT_EQ(glob, "glob");
  EXPECT_EQ(first_glob, "glob a*");
  EXPECT_EQ(all, "catch-all");       // before internet, although internet is on
  EXPECT_EQ(api_calls, 0);
  EXPECT_EQ(took, Duration::zero());  // handlers take no network time
  EXPECT_EQ(net.egress_bytes(a), 0);
}

TEST_F(NetTest, OutboundHandlerThrowingIsA500) {
  EgressPolicy p;
  p.outbound = [](const Request&) -> Response { throw std::runtime_error("handler broke"); };
  EndpointId a = net.attach("c", p);
  Response r;
  run([&] { r = net.fetch(a, get("http://x.org/")); });
  EXPECT_EQ(r.status, 500);
  ASSERT_EQ(records("handler-error").size(), 1u);
  EXPECT_EQ(records("handler-error")[0].field_text("error"), "handler broke");
}

TEST_F(NetTest, LivePolicyChangeWithoutRestartButInternetIsFixed_Item38) {
  add_api();
  EndpointId a = net.attach("c", EgressPolicy{});
  Response before, after;
  run([&] {
    before = net.fetch(a, get("http://api.example.com/"));
    EgressPolicy p;
    p.outbound_by_host["api.example.com"] = [](const Request&) { return Response(200, "handled"); };
    net.set_policy(a, p);  // live: the same endpoint, no detach/attach
    after = net.fetch(a, get("http://api.example.com/"));
  });
  EXPECT_EQ(before.status, 520);
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, "handled");
  try {
    net.set_policy(a, internet_on());
    FAIL() << "changing internet must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("restart"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(net.policy(a).internet);
  EXPECT_EQ(net.policy(a).outbound_by_host.size(), 1u);  // the failed change left the policy alone
}

// --- DNS (§7.2, version-dependent) ---------------------------------------------------------------------

TEST_F(NetTest, UnknownHostWithInternetIsDnsError) {
  add_api();
  EndpointId a = net.attach("c", internet_on());
  Caught c, ip;
  run([&] {
    c = catch_net([&] { net.fetch(a, get("http://nope.example/")); });
    ip = catch_net([&] { net.fetch(a, get("http://93.184.216.34/")); });
  });
  ASSERT_EQ(c.kind, NetError::Kind::dns);
  EXPECT_NE(c.message.find("nope.example"), std::string::npos);
  EXPECT_NE(c.message.find("api.example.com"), std::string::npos);  // names what exists
  EXPECT_EQ(ip.kind, NetError::Kind::no_route);
}

class NetNoDnsTest : public NetTest {
 protected:
  NetNoDnsTest() : NetTest(no_dns()) {}
  static NetworkOptions no_dns() {
    NetworkOptions o;
    o.dns_without_internet = false;
    return o;
  }
};

TEST_F(NetNoDnsTest, OlderPlatformNoDnsWithoutInternet_A16) {
  add_api();
  EndpointId a = net.attach("c", EgressPolicy{});
  Caught c;
  Duration took;
  run([&] {
    Time t0 = sim.now();
    c = catch_net([&] { net.fetch(a, get("http://api.example.com/")); });
    took = sim.now() - t0;
  });
  EXPECT_EQ(c.kind, NetError::Kind::dns);  // the default options give a 520 here (test above)
  EXPECT_EQ(took, net.options().dns_timeout);
  net.add_database("db.internal", 1, kExact10ms);
  Caught db;
  run([&] { db = catch_net([&] { net.connect_db(a, "db.internal"); }); });
  EXPECT_EQ(db.kind, NetError::Kind::dns);  // with DNS, the same connect is NetError denied
}

// --- the database ------------------------------------------------------------------------------------

TEST_F(NetTest, DatabaseRoundTripsConnectionLimitAndFreeing) {
  net.add_database("db.internal", 2, kExact10ms);
  EndpointId a = net.attach("c/a", internet_on()), b = net.attach("c/b", internet_on());
  std::string set, got_b, missing, del, after_close;
  Caught third, closed_query;
  Duration connect_took, query_took;
  int open_after_close = -1, open_after_detach = -1;
  bool a2_open_after_detach = true;
  run([&] {
    Time t0 = sim.now();
    DbConnection a1 = net.connect_db(a, "db.internal");
    connect_took = sim.now() - t0;
    DbConnection a2 = net.connect_db(a, "db.internal");
    third = catch_net([&] { net.connect_db(b, "db.internal"); });
    t0 = sim.now();
    set = a1.query("SET user:1 Ada Lovelace");
    query_took = sim.now() - t0;
    a1.close();
    open_after_close = net.open_connections("db.internal");
    closed_query = catch_net([&] { a1.query("GET user:1"); });
    DbConnection b1 = net.connect_db(b, "db.internal");  // the freed slot
    got_b = b1.query("GET user:1");
    missing = b1.query("GET user:2");
    net.detach(a);  // a2 closes with its endpoint
    open_after_detach = net.open_connections("db.internal");
    a2_open_after_detach = a2.open();
    del = b1.query("DEL user:1");
    after_close = b1.query("GET user:1");
  });
  EXPECT_EQ(connect_took, Duration::millis(20));  // one round trip
  EXPECT_EQ(third.kind, NetError::Kind::too_many_connections);
  EXPECT_NE(third.message.find("2 of 2"), std::string::npos) << third.message;
  EXPECT_EQ(set, "OK");
  EXPECT_EQ(query_took, Duration::millis(20));
  EXPECT_EQ(open_after_close, 1);
  EXPECT_EQ(closed_query.kind, NetError::Kind::reset);
  EXPECT_EQ(got_b, "Ada Lovelace");  // one store, shared by every client
  EXPECT_EQ(missing, "(nil)");
  EXPECT_EQ(open_after_detach, 1);
  EXPECT_FALSE(a2_open_after_detach);
  EXPECT_EQ(del, "1");
  EXPECT_EQ(after_close, "(nil)");
  EXPECT_EQ(net.open_connections("db.internal"), 0);  // b1 closed when it went out of scope
}

TEST_F(NetTest, DatabaseRefusesWrongPortAndHttp) {
  add_api();
  net.add_database("db.internal", 1, kExact10ms);
  EndpointId a = net.attach("c", internet_on());
  Caught port, http_db, db_http;
  run([&] {
    port = catch_net([&] { net.connect_db(a, "db.internal", 3306); });
    http_db = catch_net([&] { net.fetch(a, get("http://db.internal/")); });
    db_http = catch_net([&] { net.connect_db(a, "api.example.com"); });
  });
  EXPECT_EQ(port.kind, NetError::Kind::refused);
  EXPECT_EQ(http_db.kind, NetError::Kind::refused);
  EXPECT_EQ(db_http.kind, NetError::Kind::refused);
}

// --- faults --------------------------------------------------------------------------------------------

TEST_F(NetTest, PartitionHangsUntilTimeoutThenHealRestores) {
  add_api();
  EndpointId a = net.attach("c", internet_on());
  Caught during, in_flight;
  Duration during_took, in_flight_took, healed_took;
  Response healed;
  run([&] {
    net.partition("api.example.com");
    Time t0 = sim.now();
    during = catch_net([&] { net.fetch(a, get("http://api.example.com/")); });
    during_took = sim.now() - t0;
    net.heal("api.example.com");
    t0 = sim.now();
    healed = net.fetch(a, get("http://api.example.com/"));
    healed_took = sim.now() - t0;
    // A partition that starts while the request is on the wire catches it on arrival.
    sim.call_after(5ms, [&] { net.partition("api.example.com"); });
    t0 = sim.now();
    in_flight = catch_net([&] { net.fetch(a, get("http://api.example.com/")); });
    in_flight_took = sim.now() - t0;
  });
  EXPECT_EQ(during.kind, NetError::Kind::timeout);
  EXPECT_EQ(during_took, Duration::seconds(30));  // unreachable_timeout default
  EXPECT_EQ(healed.status, 200);
  EXPECT_EQ(healed_took, Duration::millis(20));
  EXPECT_EQ(in_flight.kind, NetError::Kind::timeout);
  EXPECT_EQ(in_flight_took, Duration::seconds(30));
  EXPECT_EQ(api_calls, 1);  // lost requests reach no handler
  EXPECT_EQ(records("partition").size(), 2u);
  EXPECT_EQ(records("heal").size(), 1u);
}

TEST_F(NetTest, PartitionedDatabaseQueryTimesOutAndClosesTheConnection) {
  net.add_database("db.internal", 1, kExact10ms);
  EndpointId a = net.attach("c", internet_on());
  Caught c;
  int open_after = -1;
  run([&] {
    DbConnection conn = net.connect_db(a, "db.internal");
    net.partition("db.internal");
    c = catch_net([&] { conn.query("GET k"); });
    open_after = net.open_connections("db.internal");
  });
  EXPECT_EQ(c.kind, NetError::Kind::timeout);
  EXPECT_EQ(open_after, 0);
}

TEST_F(NetTest, LossRateRoughlyAsConfiguredOnFixedSeed) {
  add_api();
  EndpointId a = net.attach("c", internet_on());
  net.set_loss("api.example.com", 100'000);  // 10 %
  int resets = 0, oks = 0;
  constexpr int kRequests = 1000;
  Duration reset_took = Duration::zero();
  run([&] {
    for (int i = 0; i < kRequests; ++i) {
      Time t0 = sim.now();
      Caught c = catch_net([&] { EXPECT_EQ(net.fetch(a, get("http://api.example.com/")).status, 200); ++oks; });
      if (c.kind) {
        EXPECT_EQ(*c.kind, NetError::Kind::reset);
        ++resets;
        reset_took = sim.now() - t0;
      }
    }
  });
  EXPECT_EQ(resets + oks, kRequests);
  EXPECT_GT(resets, 70);  // 100 expected; sd ~9.5
  EXPECT_LT(resets, 130);
  EXPECT_EQ(api_calls, oks);                     // a lost request reaches nothing
  EXPECT_EQ(reset_took, Duration::millis(10));  // fails after its one-way latency
}

TEST_F(NetTest, SlowLinkMultipliesLatency) {
  add_api();
  EndpointId a = net.attach("c", internet_on());
  Duration took;
  run([&] {
    net.slow("api.example.com", 350);
    Time t0 = sim.now();
    net.fetch(a, get("http://api.example.com/"));
    took = sim.now() - t0;
  });
  EXPECT_EQ(took, Duration::millis(70));  // 2 x 10 ms x 3.5
  EXPECT_THROW(net.slow("api.example.com", 0), std::invalid_argument);
  EXPECT_THROW(net.set_loss("api.example.com", 1'000'001), std::invalid_argument);
  EXPECT_THROW(net.partition("nope"), std::invalid_argument);
}

TEST_F(NetTest, EgressBytesCountRequestsThatLeaveForTheInternet) {
  add_api();
  net.add_database("db.internal", 1, kExact10ms);
  EgressPolicy p = internet_on();
  p.outbound_by_host["handled.org"] = [](const Request&) { return Response(200, ""); };
  p.denied_hosts = {"bad.org"};
  EndpointId a = net.attach("c/a", p), b = net.attach("c/b", internet_on());
  Request upload = req("POST", "http://api.example.com/upload", "hello");
  upload.headers.set("Content-Type", "text/plain");
  const int64_t expected = 4 + 29 + 12 + 10 + 5;  // method + url + header name + value + body
  run([&] {
    net.fetch(a, upload);
    net.fetch(a, get("http://handled.org/"));  // served by a handler: nothing leaves
    net.fetch(a, get("http://bad.org/"));      // 520: nothing leaves
    net.fetch(b, get("http://api.example.com/"));
    DbConnection c = net.connect_db(b, "db.internal");
    c.query("GET k");
  });
  EXPECT_EQ(net.egress_bytes(a), expected);
  EXPECT_EQ(net.egress_bytes(b), 3 + 23 + 5);
  EXPECT_EQ(net.total_egress_bytes(), expected + 31);
  auto f = records("fetch");
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].field_text("bytes"), std::to_string(expected));
  EXPECT_EQ(f[1].field_text("bytes"), "0");
}

TEST_F(NetTest, FaultVerbsThroughInjector) {
  add_api();
  EndpointId a = net.attach("c", internet_on());
  FaultInjector faults(sim);
  NetFaultKnobs knobs;
  register_network_faults(faults, net, knobs);
  FaultPlan plan;
  plan.add({Time::zero() + 1s, "net-partition", "api.example.com", {{"duration_ms", "2000"}}});
  plan.add({Time::zero() + 5s, "net-loss", "api.example.com", {{"loss_ppm", "1000000"}}});
  plan.add({Time::zero() + 6s, "net-loss", "api.example.com", {{"loss_ppm", "0"}}});
  plan.add({Time::zero() + 7s, "net-slow-link", "api.example.com", {{"latency_percent", "200"}}});
  plan.add({Time::zero() + 40s, "net-partition", "api.example.com", {}});
  plan.add({Time::zero() + 41s, "net-heal", "api.example.com", {}});
  faults.apply(plan);
  // One client fiber per probe time: {start, result status or error, time taken}.
  struct Probe {
    Duration at;
    int status = 0;
    std::optional<NetError::Kind> error;
    Duration took;
  };
  std::vector<Probe> probes = {{1500ms}, {3500ms}, {5500ms}, {6500ms}, {7500ms}, {40500ms}, {41500ms}};
  for (auto& pr : probes)
    sim.spawn("client", [&] {
      sim.sleep_until(Time::zero() + pr.at);
      Caught c = catch_net([&] { pr.status = net.fetch(a, get("http://api.example.com/")).status; });
      pr.error = c.kind;
      pr.took = sim.now() - (Time::zero() + pr.at);
    });
  RunResult r = sim.run();
  ASSERT_EQ(r.reason, StopReason::quiescent) << r.describe();
  using K = NetError::Kind;
  EXPECT_EQ(probes[0].error, K::timeout);  // partitioned at 1 s
  EXPECT_EQ(probes[0].took, Duration::seconds(30));
  EXPECT_EQ(probes[1].status, 200);  // healed at 3 s by duration_ms
  EXPECT_EQ(probes[1].took, Duration::millis(20));
  EXPECT_EQ(probes[2].error, K::reset);  // net-loss 100 %
  EXPECT_EQ(probes[3].status, 200);      // net-loss 0
  EXPECT_EQ(probes[4].took, Duration::millis(40));  // slow-link 200 %
  EXPECT_EQ(probes[5].error, K::timeout);           // partition without duration...
  EXPECT_EQ(probes[6].status, 200);                 // ...until the heal verb
  auto parts = records("partition");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].field_text("heal_after"), "2000000000");
  auto heals = records("heal");
  ASSERT_EQ(heals.size(), 2u);
  EXPECT_EQ(heals[0].time, Time::zero() + 3s);
}

TEST_F(NetTest, FaultVerbOnUnknownServiceIsAClearError) {
  add_api();
  FaultInjector faults(sim);
  NetFaultKnobs knobs;
  register_network_faults(faults, net, knobs);
  FaultPlan plan;
  plan.add({Time::zero() + 1s, "net-partition", "apii.example.com", {}});
  // Rejected when the plan is applied, before the run: nothing is scheduled.
  try {
    faults.apply(plan);
    FAIL() << "expected an error";
  } catch (const FaultPlanError& e) {
    EXPECT_NE(std::string(e.what()).find("apii.example.com"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("api.example.com"), std::string::npos) << e.what();
  }
  FaultPlan bad_ppm;
  bad_ppm.add({Time::zero() + 1s, "net-loss", "api.example.com", {{"loss_ppm", "2000000"}}});
  EXPECT_THROW(faults.apply(bad_ppm), FaultPlanError);
  EXPECT_TRUE(faults.plan().empty());
}

TEST_F(NetTest, ScheduledHealDoesNotEndALaterPartition) {
  add_api();
  EndpointId a = net.attach("c", internet_on());
  FaultInjector faults(sim);
  NetFaultKnobs knobs;
  register_network_faults(faults, net, knobs);
  FaultPlan plan;
  plan.add({Time::zero() + 1s, "net-partition", "api.example.com", {{"duration_ms", "2000"}}});  // heal due at 3 s
  plan.add({Time::zero() + 2s, "net-partition", "api.example.com", {}});  // a new partition, healed by nobody
  faults.apply(plan);
  Caught c;
  sim.spawn("client", [&] {
    sim.sleep_until(Time::zero() + 4s);
    c = catch_net([&] { net.fetch(a, get("http://api.example.com/")); });
  });
  sim.run();
  EXPECT_EQ(c.kind, NetError::Kind::timeout);
  EXPECT_TRUE(records("heal").empty());
}

TEST(NetFaults, SeedDrawnPlansOverFaultVerbsApplyAndRun) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Simulator sim(sim_options(seed));
    Network net(sim);
    net.add_http_service("api.example.com", [](const Request&) { return Response(200, ""); }, kExact10ms);
    net.add_database("db.internal", 2, kExact10ms);
    FaultInjector faults(sim);
    NetFaultKnobs knobs;
    register_network_faults(faults, net, knobs);
    FaultSpace space = fault_space(network_fault_verbs(), network_fault_knobs(), {.services = net.service_names()},
                                   Duration::seconds(60), 8);
    FaultPlan plan = fault_plan_from_seed(seed, space);
    for (const auto& act : plan.actions) {
      EXPECT_TRUE(net.has_service(act.target)) << act.target;
      // 0 ms hits the kernel's "in the future" rule only at time 0; keep every action later.
      EXPECT_GE(act.at, Time::zero());
    }
    EXPECT_NO_THROW(faults.apply(plan)) << plan.to_text();
    RunResult r = sim.run();
    EXPECT_EQ(r.reason, StopReason::quiescent) << plan.to_text();
  }
}

TEST_F(NetTest, MisuseGetsClearErrors) {
  add_api();
  EndpointId a = net.attach("c", internet_on());
  EXPECT_THROW(net.fetch(a, get("http://api.example.com/")), SimError);  // not in a fiber
  EXPECT_THROW(net.add_database("db", 0), std::invalid_argument);
  EXPECT_THROW(net.add_http_service("API.example.com.", [](const Request&) { return Response(); }), std::invalid_argument);
  EXPECT_THROW(net.policy(99), std::invalid_argument);
  net.detach(a);
  std::string msg;
  run([&] {
    try {
      net.fetch(a, get("http://api.example.com/"));
    } catch (const std::invalid_argument& e) {
      msg = e.what();
    }
  });
  EXPECT_NE(msg.find("detached"), std::string::npos) << msg;
}

TEST_F(NetTest, ConnectRecordsTellWhatHappened) {
  net.add_database("db.internal", 1, kExact10ms);
  EndpointId a = net.attach("SESSIONS/main", internet_on());
  run([&] {
    DbConnection c = net.connect_db(a, "db.internal");
    catch_net([&] { net.connect_db(a, "db.internal"); });
  });
  auto r = records("connect");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].field_text("from"), "SESSIONS/main");
  EXPECT_EQ(r[0].field_text("result"), "ok");
  EXPECT_EQ(r[1].field_text("result"), "too_many_connections");
  EXPECT_EQ(r[1].field_text("took"), std::to_string(Duration::millis(20).ns));
}

// §7.2 simpleGlobMatch: replacing any pieces of a host by '*' gives a pattern that matches it;
// a pattern without '*' matches only itself.
RC_GTEST_PROP(NetGlob, StarredPiecesStillMatch, (const std::string& host, const std::vector<std::pair<uint8_t, uint8_t>>& cuts)) {
  std::string pattern = host;
  for (auto [at, len] : cuts) {
    size_t start = pattern.empty() ? 0 : at % (pattern.size() + 1);
    pattern.replace(start, std::min<size_t>(len % 4, pattern.size() - start), "*");
  }
  RC_ASSERT(host_glob_match(pattern, host));
  RC_ASSERT(host_glob_match(host, host));
  RC_ASSERT(host_glob_match("*", host));
  RC_ASSERT(!host_glob_match(host + "x", host));
}

RC_GTEST_PROP(NetGlob, NoStarMeansEquality, (const std::string& a, const std::string& b)) {
  RC_PRE(a.find('*') == std::string::npos);
  RC_ASSERT(host_glob_match(a, b) == (a == b));
}

TEST(NetOptions, RunInfoNamesEveryOptionWithUnits) {
  NetworkOptions o;
  o.dns_without_internet = false;
  auto info = run_info(o);
  ASSERT_EQ(info.size(), 3u);
  EXPECT_EQ(info[0], (std::pair<std::string, std::string>{"net.dns_without_internet", "false"}));
  EXPECT_EQ(info[1].second, "30.000s");
  EXPECT_EQ(normalize_hostname("API.Example.COM.."), "api.example.com");
}

// --- determinism ---------------------------------------------------------------------------------------

// A mixed workload: two containers, lognormal latencies, loss, a database, a partition fault.
uint64_t mixed_workload_hash(uint64_t seed) {
  Simulator sim(sim_options(seed));
  Network net(sim);
  net.add_http_service("api.example.com", [&](const Request& r) {
    sim.sleep_for(Duration::millis(static_cast<int64_t>(r.body.size())));
    return Response(200, r.body);
  }, Lognormal{Duration::millis(15), 0.6});
  net.add_database("db.internal", 3, Lognormal{Duration::millis(3), 0.4});
  net.set_loss("api.example.com", 50'000);
  FaultInjector faults(sim);
  NetFaultKnobs knobs;
  register_network_faults(faults, net, knobs);
  FaultPlan plan;
  plan.add({Time::zero() + 300ms, "net-partition", "db.internal", {{"duration_ms", "200"}}});
  faults.apply(plan);
  EgressPolicy p;
  p.internet = true;
  p.outbound_by_host["*.internal.org"] = [](const Request&) { return Response(204, ""); };
  for (int c = 0; c < 2; ++c) {
    EndpointId id = net.attach("c" + std::to_string(c), p);
    sim.spawn("client" + std::to_string(c), [&, id, c] {
      DbConnection db;
      for (int i = 0; i < 30; ++i) {
        try {
          if (!db.open()) db = net.connect_db(id, "db.internal");
          db.query("SET k" + std::to_string(i % 5) + " " + std::to_string(c));
          net.fetch(id, req("GET", i % 7 ? "http://api.example.com/x" : "http://a.internal.org/", std::string(size_t(i), 'b')));
        } catch (const NetError&) {
        }
      }
    });
  }
  RunResult r = sim.run();
  EXPECT_EQ(r.reason, StopReason::quiescent) << r.describe();
  EXPECT_TRUE(r.failed.empty()) << r.describe();
  return r.trace_hash;
}

TEST(NetDeterminism, SameSeedSameTraceHash) {
  uint64_t h1 = mixed_workload_hash(42), h2 = mixed_workload_hash(42), h3 = mixed_workload_hash(43);
  EXPECT_EQ(h1, h2);
  EXPECT_NE(h1, h3);  // the seed reaches the latency and loss draws
}

}  // namespace
