#pragma once
// The Durable Object seam's faults: verbs on one object, knobs on every round trip.
//
// Fault model (what the platform can do to an object, and what the model promises — see the top of
// durable_object.h): an isolate reset loses in-memory state and fails the requests in flight; a
// machine crash also loses every write not yet confirmed, together with the replies held behind
// it (the output gate: never one without the other); a failed commit resets the object and loses
// the same; storage round trips can be slow. Storage itself always survives.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/durable_objects/durable_object.h"
#include "sim/fault_injector.h"

namespace cfsim {

// Turns an action's "BINDING/name" target into its namespace and instance name, or throws
// FaultPlanError naming what is known (World supplies one over its bindings and declared instances).
using ObjectTargetResolver = std::function<std::pair<DurableObjectNamespace*, std::string>(const FaultAction&)>;

// The verbs and knobs of this seam, as declarations (for fault spaces and `cfsim faults`).
const std::vector<FaultVerbDecl>& durable_object_fault_verbs();
const std::vector<FaultKnobDecl>& durable_object_fault_knobs();

// Registers them on `faults`; the knobs are read into `knobs` once a plan is applied (attach
// `knobs` to every namespace: DurableObjectNamespace::attach_fault_knobs).
void register_durable_object_faults(FaultInjector& faults, ObjectTargetResolver resolve, DurableObjectFaultKnobs& knobs);

}  // namespace cfsim
