#pragma once
// The world-level container service (platform-facts.md §1.9, §2, A5): one image per Durable Object
// namespace and its versions, one runtime per object (model/containers/runtime.h), the instance
// cap and rollouts.
//
// Fault model. The platform refuses a start at the namespace's max_instances (the only start
// failure); a rollout gives the running instances of other versions a platform stop (SIGTERM, then
// SIGKILL after stop_grace_period) in steps, and the next start runs the new version. The fault
// verbs that drive these (model/containers/faults.h) and what a stop does to the process are in
// runtime.h's fault model.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/containers/image.h"
#include "model/containers/instance_type.h"
#include "model/durable_objects/durable_object.h"
#include "model/net/network.h"
#include "sim/fault_injector.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace cfsim {

class ContainerRuntime;

// The longest duration the container model accepts for a timeout, a grace period or a latency
// (start()'s hard_timeout, set_inactivity_timeout, RolloutOptions::active_grace_period, the
// ContainerPlatformOptions durations): 365 days, the cap the rollout verb's grace_s has too. A
// longer value is rejected with an error naming it and this limit: it would push virtual time past
// its int64 range (Time::max() is about 292 years).
inline constexpr Duration kMaxContainerDuration = Duration::seconds(int64_t{365} * 86400);

struct ContainerPlatformOptions {
  // From start() to the process's main running. "often 1-3 s" (A1, §1.10): an ASSUMPTION of a
  // lognormal with median 2 s and sigma 0.3 (p5 1.2 s, p95 3.3 s). Tests set sigma 0 for exact times.
  // The trace header keeps its two keys: containers.cold_start_median, containers.cold_start_sigma.
  Lognormal cold_start = {Duration::seconds(2), 0.3};
  // One way, Durable Object -> container and back, for each request through get_tcp_port()
  // (an assumption: co-located or near, §1.1).
  Duration hop_latency = Duration::millis(1);
  // Platform stops: SIGTERM, then SIGKILL this long after if the process is still alive (§1.8).
  Duration stop_grace_period = Duration::seconds(15 * 60);
  // Runtime-injected environment (§1.1, A15).
  std::string application_id = "cfsim-application";
  std::string country_a2 = "US";
  std::string location = "SIM";
  std::string region = "WNAM";
};

// ContainerPlatformOptions as key/value pairs for SimOptions::run_info (the trace header).
std::vector<std::pair<std::string, std::string>> run_info(const ContainerPlatformOptions& o);

// What this seam's fault knobs and buggify sites change (model/containers/faults.h fills it in
// once a plan is applied; a platform outside a World keeps the defaults: no change).
struct ContainerFaultKnobs {
  int64_t cold_start_percent = 100;  // containers.cold_start_percent: every cold start x N/100
  FaultInjector* buggify = nullptr;  // "containers.slow_cold_start", "containers.early_probe_failure"
};

// A rollout's shape (wrangler's rollout_step_percentage and rollout_active_grace_period, A5).
// `--containers-rollout=immediate` is step_percentages {100}.
struct RolloutOptions {
  std::vector<int> step_percentages = {10, 100};  // each 1..100, increasing, the last 100
  Duration active_grace_period = Duration::zero();  // 0..kMaxContainerDuration
};

// std::invalid_argument unless every step is 1..100, increasing, the last 100, and the grace
// period within 0..kMaxContainerDuration.
void check_rollout_options(const RolloutOptions& options);

// Per container namespace (wrangler's `containers` entry).
struct ContainerNamespaceOptions {
  std::string instance_type = "lite";  // wrangler default "dev" = lite (§2)
  int max_instances = 20;              // version-dependent default: 0 -> 1 -> 20 (§2)
};

// The world-level container service: images per Durable Object namespace, one runtime per object,
// the instance cap, the fault verbs.
class ContainerPlatform {
 public:
  ContainerPlatform(Simulator& sim, Network& net, ContainerPlatformOptions options = {});
  ~ContainerPlatform();
  ContainerPlatform(const ContainerPlatform&) = delete;
  ContainerPlatform& operator=(const ContainerPlatform&) = delete;

  Simulator& sim() { return sim_; }
  Network& net() { return net_; }
  const ContainerPlatformOptions& options() const { return options_; }

  // Configures `ns` (a Durable Object namespace whose class is a container class) with its image.
  // std::invalid_argument for an unknown instance type, max_instances < 0 or an image without main.
  void register_namespace(DurableObjectNamespace& ns, ContainerImage image, ContainerNamespaceOptions options = {});
  // Adds another version of a namespace's image (for rollouts). The current version is unchanged.
  void add_image_version(std::string_view ns_name, ContainerImage image);
  // The version new starts use.
  const std::string& current_version(std::string_view ns_name) const;

  // ctx.container of the object `id` (created on first use). std::invalid_argument if the id's
  // namespace has no container configuration.
  ContainerRuntime& runtime(const DurableObjectId& id);
  // The runtime of NAMESPACE/name, or null if never used.
  ContainerRuntime* find_runtime(std::string_view ns_name, std::string_view name);
  DurableObjectNamespace& namespace_of(const DurableObjectId& id);
  int running_instances(std::string_view ns_name) const;

  // Rollout of `version` (registered with add_image_version) to namespace ns_name (§1.9, A5): new
  // starts use it at once. The instances running another version when it begins are replaced in
  // steps, in the order of their id hex: step k gives a platform stop (SIGTERM, SIGKILL after
  // stop_grace_period) to the first ceil(pct_k % of them) not taken by an earlier step; one that
  // stopped or restarted meanwhile is skipped. Step k+1 begins when every instance of step k has
  // stopped (ASSUMPTION: the docs do not say what ends a step). The active grace period is read as
  // "an instance is not replaced before it has run that long since its start()" (ASSUMPTION, after
  // A5's "skip if DO connected < grace period"): a younger one is stopped when it reaches that age.
  // A new rollout of the namespace replaces one still in progress. std::invalid_argument for an
  // unknown version or bad options.
  void rollout(std::string_view ns_name, const std::string& version, RolloutOptions options = {});
  bool rollout_in_progress(std::string_view ns_name) const { return rollouts_.count(ns_name) != 0; }

  // The container namespaces, by name; whether `ns_name` is one and has image `version`.
  std::vector<std::string> namespace_names() const;
  bool has_namespace(std::string_view ns_name) const { return namespaces_.count(ns_name) != 0; }
  bool has_image_version(std::string_view ns_name, const std::string& version) const;
  // The knobs starts and probes read (World attaches its own; it must outlive the platform). The
  // fault verbs and knobs themselves are registered by model/containers/faults.h.
  void attach_fault_knobs(const ContainerFaultKnobs* knobs) { knobs_ = knobs; }
  const ContainerFaultKnobs* fault_knobs() const { return knobs_; }

 private:
  friend class ContainerRuntime;
  struct NsConfig {
    DurableObjectNamespace* ns;
    std::string tag;  // the last 16 hex digits of its ids
    ContainerNamespaceOptions options;
    InstanceType type;
    std::map<std::string, ContainerImage> images;  // by version
    std::string current;
    int running = 0;  // runtimes of this namespace with running() true (the max_instances count)
  };
  NsConfig& config(std::string_view ns_name);
  const NsConfig& config(std::string_view ns_name) const;
  // Rollout steps (see rollout()).
  struct RolloutState {
    uint64_t generation = 0;
    std::string version;
    RolloutOptions options;
    std::vector<std::pair<ContainerRuntime*, uint64_t>> instances;  // (runtime, run) by id hex
    size_t step = 0;              // the step in progress
    size_t taken = 0;             // instances[0, taken) belong to this step or earlier ones
    std::vector<size_t> in_step;  // the instances of the step in progress
  };
  void run_rollout_step(const std::string& ns_name);
  void replace_instance(const std::string& ns_name, uint64_t generation, size_t index);
  void check_rollout_step(const std::string& ns_name);
  void instance_stopped(const std::string& ns_name);  // end_run's notice

  Simulator& sim_;
  Network& net_;
  ContainerPlatformOptions options_;
  std::map<std::string, NsConfig, std::less<>> namespaces_;
  std::map<std::string, std::unique_ptr<ContainerRuntime>> runtimes_;  // by id hex
  std::map<std::string, RolloutState, std::less<>> rollouts_;          // in progress, by namespace
  uint64_t rollout_generation_ = 0;
  const ContainerFaultKnobs* knobs_ = nullptr;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // weak_ptrs in scheduled events outlive this platform
};

}  // namespace cfsim
