// Containers: the raw runtime (ctx.container), the process, and the SDK's Container class. One test
// per testable semantics item of platform-facts §8 (items 1-15 and 17, named by number), plus unit
// tests of the pieces. Everything runs in virtual time with a fixed cold start (sigma 0) and no
// hop latency, so times are exact:
// - a cold start takes exactly 2 s; the SDK's port probes run every 300 ms from the first request,
//   so an app that listens as soon as main runs is ready at 2.1 s (the first probe at or after 2 s);
// - the alarm loop sleeps to exactly the activity deadline (last activity + sleep_after) when that
//   is within 3 min, so an idle container gets SIGTERM at exactly last activity + sleep_after.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §8 item 1: workerd src/workerd/api/container.c++; /containers/api/durable-object-container/ (A7)
//   §8 item 2: workerd src/workerd/api/container.c++; workerd src/workerd/io/container.capnp
//   §8 item 3: workerd src/workerd/api/container.c++
//   §8 item 4: workerd src/workerd/io/container.capnp; @cloudflare/containers@0.3.7 dist/lib/container.js
//   §8 item 5: container.js waitForPort, doStartContainer
//   §8 item 6: container.js startContainerIfNotRunning
//   §8 item 7: container.js alarm, onActivityExpired; the platform's alarm lateness on top of the
//     deadline is UNCONFIRMED (platform-facts §10); these tests assume none
//   §8 item 8: container.js decrementInflight, isActivityExpired
//   §8 item 9: container.js alarm
//   §8 item 10: /containers/concepts/architecture/ (A1); /containers/platform-details/rollouts/ (A5)
//   §8 item 11: /containers/concepts/architecture/ (A1); /containers/faq/ (A3)
//   §8 item 12: /containers/platform-details/rollouts/ (A5); /containers/api/container-class/ (A8)
//   §8 item 13: container.js syncPendingStoppedEvents; https://github.com/cloudflare/containers/issues/253
//   §8 item 14: workerd@6552d999c79e src/workerd/server/container-client.c++; container.js
//     Container.constructor. Whether production destroys the container at once is UNCONFIRMED
//     (platform-facts §10; the capnp header comment says the engine should)
//   §8 item 15: container.js alarm; https://github.com/cloudflare/moltworker/issues/244
//   §8 item 17: @cloudflare/containers@0.3.7 dist/lib/utils.js; container.js containerFetch;
//     /containers/platform/limits/ (A4)
//   §1.1 injected env vars: /containers/platform-details/environment-variables/ (A15)
//   §1.2: workerd src/workerd/api/container.c++ Container::start (env rules; running at once) (W2);
//     workerd src/workerd/io/container.capnp (W1); /containers/api/durable-object-container/ (A7)
//   §1.4: container.js doStartContainer, waitForPort, startAndWaitForPorts, containerFetch, Container.fetch;
//     @cloudflare/containers@0.3.7 dist/lib/utils.js switchPort; /containers/api/container-class/ (A8)
//   §1.5: container.js DEFAULT_SLEEP_AFTER, renewActivityTimeout, onActivityExpired, stop;
//     @cloudflare/containers@0.3.7 dist/lib/helpers.js parseTimeExpression;
//     /containers/api/container-class/ (A8)
//   §1.6: container.js alarm, scheduleNextAlarm, schedule; @cloudflare/containers@0.3.7 README.md (schedule)
//   §1.8: /containers/concepts/architecture/ (A1), /containers/faq/ (A3); out of memory:
//     /containers/faq/ (A3), /containers/troubleshooting/ (A12)
//   §1.9: /containers/platform-details/rollouts/ and /containers/configuration/rollouts/ (A5)
//   §7 and §8 item 37: /containers/configuration/outbound-traffic/ (A9); container.js ContainerProxy.fetch;
//     raw start without internet: workerd src/workerd/io/container.capnp StartParams.enableInternet (W1)
#include "model/containers/container.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include "model/containers/faults.h"
#include "testing/bare_faults.h"
#include "testing/exact_platform.h"
#include "testing/test_world.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

Time at(Duration d) { return Time::zero() + d; }

struct Log {
  std::vector<std::pair<Time, int>> stops;  // on_stop: when, exit code
  std::vector<std::string> stop_reasons;
  std::vector<std::string> errors;
  std::vector<Time> on_starts;
  std::vector<std::pair<Time, std::string>> scheduled;  // run_scheduled: when, callback:payload
};

struct AppConfig {
  Duration sleep_after = 60s;
  bool ignore_sigterm = false;    // installs a SIGTERM handler that does nothing
  bool graceful_sigterm = false;  // installs a SIGTERM handler that exits 0
  Duration listen_delay;          // main sleeps this long before listening
  int ping_status = 200;          // what "/" answers (the readiness probe)
  bool never_listen = false;
};

// The application inside the container.
ContainerImage make_image(std::string version, AppConfig* cfg) {
  ContainerImage img;
  img.version = version;
  img.files = {{"/app/config", "pristine"}};
  img.env = {{"FROM_IMAGE", "1"}, {"OVERRIDE", "image"}};
  img.main = [cfg, version](Process& p) {
    if (cfg->ignore_sigterm) p.on_signal(kSigTerm, [&p] { p.sim().record("test", "sigterm_ignored", {}); });
    if (cfg->graceful_sigterm) p.on_signal(kSigTerm, [&p] { p.exit(0); });
    if (cfg->never_listen) {
      p.spawn("idle", [&p] { p.sim().sleep_for(Duration::seconds(1'000'000)); });
      return;
    }
    if (cfg->listen_delay > Duration::zero()) p.sim().sleep_for(cfg->listen_delay);
    p.listen(8080, [&p, cfg, version](const Request& r) -> Response {
      const std::string path = r.path();
      if (path == "/") return Response(cfg->ping_status, "pong");
      if (path == "/hello") return Response(200, version);
      if (path == "/write") {
        p.fs().write_file("/app/x", r.body);
        p.fs().write_file("/app/config", "modified");
        return Response(200, "written");
      }
      if (path == "/read") {
        std::string x = p.fs().exists("/app/x") ? p.fs().read_file("/app/x") : "missing";
        return Response(200, x + "|" + p.fs().read_file("/app/config"));
      }
      if (path == "/slow") {
        p.sim().sleep_for(20min);
        return Response(200, "slow done");
      }
      if (path == "/exit3") p.exit(3);
      if (path == "/crash") throw std::runtime_error("boom");
      if (path == "/oom") p.allocate_memory(p.memory_limit() + 1);
      if (path == "/env") {
        std::string out;
        for (const auto& [k, v] : p.environment()) out += k + "=" + v + "\n";
        return Response(200, out);
      }
      if (path == "/url") return Response(200, r.url);
      if (path == "/internet") return Response(200, p.internet_enabled() ? "on" : "off");
      if (path == "/egress") {
        Request o;
        o.url = "http://api.example/x";
        try {
          Response rr = p.fetch(o);
          return Response(200, std::to_string(rr.status) + ":" + rr.body);
        } catch (const std::exception& e) {
          return Response(200, std::string("error:") + e.what());
        }
      }
      if (path == "/self") {
        Request o;
        o.url = "http://localhost:8080/hello";
        return Response(200, "self:" + p.fetch(o).body);
      }
      return Response(404, "no route");
    });
  };
  return img;
}

struct App : Container {
  Log& log;
  App(DurableObjectState& s, ContainerPlatform& p, Log& l, const AppConfig& cfg) : Container(s, p), log(l) {
    default_port = 8080;
    sleep_after = cfg.sleep_after;
  }
  void on_start() override { log.on_starts.push_back(ctx().sim().now()); }
  void on_stop(const StopParams& sp) override {
    log.stops.emplace_back(ctx().sim().now(), sp.exit_code);
    log.stop_reasons.push_back(sp.reason);
  }
  void on_error(const std::string& e) override {
    log.errors.push_back(e);
    Container::on_error(e);
  }
  void run_scheduled(const std::string& callback, const std::string& payload) override {
    if (callback != "tick") return Container::run_scheduled(callback, payload);
    log.scheduled.emplace_back(ctx().sim().now(), callback + ":" + payload);
  }
  Response fetch(const Request& r) override {
    if (r.path() == "/do/put") {
      ctx().storage().put("user", StoredValue(r.body));
      return Response(200, "stored");
    }
    if (r.path() == "/do/get") {
      auto v = ctx().storage().get("user");
      return Response(200, v ? v->as_string() : "none");
    }
    if (r.path() == "/do/state") return Response(200, to_string(state().status));
    return Container::fetch(r);
  }
};

using testing_support::exact_options;

// The shared test world (testing/test_world.h) with this file's app bound as APP.
struct World : testing_support::TestWorld {
  Log log;
  AppConfig cfg;
  DurableObjectNamespace& ns;
  explicit World(AppConfig c = {}, ContainerNamespaceOptions nso = {}, ContainerPlatformOptions po = exact_options())
      : TestWorld(1, testing_support::exact_world_options(po)),
        cfg(c),
        ns(add_container("APP", make_image("v1", &cfg),
                         [this](DurableObjectState& s) { return std::make_unique<App>(s, platform, log, cfg); }, nso)) {}

  // Sends `path` to object `name` from a client fiber starting at `when`; the response lands in `out`.
  void send(std::string name, std::string path, Response* out, Time when = Time::zero(), std::string body = "") {
    TestWorld::send(ns, std::move(name), get(path, std::move(body)), when, [out](Response r) {
      if (out) *out = std::move(r);
    });
  }
  ContainerRuntime& rt(std::string name) { return runtime(ns, name); }
  ObjectHost& host(std::string name) { return TestWorld::host(ns, name); }

  // Times of container records named `name` whose field `key` reads `value` (any if key empty).
  std::vector<Time> when(std::string_view name, std::string_view key = "", std::string_view value = "") const {
    return times("container", name, key, value);
  }
};

// --- raw runtime -------------------------------------------------------------------------------------

TEST(ContainerRuntime, Item1_StartIsFireAndForgetAndThrowsWhenAlreadyRunning) {
  World w;
  ContainerRuntime& rt = w.rt("raw");
  std::string second_start_error, early_fetch_error;
  Time returned;
  w.sim.spawn("do", [&] {
    rt.start();
    returned = w.sim.now();
    EXPECT_TRUE(rt.running()) << "running is true immediately (§1.2)";
    EXPECT_EQ(rt.process(), nullptr) << "the process has not started yet";
    try {
      rt.start();
    } catch (const ContainerError& e) {
      second_start_error = e.what();
    }
    try {
      Request r;
      r.url = "http://c/";
      rt.get_tcp_port(8080).fetch(r);
    } catch (const ContainerError& e) {
      early_fetch_error = e.what();
    }
  });
  w.run_until(at(10s));
  EXPECT_EQ(returned, Time::zero());
  EXPECT_EQ(second_start_error, kAlreadyRunning);
  EXPECT_EQ(early_fetch_error, "The container is not listening in the TCP address 10.0.0.1:8080");
  ASSERT_EQ(w.when("process_start").size(), 1u);
  EXPECT_EQ(w.when("process_start")[0], at(2s)) << "cold start 2 s exactly with sigma 0";
  EXPECT_EQ(rt.start_count(), 1u);
}

TEST(ContainerRuntime, Item2_MonitorResolvesOnExit0AndDestroyRejectsOtherwise) {
  AppConfig cfg;
  World w(cfg);
  w.platform.add_image_version("APP", ContainerImage{"exit0", [](Process&) {}, {}, {}});
  w.platform.add_image_version("APP", ContainerImage{"exit7", [](Process& p) { p.sim().sleep_for(1s); p.exit(7); }, {}, {}});
  w.platform.add_image_version("APP", ContainerImage{"throws", [](Process&) { throw std::runtime_error("bad"); }, {}, {}});
  std::vector<std::string> outcomes;
  std::vector<int> codes;
  auto run_version = [&](std::string v, bool destroy) {
    w.platform.rollout("APP", v);
    ContainerRuntime& rt = w.rt("m-" + v);
    w.sim.spawn("do", [&, destroy] {
      rt.start();
      if (destroy) w.sim.call_after(3s, [&] { rt.destroy(); });
      try {
        rt.monitor();
        outcomes.push_back("ok");
        codes.push_back(rt.last_exit()->exit_code);
      } catch (const ContainerExitError& e) {
        outcomes.push_back(e.what());
        codes.push_back(e.exit_code());
      }
    });
    w.run_until(w.sim.now() + 10s);
  };
  run_version("exit0", false);
  run_version("exit7", false);
  run_version("throws", false);
  run_version("v1", true);  // listens forever: only destroy() ends it
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_EQ(outcomes[0], "ok") << "main returning with nothing to serve is exit 0";
  EXPECT_EQ(outcomes[1], "Container exited with unexpected exit code: 7");
  EXPECT_EQ(codes[1], 7);
  EXPECT_EQ(outcomes[2], "Container exited with unexpected exit code: 1") << "a throw out of main is exit 1";
  EXPECT_EQ(outcomes[3], "ok") << "destroy() makes a waiting monitor resolve";
  // monitor() on a stopped container throws.
  bool threw = false;
  w.sim.spawn("do", [&] {
    try {
      w.rt("m-exit0").monitor();
    } catch (const ContainerError& e) {
      threw = std::string(e.what()) == kNotRunning;
    }
  });
  w.run_until(w.sim.now() + 1s);
  EXPECT_TRUE(threw);
}

TEST(ContainerRuntime, Item3_DestroyStoppedIsNoopSignalStoppedThrowsRangeErrors) {
  World w;
  ContainerRuntime& rt = w.rt("r");
  EXPECT_NO_THROW(rt.destroy());
  EXPECT_THROW(rt.signal(kSigTerm), ContainerError);
  EXPECT_THROW(rt.signal(0), std::out_of_range);
  EXPECT_THROW(rt.signal(65), std::out_of_range);
  EXPECT_THROW(rt.get_tcp_port(0), std::out_of_range);
  EXPECT_THROW(rt.get_tcp_port(65536), std::out_of_range);
  EXPECT_NO_THROW(rt.get_tcp_port(65535));
  w.sim.spawn("do", [&] { rt.start(); });
  w.run_until(at(5s));
  EXPECT_THROW(rt.signal(65), std::out_of_range) << "range checked even when running";
  EXPECT_NO_THROW(rt.signal(kSigUsr1));
  w.run_until(at(6s));
  EXPECT_FALSE(rt.running()) << "kSigUsr1 without a handler terminates";
  EXPECT_EQ(rt.last_exit()->exit_code, 128 + kSigUsr1);
  EXPECT_EQ(rt.start_count(), 1u) << "destroy() of a stopped container started nothing";
}

TEST(ContainerRuntime, Item4_RawStartHasNoInternetContainerClassHasInternet) {
  World w;
  ContainerRuntime& raw = w.rt("raw");
  w.sim.spawn("do", [&] { raw.start(); });
  Response cls;
  w.send("cls", "/internet", &cls);
  w.run_until(at(5s));
  ASSERT_NE(raw.process(), nullptr);
  EXPECT_FALSE(raw.process()->internet_enabled());
  EXPECT_FALSE(w.net.policy(raw.process()->endpoint()).internet);
  EXPECT_EQ(cls.body, "on");
  ASSERT_NE(w.rt("cls").process(), nullptr);
  EXPECT_TRUE(w.net.policy(w.rt("cls").process()->endpoint()).internet);
}

TEST(ContainerRuntime, EnvRulesAndInjectedVariables_S1_1_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("env");
  ContainerStartOptions bad;
  bad.env = {{"A=B", "x"}};
  EXPECT_THROW(rt.start(bad), std::invalid_argument);
  bad.env = {{std::string("A\0B", 3), "x"}};
  EXPECT_THROW(rt.start(bad), std::invalid_argument);
  bad.env = {{"A", std::string("x\0y", 3)}};
  EXPECT_THROW(rt.start(bad), std::invalid_argument);
  EXPECT_FALSE(rt.running()) << "a rejected start starts nothing";
  ContainerStartOptions ok;
  ok.env = {{"OVERRIDE", "start"}, {"MINE", "1"}};
  w.sim.spawn("do", [&] { rt.start(ok); });
  w.run_until(at(3s));
  Process* p = rt.process();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->env("FROM_IMAGE"), "1");
  EXPECT_EQ(p->env("OVERRIDE"), "start") << "start env layers over the image's";
  EXPECT_EQ(p->env("MINE"), "1");
  EXPECT_EQ(p->env("CLOUDFLARE_DURABLE_OBJECT_ID"), w.ns.id_from_name("env").hex());
  for (const char* k : {"CLOUDFLARE_APPLICATION_ID", "CLOUDFLARE_COUNTRY_A2", "CLOUDFLARE_LOCATION", "CLOUDFLARE_REGION"})
    EXPECT_TRUE(p->env(k).has_value()) << k;
  EXPECT_EQ(p->memory_limit(), instance_type("lite").memory_bytes);
  EXPECT_EQ(p->fs().capacity_bytes(), instance_type("lite").disk_bytes);
}

TEST(ContainerRuntime, SigkillRunsNoAppCodeAndOomKills_S1_8) {
  AppConfig cfg;
  cfg.ignore_sigterm = true;
  World w(cfg);
  ContainerRuntime& rt = w.rt("k");
  w.sim.spawn("do", [&] { rt.start(); });
  w.run_until(at(3s));
  rt.signal(kSigKill);
  w.run_until(at(4s));
  EXPECT_FALSE(rt.running());
  EXPECT_EQ(rt.last_exit()->exit_code, 137);
  EXPECT_TRUE(w.sink->records.size() > 0);
  for (const Record& r : w.sink->records) EXPECT_NE(r.name, "sigterm_ignored");
  // OOM through allocate_memory from a request.
  Response r;
  w.send("k2", "/oom", &r);
  w.run_until(at(20s));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "Container suddenly disconnected, try again");
  EXPECT_EQ(w.rt("k2").last_exit()->exit_code, 137);
  EXPECT_EQ(w.rt("k2").last_exit()->cause, "oom");
}

// --- the SDK class -------------------------------------------------------------------------------------

TEST(Container, FirstRequestIsReadyAtFirstProbeAfterColdStart_S1_4) {
  World w;
  Response r;
  w.send("a", "/hello", &r);
  w.run_until(at(10s));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "v1");
  ASSERT_EQ(w.when("port_ready").size(), 1u);
  EXPECT_EQ(w.when("port_ready")[0], at(2100ms)) << "probes every 300 ms; the app is up at 2 s";
  ASSERT_EQ(w.log.on_starts.size(), 1u);
  EXPECT_EQ(w.log.on_starts[0], at(2100ms));
  EXPECT_EQ(w.when("probe", "phase", "acquire").size(), 1u) << "'not listening' while running ends acquisition";
  EXPECT_EQ(w.when("probe", "phase", "port").size(), 8u) << "0, 0.3, ..., 2.1 s";
  Response st;
  w.send("a", "/do/state", &st, at(11s));
  w.run_until(at(12s));
  EXPECT_EQ(st.body, "healthy");
}

TEST(Container, Item5_AnyHttpResponseIsReadyAndNotListeningIsRetriedWithinTheAttemptBudget) {
  {
    AppConfig cfg;
    cfg.ping_status = 500;
    World w(cfg);
    Response r;
    w.send("a", "/hello", &r);
    w.run_until(at(10s));
    EXPECT_EQ(r.status, 200) << "a 500 from the ping endpoint still marks the port ready";
    EXPECT_EQ(w.when("port_ready", "status", "500").size(), 1u);
  }
  {
    AppConfig cfg;
    cfg.listen_delay = 5s;  // listens at 7 s
    World w(cfg);
    Response r;
    w.send("a", "/hello", &r);
    w.run_until(at(20s));
    EXPECT_EQ(r.status, 200);
    ASSERT_EQ(w.when("port_ready").size(), 1u);
    EXPECT_EQ(w.when("port_ready")[0], at(7200ms)) << "first probe at or after 7 s on the 300 ms grid";
  }
  {
    AppConfig cfg;
    cfg.never_listen = true;
    World w(cfg);
    Response r;
    w.send("a", "/hello", &r);
    w.run_until(at(60s));
    EXPECT_EQ(kAcquireAttempts, 27);
    EXPECT_EQ(kPortReadyAttempts, 67);
    EXPECT_EQ(w.when("probe", "phase", "port").size(), 67u) << "67 - 0 attempts used in acquisition";
    ASSERT_EQ(w.when("start_failed").size(), 1u);
    EXPECT_EQ(w.when("start_failed")[0], at(19800ms)) << "66 waits of 300 ms";
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body, "Failed to start container: The container is not listening in the TCP address 10.0.0.1:8080");
    ASSERT_FALSE(w.log.errors.empty());
    EXPECT_NE(w.log.errors.back().find("Failed to verify port 8080 is available after 20100ms"), std::string::npos)
        << w.log.errors.back();
  }
}

TEST(Container, Item6_ConcurrentColdRequestsMakeOneStart) {
  World w;
  Response a, b, c;
  w.send("a", "/hello", &a);
  w.send("a", "/hello", &b);
  w.send("a", "/hello", &c, at(1s));
  w.run_until(at(10s));
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(w.rt("a").start_count(), 1u);
  EXPECT_EQ(w.when("start").size(), 1u);
  EXPECT_EQ(w.when("start_coalesced").size(), 1u) << "b arrived while a's start was in flight and shared it";
  EXPECT_TRUE(w.when("start_failed").empty());
}

TEST(Container, Item7_IdleContainerGetsSigtermAtLastActivityPlusSleepAfterNeverSigkill) {
  World w;  // sleep_after 60 s
  Response r;
  w.send("a", "/hello", &r);
  w.run_until(at(2h));
  EXPECT_EQ(r.status, 200);
  // The request finished at 2.1 s (in-flight count back to 0 renews): SIGTERM at 62.1 s exactly.
  ASSERT_EQ(w.sigterms().size(), 1u);
  EXPECT_EQ(w.sigterms()[0], at(62100ms));
  EXPECT_TRUE(w.sigkills().empty()) << "the SDK never escalates to kSigKill";
  EXPECT_FALSE(w.rt("a").running());
  EXPECT_EQ(w.rt("a").last_exit()->exit_code, 143);
  ASSERT_EQ(w.log.stops.size(), 1u);
  EXPECT_EQ(w.log.stops[0].second, 143);
  EXPECT_EQ(w.sim.run().reason, StopReason::quiescent) << "a stopped container leaves no alarm loop behind";
  if (getenv("CT_DUMP"))
    for (const Record& rec : w.sink->records)
      if (rec.category == "container" || rec.category == "do") fprintf(stderr, "%s\n", format_record(rec).c_str());
  // RPC-style requests that the object answers itself do not count as activity.
  World w2;
  w2.send("a", "/hello", &r);
  for (int i = 1; i <= 5; ++i) w2.send("a", "/do/get", nullptr, at(Duration::seconds(10 * i)));
  w2.run_until(at(10min));
  ASSERT_EQ(w2.sigterms().size(), 1u);
  EXPECT_EQ(w2.sigterms()[0], at(62100ms));
}

TEST(Container, Item8_StreamingRequestKeepsItAliveAndTheWindowRestartsWhenItEnds) {
  World w;  // sleep_after 60 s
  Response slow;
  w.send("a", "/slow", &slow);
  w.run_until(at(2h));
  EXPECT_EQ(slow.body, "slow done");
  // The handler runs from 2.1 s for 20 min: in flight until 20m02.1s; SIGTERM 60 s after.
  ASSERT_EQ(w.sigterms().size(), 1u);
  EXPECT_EQ(w.sigterms()[0], at(20min + 2100ms + 60s));
}

TEST(Container, Item9_IgnoredSigtermIsRepeatedEverySleepAfter) {
  AppConfig cfg;
  cfg.ignore_sigterm = true;
  World w(cfg);
  Response r;
  w.send("a", "/hello", &r);
  w.run_until(at(62100ms + 3 * 60s + 1s));
  std::vector<Time> t = w.sigterms();
  ASSERT_EQ(t.size(), 4u);
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i], at(Duration(62100ms) + Duration::seconds(60) * static_cast<int64_t>(i))) << i;
  EXPECT_TRUE(w.sigkills().empty());
  EXPECT_TRUE(w.rt("a").running());
}

TEST(Container, Item10_PlatformStopSigtermThenSigkillAfter15Minutes) {
  AppConfig cfg;
  cfg.ignore_sigterm = true;
  cfg.sleep_after = 10h;
  World w(cfg);
  FaultInjector faults(w.sim);
  register_container_faults(faults, w.platform, testing_support::any_instance_of(w.ns), w.fault_knobs);
  FaultPlan plan;
  plan.add(FaultAction{at(10s), "container-restart-host", "APP/a", {}});
  faults.apply(plan);
  Response r;
  w.send("a", "/hello", &r);
  w.run_until(at(1h));
  ASSERT_EQ(w.sigterms().size(), 1u);
  EXPECT_EQ(w.sigterms()[0], at(10s));
  ASSERT_EQ(w.sigkills().size(), 1u);
  EXPECT_EQ(w.sigkills()[0], at(10s + 15min));
  EXPECT_EQ(w.rt("a").last_exit()->exit_code, 137);
  // The SDK parses "Runtime signalled the container to exit: 137" and replays on_stop.
  ASSERT_EQ(w.log.stops.size(), 1u);
  EXPECT_EQ(w.log.stops[0].second, 137);
  // The next request restarts it.
  Response again;
  w.send("a", "/hello", &again, at(1h));
  w.run_until(at(1h + 10s));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(w.rt("a").start_count(), 2u);

  // A process that exits on SIGTERM is gone at once: no SIGKILL.
  AppConfig graceful;
  graceful.graceful_sigterm = true;
  graceful.sleep_after = 10h;
  World g(graceful);
  FaultInjector gf(g.sim);
  register_container_faults(gf, g.platform, testing_support::any_instance_of(g.ns), g.fault_knobs);
  FaultPlan gp;
  gp.add(FaultAction{at(10s), "container-restart-host", "APP/a", {}});
  gf.apply(gp);
  g.send("a", "/hello", nullptr);
  g.run_until(at(1h));
  EXPECT_EQ(g.sigterms().size(), 1u);
  EXPECT_TRUE(g.sigkills().empty());
  ASSERT_EQ(g.when("exit").size(), 1u);
  EXPECT_EQ(g.when("exit")[0], at(10s));
}

TEST(Container, Item11_EveryStopWipesTheDisk) {
  // Each cause of a stop, then a fresh start: the file written before is gone, the image file is pristine.
  for (std::string cause : {"idle", "crash", "oom", "destroy", "restart-host", "rollout"}) {
    SCOPED_TRACE(cause);
    World w;
    w.platform.add_image_version("APP", make_image("v2", &w.cfg));
    FaultInjector faults(w.sim);
    register_container_faults(faults, w.platform, testing_support::any_instance_of(w.ns), w.fault_knobs);
    FaultPlan plan;
    if (cause == "crash") plan.add(FaultAction{at(10s), "container-crash", "APP/a", {{"exit_code", "2"}}});
    if (cause == "oom") plan.add(FaultAction{at(10s), "container-oom", "APP/a", {}});
    if (cause == "restart-host") plan.add(FaultAction{at(10s), "container-restart-host", "APP/a", {}});
    if (cause == "rollout") plan.add(FaultAction{at(10s), "container-rollout", "APP", {{"version", "v2"}}});
    faults.apply(plan);
    Response wr, before, after;
    w.send("a", "/write", &wr, Time::zero(), "hello");
    w.send("a", "/read", &before, at(5s));
    if (cause == "destroy")
      w.sim.spawn("destroyer", [&] {
        w.sim.sleep_until(at(10s));
        w.ns.get_by_name("a").call<App>([](App& app) { app.destroy(); });
      });
    w.send("a", "/read", &after, at(20min));
    w.run_until(at(21min));
    EXPECT_EQ(before.body, "hello|modified");
    EXPECT_EQ(after.body, "missing|pristine");
    EXPECT_EQ(w.rt("a").start_count(), 2u);
    EXPECT_FALSE(w.when("disk_wipe", "files_lost", "2").empty());
  }
}

TEST(Container, Item12_DurableObjectStorageSurvivesContainerStops) {
  World w;
  w.platform.add_image_version("APP", make_image("v2", &w.cfg));
  FaultInjector faults(w.sim);
  register_container_faults(faults, w.platform, testing_support::any_instance_of(w.ns), w.fault_knobs);
  FaultPlan plan;
  plan.add(FaultAction{at(10s), "container-oom", "APP/a", {}});
  plan.add(FaultAction{at(40s), "container-crash", "APP/a", {}});
  plan.add(FaultAction{at(70s), "container-restart-host", "APP/a", {}});
  plan.add(FaultAction{at(100s), "container-rollout", "APP", {{"version", "v2"}}});
  faults.apply(plan);
  Response put;
  w.send("a", "/do/put", &put, Time::zero(), "kept");
  for (int s : {0, 30, 60, 90, 120, 300}) w.send("a", "/hello", nullptr, at(Duration::seconds(s)));
  std::vector<Response> gets(4);
  for (int i = 0; i < 4; ++i) w.send("a", "/do/get", &gets[i], at(Duration::seconds(35 + 30 * i)));
  Response final_get;
  w.send("a", "/do/get", &final_get, at(20min));
  w.run_until(at(21min));
  for (auto& g : gets) EXPECT_EQ(g.body, "kept");
  EXPECT_EQ(final_get.body, "kept");
  EXPECT_GE(w.rt("a").start_count(), 5u) << "stopped by OOM, crash, host restart, rollout and idle";
}

TEST(Container, Item13_OnStopFiresFromTheAlarmLoopNotOnRolloutStops) {
  World w;
  Response r, ex;
  w.send("a", "/hello", &r);
  w.send("a", "/exit3", &ex, at(10s));
  w.run_until(at(11s));
  EXPECT_EQ(ex.status, 500);
  ASSERT_EQ(w.log.stops.size(), 1u);
  EXPECT_EQ(w.log.stops[0].second, 3);
  EXPECT_EQ(w.log.stop_reasons[0], "exit");
  // Not synchronous: the exit is at 10 s; on_stop comes from an alarm run after it.
  ASSERT_EQ(w.when("exit").size(), 1u);
  EXPECT_EQ(w.when("exit")[0], at(10s));
  EXPECT_GT(w.log.stops[0].first, at(10s));
  EXPECT_LE(w.log.stops[0].first, at(10s) + 10ms);
  Time alarm_before_stop;
  for (const Record& rec : w.sink->records) {
    if (rec.category == "do" && rec.name == "alarm_fire") alarm_before_stop = rec.time;
    if (rec.category == "container" && rec.name == "on_stop") break;
  }
  EXPECT_GT(alarm_before_stop, at(10s)) << "an alarm fired between the exit and on_stop";

  // Rollout: no on_stop (containers#253); on_error sees the rollout message; state "stopped".
  AppConfig graceful;
  graceful.graceful_sigterm = true;
  graceful.sleep_after = 10h;
  World g(graceful);
  g.platform.add_image_version("APP", make_image("v2", &g.cfg));
  FaultInjector faults(g.sim);
  register_container_faults(faults, g.platform, testing_support::any_instance_of(g.ns), g.fault_knobs);
  FaultPlan plan;
  plan.add(FaultAction{at(10s), "container-rollout", "APP", {{"version", "v2"}}});
  faults.apply(plan);
  Response st, after;
  g.send("a", "/hello", nullptr);
  g.send("a", "/do/state", &st, at(20s));
  g.send("a", "/hello", &after, at(30s));
  g.run_until(at(40s));
  EXPECT_TRUE(g.log.stops.empty()) << "0.3.7 never calls onStop for rollout stops";
  ASSERT_FALSE(g.log.errors.empty());
  EXPECT_EQ(g.log.errors[0], "Runtime signalled the container to exit due to a new version rollout: 0");
  EXPECT_EQ(st.body, "stopped");
  EXPECT_EQ(after.body, "v2") << "the next start runs the new image";
}

TEST(Container, Item14_ResetWithContainerRunningReattachesAndRestartsTheWindow) {
  World w;  // sleep_after 60 s
  Response r;
  w.send("a", "/hello", &r);
  w.sim.call_at(at(30s), [&] { w.host("a").reset("test reset"); });
  w.run_until(at(10min));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(w.host("a").constructions(), 2u);
  EXPECT_EQ(w.rt("a").start_count(), 1u) << "the container outlived the reset";
  ASSERT_EQ(w.when("reattach").size(), 1u);
  const Time constructed = w.when("reattach")[0];
  EXPECT_EQ(constructed, at(32s)) << "the killed alarm is retried 2 s later and constructs the object";
  ASSERT_EQ(w.sigterms().size(), 1u);
  EXPECT_EQ(w.sigterms()[0], constructed + 60s) << "a full sleep_after from the new construction";
  // The re-attached monitor saw the exit: on_stop(143).
  ASSERT_EQ(w.log.stops.size(), 1u);
  EXPECT_EQ(w.log.stops[0].second, 143);
}

TEST(Container, Item15_RunningContainerKeepsAnAlarmAtLeastEvery3MinAndNeverHibernates) {
  AppConfig cfg;
  cfg.sleep_after = 2h;
  World w(cfg);
  w.send("a", "/hello", nullptr);
  w.run_until(at(1h));
  EXPECT_TRUE(w.rt("a").running());
  EXPECT_EQ(w.host("a").constructions(), 1u) << "never evicted";
  std::vector<Time> fires;
  for (const Record& rec : w.sink->records)
    if (rec.category == "do" && rec.name == "alarm_fire") fires.push_back(rec.time);
  ASSERT_GE(fires.size(), 20u);
  for (size_t i = 1; i < fires.size(); ++i) EXPECT_LE(fires[i] - fires[i - 1], Duration(3min)) << i;
  EXPECT_GE(fires.back(), at(57min));
  EXPECT_LT(w.sim.events_executed(), 1000u) << "an hour of a running container costs a few events per alarm";
}

TEST(Container, Item17_OneInstancePerNameUpToMaxInstancesThen503) {
  ContainerNamespaceOptions nso;
  nso.max_instances = 2;
  World w(AppConfig{}, nso);
  Response a1, a2, b, c;
  w.send("a", "/hello", &a1);
  w.send("a", "/hello", &a2, at(5s));
  w.send("b", "/hello", &b);
  w.send("c", "/hello", &c, at(6s));
  w.run_until(at(10s));
  EXPECT_EQ(a1.status, 200);
  EXPECT_EQ(a2.status, 200);
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(w.rt("a").start_count(), 1u) << "same name, same container";
  EXPECT_EQ(w.platform.running_instances("APP"), 2);
  EXPECT_EQ(c.status, 503);
  EXPECT_NE(c.body.find("max concurrent instance count"), std::string::npos) << c.body;
  EXPECT_FALSE(w.rt("c").running());
}

TEST(Container, FetchNeedsAPortAndRewritesHttps_S1_4) {
  World w;
  Response url;
  w.send("a", "/url", &url);
  w.run_until(at(5s));
  EXPECT_EQ(url.body, "http://app.example/url");
  // No default port and no header: fetch() throws.
  struct NoPort : Container {
    NoPort(DurableObjectState& s, ContainerPlatform& p) : Container(s, p) {}
  };
  Simulator sim;
  Network net(sim);
  ContainerPlatform platform(sim, net, exact_options());
  AppConfig cfg;
  DurableObjectNamespace ns(sim, "NP", [&](DurableObjectState& s) { return std::make_unique<NoPort>(s, platform); }, {});
  platform.register_namespace(ns, make_image("v1", &cfg));
  std::string error;
  Response switched;
  sim.spawn("client", [&] {
    Request r;
    r.url = "http://x/hello";
    try {
      ns.get_by_name("n").fetch(r);
    } catch (const std::invalid_argument& e) {
      error = e.what();
    }
    r.headers.set("cf-container-target-port", "8080");
    switched = ns.get_by_name("n").fetch(r);
  });
  sim.run(RunLimits{.until = at(10s)});
  EXPECT_NE(error.find("No port configured for this container"), std::string::npos) << error;
  EXPECT_EQ(switched.body, "v1");
}

TEST(Container, CrashMidRequestIs500Disconnected_S1_4) {
  World w;
  Response r;
  w.send("a", "/crash", &r);
  w.run_until(at(10s));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "Container suddenly disconnected, try again");
  EXPECT_EQ(w.rt("a").last_exit()->exit_code, 1);
  ASSERT_EQ(w.log.stops.size(), 1u);
  EXPECT_EQ(w.log.stops[0].second, 1);
}

TEST(ContainerRuntime, EgressFollowsEnableInternetAndLocalhostReachesOwnListener_S7) {
  World w;
  w.net.add_http_service("api.example", [](const Request&) { return Response(200, "api"); }, Lognormal{10ms, 0});
  ContainerRuntime& raw = w.rt("raw");
  Response raw_egress, raw_self, cls_egress;
  w.sim.spawn("do", [&] {
    raw.start();
    w.sim.sleep_for(3s);
    Request r;
    r.url = "http://c/egress";
    raw_egress = raw.get_tcp_port(8080).fetch(r);
    r.url = "http://c/self";
    raw_self = raw.get_tcp_port(8080).fetch(r);
  });
  w.send("cls", "/egress", &cls_egress);
  w.run_until(at(10s));
  EXPECT_EQ(raw_egress.body, "520:Origin is disallowed") << "raw start: no internet (§8 items 4, 37)";
  EXPECT_EQ(raw_self.body, "self:v1");
  EXPECT_EQ(cls_egress.body, "200:api");
}

TEST(ContainerRuntime, MainReturningKeepsServingWhileListeningAndColdStartSignalsUseDefaultAction) {
  World w;
  ContainerRuntime& rt = w.rt("a");
  w.sim.spawn("do", [&] { rt.start(); });
  w.run_until(at(1h));
  EXPECT_TRUE(rt.running()) << "main returned but its listener keeps the process alive";
  ContainerRuntime& early = w.rt("b");
  w.sim.spawn("do", [&] {
    early.start();
    w.sim.sleep_for(1s);
    early.signal(kSigInt);  // before main runs: no handler can exist yet
  });
  w.run_until(w.sim.now() + 10s);
  EXPECT_FALSE(early.running());
  EXPECT_EQ(early.last_exit()->exit_code, 128 + kSigInt);
  EXPECT_TRUE(w.when("process_start").size() == 1u) << "the cold start of b was cancelled";
  ContainerNamespaceOptions one;
  one.max_instances = 1;
  World capped(AppConfig{}, one);
  capped.sim.spawn("do", [&] { capped.rt("x").start(); });
  capped.run_until(at(1s));
  try {
    capped.rt("y").start();
    FAIL() << "the second instance started";
  } catch (const ContainerError& e) {
    EXPECT_NE(std::string(e.what()).find(kMaxInstancesExceeded), std::string::npos) << e.what();
  }
}

TEST(Container, RolloutIgnoringSigtermIsKilledAfterGraceThenRunsTheNewImage_S1_9) {
  AppConfig cfg;
  cfg.ignore_sigterm = true;
  cfg.sleep_after = 10h;
  World w(cfg);
  w.platform.add_image_version("APP", make_image("v2", &w.cfg));
  FaultInjector faults(w.sim);
  register_container_faults(faults, w.platform, testing_support::any_instance_of(w.ns), w.fault_knobs);
  FaultPlan plan;
  plan.add(FaultAction{at(1min), "container-rollout", "APP", {{"version", "v2"}}});
  faults.apply(plan);
  Response before, during, after;
  w.send("a", "/hello", &before);
  w.send("a", "/hello", &during, at(10min));
  w.send("a", "/hello", &after, at(17min));
  w.run_until(at(18min));
  EXPECT_EQ(before.body, "v1");
  EXPECT_EQ(during.body, "v1") << "the old instance drains during the grace period";
  EXPECT_EQ(after.body, "v2");
  ASSERT_EQ(w.sigkills().size(), 1u);
  EXPECT_EQ(w.sigkills()[0], at(16min));
  EXPECT_TRUE(w.log.stops.empty()) << "no on_stop for a rollout stop (containers#253)";
}

TEST(Container, StartWithoutPortsStaysRunningAndGracefulStopGivesOnStop0_S1_4_S1_5) {
  AppConfig cfg;
  cfg.graceful_sigterm = true;
  cfg.sleep_after = 10h;
  World w(cfg);
  std::string st_after_start, st_after_stop;
  auto stub = w.ns.get_by_name("a");
  w.sim.spawn("rpc", [&] {
    stub.call<App>([](App& app) { app.start(); });
    st_after_start = stub.call<App>([](App& app) { return std::string(to_string(app.state().status)); });
    w.sim.sleep_for(5s);
    stub.call<App>([](App& app) { app.stop(); });
    w.sim.sleep_for(1s);
    st_after_stop = stub.call<App>([](App& app) { return std::string(to_string(app.state().status)); });
  });
  w.run_until(at(1min));
  EXPECT_EQ(st_after_start, "running") << "start() does not wait for ports";
  ASSERT_EQ(w.log.on_starts.size(), 1u);
  EXPECT_EQ(w.log.on_starts[0], Time::zero()) << "start() runs on_start at once";
  ASSERT_EQ(w.log.stops.size(), 1u);
  EXPECT_EQ(w.log.stops[0].second, 0) << "kSigTerm handled by exit(0)";
  EXPECT_EQ(st_after_stop, "stopped");
}

TEST(Container, ScheduleRunsTasksFromTheAlarmLoop_S1_6) {
  AppConfig cfg;
  cfg.sleep_after = 10h;
  World w(cfg);
  auto stub = w.ns.get_by_name("a");
  size_t pending_before = 0, pending_after = 0;
  w.sim.spawn("rpc", [&] {
    // No container running: the alarm waits for the task (the object may be evicted meanwhile).
    stub.call<App>([](App& app) { app.schedule(Duration(90s), "tick", "idle"); });
    w.sim.sleep_until(at(100s));
    Request r;
    r.url = "http://app/hello";
    stub.fetch(r);  // the container now runs: its alarm loop must wake for the next task
    stub.call<App>([&](App& app) {
      app.schedule(at(150s), "tick", "running");
      app.schedule(at(160s), "nope", "");
      pending_before = app.scheduled_tasks();
    });
    w.sim.sleep_until(at(200s));
    pending_after = stub.call<App>([](App& app) { return app.scheduled_tasks(); });
  });
  w.run_until(at(300s));
  ASSERT_EQ(w.log.scheduled.size(), 2u);
  EXPECT_EQ(w.log.scheduled[0], std::make_pair(at(90s), std::string("tick:idle")));
  EXPECT_EQ(w.log.scheduled[1], std::make_pair(at(150s), std::string("tick:running")));
  EXPECT_EQ(pending_before, 2u);
  EXPECT_EQ(pending_after, 0u) << "one-shot: run tasks are deleted";
  ASSERT_EQ(w.log.errors.size(), 1u);
  EXPECT_NE(w.log.errors[0].find("no callback named 'nope'"), std::string::npos);
  EXPECT_GE(w.host("a").constructions(), 2u) << "evicted while idle, woken by the task's alarm";
}

TEST(SleepAfter, ParsesThePlatformFormatOnly_S1_5) {
  EXPECT_EQ(parse_sleep_after("10m"), Duration(10min));
  EXPECT_EQ(parse_sleep_after("30s"), Duration(30s));
  EXPECT_EQ(parse_sleep_after("2h"), Duration(2h));
  EXPECT_EQ(parse_sleep_after("45"), Duration(45s));
  for (const char* bad : {"1d", "1h30m", "", "-5s", "5 m", "m", "10ms", "1.5h", "99999999999999h"})
    EXPECT_THROW(parse_sleep_after(bad), std::invalid_argument) << bad;
}

TEST(Container, SameSeedSameTrace) {
  auto run = [] {
    ContainerPlatformOptions o;  // the default, random cold starts
    World w(AppConfig{}, {}, o);
    for (int i = 0; i < 5; ++i) w.send("a" + std::to_string(i % 2), "/hello", nullptr, at(Duration::seconds(i * 40)));
    w.run_until(at(30min));
    return w.sim.trace_hash();
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
