#include "model/durable_objects/faults.h"

#include <fmt/format.h>

namespace cfsim {

namespace {

const FaultVerbDecl& verb(std::string_view name) {
  for (const FaultVerbDecl& d : durable_object_fault_verbs())
    if (d.name == name) return d;
  throw std::logic_error(fmt::format("durable_object_fault_verbs: no '{}'", name));
}

}  // namespace

const std::vector<FaultVerbDecl>& durable_object_fault_verbs() {
  static const std::vector<FaultVerbDecl> verbs = {
      {.name = "do-reset",
       .seam = "durable_objects",
       .target = FaultTarget::object,
       .models = "an isolate reset: in-memory state lost, requests in flight fail, storage and confirmed writes kept "
                 "(durable-objects/concepts/durable-object-lifecycle, api/state)"},
      {.name = "do-crash",
       .seam = "durable_objects",
       .target = FaultTarget::object,
       .models = "the object's machine crashes: unconfirmed writes and the replies held behind them are lost together "
                 "(blog: durable-objects-easy-fast-correct-choose-three, output gate)"},
      {.name = "do-fail-commit",
       .seam = "durable_objects",
       .target = FaultTarget::object,
       .models = "the next storage commit fails: \"Internal error in Durable Object storage write caused object to be reset.\" "
                 "(durable-objects/platform/known-issues)"},
      {.name = "do-delay-durability",
       .seam = "durable_objects",
       .target = FaultTarget::object,
       .args = {{.name = "extra_ms", .about = "added to the next storage round trip, ms", .lo = 0, .hi = 3'600'000,
                 .fallback = 100, .draw_lo = 10, .draw_hi = 5'000}},
       .models = "a slow storage round trip: replies wait on the output gate that much longer (glossary: output gate)"},
  };
  return verbs;
}

const std::vector<FaultKnobDecl>& durable_object_fault_knobs() {
  static const std::vector<FaultKnobDecl> knobs = {
      {.name = "do.storage_latency_percent", .about = "every storage round trip's latency, % of durability_latency",
       .lo = 1, .hi = 100'000, .fallback = 100, .draw_lo = 50, .draw_hi = 1'000,
       .models = "storage confirmation latency varies by location and load (no published figure: an assumption)"},
      {.name = "do.commit_failure_ppm", .about = "chance a storage round trip fails and resets the object, per million",
       .lo = 0, .hi = 1'000'000, .fallback = 0, .draw_lo = 0, .draw_hi = 20'000,
       .models = "storage write failures reset the object (durable-objects/platform/known-issues)"},
  };
  return knobs;
}

void register_durable_object_faults(FaultInjector& faults, ObjectTargetResolver resolve, DurableObjectFaultKnobs& knobs) {
  // The arguments were checked against the declarations when the plan was applied; `check`
  // rejects a target that names no declared instance of a Durable Object namespace.
  auto check = [resolve](const FaultAction& a) { resolve(a); };
  auto host = [resolve](const FaultAction& a) -> ObjectHost& {
    auto [ns, name] = resolve(a);
    return ns->host(ns->id_from_name(name));
  };
  faults.define(verb("do-reset"), [host](const FaultAction& a) { host(a).reset("Durable Object reset (fault injected)"); }, check);
  faults.define(verb("do-crash"), [host](const FaultAction& a) { host(a).crash("Durable Object's machine crashed (fault injected)"); }, check);
  faults.define(verb("do-fail-commit"), [host](const FaultAction& a) { host(a).fail_next_commit(); }, check);
  faults.define(
      verb("do-delay-durability"), [host](const FaultAction& a) { host(a).delay_next_commit(Duration::millis(a.arg_int("extra_ms"))); },
      check);
  for (const FaultKnobDecl& k : durable_object_fault_knobs()) faults.define_knob(k);
  knobs.buggify = &faults;
  faults.after_apply([&faults, &knobs] {
    knobs.storage_latency_percent = faults.knob("do.storage_latency_percent");
    knobs.commit_failure_ppm = faults.knob("do.commit_failure_ppm");
  });
}

}  // namespace cfsim
