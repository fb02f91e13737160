#include "model/containers/faults.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cfsim {

namespace {

const FaultVerbDecl& verb(std::string_view name) {
  for (const FaultVerbDecl& d : container_fault_verbs())
    if (d.name == name) return d;
  throw std::logic_error(fmt::format("container_fault_verbs: no '{}'", name));
}

// The rollout verb's optional steps=P1,P2,...,100 and grace_s=N (FaultPlanError if bad).
RolloutOptions rollout_options_from(const FaultAction& a) {
  RolloutOptions options;
  if (std::string steps = a.arg("steps"); !steps.empty()) {
    options.step_percentages.clear();
    size_t begin = 0;
    while (begin <= steps.size()) {
      size_t comma = steps.find(',', begin);
      std::string part = steps.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
      bool ok = !part.empty() && part.size() <= 3;
      for (char c : part) ok = ok && c >= '0' && c <= '9';
      const int64_t pct = ok ? std::stoll(part) : 0;
      if (!ok || pct < 1 || pct > 100)
        throw FaultPlanError(fmt::format("fault 'container-rollout': steps='{}' must be percentages 1..100 separated by commas (bad '{}')",
                                         steps, part));
      options.step_percentages.push_back(static_cast<int>(pct));
      if (comma == std::string::npos) break;
      begin = comma + 1;
    }
  }
  options.active_grace_period = Duration::seconds(a.arg_int("grace_s", 0));  // 0..365 days: declared range
  try {
    check_rollout_options(options);
  } catch (const std::invalid_argument& e) {
    throw FaultPlanError(fmt::format("fault 'container-rollout': {}", e.what()));
  }
  return options;
}

}  // namespace

const std::vector<FaultVerbDecl>& container_fault_verbs() {
  static const std::vector<FaultVerbDecl> verbs = {
      {.name = "container-crash",
       .seam = "containers",
       .target = FaultTarget::object,
       .args = {{.name = "exit_code", .about = "the process's exit code", .lo = 0, .hi = 255, .fallback = 1, .draw_lo = 1,
                 .draw_hi = 255}},
       .models = "the container's process dies at once; the disk is wiped; the SDK sees stopped_with_code "
                 "(platform-facts §1.3, @cloudflare/containers container.js setupMonitorCallbacks)",
       .old_names = {"crash"}},
      {.name = "container-oom",
       .seam = "containers",
       .target = FaultTarget::object,
       .models = "the container is killed for memory: exit 137 (platform-facts §1.7, containers/platform/limits)",
       .old_names = {"oom"}},
      {.name = "container-restart-host",
       .seam = "containers",
       .target = FaultTarget::object,
       .models = "a host restart: SIGTERM, SIGKILL after 15 min if still alive; the next request starts it again "
                 "(platform-facts §1.8, containers/faq)",
       .old_names = {"restart-host"}},
      {.name = "container-rollout",
       .seam = "containers",
       .target = FaultTarget::container_namespace,
       .args = {{.name = "version", .about = "an image version added with add_image_version", .word = true},
                {.name = "steps", .about = "percentages 1..100, increasing, the last 100 (default 10,100)", .word = true},
                {.name = "grace_s", .about = "active grace period, s", .lo = 0, .hi = 365 * 86'400, .fallback = 0}},
       .models = "a rollout of a new version in steps; the SDK's onStop does not fire for it "
                 "(containers/platform-details/rollouts; cloudflare/containers#253)",
       .hand_only = true,  // needs an image version: add it to a plan by hand
       .old_names = {"rollout"}},
  };
  return verbs;
}

const std::vector<FaultKnobDecl>& container_fault_knobs() {
  static const std::vector<FaultKnobDecl> knobs = {
      {.name = "containers.cold_start_percent", .about = "every cold start's duration, % of its draw", .lo = 1, .hi = 100'000,
       .fallback = 100, .draw_lo = 50, .draw_hi = 400,
       .models = "cold starts are \"often 1-3 s\" and vary with image and placement (containers/concepts/architecture)"},
  };
  return knobs;
}

void register_container_faults(FaultInjector& faults, ContainerPlatform& platform, ObjectTargetResolver resolve,
                               ContainerFaultKnobs& knobs) {
  // Checked when the plan is applied: the target is a declared instance of a container namespace.
  auto check = [resolve, &platform](const FaultAction& a) {
    auto [ns, name] = resolve(a);
    if (!platform.has_namespace(ns->name()))
      throw FaultPlanError(fmt::format("fault '{}': '{}' is a Durable Object namespace without a container (container namespaces: {})",
                                       a.verb, ns->name(), fmt::join(platform.namespace_names(), ", ")));
  };
  // The handlers rely on the checks above and the declared argument ranges.
  auto on_instance = [resolve, &platform](const char* name, void (*fn)(ContainerRuntime&, const FaultAction&)) {
    return [resolve, &platform, name, fn](const FaultAction& a) {
      auto [ns, instance] = resolve(a);
      ContainerRuntime& rt = platform.runtime(ns->id_from_name(instance));
      platform.sim().record("container", "fault", {{"verb", name}, {"container", rt.label()}, {"running", rt.running()}});
      if (rt.running()) fn(rt, a);
    };
  };
  faults.define(verb("container-crash"), on_instance("container-crash", [](ContainerRuntime& rt, const FaultAction& a) {
    rt.crash(static_cast<int>(a.arg_int("exit_code")));
  }), check);
  faults.define(verb("container-oom"), on_instance("container-oom", [](ContainerRuntime& rt, const FaultAction&) { rt.oom(); }), check);
  faults.define(verb("container-restart-host"),
                on_instance("container-restart-host", [](ContainerRuntime& rt, const FaultAction&) { rt.platform_stop(false); }), check);
  faults.define(
      verb("container-rollout"),
      [&platform](const FaultAction& a) {
        platform.sim().record("container", "fault", {{"verb", "container-rollout"}, {"namespace", a.target}, {"version", a.arg("version")}});
        platform.rollout(a.target, a.arg("version"), rollout_options_from(a));
      },
      [&platform](const FaultAction& a) {  // a bad namespace, version, steps or grace_s fails before the run
        if (!platform.has_namespace(a.target))
          throw FaultPlanError(fmt::format("fault 'container-rollout': target '{}' is not a container namespace (known: {})", a.target,
                                           fmt::join(platform.namespace_names(), ", ")));
        if (!platform.has_image_version(a.target, a.arg("version")))
          throw FaultPlanError(fmt::format("fault 'container-rollout': namespace '{}' has no image version '{}'", a.target, a.arg("version")));
        rollout_options_from(a);
      });
  for (const FaultKnobDecl& k : container_fault_knobs()) faults.define_knob(k);
  knobs.buggify = &faults;
  platform.attach_fault_knobs(&knobs);
  faults.after_apply([&faults, &knobs] { knobs.cold_start_percent = faults.knob("containers.cold_start_percent"); });
}

}  // namespace cfsim
