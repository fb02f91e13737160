#include "model/containers/platform.h"

#include <fmt/format.h>

#include "model/containers/runtime.h"
#include "sim/assert.h"

namespace cfsim {

std::vector<std::pair<std::string, std::string>> run_info(const ContainerPlatformOptions& o) {
  return {{"containers.cold_start_median", format_duration(o.cold_start.median)},
          {"containers.cold_start_sigma", fmt::format("{}", o.cold_start.sigma)},
          {"containers.hop_latency", format_duration(o.hop_latency)},
          {"containers.stop_grace_period", format_duration(o.stop_grace_period)}};
}

// --- ContainerPlatform ----------------------------------------------------------------------------------

ContainerPlatform::ContainerPlatform(Simulator& sim, Network& net, ContainerPlatformOptions options)
    : sim_(sim), net_(net), options_(std::move(options)) {
  if (options_.cold_start.median < Duration::zero() || !(options_.cold_start.sigma >= 0))
    throw std::invalid_argument("ContainerPlatformOptions: cold_start.median and cold_start.sigma must be >= 0");
  if (options_.hop_latency < Duration::zero() || options_.stop_grace_period < Duration::zero())
    throw std::invalid_argument("ContainerPlatformOptions: hop_latency and stop_grace_period must be >= 0");
  for (auto [name, d] : {std::pair{"cold_start.median", options_.cold_start.median}, std::pair{"hop_latency", options_.hop_latency},
                         std::pair{"stop_grace_period", options_.stop_grace_period}})
    if (d > kMaxContainerDuration)
      throw std::invalid_argument(fmt::format("ContainerPlatformOptions: {} must be at most {} (got {})", name,
                                              format_duration(kMaxContainerDuration), format_duration(d)));
}

ContainerPlatform::~ContainerPlatform() {
  alive_.reset();  // rollout events still scheduled do nothing from now on
  // Process fibers run on the runtimes: unwind them while the runtimes exist.
  runtimes_.clear();
}

void ContainerPlatform::register_namespace(DurableObjectNamespace& ns, ContainerImage image, ContainerNamespaceOptions options) {
  if (!image.main) throw std::invalid_argument(fmt::format("container namespace '{}': the image has no main", ns.name()));
  if (options.max_instances < 0)
    throw std::invalid_argument(fmt::format("container namespace '{}': max_instances must be >= 0 (got {})", ns.name(), options.max_instances));
  if (namespaces_.count(ns.name())) throw std::invalid_argument(fmt::format("container namespace '{}' is already registered", ns.name()));
  NsConfig cfg{&ns, ns.id_from_name("").hex().substr(48), options, instance_type(options.instance_type), {}, image.version};
  cfg.images.emplace(image.version, std::move(image));
  namespaces_.emplace(ns.name(), std::move(cfg));
}

void ContainerPlatform::add_image_version(std::string_view ns_name, ContainerImage image) {
  NsConfig& cfg = config(ns_name);
  if (!image.main) throw std::invalid_argument(fmt::format("container namespace '{}': image {} has no main", ns_name, image.version));
  if (cfg.images.count(image.version))
    throw std::invalid_argument(fmt::format("container namespace '{}': image version '{}' already exists", ns_name, image.version));
  std::string v = image.version;
  cfg.images.emplace(std::move(v), std::move(image));
}

const std::string& ContainerPlatform::current_version(std::string_view ns_name) const { return config(ns_name).current; }

ContainerPlatform::NsConfig& ContainerPlatform::config(std::string_view ns_name) {
  auto it = namespaces_.find(ns_name);
  if (it == namespaces_.end()) throw std::invalid_argument(fmt::format("no container namespace '{}' is registered", ns_name));
  return it->second;
}

const ContainerPlatform::NsConfig& ContainerPlatform::config(std::string_view ns_name) const {
  auto it = namespaces_.find(ns_name);
  if (it == namespaces_.end()) throw std::invalid_argument(fmt::format("no container namespace '{}' is registered", ns_name));
  return it->second;
}

DurableObjectNamespace& ContainerPlatform::namespace_of(const DurableObjectId& id) {
  const std::string tag = id.hex().substr(48);
  for (auto& [name, cfg] : namespaces_)
    if (cfg.tag == tag) return *cfg.ns;
  throw std::invalid_argument(fmt::format("Durable Object {} belongs to no namespace configured with a container "
                                          "(ctx.container is undefined)", id.hex()));
}

ContainerRuntime& ContainerPlatform::runtime(const DurableObjectId& id) {
  auto it = runtimes_.find(id.hex());
  if (it != runtimes_.end()) return *it->second;
  DurableObjectNamespace& ns = namespace_of(id);
  return *runtimes_.emplace(id.hex(), std::make_unique<ContainerRuntime>(*this, ns.name(), id)).first->second;
}

ContainerRuntime* ContainerPlatform::find_runtime(std::string_view ns_name, std::string_view name) {
  auto it = runtimes_.find(config(ns_name).ns->id_from_name(name).hex());
  return it == runtimes_.end() ? nullptr : it->second.get();
}

int ContainerPlatform::running_instances(std::string_view ns_name) const { return config(ns_name).running; }

void check_rollout_options(const RolloutOptions& options) {
  if (options.step_percentages.empty())
    throw std::invalid_argument("rollout: step_percentages must not be empty (the default is {10, 100})");
  int previous = 0;
  for (int pct : options.step_percentages) {
    if (pct < 1 || pct > 100) throw std::invalid_argument(fmt::format("rollout: step percentage {} is outside 1..100", pct));
    if (pct <= previous)
      throw std::invalid_argument(fmt::format("rollout: step percentages must increase ({} comes after {})", pct, previous));
    previous = pct;
  }
  if (previous != 100) throw std::invalid_argument(fmt::format("rollout: the last step must be 100 (got {})", previous));
  if (options.active_grace_period < Duration::zero() || options.active_grace_period > kMaxContainerDuration)
    throw std::invalid_argument(fmt::format("rollout: active_grace_period must be 0..{} (got {})", format_duration(kMaxContainerDuration),
                                            format_duration(options.active_grace_period)));
}

void ContainerPlatform::rollout(std::string_view ns_name, const std::string& version, RolloutOptions options) {
  NsConfig& cfg = config(ns_name);
  if (!cfg.images.count(version))
    throw std::invalid_argument(fmt::format("rollout: namespace '{}' has no image version '{}'", ns_name, version));
  check_rollout_options(options);
  std::string steps;
  for (int pct : options.step_percentages) steps += (steps.empty() ? "" : ",") + std::to_string(pct);
  const std::string ns(ns_name);
  RolloutState r;
  r.generation = ++rollout_generation_;
  r.version = version;
  r.options = std::move(options);
  for (auto& [hex, rt] : runtimes_)  // in id hex order: the order instances are replaced in
    if (rt->ns_name_ == ns && rt->running() && rt->image_version_ != version) r.instances.emplace_back(rt.get(), rt->starts_);
  if (auto it = rollouts_.find(ns); it != rollouts_.end()) {
    sim_.record("container", "rollout_superseded", {{"namespace", ns}, {"version", it->second.version}, {"step", it->second.step + 1}});
    rollouts_.erase(it);
  }
  sim_.record("container", "rollout",
              {{"namespace", ns}, {"from", cfg.current}, {"to", version}, {"instances", r.instances.size()}, {"steps", steps},
               {"grace", r.options.active_grace_period}});
  cfg.current = version;
  rollouts_.emplace(ns, std::move(r));
  run_rollout_step(ns);
}

void ContainerPlatform::run_rollout_step(const std::string& ns_name) {
  auto it = rollouts_.find(ns_name);
  if (it == rollouts_.end()) return;
  RolloutState& r = it->second;
  if (r.step >= r.options.step_percentages.size()) {
    sim_.record("container", "rollout_done", {{"namespace", ns_name}, {"version", r.version}});
    rollouts_.erase(it);
    return;
  }
  const int pct = r.options.step_percentages[r.step];
  const size_t n = r.instances.size();
  const size_t target = (static_cast<size_t>(pct) * n + 99) / 100;  // ceil(pct % of n)
  CFSIM_ASSERT(target >= r.taken && target <= n);  // the steps increase (check_rollout_options)
  sim_.record("container", "rollout_step",
              {{"namespace", ns_name}, {"step", r.step + 1}, {"percent", pct}, {"from", r.taken}, {"to", target}, {"of", n}});
  r.in_step.clear();
  const uint64_t generation = r.generation;
  const size_t first = r.taken;
  for (size_t i = first; i < target; ++i) r.in_step.push_back(i);
  r.taken = target;
  for (size_t i = first; i < target; ++i) replace_instance(ns_name, generation, i);
  check_rollout_step(ns_name);
}

void ContainerPlatform::replace_instance(const std::string& ns_name, uint64_t generation, size_t index) {
  auto it = rollouts_.find(ns_name);
  if (it == rollouts_.end() || it->second.generation != generation) return;  // superseded
  RolloutState& r = it->second;
  auto [rt, run] = r.instances[index];
  if (!rt->running() || rt->starts_ != run || rt->image_version_ == r.version) {
    sim_.record("container", "rollout_skip", {{"container", rt->label()}, {"why", "stopped"}});
    return;
  }
  const Time eligible = detail::deadline_after(rt->run_started_at_, r.options.active_grace_period);
  if (sim_.now() < eligible) {
    sim_.record("container", "rollout_grace_wait", {{"container", rt->label()}, {"until", eligible}});
    std::weak_ptr<int> token = alive_;  // the event may outlive this platform
    sim_.call_at(eligible, [this, token, ns_name, generation, index] {
      if (!token.expired()) replace_instance(ns_name, generation, index);
    });
    return;
  }
  rt->platform_stop(true);
}

void ContainerPlatform::check_rollout_step(const std::string& ns_name) {
  auto it = rollouts_.find(ns_name);
  if (it == rollouts_.end()) return;
  RolloutState& r = it->second;
  for (size_t i : r.in_step) {
    auto [rt, run] = r.instances[i];
    if (rt->running() && rt->starts_ == run) return;  // still draining (or waiting for its grace)
  }
  ++r.step;
  run_rollout_step(ns_name);
}

void ContainerPlatform::instance_stopped(const std::string& ns_name) {
  auto it = rollouts_.find(ns_name);
  if (it == rollouts_.end()) return;
  // From the scheduler, after whoever stopped the instance is done.
  const uint64_t generation = it->second.generation;
  std::weak_ptr<int> token = alive_;  // the event may outlive this platform
  sim_.call_after(Duration::zero(), [this, token, ns_name, generation] {
    if (token.expired()) return;
    auto r = rollouts_.find(ns_name);
    if (r != rollouts_.end() && r->second.generation == generation) check_rollout_step(ns_name);
  });
}

std::vector<std::string> ContainerPlatform::namespace_names() const {
  std::vector<std::string> names;
  for (const auto& [name, cfg] : namespaces_) names.push_back(name);
  return names;
}

bool ContainerPlatform::has_image_version(std::string_view ns_name, const std::string& version) const {
  auto it = namespaces_.find(ns_name);
  return it != namespaces_.end() && it->second.images.count(version) != 0;
}

}  // namespace cfsim
