#pragma once
// A World: one simulated deployment that a test or a scenario builds — the simulator, the network
// with its external services, the container platform, the Durable Object / container namespaces,
// the Worker with its bindings, and the fault injector — from one seed and one set of options.
//
// Simulated end users (clients) reach the world only through the Worker (platform-facts §3, §7.1):
// World::fetch is client_fetch on the Worker; there is no call that reaches a container or an
// object from outside without going through the Worker's fetch handler.
//
// Fault verbs and knobs, one registration per seam (model/<seam>/faults.cpp); `cfsim faults`
// prints them with their arguments, ranges, units and sources (docs/faults.md is that output).
//   verb                    target        arguments                      models
//   container-crash         BINDING/name  exit_code 0..255 (1)           the process dies at once
//   container-oom           BINDING/name  -                              killed for memory (137)
//   container-restart-host  BINDING/name  -                              SIGTERM, SIGKILL after 15 min
//   container-rollout       BINDING       version, steps, grace_s        a stepped rollout (hand-only)
//   do-reset                BINDING/name  -                              isolate reset
//   do-crash                BINDING/name  -                              machine crash: unconfirmed writes lost
//   do-fail-commit          BINDING/name  -                              the next commit fails
//   do-delay-durability     BINDING/name  extra_ms 0..3600000 (100)      a slow storage round trip
//   net-partition           SERVICE       duration_ms 0..86400000 (0)    the link is cut (0: until net-heal)
//   net-heal                SERVICE       -                              the link works again
//   net-loss                SERVICE       loss_ppm 0..1000000            messages lost
//   net-slow-link           SERVICE       latency_percent 1..1000000     a slow link
//   r2-outage               BUCKET        duration_ms 1..86400000        every call fails with 10043
//   kv-outage               KV_BINDING    duration_ms 1..86400000        every call fails with 503
// Knobs: do.storage_latency_percent, do.commit_failure_ppm, containers.cold_start_percent,
// net.latency_percent, net.loss_ppm, r2.latency_percent, r2.error_ppm, r2.stall_ppm,
// kv.latency_percent, kv.cache_ttl_percent, kv.propagation_delay_ms. Buggify sites (swarm runs):
// do.slow_commit, containers.slow_cold_start, containers.early_probe_failure, net.dropped_connection.
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

#include "model/containers/container.h"
#include "model/containers/faults.h"
#include "model/containers/runtime.h"
#include "model/durable_objects/durable_object.h"
#include "model/durable_objects/faults.h"
#include "model/net/faults.h"
#include "model/net/network.h"
#include "model/r2/faults.h"
#include "model/r2/r2.h"
#include "model/worker/worker.h"
#include "model/workers_kv/faults.h"
#include "model/workers_kv/workers_kv.h"
#include "sim/fault_injector.h"
#include "sim/scheduler.h"
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

  // --- faults ----------------------------------------------------------------------------------------
  // The instance names of `binding` (a Durable Object or container namespace) that fault plans may
  // target as "BINDING/name". A plan naming an undeclared instance is a FaultPlanError when applied.
  void declare_instances(const std::string& binding, std::vector<std::string> names);
  // Applies a fault plan over every seam's verbs and knobs (the table at the top of this file).
  void apply(const FaultPlan& plan);
  // Every seam's verbs and knobs, in the order of the table above; no world needed.
  static std::vector<FaultVerbDecl> fault_verbs();
  static std::vector<FaultKnobDecl> fault_knobs();
  // The swarm space of every seam's verbs and knobs over `targets` (sim/fault_injector.h
  // fault_space): what a scenario's seeds draw from.
  static FaultSpace fault_space(const FaultTargets& targets, Duration horizon, size_t max_actions);

  // --- running ---------------------------------------------------------------------------------------
  RunResult run(RunLimits limits = {}) { return sim_.run(limits); }

 private:
  void check_new_binding(const std::string& binding) const;
  void register_faults();
  // "BINDING/name" -> the namespace and the instance name, or FaultPlanError.
  std::pair<DurableObjectNamespace*, std::string> resolve_object(const FaultAction& a) const;

  // What the fault knobs change, per seam; first, so that they outlive every component that reads them.
  DurableObjectFaultKnobs do_knobs_;
  ContainerFaultKnobs container_knobs_;
  NetFaultKnobs net_knobs_;
  R2FaultKnobs r2_knobs_;
  KvFaultKnobs kv_knobs_;
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
  std::map<std::string, std::vector<std::string>, std::less<>> instances_;  // declare_instances
};

}  // namespace cfsim
