#include "model/world.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <stdexcept>

namespace cfsim {

namespace {

template <class Map>
std::string names_of(const Map& m) {
  std::string out;
  for (const auto& [name, value] : m) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

// The simulator's options with every option of the world appended to the header's run_info.
SimOptions with_world_info(SimOptions so, const WorldOptions& o) {
  for (auto& kv : run_info(o)) so.run_info.push_back(std::move(kv));
  return so;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> run_info(const WorkerOptions& o) {
  return {{"worker.client_latency_median", format_duration(o.client_latency.median)},
          {"worker.client_latency_sigma", fmt::format("{}", o.client_latency.sigma)}};
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
  register_faults();
}

void World::register_faults() {
  // Every seam's verbs find their targets through the world's bindings, so they are registered
  // once, here, and see the bindings added later.
  auto objects = [this](const FaultAction& a) { return resolve_object(a); };
  register_container_faults(faults_, platform_, objects, container_knobs_);
  register_durable_object_faults(faults_, objects, do_knobs_);
  register_network_faults(faults_, net_, net_knobs_);
  register_r2_faults(faults_, [this](const FaultAction& a) -> R2Bucket& {
    auto it = r2_.find(a.target);
    if (it == r2_.end())
      throw FaultPlanError(fmt::format("fault '{}': target '{}' is not an R2 binding (known: {})", a.verb, a.target,
                                       names_of(r2_)));
    return *it->second;
  }, r2_knobs_);
  register_workers_kv_faults(faults_, [this](const FaultAction& a) -> KvNamespace& {
    auto it = kv_.find(a.target);
    if (it == kv_.end())
      throw FaultPlanError(fmt::format("fault '{}': target '{}' is not a Workers KV binding (known: {})", a.verb, a.target,
                                       names_of(kv_)));
    return *it->second;
  }, kv_knobs_);
}

std::pair<DurableObjectNamespace*, std::string> World::resolve_object(const FaultAction& a) const {
  const size_t slash = a.target.find('/');
  auto ns = slash == std::string::npos ? namespaces_.end() : namespaces_.find(std::string_view(a.target).substr(0, slash));
  if (ns == namespaces_.end())
    throw FaultPlanError(fmt::format("fault '{}': target '{}' is not BINDING/name of a Durable Object or container namespace (known: {})",
                                     a.verb, a.target, names_of(namespaces_)));
  const std::string name = a.target.substr(slash + 1);
  auto declared = instances_.find(ns->first);
  const bool known = declared != instances_.end() &&
                     std::find(declared->second.begin(), declared->second.end(), name) != declared->second.end();
  if (!known)
    throw FaultPlanError(fmt::format("fault '{}': target '{}' names no declared instance of {} (declared: {}; "
                                     "World::declare_instances names the instances a plan may target)",
                                     a.verb, a.target, ns->first,
                                     declared == instances_.end() || declared->second.empty() ? "none" : fmt::format("{}", fmt::join(declared->second, ", "))));
  return {ns->second.get(), name};
}

void World::declare_instances(const std::string& binding, std::vector<std::string> names) {
  if (!namespaces_.count(binding))
    throw std::invalid_argument(fmt::format("World::declare_instances: '{}' is not a Durable Object or container binding", binding));
  for (const std::string& n : names)
    if (n.empty()) throw std::invalid_argument(fmt::format("World::declare_instances: an empty instance name for '{}'", binding));
  auto& list = instances_[binding];
  for (std::string& n : names)
    if (std::find(list.begin(), list.end(), n) == list.end()) list.push_back(std::move(n));
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
  ref.attach_fault_knobs(&do_knobs_);
  namespaces_.emplace(binding, std::move(ns));
  env().bind(binding, ref);
  return ref;
}

KvNamespace& World::add_kv(const std::string& binding) {
  check_new_binding(binding);
  auto found = options_.kv_by_binding.find(binding);
  const KvOptions& o = found != options_.kv_by_binding.end() ? found->second : options_.kv;
  KvNamespace& ref = *kv_.emplace(binding, std::make_unique<KvNamespace>(sim_, binding, o)).first->second;
  ref.attach_fault_knobs(&kv_knobs_);
  env().bind_kv(binding, ref);
  return ref;
}

R2Bucket& World::add_r2(const std::string& binding) {
  check_new_binding(binding);
  auto found = options_.r2_by_binding.find(binding);
  const R2Options& o = found != options_.r2_by_binding.end() ? found->second : options_.r2;
  R2Bucket& ref = *r2_.emplace(binding, std::make_unique<R2Bucket>(sim_, binding, o)).first->second;
  ref.attach_fault_knobs(&r2_knobs_);
  env().bind_r2(binding, ref);
  return ref;
}

FiberHandle World::client(const std::string& name, std::function<void()> body) {
  return sim_.spawn("client:" + name, std::move(body));
}

void World::apply(const FaultPlan& plan) { faults_.apply(plan); }

std::vector<FaultVerbDecl> World::fault_verbs() {
  std::vector<FaultVerbDecl> all;
  for (const auto* seam : {&container_fault_verbs(), &durable_object_fault_verbs(), &network_fault_verbs(), &r2_fault_verbs(),
                           &workers_kv_fault_verbs()})
    all.insert(all.end(), seam->begin(), seam->end());
  return all;
}

std::vector<FaultKnobDecl> World::fault_knobs() {
  std::vector<FaultKnobDecl> all;
  for (const auto* seam : {&container_fault_knobs(), &durable_object_fault_knobs(), &network_fault_knobs(), &r2_fault_knobs(),
                           &workers_kv_fault_knobs()})
    all.insert(all.end(), seam->begin(), seam->end());
  return all;
}

FaultSpace World::fault_space(const FaultTargets& targets, Duration horizon, size_t max_actions) {
  return cfsim::fault_space(fault_verbs(), fault_knobs(), targets, horizon, max_actions);
}

}  // namespace cfsim
