// Outbound interception: the raw runtime's interceptOutboundHttp / interceptAllOutboundHttp and the
// SDK Container class's egress configuration (allowed/denied hosts, outboundByHost, outbound,
// outboundHandlers and the run-time overrides), wired into the network's ContainerProxy decision
// order. After platform-facts §7.2, §1.2, §1.3 (OUTBOUND_CONFIGURATION), §3 (ctx.containerId) and
// §8 items 37-38. Cold starts are exactly 2 s and links exactly 10 ms, so every step is exact.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §7.2: /containers/configuration/outbound-traffic/ (A9); @cloudflare/containers@0.3.7
//     dist/lib/container.js ContainerProxy.fetch, normalizeHostname, simpleGlobMatch; raw intercepts:
//     workerd src/workerd/io/container.capnp setEgressHttp (W1)
//   §1.2 intercepts: /containers/api/durable-object-container/ (A7)
//   §1.3 OUTBOUND_CONFIGURATION: container.js persistOutboundConfiguration, Container.constructor
//   §3 ctx.containerId: /containers/platform-details/workers-connections/ (A10); container.js
//     applyOutboundInterception
//   §8 item 37: /containers/configuration/outbound-traffic/ (A9); partial
//     src/content/partials/containers/outbound-by-host-dns-note.mdx (A16); container.js ContainerProxy
//   §8 item 38: /containers/configuration/outbound-traffic/ (A9)
//   §8 item 4: workerd src/workerd/io/container.capnp StartParams.enableInternet (W1); container.js
//     Container field enableInternet = true
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>

#include "model/containers/container.h"
#include "model/net/network.h"
#include "testing/exact_platform.h"
#include "testing/workload_hash.h"
#include "testing/test_world.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

constexpr Lognormal kExact10ms{Duration::millis(10), 0.0};

// The SDK-based container class; each test configures it through `configure` (run in the
// constructor, as a subclass sets its fields).
struct EgressApp : Container {
  EgressApp(DurableObjectState& s, ContainerPlatform& p, const std::function<void(EgressApp&)>& configure)
      : Container(s, p) {
    default_port = 8080;
    sleep_after = Duration::seconds(3600);
    if (configure) configure(*this);
  }
  // Called by outbound handlers through the object's stub: counts in the object's storage.
  int64_t bump(const std::string& host) {
    int64_t n = 0;
    if (auto v = ctx().storage().get("hits")) n = v->as_int();
    ctx().storage().put("hits", StoredValue(n + 1));
    ctx().storage().put("last_host", StoredValue(host));
    return n + 1;
  }
  std::optional<StoredValue> stored(const std::string& key) { return ctx().storage().get(key); }
};

// The container's app: POST /out with a URL as body fetches that URL from inside the container
// and answers "<status>:<body>" or "error:<NetError kind>".
ContainerImage egress_image() {
  ContainerImage img;
  img.version = "v1";
  img.main = [](Process& p) {
    p.listen(8080, [&p](const Request& r) -> Response {
      if (r.path() != "/out") return Response(200, "pong");
      Request o;
      o.url = r.body;
      try {
        Response rr = p.fetch(o);
        return Response(200, std::to_string(rr.status) + ":" + rr.body);
      } catch (const NetError& e) {
        return Response(200, std::string("error:") + to_string(e.kind()));
      }
    });
  };
  return img;
}

using testing_support::exact_options;

// A handler that names itself, the host it saw and the object it belongs to.
OutboundHandler named(std::string name) {
  return [name](const Request& r, const OutboundContext& c) {
    return Response(200, name + "@" + r.host() + (c.params.empty() ? "" : "#" + c.params));
  };
}

// The shared test world (testing/test_world.h) with EgressApp bound as EGRESS and four internet
// services answering "internet:<host>" over links of latency `lat`.
struct World : testing_support::TestWorld {
  std::function<void(EgressApp&)> configure;
  DurableObjectNamespace& ns;

  explicit World(std::function<void(EgressApp&)> cfg = {}, uint64_t seed = 1, Lognormal lat = kExact10ms)
      : TestWorld(seed),
        configure(std::move(cfg)),
        ns(add_container("EGRESS", egress_image(),
                         [this](DurableObjectState& s) { return std::make_unique<EgressApp>(s, platform, configure); })) {
    for (const char* host : {"api.example", "other.example", "evil.example", "maps.google.com"})
      net.add_http_service(host, [host](const Request&) { return Response(200, std::string("internet:") + host); }, lat);
  }

  // From a client through the Worker path: the object proxies to its container, which fetches
  // `url`. Runs the world 30 s of virtual time.
  std::string out(const std::string& name, const std::string& url) {
    std::string result = "<no reply>";
    sim.spawn("client", [this, name, url, &result] {
      Request r;
      r.method = "POST";
      r.url = "http://app/out";
      r.body = url;
      result = ns.get_by_name(name).fetch(r).body;
    });
    sim.run(RunLimits{.until = sim.now() + 30s});
    return result;
  }

  // Runs fn on the object as an RPC (a request of the object); rethrows what it threw.
  void on(const std::string& name, std::function<void(EgressApp&)> fn) {
    std::exception_ptr err;
    sim.spawn("rpc", [&] {
      try {
        ns.get_by_name(name).call<EgressApp>([&](EgressApp& a) { fn(a); });
      } catch (...) {
        err = std::current_exception();
      }
    });
    sim.run(RunLimits{.until = sim.now() + 1s});
    if (err) std::rethrow_exception(err);
  }

  ContainerRuntime& rt(const std::string& name) { return runtime(ns, name); }

  // From a fiber that is not the container's: the raw container's app fetches `url`.
  std::string raw_out(ContainerRuntime& rt, const std::string& url) {
    std::string result = "<no reply>";
    sim.spawn("do", [&] {
      Request r;
      r.method = "POST";
      r.url = "http://c/out";
      r.body = url;
      result = rt.get_tcp_port(8080).fetch(r).body;
    });
    sim.run(RunLimits{.until = sim.now() + 10s});
    return result;
  }
  void raw_start(ContainerRuntime& rt, bool internet) {
    sim.spawn("do", [&rt, internet] { rt.start(ContainerStartOptions{.enable_internet = internet}); });
    sim.run(RunLimits{.until = sim.now() + 3s});  // past the 2 s cold start
  }

  // Values of field `route` of net fetch records, in order.
  std::vector<std::string> routes() const { return field_values("net", "fetch", "route"); }
};

// --- the SDK's decision order (§7.2) -----------------------------------------------------------------

TEST(OutboundSdk, DeniedHostIs520EvenWithInternet_S72_Item37) {
  World w([](EgressApp& a) {
    a.enable_internet = true;
    a.denied_hosts = std::vector<std::string>{"evil.example", "*.google.com"};
    a.outbound_by_host["evil.example"] = named("handler");  // denied beats every handler
  });
  EXPECT_EQ(w.out("a", "http://evil.example/x"), "520:Origin is disallowed");
  EXPECT_EQ(w.out("a", "http://maps.google.com/"), "520:Origin is disallowed") << "denied_hosts is a glob";
  EXPECT_EQ(w.out("a", "http://api.example/"), "200:internet:api.example") << "other hosts keep the internet";
}

TEST(OutboundSdk, AllowlistWithoutMatchIs520AndAMatchGetsTheInternetEvenWithItOff_S72) {
  World w([](EgressApp& a) {
    a.enable_internet = false;
    a.allowed_hosts = std::vector<std::string>{"api.example"};
  });
  EXPECT_EQ(w.out("a", "http://other.example/"), "520:Origin is disallowed");
  EXPECT_EQ(w.out("a", "http://api.example/"), "200:internet:api.example")
      << "an allowlisted host reaches the internet although enableInternet is false (step 7)";

  World on([](EgressApp& a) {
    a.enable_internet = true;
    a.allowed_hosts = std::vector<std::string>{"api.*"};
  });
  EXPECT_EQ(on.out("a", "http://other.example/"), "520:Origin is disallowed") << "the allowlist gates even with internet";
  EXPECT_EQ(on.out("a", "http://api.example/"), "200:internet:api.example");

  World empty([](EgressApp& a) { a.allowed_hosts = std::vector<std::string>{}; });
  EXPECT_EQ(empty.out("a", "http://api.example/"), "520:Origin is disallowed")
      << "a set but empty allowlist matches nothing (an empty JS array is truthy)";
}

TEST(OutboundSdk, HandlerByExactHostAndByGlobWinsOverInternet_S72) {
  World w([](EgressApp& a) {
    a.enable_internet = true;
    a.outbound_by_host["api.example"] = named("exact");
    a.outbound_by_host["*.google.com"] = named("glob");
    a.outbound_by_host["*.example"] = named("wide-glob");
  });
  EXPECT_EQ(w.out("a", "http://api.example/"), "200:exact@api.example") << "exact before any glob";
  EXPECT_EQ(w.out("a", "http://maps.google.com/"), "200:glob@maps.google.com");
  EXPECT_EQ(w.out("a", "http://other.example/"), "200:wide-glob@other.example");
  EXPECT_EQ(w.out("a", "http://API.Example./"), "200:exact@API.Example.") << "hostnames normalised (case, trailing dot)";
  const std::vector<std::string> routes = w.routes();
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0], "handler:api.example");
  EXPECT_EQ(routes[1], "handler:*.google.com");
  EXPECT_EQ(w.net.egress_bytes(w.rt("a").process()->endpoint()), 0) << "handled requests never leave for the internet";
}

TEST(OutboundSdk, CatchAllHandlerTakesWhatNoHostHandlerTakes_S72) {
  World w([](EgressApp& a) {
    a.enable_internet = true;
    a.outbound = named("catch-all");
    a.outbound_by_host["api.example"] = named("exact");
    a.denied_hosts = std::vector<std::string>{"evil.example"};
  });
  EXPECT_EQ(w.out("a", "http://other.example/"), "200:catch-all@other.example") << "the catch-all beats the internet";
  EXPECT_EQ(w.out("a", "http://api.example/"), "200:exact@api.example") << "outboundByHost comes before outbound";
  EXPECT_EQ(w.out("a", "http://evil.example/"), "520:Origin is disallowed") << "deniedHosts blocks the catch-all too";
  bool all = false;
  w.on("a", [&](EgressApp& a) { all = a.intercepts_all_outbound(); });
  EXPECT_TRUE(all) << "a catch-all promotes the instance to intercept-all";
}

TEST(OutboundSdk, InternetOffAndNoHandlerIs520_Item37) {
  World w([](EgressApp& a) {
    a.enable_internet = false;
    a.outbound_by_host["api.example"] = named("exact");
  });
  EXPECT_EQ(w.out("a", "http://api.example/"), "200:exact@api.example") << "a handler works without internet";
  EXPECT_EQ(w.out("a", "http://other.example/"), "520:Origin is disallowed");
  const std::vector<std::string> routes = w.routes();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[1], "proxy");
  EXPECT_EQ(w.net.egress_bytes(w.rt("a").process()->endpoint()), 0) << "no byte left for the internet";
}

TEST(OutboundSdk, HttpsIsInterceptedOnlyWithInterceptHttps_S72) {
  auto config = [](bool intercept_https, bool internet) {
    return [intercept_https, internet](EgressApp& a) {
      a.enable_internet = internet;
      a.intercept_https = intercept_https;
      a.denied_hosts = std::vector<std::string>{"evil.example"};
      a.outbound_by_host["api.example"] = named("exact");
    };
  };
  World plain(config(false, true));
  EXPECT_EQ(plain.out("a", "https://evil.example/"), "200:internet:evil.example")
      << "without interceptHttps no proxy sees HTTPS: the deny list does not apply";
  EXPECT_EQ(plain.out("a", "https://api.example/"), "200:internet:api.example") << "nor do handlers";
  EXPECT_EQ(plain.out("a", "http://evil.example/"), "520:Origin is disallowed") << "HTTP is still intercepted";
  World intercepted(config(true, true));
  EXPECT_EQ(intercepted.out("a", "https://evil.example/"), "520:Origin is disallowed");
  EXPECT_EQ(intercepted.out("a", "https://api.example/"), "200:exact@api.example");
  World off(config(false, false));
  EXPECT_EQ(off.out("a", "https://other.example/"), "error:denied") << "internet off, HTTPS not intercepted: no route out";
  EXPECT_EQ(off.out("a", "https://nowhere.example/"), "error:dns") << "an unknown name still fails its lookup first";
}

// --- run-time changes (§8 item 38) ------------------------------------------------------------------

TEST(OutboundSdk, HandlerChangedWhileRunningTakesEffectOnTheNextRequestWithoutRestart_Item38) {
  World w([](EgressApp& a) {
    a.enable_internet = true;
    a.outbound_handlers["a"] = named("A");
    a.outbound_handlers["b"] = named("B");
  });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:internet:api.example");
  w.on("c", [](EgressApp& a) { a.set_outbound_by_host("api.example", "a"); });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:A@api.example");
  w.on("c", [](EgressApp& a) { a.set_outbound_by_host("api.example", "b", "p1"); });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:B@api.example#p1") << "params reach the handler";
  w.on("c", [](EgressApp& a) { a.remove_outbound_by_host("api.example"); });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:internet:api.example");
  w.on("c", [](EgressApp& a) { a.deny_host("api.example"); });
  EXPECT_EQ(w.out("c", "http://api.example/"), "520:Origin is disallowed");
  w.on("c", [](EgressApp& a) { a.remove_denied_host("api.example"); });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:internet:api.example");
  EXPECT_EQ(w.rt("c").start_count(), 1u) << "no change restarted the container";
  EXPECT_TRUE(w.rt("c").running());
}

TEST(OutboundSdk, RuntimeOverridesComeBeforeStaticConfiguration_S72) {
  World w([](EgressApp& a) {
    a.enable_internet = true;
    a.outbound_by_host["api.example"] = named("static-exact");
    a.outbound = named("static-all");
    a.outbound_handlers["a"] = named("A");
    a.outbound_handlers["b"] = named("B");
  });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:static-exact@api.example");
  w.on("c", [](EgressApp& a) { a.set_outbound_by_host("*.example", "a"); });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:A@api.example")
      << "a run-time glob beats a static exact name (override table first)";
  EXPECT_EQ(w.out("c", "http://maps.google.com/"), "200:static-all@maps.google.com");
  w.on("c", [](EgressApp& a) { a.set_outbound_handler("b"); });
  EXPECT_EQ(w.out("c", "http://maps.google.com/"), "200:B@maps.google.com") << "the run-time catch-all beats the static one";
  EXPECT_EQ(w.out("c", "http://other.example/"), "200:A@other.example") << "per-host before any catch-all";
  w.on("c", [](EgressApp& a) { a.set_outbound_by_hosts({}); });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:static-exact@api.example") << "set_outbound_by_hosts replaces all";
}

TEST(OutboundSdk, UnknownHandlerNameIsRejectedWithTheName) {
  World w([](EgressApp& a) { a.outbound_handlers["a"] = named("A"); });
  std::string msg;
  try {
    w.on("c", [](EgressApp& a) { a.set_outbound_handler("nope"); });
  } catch (const std::invalid_argument& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("'nope'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("has: a"), std::string::npos) << msg;
}

TEST(OutboundSdk, ChangingEnableInternetWhileRunningNeedsARestart_Item38) {
  World w([](EgressApp& a) { a.enable_internet = true; });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:internet:api.example");
  std::string msg;
  try {
    w.on("c", [](EgressApp& a) {
      a.enable_internet = false;
      a.set_allowed_hosts({"other.example"});
    });
  } catch (const std::invalid_argument& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("restart"), std::string::npos) << msg;
  EXPECT_NE(msg.find("enable_internet changed from true to false"), std::string::npos) << msg;
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:internet:api.example")
      << "the refused change left the policy (and the allowlist) as it was";
  // Directly at the network, too: set_policy refuses a different internet flag.
  const EndpointId ep = w.rt("c").process()->endpoint();
  EgressPolicy p = w.net.policy(ep);
  p.internet = false;
  EXPECT_THROW(w.net.set_policy(ep, p), std::invalid_argument);
}

// Explicit start options can start the run with another enableInternet than the class field's:
// setting the field to what the run already has is no change that needs a restart (§7.2, item 38).
TEST(OutboundSdk, ExplicitStartOptionsFixInternetNotTheField_Item38) {
  World w([](EgressApp& a) {
    a.enable_internet = true;
    a.outbound_handlers["h"] = named("H");
  });
  std::string start_error = "<not run>";
  w.sim.spawn("rpc", [&] {
    try {
      w.ns.get_by_name("c").call<EgressApp>([](EgressApp& a) {
        ContainerStartOptions o;
        o.enable_internet = false;  // the run has no internet, whatever the field says
        a.start(o);
      });
      start_error.clear();
    } catch (const std::exception& e) {
      start_error = e.what();
    }
  });
  w.sim.run(RunLimits{.until = w.sim.now() + 30s});
  ASSERT_EQ(start_error, "");
  ASSERT_TRUE(w.rt("c").running());
  EXPECT_FALSE(w.rt("c").egress_policy().internet);
  // The field now says what the run has: the setter must not ask for a restart.
  EXPECT_NO_THROW(w.on("c", [](EgressApp& a) {
    a.enable_internet = false;
    a.set_outbound_by_host("api.example", "h");
  }));
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:H@api.example");
  EXPECT_EQ(w.rt("c").start_count(), 1u);
}

// --- the owning object (§3 last bullet) ---------------------------------------------------------------

TEST(OutboundSdk, HandlerReachesTheOwningObjectThroughTheContainerId_S3) {
  DurableObjectNamespace* ns_ptr = nullptr;
  World w([&ns_ptr](EgressApp& a) {
    a.enable_internet = false;
    a.outbound_by_host["do.internal"] = [&ns_ptr](const Request& r, const OutboundContext& c) {
      DurableObjectNamespace& ns = *ns_ptr;
      DurableObjectStub owner = ns.get(ns.id_from_string(c.container_id));
      const std::string host = r.host();
      int64_t n = owner.call<EgressApp>([host](EgressApp& o) { return o.bump(host); });
      return Response(200, c.class_name + ":" + std::to_string(n));
    };
  });
  ns_ptr = &w.ns;
  EXPECT_EQ(w.out("owner", "http://do.internal/"), "200:EGRESS:1");
  EXPECT_EQ(w.out("owner", "http://do.internal/"), "200:EGRESS:2");
  EXPECT_EQ(w.out("other", "http://do.internal/"), "200:EGRESS:1") << "each container reaches its own object";
  std::optional<StoredValue> hits;
  w.on("owner", [&](EgressApp& a) { hits = a.stored("hits"); });
  ASSERT_TRUE(hits);
  EXPECT_EQ(hits->as_int(), 2);
}

// --- persistence and restarts (§1.3, §7.2) -----------------------------------------------------------

TEST(OutboundSdk, RuntimeConfigurationIsPersistedAndSurvivesRestartAndReset_S13) {
  World w([](EgressApp& a) {
    a.enable_internet = true;
    a.outbound_handlers["a"] = named("A");
  });
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:internet:api.example");
  w.on("c", [](EgressApp& a) {
    a.set_outbound_by_host("api.example", "a", "p");
    a.set_denied_hosts({"evil.example"});
  });
  std::optional<StoredValue> cfg;
  w.on("c", [&](EgressApp& a) { cfg = a.stored(std::string(kOutboundConfigurationKey)); });
  ASSERT_TRUE(cfg);
  ASSERT_EQ(cfg->type(), StoredValue::Type::map);
  const StoredValue::Map& m = cfg->as_map();
  ASSERT_TRUE(m.count("outboundByHostOverrides"));
  const StoredValue::Map& ov = m.at("outboundByHostOverrides").as_map().at("api.example").as_map();
  EXPECT_EQ(ov.at("method").as_string(), "a");
  EXPECT_EQ(ov.at("params").as_string(), "p");
  ASSERT_TRUE(m.count("deniedHosts"));
  EXPECT_EQ(m.at("deniedHosts").as_array().at(0).as_string(), "evil.example");
  EXPECT_TRUE(m.at("hasInterceptAllRegistration").as_bool());
  EXPECT_FALSE(m.count("allowedHosts")) << "only run-time overrides are persisted";

  // The container stops: its intercepts go; the SDK registers them again before the next start.
  w.rt("c").destroy();
  EXPECT_FALSE(w.rt("c").running());
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:A@api.example#p");
  EXPECT_EQ(w.rt("c").start_count(), 2u);

  // The object resets and the container stops: the new instance restores OUTBOUND_CONFIGURATION.
  w.ns.host(w.ns.id_from_name("c")).reset("test reset");
  w.rt("c").destroy();
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:A@api.example#p");
  EXPECT_EQ(w.out("c", "http://evil.example/"), "520:Origin is disallowed");
  EXPECT_EQ(w.rt("c").start_count(), 3u);
}

TEST(OutboundSdk, PersistedOverrideNamingAMissingHandlerIsIgnored_S13) {
  World w([](EgressApp& a) { a.outbound_handlers["a"] = named("A"); });
  w.on("c", [](EgressApp& a) {
    a.set_outbound_by_host("api.example", "a");
  });
  // Another version of the class no longer has handler "a".
  w.configure = [](EgressApp& a) { a.outbound_handlers["b"] = named("B"); };
  w.ns.host(w.ns.id_from_name("c")).reset("test reset");
  EXPECT_EQ(w.out("c", "http://api.example/"), "200:internet:api.example");
  bool skipped = false;
  for (const Record& r : w.sink->records)
    if (r.category == "container" && r.name == "outbound_restore_skipped" && r.field_text("method") == "a") skipped = true;
  EXPECT_TRUE(skipped);
}

// --- the raw runtime (§1.2, §7.2) ----------------------------------------------------------------------

TEST(OutboundRaw, InterceptAppliesLiveAndIsGoneAfterRestart_S72_Item38) {
  World w;
  ContainerRuntime& rt = w.rt("raw");
  w.raw_start(rt, /*internet=*/false);
  EXPECT_EQ(w.raw_out(rt, "http://api.example/"), "520:Origin is disallowed") << "raw start: internet off (§8 items 4, 37)";
  rt.intercept_outbound_http("*.example", [](const Request& r) { return Response(200, "raw@" + r.host()); });
  EXPECT_EQ(w.raw_out(rt, "http://api.example/"), "200:raw@api.example") << "applies to the running instance";
  EXPECT_EQ(w.raw_out(rt, "http://maps.google.com/"), "520:Origin is disallowed");
  EXPECT_FALSE(rt.intercepts_all());
  rt.intercept_all_outbound_http([](const Request& r) { return Response(200, "all@" + r.host()); });
  EXPECT_TRUE(rt.intercepts_all());
  EXPECT_EQ(w.raw_out(rt, "http://maps.google.com/"), "200:all@maps.google.com");
  EXPECT_EQ(w.raw_out(rt, "http://api.example/"), "200:raw@api.example") << "a host intercept before the catch-all";
  EXPECT_EQ(rt.start_count(), 1u);

  rt.destroy();
  EXPECT_FALSE(rt.intercepts_all()) << "intercept-all lasts until the container stops";
  w.raw_start(rt, /*internet=*/false);
  EXPECT_EQ(w.raw_out(rt, "http://api.example/"), "520:Origin is disallowed") << "intercepts last until the container stops";
  EXPECT_EQ(w.raw_out(rt, "http://maps.google.com/"), "520:Origin is disallowed");
  EXPECT_EQ(rt.start_count(), 2u);
}

TEST(OutboundRaw, InterceptBeforeStartAppliesToTheNextRun_S72) {
  World w;
  ContainerRuntime& rt = w.rt("raw");
  rt.intercept_outbound_http("api.example", [](const Request&) { return Response(201, "early"); });
  w.sim.spawn("do", [&] {
    rt.start();
    w.sim.sleep_for(1s);  // within the cold start: no endpoint yet
    rt.intercept_outbound_http("other.example", [](const Request&) { return Response(202, "cold"); });
  });
  w.sim.run(RunLimits{.until = w.sim.now() + 3s});
  EXPECT_EQ(w.raw_out(rt, "http://api.example/"), "201:early");
  EXPECT_EQ(w.raw_out(rt, "http://other.example/"), "202:cold");
}

// A raw intercept and the SDK's table name the same host in two spellings: the keys are compared
// normalised, and the SDK's entry wins (model/containers/runtime.h egress_policy).
TEST(OutboundRaw, SdkEntryWinsOverARawInterceptOfTheSameNormalisedHost_S72) {
  World w;
  ContainerRuntime& rt = w.rt("raw");
  EgressPolicy proxy;
  proxy.outbound_by_host["API.example."] = [](const Request&) { return Response(200, "sdk"); };
  rt.set_outbound_proxy(proxy);
  rt.intercept_outbound_http("api.example", [](const Request&) { return Response(200, "raw"); });
  const EgressPolicy p = rt.egress_policy();
  ASSERT_EQ(p.outbound_by_host.size(), 1u);
  EXPECT_EQ(p.outbound_by_host.begin()->first, "api.example");
  w.raw_start(rt, /*internet=*/false);
  EXPECT_EQ(w.raw_out(rt, "http://api.example/"), "200:sdk") << "through the network, from the running container";
}

TEST(OutboundRaw, InterceptWithInternetOnLeavesOtherHostsOnTheInternet_S72) {
  World w;
  ContainerRuntime& rt = w.rt("raw");
  w.raw_start(rt, /*internet=*/true);
  rt.intercept_outbound_http("api.example", [](const Request&) { return Response(200, "mine"); });
  EXPECT_EQ(w.raw_out(rt, "http://api.example/"), "200:mine");
  EXPECT_EQ(w.raw_out(rt, "http://other.example/"), "200:internet:other.example");
}

TEST(OutboundRaw, BadInputIsRejectedWithTheValue) {
  World w;
  ContainerRuntime& rt = w.rt("raw");
  try {
    rt.intercept_outbound_http("...", [](const Request&) { return Response(200, ""); });
    ADD_FAILURE() << "an empty pattern must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'...'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(rt.intercept_outbound_http("api.example", HttpHandler{}), std::invalid_argument);
  EXPECT_THROW(rt.intercept_all_outbound_http(HttpHandler{}), std::invalid_argument);
}

// --- determinism ------------------------------------------------------------------------------------------

uint64_t run_once(uint64_t seed) {
  World w(
      [](EgressApp& a) {
        a.enable_internet = true;
        a.denied_hosts = std::vector<std::string>{"evil.example"};
        a.outbound_handlers["a"] = named("A");
      },
      seed, Lognormal{Duration::millis(20), 0.5});
  w.out("c", "http://api.example/");
  w.on("c", [](EgressApp& a) { a.set_outbound_by_host("other.example", "a"); });
  w.out("c", "http://other.example/");
  w.out("c", "http://evil.example/");
  w.out("c", "http://maps.google.com/");
  w.sim.run(RunLimits{.until = w.sim.now() + 1s});
  // The workload, not the trace hash: the header holds the seed, so trace hashes always differ.
  return testing_support::workload_hash(w.sink->records);
}

TEST(OutboundSdk, SameSeedSameTraceHash) {
  EXPECT_EQ(run_once(11), run_once(11));
  EXPECT_NE(run_once(11), run_once(12)) << "the latency draws depend on the seed (so the hash can differ)";
}

// --- the network's override table (net.h) ------------------------------------------------------------

TEST(OutboundNet, OverrideTableComesBeforeTheStaticOneEachExactThenGlob_S72) {
  Simulator sim(SimOptions{.trace_scheduling = false}, {});
  Network net(sim);
  EgressPolicy p;
  p.outbound_by_host["a.example"] = [](const Request&) { return Response(200, "static-exact"); };
  p.outbound_by_host_override["*.example"] = [](const Request&) { return Response(200, "override-glob"); };
  p.outbound_by_host_override["B.Example."] = [](const Request&) { return Response(200, "override-exact"); };
  p.outbound_by_host_override["z*.other"] = [](const Request&) { return Response(200, "override-glob-z"); };
  EndpointId ep = net.attach("c", p);
  std::vector<std::string> got;
  sim.spawn("c", [&] {
    for (const char* url : {"http://a.example/", "http://b.example/", "http://zb.other/"}) {
      Request r;
      r.url = url;
      got.push_back(net.fetch(ep, r).body);
    }
  });
  sim.run();
  EXPECT_EQ(got, (std::vector<std::string>{"override-glob", "override-exact", "override-glob-z"}))
      << "the override keys are normalised, exact first, then globs in key order";
  EgressPolicy bad;
  bad.outbound_by_host_override["x"] = HttpHandler{};
  EXPECT_THROW(net.set_policy(ep, bad), std::invalid_argument);
}

}  // namespace
