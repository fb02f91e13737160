// The World: one deployment built from a seed and options; clients reach it only through the
// Worker (platform-facts §3, §7.1); every option lands in the trace header.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §3 and §7.1 (clients reach containers only through the Worker, over HTTP):
//     /containers/concepts/architecture/ (A1), /containers/api/durable-object-container/ (A7)
//   §6 and §8 item 34: /kv/concepts/how-kv-works/ (K2), /kv/api/read-key-value-pairs/ (K3)
//   §5.1 and §8 item 28: /r2/reference/consistency/ (R1), /r2/api/workers/workers-api-reference/ (R3)
#include "model/world.h"

#include <gtest/gtest.h>

#include <chrono>

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

constexpr Duration kWork = Duration::millis(5);

struct App : Container {
  App(DurableObjectState& c, ContainerPlatform& p) : Container(c, p) { default_port = 8080; }
};

void add_app(World& w) {
  ContainerImage image;
  image.main = [](Process& p) {
    p.listen(8080, [&p](const Request&) {
      p.sim().sleep_for(kWork);
      return Response(200, "worked");
    });
  };
  w.add_container<App>("SESSIONS", image);
}

// Exact times: no jitter anywhere.
WorldOptions exact_options() {
  WorldOptions o;
  o.containers.cold_start.sigma = 0;
  o.worker.client_latency.median = 20ms;
  o.worker.client_latency.sigma = 0;
  return o;
}

void route_to_main(World& w) {
  w.set_worker([](const Request& r, Env& env) { return get_container(env.durable_object("SESSIONS"), "main").fetch(r); });
}

Request get(std::string path) {
  Request r;
  r.url = "https://app.example" + path;
  return r;
}

TEST(World, EveryOptionIsInTheTraceHeader) {
  WorldOptions o = exact_options();
  o.durable_objects_by_binding["SESSIONS"].durability_latency = 7ms;
  auto sink = std::make_shared<MemorySink>();
  SimOptions so;
  so.run_info = {{"scenario", "mine"}};
  World w(so, o, {sink});
  ASSERT_FALSE(sink->records.empty());
  const Record& header = sink->records.front();
  ASSERT_EQ(header.name, "header");
  EXPECT_EQ(header.field_text("scenario"), "mine") << "the caller's run_info is kept";
  EXPECT_EQ(header.field_text("worker.client_latency_median"), format_duration(20ms));
  EXPECT_EQ(header.field_text("containers.cold_start_sigma"), "0");
  EXPECT_NE(header.field("net.dns_timeout"), nullptr);
  EXPECT_NE(header.field("do.durability_latency"), nullptr);
  EXPECT_EQ(header.field_text("do.SESSIONS.durability_latency"), format_duration(7ms));
}

TEST(World, AClientReachesTheContainerThroughTheWorkerWithExactLatencies_S3_S7_1) {
  World w(SimOptions{.seed = 3}, exact_options());
  add_app(w);
  route_to_main(w);
  Response first, second;
  Time second_sent, second_done;
  w.client("alice", [&] {
    first = w.fetch(get("/work"));  // a cold start
    second_sent = w.sim().now();
    second = w.fetch(get("/work"));
    second_done = w.sim().now();
  });
  w.run(RunLimits{.until = Time::zero() + 1h});
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "worked");
  EXPECT_EQ(second.status, 200);
  // Warm: client -> edge 20 ms, DO -> container 1 ms, the work 5 ms, back 1 ms, edge -> client 20 ms.
  EXPECT_EQ(second_done - second_sent, Duration(20ms) + Duration(1ms) + kWork + Duration(1ms) + Duration(20ms));
  const ContainerRuntime* rt = w.containers().find_runtime("SESSIONS", "main");
  ASSERT_NE(rt, nullptr);
  EXPECT_EQ(rt->start_count(), 1u);
  EXPECT_EQ(w.worker().requests(), 2u);
}

TEST(World, AWorkerWithoutAHandlerAnswers1101) {
  World w;
  Response r;
  w.client("bob", [&] { r = w.fetch(get("/")); });
  w.run();
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("Error 1101"), std::string::npos) << r.body;
}

TEST(World, ABindingCanBeAddedOnce) {
  World w;
  add_app(w);
  EXPECT_THROW(add_app(w), std::invalid_argument);
  EXPECT_EQ(&w.durable_object("SESSIONS"), &w.env().durable_object("SESSIONS"));
  EXPECT_THROW(w.durable_object("NOPE"), std::out_of_range);
}

TEST(World, FaultPlansReachContainersAndObjectsOfEveryBinding) {
  auto sink = std::make_shared<MemorySink>();
  World w(SimOptions{.seed = 5}, exact_options(), {sink});
  add_app(w);
  route_to_main(w);
  w.declare_instances("SESSIONS", {"main"});
  FaultPlan plan;
  plan.add({Time::zero() + 30s, "container-crash", "SESSIONS/main", {{"exit_code", "3"}}});
  plan.add({Time::zero() + 40s, "do-reset", "SESSIONS/main", {}});
  w.apply(plan);
  w.client("carol", [&] { w.fetch(get("/work")); });
  w.run(RunLimits{.until = Time::zero() + 1min});
  const ContainerRuntime* rt = w.containers().find_runtime("SESSIONS", "main");
  ASSERT_NE(rt, nullptr);
  ASSERT_TRUE(rt->last_exit().has_value());
  EXPECT_EQ(rt->last_exit()->exit_code, 3);
  EXPECT_EQ(rt->last_exit()->cause, "crash");
  int resets_at_40s = 0;
  for (const Record& r : sink->records)
    if (r.category == "do" && r.name == "reset" && r.time == Time::zero() + 40s && r.field_text("object") == "SESSIONS/main")
      ++resets_at_40s;
  EXPECT_EQ(resets_at_40s, 1) << "the do-reset reached the object";
}

TEST(World, APlanNamingAnUnknownNamespaceFailsWhenApplied) {
  World w;
  add_app(w);
  FaultPlan plan;
  plan.add({Time::zero() + 30s, "do-reset", "SESION/main", {}});  // a typo
  try {
    w.apply(plan);
    FAIL() << "applied a plan with an unknown target";
  } catch (const FaultPlanError& e) {
    EXPECT_NE(std::string(e.what()).find("'SESION/main'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("known: SESSIONS"), std::string::npos) << e.what();
  }
}

TEST(World, APlanWithAnArgumentOutOfRangeFailsWhenApplied) {
  World w;
  add_app(w);
  w.declare_instances("SESSIONS", {"main"});
  FaultPlan plan;
  plan.add({Time::zero() + 30s, "do-delay-durability", "SESSIONS/main", {{"extra_ms", "-100000"}}});
  EXPECT_THROW(w.apply(plan), FaultPlanError) << "a negative delay would hang the output gate forever";
  FaultPlan crash;
  crash.add({Time::zero() + 30s, "container-crash", "SESSIONS/main", {{"exit_code", "300"}}});
  World w2;
  add_app(w2);
  w2.declare_instances("SESSIONS", {"main"});
  EXPECT_THROW(w2.apply(crash), FaultPlanError);
}

// The error a bad plan gets, applied to a fresh world with the app and its instance declared.
std::string apply_error(const std::string& plan_text) {
  World w;
  add_app(w);
  w.declare_instances("SESSIONS", {"main"});
  w.net().add_http_service("api.example", [](const Request&) { return Response(200, "ok"); });
  try {
    w.apply(FaultPlan::parse(plan_text));
  } catch (const FaultPlanError& e) {
    return e.what();
  }
  return "";
}

TEST(World, ATargetNamingNoDeclaredInstanceFailsWhenApplied) {
  const std::string e = apply_error("cfsim-faults v1\nat 1s do-reset SESSIONS/nope\n");
  EXPECT_NE(e.find("'SESSIONS/nope' names no declared instance of SESSIONS (declared: main"), std::string::npos) << e;
  EXPECT_NE(apply_error("cfsim-faults v1\nat 1s container-oom SESSIONS/nope\n").find("no declared instance"), std::string::npos);
  EXPECT_EQ(apply_error("cfsim-faults v1\nat 1s do-reset SESSIONS/main\n"), "");
}

TEST(World, UnknownKnobsAndOutOfRangeKnobsFailWhenApplied) {
  const std::string unknown = apply_error("cfsim-faults v1\nknob r2.latency_pct 200\n");
  EXPECT_NE(unknown.find("unknown knob 'r2.latency_pct'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("r2.latency_percent"), std::string::npos) << "the message lists the known knobs: " << unknown;
  const std::string range = apply_error("cfsim-faults v1\nknob do.commit_failure_ppm 2000000\n");
  EXPECT_NE(range.find("do.commit_failure_ppm=2000000 is out of range 0..1000000"), std::string::npos) << range;
  EXPECT_EQ(apply_error("cfsim-faults v1\nknob do.commit_failure_ppm 1000\n"), "");
}

TEST(World, OldVerbAndArgumentNamesFailNamingTheNewOnes) {
  EXPECT_NE(apply_error("cfsim-faults v1\nat 1s crash SESSIONS/main\n").find("verb 'crash' is now called 'container-crash'"),
            std::string::npos);
  EXPECT_NE(apply_error("cfsim-faults v1\nat 1s partition api.example\n").find("now called 'net-partition'"), std::string::npos);
  EXPECT_NE(apply_error("cfsim-faults v1\nat 1s net-loss api.example ppm=5\n").find("argument 'ppm' is now called 'loss_ppm'"),
            std::string::npos);
  EXPECT_NE(apply_error("cfsim-faults v1\nat 1s net-loss api.example\n").find("argument 'loss_ppm' is required"), std::string::npos);
  EXPECT_NE(apply_error("cfsim-faults v1\nat 1s do-reset SESSIONS/main extra=1\n").find("unknown argument 'extra'"), std::string::npos);
}

TEST(World, EveryRegisteredVerbIsDrawableUnlessHandOnly) {
  World w;
  // What the world registered is exactly the static catalog (no verb registered outside it).
  std::vector<std::string> registered, declared;
  for (const FaultVerbDecl& d : w.faults().verbs()) registered.push_back(d.name);
  for (const FaultVerbDecl& d : World::fault_verbs()) declared.push_back(d.name);
  EXPECT_EQ(registered, declared);
  ASSERT_EQ(w.faults().knobs().size(), World::fault_knobs().size());
  // With a target of every kind, the swarm space holds every verb but the hand-only ones, and
  // every knob.
  const FaultSpace space = World::fault_space(
      {.objects = {"A/x"}, .container_namespaces = {"A"}, .services = {"s.example"}, .buckets = {"B"}, .kv_namespaces = {"K"}},
      Duration::seconds(60), 8);
  std::vector<std::string> drawn;
  for (const FaultVerbSpec& v : space.verbs) drawn.push_back(v.verb);
  for (const FaultVerbDecl& d : World::fault_verbs()) {
    const bool in_space = std::find(drawn.begin(), drawn.end(), d.name) != drawn.end();
    EXPECT_EQ(in_space, !d.hand_only) << d.name;
    if (d.hand_only) {
      EXPECT_FALSE(d.models.empty()) << d.name << " must say why it is hand-only";
    }
  }
  EXPECT_EQ(space.knobs.size(), World::fault_knobs().size());
  // do-delay-durability, once left out of a hand-written list, is drawable.
  EXPECT_NE(std::find(drawn.begin(), drawn.end(), "do-delay-durability"), drawn.end());
}

TEST(World, EveryVerbFollowsTheNamingRule) {
  for (const FaultVerbDecl& d : World::fault_verbs()) {
    const std::string prefix = d.seam == "containers" ? "container-" : d.seam == "durable_objects" ? "do-"
                               : d.seam == "net" ? "net-" : d.seam == "r2" ? "r2-" : d.seam == "workers_kv" ? "kv-" : "?";
    EXPECT_EQ(d.name.rfind(prefix, 0), 0u) << d.name;
    for (const FaultArgDecl& a : d.args) {
      const bool unit = a.word || a.name.ends_with("_ms") || a.name.ends_with("_s") || a.name.ends_with("_ppm") ||
                        a.name.ends_with("_percent") || a.name == "exit_code";
      EXPECT_TRUE(unit) << d.name << " " << a.name << " does not end in its unit";
    }
  }
  for (const FaultKnobDecl& k : World::fault_knobs()) {
    const bool unit = k.name.ends_with("_ms") || k.name.ends_with("_ppm") || k.name.ends_with("_percent");
    EXPECT_TRUE(unit) << k.name;
    EXPECT_NE(k.name.find('.'), std::string::npos) << k.name << " starts with its seam";
  }
}

// A Workers KV binding through the World: a write in one location is invisible in another that
// read the key (and cached the miss) until its cache runs out (§6, §8 item 34).
TEST(World, KvBindingIsStaleElsewhereUntilTheCacheRunsOut_S6_S8_item34) {
  WorldOptions o = exact_options();
  o.kv_by_binding["CACHE"].default_cache_ttl = 60s;
  auto sink = std::make_shared<MemorySink>();
  World w(SimOptions{.seed = 2}, o, {sink});
  KvNamespace& kv = w.add_kv("CACHE");
  EXPECT_THROW(w.add_kv("CACHE"), std::invalid_argument);
  EXPECT_EQ(&w.env().kv("CACHE"), &kv);
  EXPECT_EQ(sink->records.front().field_text("kv.CACHE.default_cache_ttl"), format_duration(60s));
  // The Worker runs where the client is (header x-loc): PUT /k=v writes, GET /k reads.
  w.set_worker([](const Request& r, Env& env) {
    const std::string loc = r.headers.get("x-loc").value_or("WNAM");
    KvNamespace& ns = env.kv("CACHE");
    if (r.method == "PUT") {
      ns.put(loc, "greeting", r.body);
      return Response(200, "stored");
    }
    auto v = ns.get(loc, "greeting");
    return v ? Response(200, *v) : Response(404, "");
  });
  auto at = [](const char* loc, std::string method, std::string body = "") {
    Request r = get("/greeting");
    r.method = std::move(method);
    r.body = std::move(body);
    r.headers.set("x-loc", loc);
    return r;
  };
  std::vector<std::pair<int64_t, int>> us_reads;  // (ms since start, status)
  w.client("us", [&] {
    for (int i = 0; i < 5; ++i) {
      us_reads.emplace_back(w.sim().now().ns / 1'000'000, w.fetch(at("WNAM", "GET")).status);
      w.sim().sleep_until(Time::zero() + Duration::seconds(20 * (i + 1)));
    }
  });
  w.client("eu", [&] {
    w.sim().sleep_for(5s);
    EXPECT_EQ(w.fetch(at("EU", "PUT", "hello")).status, 200);
    EXPECT_EQ(w.fetch(at("EU", "GET")).body, "hello") << "read-your-write in the writer's location";
  });
  w.run();
  ASSERT_EQ(us_reads.size(), 5u);
  // The first read (t=0) caches the miss in WNAM until about 60 s; the write at 5 s stays invisible
  // there until the cached miss runs out.
  EXPECT_EQ(us_reads[0].second, 404);
  EXPECT_EQ(us_reads[1].second, 404) << "t=20s: the cached miss still answers";
  EXPECT_EQ(us_reads[2].second, 404) << "t=40s";
  EXPECT_EQ(us_reads[3].second, 200) << "t=60s: the cache ran out";
  EXPECT_EQ(us_reads[4].second, 200);
}

// An R2 binding through the World: a put is visible to every later get, from anywhere, as soon
// as it resolves (§5.1, §8 item 28).
TEST(World, R2BindingReadsItsWritesFromAnywhere_S5_1_S8_item28) {
  WorldOptions o = exact_options();
  auto sink = std::make_shared<MemorySink>();
  World w(SimOptions{.seed = 4}, o, {sink});
  R2Bucket& bucket = w.add_r2("FILES");
  EXPECT_THROW(w.add_r2("FILES"), std::invalid_argument);
  EXPECT_THROW(w.add_kv("FILES"), std::invalid_argument) << "one name, one binding, whatever its kind";
  EXPECT_EQ(&w.env().r2("FILES"), &bucket);
  EXPECT_NE(sink->records.front().field("r2.get_median"), nullptr) << "the bucket options are in the header";
  w.set_worker([](const Request& r, Env& env) {
    R2Bucket& b = env.r2("FILES");
    if (r.method == "PUT") return Response(b.put("report.txt", r.body) ? 200 : 412, "");
    auto obj = b.get("report.txt");
    return obj ? Response(200, *obj->body) : Response(404, "");
  });
  Response written, read_back;
  w.client("writer", [&] {
    Request r = get("/report.txt");
    r.method = "PUT";
    r.body = "quarterly";
    written = w.fetch(r);
  });
  w.client("reader", [&] {
    w.sim().sleep_for(1s);  // after the put resolved
    read_back = w.fetch(get("/report.txt"));
  });
  w.run();
  EXPECT_EQ(written.status, 200);
  EXPECT_EQ(read_back.status, 200);
  EXPECT_EQ(read_back.body, "quarterly");
  EXPECT_EQ(bucket.object_count(), 1u);
}

TEST(World, SameSeedSameTrace) {
  auto once = [](uint64_t seed) {
    World w(SimOptions{.seed = seed});
    add_app(w);
    route_to_main(w);
    for (int c = 0; c < 3; ++c)
      w.client(std::to_string(c), [&w, c] {
        for (int i = 0; i < 4; ++i) {
          w.sim().sleep_for(Duration::seconds(1 + c));
          w.fetch(get("/work"));
        }
      });
    return w.run().trace_hash;
  };
  EXPECT_EQ(once(11), once(11));
  EXPECT_NE(once(11), once(12)) << "latencies and cold starts are drawn from the seed";
}

}  // namespace
