#include "model/net/faults.h"

#include <fmt/format.h>

namespace cfsim {

namespace {

const FaultVerbDecl& verb(std::string_view name) {
  for (const FaultVerbDecl& d : network_fault_verbs())
    if (d.name == name) return d;
  throw std::logic_error(fmt::format("network_fault_verbs: no '{}'", name));
}

}  // namespace

const std::vector<FaultVerbDecl>& network_fault_verbs() {
  static const std::vector<FaultVerbDecl> verbs = {
      {.name = "net-partition",
       .seam = "net",
       .target = FaultTarget::service,
       .args = {{.name = "duration_ms", .about = "heal after this long, ms; 0: until a net-heal", .lo = 0,
                 .hi = 86'400'000, .fallback = 0, .draw_lo = 1'000, .draw_hi = 120'000}},
       .models = "the link to an external service is cut: requests hang until the unreachable timeout "
                 "(an assumption; containers/configuration/outbound-traffic)",
       .old_names = {"partition"}},
      {.name = "net-heal",
       .seam = "net",
       .target = FaultTarget::service,
       .models = "the link to an external service works again",
       .old_names = {"heal"}},
      {.name = "net-loss",
       .seam = "net",
       .target = FaultTarget::service,
       .args = {{.name = "loss_ppm", .about = "chance a message is lost (the connection resets), per million",
                 .lo = 0, .hi = 1'000'000, .draw_lo = 0, .draw_hi = 200'000}},
       .models = "a lossy link: requests fail with a connection reset (an assumption)",
       .old_args = {{"ppm", "loss_ppm"}}},
      {.name = "net-slow-link",
       .seam = "net",
       .target = FaultTarget::service,
       .args = {{.name = "latency_percent", .about = "the link's latency, % of normal", .lo = 1, .hi = 1'000'000,
                 .draw_lo = 100, .draw_hi = 1'000}},
       .models = "a slow link to an external service (an assumption)",
       .old_names = {"slow-link"},
       .old_args = {{"percent", "latency_percent"}}},
  };
  return verbs;
}

const std::vector<FaultKnobDecl>& network_fault_knobs() {
  static const std::vector<FaultKnobDecl> knobs = {
      {.name = "net.latency_percent", .about = "every link's latency, % of normal", .lo = 1, .hi = 100'000,
       .fallback = 100, .draw_lo = 50, .draw_hi = 400, .models = "internet latency varies (an assumption)"},
      {.name = "net.loss_ppm", .about = "added to every link's loss rate, per million", .lo = 0, .hi = 1'000'000,
       .fallback = 0, .draw_lo = 0, .draw_hi = 20'000, .models = "internet links lose packets (an assumption)"},
  };
  return knobs;
}

void register_network_faults(FaultInjector& faults, Network& net, NetFaultKnobs& knobs) {
  // Checked when the plan is applied (register the services first): the target names a service.
  // The arguments were checked against the declarations already.
  auto check = [&net](const FaultAction& a) {
    if (!net.has_service(a.target)) {
      std::string known;
      for (const std::string& n : net.service_names()) known += (known.empty() ? "" : ", ") + n;
      throw FaultPlanError(fmt::format("fault '{}': target '{}' is not a registered service (registered: {})", a.verb, a.target,
                                       known.empty() ? "none" : known));
    }
  };
  faults.define(verb("net-partition"), [&net](const FaultAction& a) {
    const int64_t ms = a.arg_int("duration_ms");
    if (ms == 0) net.partition(a.target);
    else net.partition_for(a.target, Duration::millis(ms));
  }, check);
  faults.define(verb("net-heal"), [&net](const FaultAction& a) { net.heal(a.target); }, check);
  faults.define(verb("net-loss"), [&net](const FaultAction& a) { net.set_loss(a.target, static_cast<uint64_t>(a.arg_int("loss_ppm"))); },
                check);
  faults.define(verb("net-slow-link"), [&net](const FaultAction& a) { net.slow(a.target, a.arg_int("latency_percent")); }, check);
  for (const FaultKnobDecl& k : network_fault_knobs()) faults.define_knob(k);
  knobs.buggify = &faults;
  net.attach_fault_knobs(&knobs);
  faults.after_apply([&faults, &knobs] {
    knobs.latency_percent = faults.knob("net.latency_percent");
    knobs.loss_ppm = faults.knob("net.loss_ppm");
  });
}

}  // namespace cfsim
