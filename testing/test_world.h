#pragma once
// A world for tests that check exact virtual times: a cfsim::World (model/world.h) with the exact
// container platform (testing/exact_platform.h: a 2 s cold start with sigma 0, no Durable Object
// <-> container hop latency), a MemorySink that keeps every record, and the steps such tests
// repeat: send a request to an object from a client fiber at a time, run until a time, look up a
// runtime or an object host by name, pick records by category and name.
//
// Requests sent with send() go from a client fiber straight to the object's stub, so they cost no
// Worker client latency; World::fetch (through the Worker) costs WorkerOptions' 20 ms each way.
//
//   TestWorld w;
//   DurableObjectNamespace& ns = w.add_container("APP", image, [&](DurableObjectState& s) {
//     return std::make_unique<MyContainer>(s, w.platform, log);
//   });
//   Response r;
//   w.send(ns, "a", TestWorld::get("/hello"), Time::zero(), [&](Response got) { r = got; });
//   w.run_until(Time::zero() + std::chrono::minutes(5));
//   EXPECT_EQ(w.times("container", "signal", "signo", "15").size(), 1u);

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/world.h"
#include "sim/trace.h"
#include "testing/exact_platform.h"

namespace cfsim::testing_support {

// WorldOptions with the exact container platform `containers` and `durable_objects` for every
// Durable Object namespace; the Worker's client latency is the default fixed 20 ms (sigma 0).
inline WorldOptions exact_world_options(ContainerPlatformOptions containers = exact_options(),
                                        DurableObjectOptions durable_objects = {}) {
  WorldOptions o;
  o.containers = std::move(containers);
  o.durable_objects = std::move(durable_objects);
  return o;
}

class TestWorld {
 public:
  // `run_info` goes into the trace header before the world's options (e.g. {"scenario", name}).
  explicit TestWorld(uint64_t seed = 1, WorldOptions options = exact_world_options(),
                     std::vector<std::pair<std::string, std::string>> run_info = {})
      : world(SimOptions{.seed = seed, .trace_scheduling = false, .run_info = std::move(run_info)}, std::move(options), {sink}),
        sim(world.sim()),
        net(world.net()),
        platform(world.containers()),
        worker(world.worker()) {}
  TestWorld(const TestWorld&) = delete;
  TestWorld& operator=(const TestWorld&) = delete;

  // For a test that registers the container fault verbs on an injector of its own
  // (register_container_faults attaches these to the platform); declared before the world, which
  // holds a pointer to them once attached.
  ContainerFaultKnobs fault_knobs;
  std::shared_ptr<MemorySink> sink = std::make_shared<MemorySink>();
  World world;
  Simulator& sim;
  Network& net;
  ContainerPlatform& platform;
  Worker& worker;

  // --- bindings --------------------------------------------------------------------------------------
  // A container namespace bound as `binding` whose Durable Object class `factory` builds: for
  // classes whose constructor takes more than (state, platform), e.g. a test's log or config.
  DurableObjectNamespace& add_container(const std::string& binding, ContainerImage image, DurableObjectFactory factory,
                                        ContainerNamespaceOptions options = {}) {
    DurableObjectNamespace& ns = world.add_durable_object(binding, std::move(factory));
    platform.register_namespace(ns, std::move(image), std::move(options));
    return ns;
  }

  // --- running ---------------------------------------------------------------------------------------
  void run_until(Time t) { sim.run(RunLimits{.until = t}); }
  void run_for(Duration d) { run_until(sim.now() + d); }

  // --- requests --------------------------------------------------------------------------------------
  // A GET of https://app.example<path> with `body`.
  static Request get(const std::string& path, std::string body = "") {
    Request r;
    r.url = "https://app.example" + path;
    r.body = std::move(body);
    return r;
  }
  // From a client fiber ("client") that wakes at `when`: `req` to the object `name` of `ns` through
  // its stub. The response goes to `on_response`; what the fetch throws goes to `on_error`, or
  // fails the fiber (and so the run) without one.
  void send(DurableObjectNamespace& ns, std::string name, Request req, Time when,
            std::function<void(Response)> on_response = {},
            std::function<void(const std::exception&)> on_error = {}) {
    sim.spawn("client", [this, &ns, name = std::move(name), req = std::move(req), when, on_response = std::move(on_response),
                         on_error = std::move(on_error)] {
      sim.sleep_until(when);
      if (!on_error) return deliver(on_response, ns.get_by_name(name).fetch(req));
      try {
        deliver(on_response, ns.get_by_name(name).fetch(req));
      } catch (const std::exception& e) {
        on_error(e);
      }
    });
  }

  // --- lookups ---------------------------------------------------------------------------------------
  ContainerRuntime& runtime(DurableObjectNamespace& ns, const std::string& name) { return platform.runtime(ns.id_from_name(name)); }
  ObjectHost& host(DurableObjectNamespace& ns, const std::string& name) { return ns.host(ns.id_from_name(name)); }

  // --- records ---------------------------------------------------------------------------------------
  // Records of category `cat` named `name` whose field `key` reads `value` (any, if key is empty).
  std::vector<Record> records(std::string_view cat, std::string_view name, std::string_view key = "",
                              std::string_view value = "") const {
    std::vector<Record> out;
    for (const Record& r : sink->records)
      if (matches(r, cat, name, key, value)) out.push_back(r);
    return out;
  }
  // Their times.
  std::vector<Time> times(std::string_view cat, std::string_view name, std::string_view key = "",
                          std::string_view value = "") const {
    std::vector<Time> out;
    for (const Record& r : sink->records)
      if (matches(r, cat, name, key, value)) out.push_back(r.time);
    return out;
  }
  // The first (or last) of them; nullptr if none.
  const Record* first(std::string_view cat, std::string_view name, std::string_view key = "",
                      std::string_view value = "") const {
    for (const Record& r : sink->records)
      if (matches(r, cat, name, key, value)) return &r;
    return nullptr;
  }
  const Record* last(std::string_view cat, std::string_view name, std::string_view key = "",
                     std::string_view value = "") const {
    const Record* found = nullptr;
    for (const Record& r : sink->records)
      if (matches(r, cat, name, key, value)) found = &r;
    return found;
  }
  // Field `field` of every record of category `cat` named `name`, in order.
  std::vector<std::string> field_values(std::string_view cat, std::string_view name, std::string_view field) const {
    std::vector<std::string> out;
    for (const Record& r : sink->records)
      if (matches(r, cat, name, "", "")) out.push_back(r.field_text(field));
    return out;
  }
  // When a process received SIGTERM (SIGKILL): the container "signal" records.
  std::vector<Time> sigterms() const { return times("container", "signal", "signo", "15"); }
  std::vector<Time> sigkills() const { return times("container", "signal", "signo", "9"); }

 private:
  static void deliver(const std::function<void(Response)>& to, Response r) {
    if (to) to(std::move(r));
  }
  static bool matches(const Record& r, std::string_view cat, std::string_view name, std::string_view key,
                      std::string_view value) {
    return r.category == cat && r.name == name && (key.empty() || r.field_text(key) == value);
  }
};

}  // namespace cfsim::testing_support
