// The Worker router and its bindings (platform-facts §3, §8 item 16).
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §3 and §8 item 16: @cloudflare/containers@0.3.7 dist/lib/utils.js getContainer, getRandom;
//     /containers/configuration/scaling-and-routing/ (A6); stubs create nothing:
//     /durable-objects/concepts/durable-object-lifecycle/ (D7), /durable-objects/api/namespace/ (D10)
#include "model/worker/worker.h"

#include <gtest/gtest.h>

#include <chrono>

#include "testing/test_world.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

struct Echo : DurableObject {
  using DurableObject::DurableObject;
  Response fetch(const Request& req) override { return Response(200, ctx().id().name() + " " + req.path()); }
};

// The shared test world (testing/test_world.h) with Echo bound as ECHO; the tests that need a
// Worker of their own build it on w.sim.
struct WorldLike : testing_support::TestWorld {
  DurableObjectNamespace& ns = world.add_durable_object("ECHO", [](DurableObjectState& c) { return std::make_unique<Echo>(c); });
};

TEST(Worker, GetContainerDefaultsToTheSingletonName_S8_item16) {
  WorldLike w;
  EXPECT_EQ(get_container(w.ns).id().hex(), w.ns.id_from_name("cf-singleton-container").hex());
  EXPECT_EQ(get_container(w.ns, "x").id().hex(), w.ns.id_from_name("x").hex());
  EXPECT_EQ(w.ns.find_host(get_container(w.ns).id()), nullptr) << "getting a stub creates nothing";
}

TEST(Worker, GetRandomPicksInstanceKUniformly_S8_item16) {
  WorldLike w;
  Random rng(7, "test");
  std::map<std::string, int> seen;
  for (int i = 0; i < 3000; ++i) seen[get_random(w.ns, rng, 3).id().name()]++;
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& [name, count] : seen) {
    EXPECT_TRUE(name == "instance-0" || name == "instance-1" || name == "instance-2") << name;
    EXPECT_NEAR(count, 1000, 100) << name;
  }
  EXPECT_THROW(get_random(w.ns, rng, 0), std::invalid_argument);
  Random a(1, "r"), b(1, "r");
  EXPECT_EQ(get_random(w.ns, a, 5).id().hex(), get_random(w.ns, b, 5).id().hex()) << "same stream, same pick";
}

TEST(Worker, ClientsReachObjectsOnlyThroughTheHandlerWithLatency) {
  WorldLike w;
  WorkerOptions o;
  o.client_latency.median = 20ms;
  Worker worker(w.sim, [](const Request& req, Env& env) { return get_container(env.durable_object("ECHO"), "main").fetch(req); }, o);
  worker.env().bind("ECHO", w.ns);
  Response r;
  int64_t at = -1;
  w.sim.spawn("client", [&] {
    Request req;
    req.url = "https://app.example/hello";
    r = worker.client_fetch(req);
    at = w.sim.now().ns;
  });
  w.sim.run();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "main /hello");
  EXPECT_EQ(at, Duration(40ms).ns) << "20 ms each way";
  EXPECT_EQ(worker.requests(), 1u);
}

TEST(Worker, AThrowingHandlerGivesThePlatforms500) {
  WorldLike w;
  Worker worker(w.sim, [](const Request&, Env& env) -> Response { return env.durable_object("MISSING").get_by_name("x").fetch({}); });
  Response r;
  w.sim.spawn("client", [&] { r = worker.client_fetch({}); });
  w.sim.run();
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("Error 1101"), std::string::npos);
  EXPECT_NE(r.body.find("MISSING"), std::string::npos) << r.body;
}

TEST(Worker, EnvVarsAndSecrets) {
  Env env;
  env.set_var("MODE", "prod");
  env.set_secret("TOKEN", "s3cret");
  EXPECT_EQ(env.var("MODE"), "prod");
  EXPECT_EQ(env.secret("TOKEN"), "s3cret");
  EXPECT_THROW(env.var("TOKEN"), std::out_of_range);
  EXPECT_THROW(env.secret("MODE"), std::out_of_range);
}

}  // namespace
