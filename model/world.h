#pragma once
// A World: one simulated deployment that a test or a scenario builds — the simulator, the network
// with its external services, the container platform, the Durable Object / container namespaces,
// the Worker with its bindings, and the fault injector — from one seed and one set of options.
//
// Simulated end users (clients) reach the world only through the Worker (platform-facts §3, §7.1):
// World::fetch is client_fetch on the Worker; there is no call that reaches a container or an
// object from outside without going through the Worker's fetch handler.
//
// Every option of the world goes into the trace's header record (net.*, containers.*, worker.*,
// do.*, do.<BINDING>.*, kv.*, kv.<BINDING>.*, r2.*, r2.<BINDING>.*), so a trace alone says how the world was configured.
//
//   World w(SimOptions{.seed = 7});
//   auto& ns = w.add_container<MyContainer>("APP", image);
//   w.set_worker([](const Request& r, Env& env) { return get_container(env.durable_object("APP")).fetch(r); });
//   w.client("user", [&] { Response r = w.fetch(Request{...}); ... });
//   w.run();

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/container.h"
#include "model/container_runtime.h"
#include "model/durable_object.h"
#include "model/net.h"
#include "model/r2.h"
#include "model/worker.h"
#include "model/workers_kv.h"
#include "sim/faults.h"
#include "sim/simulator.h"
#include "sim/trace.h"

namespace cfsim {

struct WorldOptions {
  NetworkOptions net;
  ContainerPlatformOptions containers;
  WorkerOptions worker;
  DurableObjectOptions durable_objects;  // for every namespace without an entry below
  std::map<std::string, DurableObjectOptions> durable_objects_by_binding;
  KvOptions kv;  // for every Workers KV namespace without an entry below
  std::map<std::string, KvOptions> kv_by_binding;
  R2Options r2;  // for every R2 bucket without an entry below
  std::map<std::string, R2Options> r2_by_binding;
};

// WorkerOptions as key/value pairs for SimOptions::run_info.
std::vector<std::pair<std::string, std::string>> run_info(const WorkerOptions& o);
// Every option of a world, as the World writes it into the trace header.
std::vector<std::pair<std::string, std::string>> run_info(const WorldOptions& o);

class World {
 public:
  // `sim_options.run_info` keeps what the caller put there (scenario name, fault plan...); the
  // world's options are appended.
  explicit World(SimOptions sim_options = {}, WorldOptions options = {}, std::vector<std::shared_ptr<TraceSink>> sinks = {});
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  Simulator& sim() { return sim_; }
  Network& net() { return net_; }
  ContainerPlatform& containers() { return platform_; }
  FaultInjector& faults() { return faults_; }
  Worker& worker() { return worker_; }
  Env& env() { return worker_.env(); }
  const WorldOptions& options() const { return options_; }

  // --- bindings ------------------------------------------------------------------------------------
  // A Durable Object namespace bound to the Worker as `binding` (also its namespace name), with
  // the options for that binding. Its fault verbs (do-reset, do-crash, ...) target "BINDING/name".
  // std::invalid_argument if the binding exists.
  DurableObjectNamespace& add_durable_object(const std::string& binding, DurableObjectFactory factory);
  // A container namespace: a Durable Object class T (a Container subclass constructed as
  // T(DurableObjectState&, ContainerPlatform&)) with its image. The container fault verbs (crash,
  // oom, restart-host, rollout) target "BINDING/name".
  template <class T>
  DurableObjectNamespace& add_container(const std::string& binding, ContainerImage image, ContainerNamespaceOptions options = {}) {
    DurableObjectNamespace& ns = add_durable_object(
        binding, [this](DurableObjectState& ctx) -> std::unique_ptr<DurableObject> { return std::make_unique<T>(ctx, platform_); });
    platform_.register_namespace(ns, std::move(image), std::move(options));
    return ns;
  }
  DurableObjectNamespace& durable_object(std::string_view binding) { return env().durable_object(binding); }
  // A Workers KV namespace bound to the Worker as `binding` (also its name), with the options for
  // that binding. std::invalid_argument if the binding exists (of any kind: bindings share names).
  KvNamespace& add_kv(const std::string& binding);
  // An R2 bucket bound to the Worker as `binding` (also its name). std::invalid_argument if the
  // binding exists (of any kind).
  R2Bucket& add_r2(const std::string& binding);

  // The Worker's fetch(request, env) handler. Until set, every request is a 500 (a Worker with no
  // fetch handler throws).
  void set_worker(WorkerFetch handler) { handler_ = std::move(handler); }

  // --- clients ---------------------------------------------------------------------------------------
  // A simulated end user: `body` runs in a fiber of its own named "client:<name>".
  FiberHandle client(const std::string& name, std::function<void()> body);
  // From a client fiber: one HTTP request through the Worker (World::worker().client_fetch).
  Response fetch(Request req) { return worker_.client_fetch(std::move(req)); }
  // From a client fiber: a WebSocket through the Worker (Worker::client_websocket). On a 101 the
  // response's `websocket` is the client's end; otherwise the response is the answer (e.g. 426).
  Response websocket(Request req) { return worker_.client_websocket(std::move(req)); }

  // --- running ---------------------------------------------------------------------------------------
  // Applies a fault plan (verbs of the network, the platform and every namespace added so far).
  void apply(const FaultPlan& plan);
  // The verbs a FaultSpace can draw for these targets: container crash/oom/restart-host and the
  // Durable Object verbs over "BINDING/name" targets, plus the network's verbs.
  std::vector<FaultVerbSpec> fault_verbs(const std::vector<std::string>& targets) const;
  RunResult run(RunLimits limits = {}) { return sim_.run(limits); }

 private:
  void check_new_binding(const std::string& binding) const;

  WorldOptions options_;
  Simulator sim_;
  Network net_;
  ContainerPlatform platform_;
  WorkerFetch handler_;
  Worker worker_;
  FaultInjector faults_;
  std::map<std::string, std::unique_ptr<DurableObjectNamespace>, std::less<>> namespaces_;
  std::map<std::string, std::unique_ptr<KvNamespace>, std::less<>> kv_;
  std::map<std::string, std::unique_ptr<R2Bucket>, std::less<>> r2_;
  bool do_faults_registered_ = false;
};

}  // namespace cfsim
