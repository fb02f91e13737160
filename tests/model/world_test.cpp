// The World: one deployment built from a seed and options; clients reach it only through the
// Worker (platform-facts §3, §7.1); every option lands in the trace header.
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
  o.containers.cold_start_sigma = 0;
  o.worker.client_latency_median = 20ms;
  o.worker.client_latency_sigma = 0;
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
  FaultPlan plan;
  plan.add({Time::zero() + 30s, "crash", "SESSIONS/main", {{"exit_code", "3"}}});
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
  FaultPlan plan;
  plan.add({Time::zero() + 30s, "do-delay-durability", "SESSIONS/main", {{"extra_ms", "-100000"}}});
  EXPECT_THROW(w.apply(plan), FaultPlanError) << "a negative delay would hang the output gate forever";
  FaultPlan crash;
  crash.add({Time::zero() + 30s, "crash", "SESSIONS/main", {{"exit_code", "300"}}});
  World w2;
  add_app(w2);
  EXPECT_THROW(w2.apply(crash), FaultPlanError);
}

TEST(World, FaultVerbsCoverContainersObjectsAndTheNetwork) {
  World w;
  add_app(w);
  w.net().add_http_service("api.example", [](const Request&) { return Response(200, "ok"); });
  std::vector<std::string> verbs;
  for (const FaultVerbSpec& v : w.fault_verbs({"SESSIONS/main"})) verbs.push_back(v.verb);
  for (const char* want : {"crash", "oom", "restart-host", "do-reset", "do-crash", "do-fail-commit", "partition"})
    EXPECT_NE(std::find(verbs.begin(), verbs.end(), want), verbs.end()) << want;
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
