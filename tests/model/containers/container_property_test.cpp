// Property tests of the container model under generated fault plans (crash, oom, restart-host,
// rollout) and generated request times. Invariants:
// - Durable Object storage is untouched by every container stop (platform-facts §8 item 12);
// - every start sees a pristine disk: a request never reads a file written by an earlier run (§8 item 11);
// - clients only ever get 200, or a 500 with one of the SDK's bodies (§1.4);
// - once traffic stops, the container is stopped by sleep_after and the world goes quiet (§1.5, §1.6);
// - the same plan gives the same trace (determinism).
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §8 item 12: /containers/platform-details/rollouts/ (A5), /containers/api/container-class/ (A8)
//   §8 item 11: /containers/concepts/architecture/ (A1), /containers/faq/ (A3)
//   §1.4 (the SDK's 500 bodies): @cloudflare/containers@0.3.7 dist/lib/container.js containerFetch
//   §1.5: container.js renewActivityTimeout, isActivityExpired, onActivityExpired, stop
//   §1.6: container.js alarm, scheduleNextAlarm; https://github.com/cloudflare/moltworker/issues/244
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <chrono>
#include <memory>

#include "model/containers/container.h"
#include "model/containers/faults.h"
#include "testing/bare_faults.h"
#include "testing/fault_plans.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

struct PropApp : Container {
  PropApp(DurableObjectState& s, ContainerPlatform& p) : Container(s, p) {
    default_port = 8080;
    sleep_after = 60s;
  }
  Response fetch(const Request& r) override {
    if (r.path() == "/do/get") {
      auto v = ctx().storage().get("user");
      return Response(200, v ? v->as_string() : "none");
    }
    return Container::fetch(r);
  }
};

ContainerImage prop_image(std::string version) {
  ContainerImage img;
  img.version = version;
  img.files = {{"/tmp/.keep", ""}};
  img.main = [](Process& p) {
    p.on_signal(kSigTerm, [&p] { p.exit(0); });
    // Runs never overlap, so the time main starts names this run.
    const std::string mine = std::to_string(p.sim().now().ns);
    p.listen(8080, [&p, mine](const Request& r) -> Response {
      // Each request checks for a file, then writes one: a file seen at the check was written by
      // this run, so its content must name this run.
      if (r.path() == "/touch") {
        std::string seen = p.fs().exists("/tmp/f") ? p.fs().read_file("/tmp/f") : mine;
        p.fs().write_file("/tmp/f", mine);
        p.sim().sleep_for(Duration::millis(500));
        return Response(200, seen == mine ? "fresh" : "STALE:" + seen + "!=" + mine);
      }
      return Response(200, "ok");
    });
  };
  return img;
}

// Counts the app's own crashes (an exception out of a handler), which the invariants forbid: a
// crashing app would turn every request into a 500 and hide everything else.
struct CrashCounter : TraceSink {
  int crashes = 0;
  void write(const Record& r) override {
    if (r.category == "container" && r.name == "crash") ++crashes;
  }
};

struct Outcome {
  int crashes = 0;
  uint64_t hash = 0;
  std::vector<Response> responses;
  std::string stored;
  bool quiet = false;
  bool stopped = false;
};

// A fresh world per run: requests at `request_times`, the plan applied, then 1 h of silence.
Outcome run_world(const FaultPlan& plan, const std::vector<int64_t>& request_ms, uint64_t seed = 7, bool shuffle = false) {
  auto counter = std::make_shared<CrashCounter>();
  Simulator sim(SimOptions{.seed = seed, .shuffle_ties = shuffle, .trace_scheduling = false}, {counter});
  Network net(sim);
  ContainerPlatformOptions po;
  po.hop_latency = Duration::millis(1);
  ContainerPlatform platform(sim, net, po);
  DurableObjectNamespace ns(sim, "APP", [&](DurableObjectState& s) { return std::make_unique<PropApp>(s, platform); }, {});
  platform.register_namespace(ns, prop_image("v1"));
  platform.add_image_version("APP", prop_image("v2"));
  FaultInjector faults(sim);
  ContainerFaultKnobs knobs;
  register_container_faults(faults, platform, testing_support::any_instance_of(ns), knobs);
  faults.apply(plan);
  ContainerRuntime& rt = platform.runtime(ns.id_from_name("a"));
  Outcome out;
  out.responses.resize(request_ms.size());
  sim.spawn("setup", [&] {
    ns.host(ns.id_from_name("a")).storage_engine().put("user", StoredValue("kept"));
  });
  for (size_t i = 0; i < request_ms.size(); ++i) {
    sim.spawn("client", [&, i] {
      sim.sleep_until(Time::zero() + Duration::millis(request_ms[i]));
      Request r;
      r.url = "http://app/touch";
      out.responses[i] = ns.get_by_name("a").fetch(r);
    });
  }
  Time end = Time::zero() + Duration::seconds(3600 * 2);
  sim.run(RunLimits{.until = end});
  sim.spawn("check", [&] {
    Request r;
    r.url = "http://app/do/get";
    out.stored = ns.get_by_name("a").fetch(r).body;
  });
  sim.run(RunLimits{.until = end + Duration::seconds(1)});
  out.stopped = !rt.running();
  out.quiet = sim.run(RunLimits{.until = end + Duration::seconds(600)}).reason == StopReason::quiescent;
  out.hash = sim.trace_hash();
  out.crashes = counter->crashes;
  return out;
}

// The container verbs over one instance, without knobs (the property checks the lifecycle's
// invariants, not timings).
FaultSpace container_space() { return fault_space(container_fault_verbs(), {}, {.objects = {"APP/a"}}, Duration::seconds(1800), 6); }

}  // namespace

void check_invariants(const Outcome& a) {
  RC_ASSERT(a.crashes == 0);
  RC_ASSERT(a.stored == "kept");
  for (const Response& r : a.responses) {
    if (r.status == 200) {
      RC_ASSERT(r.body == "fresh");
    } else {
      RC_ASSERT(r.status == 500);
      const bool known = r.body == "Container suddenly disconnected, try again" ||
                         r.body.rfind("Failed to start container: ", 0) == 0 ||
                         r.body.rfind("Error proxying request to container: ", 0) == 0;
      RC_ASSERT(known);
    }
  }
  RC_ASSERT(a.stopped);
  RC_ASSERT(a.quiet);
}

RC_GTEST_PROP(ContainerProps, StopsNeverTouchStorageOrLeakDiskAndTheWorldGoesQuiet, ()) {
  FaultPlan plan = *testgen::fault_plan(container_space());
  if (*rc::gen::arbitrary<bool>()) {
    const int64_t s = *rc::gen::inRange<int64_t>(0, 1800);
    plan.add(FaultAction{Time::zero() + Duration::seconds(s), "container-rollout", "APP", {{"version", "v2"}}});
  }
  const auto request_ms = *rc::gen::container<std::vector<int64_t>>(*rc::gen::inRange<size_t>(1, 12),
                                                                     rc::gen::inRange<int64_t>(0, 1'800'000));
  Outcome a = run_world(plan, request_ms);
  check_invariants(a);
  Outcome b = run_world(plan, request_ms);
  RC_ASSERT(a.hash == b.hash);
}

// The same invariants when same-instant events run in a seed-shuffled order (the monitor racing
// the alarm loop, a signal racing a request, ...), and every request lands on the same instant
// as another event more often (whole seconds).
RC_GTEST_PROP(ContainerProps, InvariantsHoldUnderShuffledTies, ()) {
  FaultPlan plan = *testgen::fault_plan(container_space());
  const auto secs = *rc::gen::container<std::vector<int64_t>>(*rc::gen::inRange<size_t>(1, 12), rc::gen::inRange<int64_t>(0, 1800));
  std::vector<int64_t> request_ms;
  for (int64_t s : secs) request_ms.push_back(s * 1000);
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1'000'000);
  Outcome a = run_world(plan, request_ms, seed, true);
  check_invariants(a);
  Outcome b = run_world(plan, request_ms, seed, true);
  RC_ASSERT(a.hash == b.hash);
}
