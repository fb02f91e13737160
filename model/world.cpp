#include "model/world.h"

#include <fmt/format.h>

#include <stdexcept>

namespace cfsim {

namespace {

// The simulator's options with every option of the world appended to the header's run_info.
SimOptions with_world_info(SimOptions so, const WorldOptions& o) {
  for (auto& kv : run_info(o)) so.run_info.push_back(std::move(kv));
  return so;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> run_info(const WorkerOptions& o) {
  return {{"worker.client_latency_median", format_duration(o.client_latency_median)},
          {"worker.client_latency_sigma", fmt::format("{}", o.client_latency_sigma)}};
}

std::vector<std::pair<std::string, std::string>> run_info(const WorldOptions& o) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&out](std::vector<std::pair<std::string, std::string>> more) {
    for (auto& kv : more) out.push_back(std::move(kv));
  };
  add(run_info(o.net));
  add(run_info(o.containers));
  add(run_info(o.worker));
  add(run_info(o.durable_objects, "do."));
  for (const auto& [binding, options] : o.durable_objects_by_binding) add(run_info(options, "do." + binding + "."));
  add(run_info(o.kv, "kv."));
  for (const auto& [binding, options] : o.kv_by_binding) add(run_info(options, "kv." + binding + "."));
  add(run_info(o.r2, "r2."));
  for (const auto& [binding, options] : o.r2_by_binding) add(run_info(options, "r2." + binding + "."));
  return out;
}

World::World(SimOptions sim_options, WorldOptions options, std::vector<std::shared_ptr<TraceSink>> sinks)
    : options_(std::move(options)),
      sim_(with_world_info(std::move(sim_options), options_), std::move(sinks)),
      net_(sim_, options_.net),
      platform_(sim_, net_, options_.containers),
      worker_(
          sim_,
          [this](const Request& r, Env& env) -> Response {
            // A Worker deployed without a fetch handler throws on every request: the client gets
            // the platform's 500 (Error 1101).
            if (!handler_) throw std::logic_error("the Worker has no fetch handler (World::set_worker was not called)");
            return handler_(r, env);
          },
          options_.worker),
      faults_(sim_) {
  net_.register_faults(faults_);
  platform_.register_faults(faults_);
}

World::~World() = default;

// A Worker's bindings share one namespace: a name is a Durable Object namespace, a KV namespace
// or an R2 bucket, never two of them.
void World::check_new_binding(const std::string& binding) const {
  if (namespaces_.count(binding) != 0 || kv_.count(binding) != 0 || r2_.count(binding) != 0)
    throw std::invalid_argument(fmt::format("World: binding '{}' already exists", binding));
}

DurableObjectNamespace& World::add_durable_object(const std::string& binding, DurableObjectFactory factory) {
  check_new_binding(binding);
  auto found = options_.durable_objects_by_binding.find(binding);
  const DurableObjectOptions& o = found != options_.durable_objects_by_binding.end() ? found->second : options_.durable_objects;
  auto ns = std::make_unique<DurableObjectNamespace>(sim_, binding, std::move(factory), o);
  DurableObjectNamespace& ref = *ns;
  namespaces_.emplace(binding, std::move(ns));
  env().bind(binding, ref);
  return ref;
}

KvNamespace& World::add_kv(const std::string& binding) {
  check_new_binding(binding);
  auto found = options_.kv_by_binding.find(binding);
  const KvOptions& o = found != options_.kv_by_binding.end() ? found->second : options_.kv;
  KvNamespace& ref = *kv_.emplace(binding, std::make_unique<KvNamespace>(sim_, binding, o)).first->second;
  env().bind_kv(binding, ref);
  return ref;
}

R2Bucket& World::add_r2(const std::string& binding) {
  check_new_binding(binding);
  auto found = options_.r2_by_binding.find(binding);
  const R2Options& o = found != options_.r2_by_binding.end() ? found->second : options_.r2;
  R2Bucket& ref = *r2_.emplace(binding, std::make_unique<R2Bucket>(sim_, binding, o)).first->second;
  env().bind_r2(binding, ref);
  return ref;
}

FiberHandle World::client(const std::string& name, std::function<void()> body) {
  return sim_.spawn("client:" + name, std::move(body));
}

void World::apply(const FaultPlan& plan) {
  // The Durable Object verbs resolve their targets among the namespaces they are given, so they
  // are registered here, once every binding exists (a FaultInjector applies one plan only).
  if (!do_faults_registered_) {
    std::vector<DurableObjectNamespace*> all;
    for (auto& [binding, ns] : namespaces_) all.push_back(ns.get());
    register_durable_object_faults(faults_, std::move(all));
    do_faults_registered_ = true;
  }
  faults_.apply(plan);
}

std::vector<FaultVerbSpec> World::fault_verbs(const std::vector<std::string>& targets) const {
  std::vector<FaultVerbSpec> verbs = ContainerPlatform::fault_verbs(targets);
  for (const char* verb : {"do-reset", "do-crash", "do-fail-commit"}) verbs.push_back({verb, targets, {}});
  for (FaultVerbSpec& v : net_.fault_verbs()) verbs.push_back(std::move(v));
  return verbs;
}

}  // namespace cfsim
