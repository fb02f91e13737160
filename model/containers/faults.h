#pragma once
// The container seam's faults: verbs on one instance or a namespace, knobs and buggify sites on
// starts and readiness probes.
//
// Fault model (platform-facts §1.7-§1.9): a container can die at once (container-crash, with an
// exit code; container-oom, exit 137) or be stopped by the platform (container-restart-host:
// SIGTERM, then SIGKILL after the grace period; container-rollout: replaced in steps by a new
// version). Every stop wipes the ephemeral disk; Durable Object storage survives. Cold starts can
// be slower (containers.cold_start_percent, buggify "containers.slow_cold_start"), and the first
// readiness probe can be refused although the app listens (buggify
// "containers.early_probe_failure"). A fault on an instance that is not running does nothing but a
// trace record saying so.

#include <vector>

#include "model/containers/runtime.h"
#include "model/durable_objects/faults.h"
#include "sim/fault_injector.h"

namespace cfsim {

const std::vector<FaultVerbDecl>& container_fault_verbs();
const std::vector<FaultKnobDecl>& container_fault_knobs();
// Registers them on `faults` for `platform`'s namespaces; `resolve` checks that an instance target
// names a declared instance. The knobs are read into `knobs` once a plan is applied (and attached
// to `platform` here).
void register_container_faults(FaultInjector& faults, ContainerPlatform& platform, ObjectTargetResolver resolve,
                               ContainerFaultKnobs& knobs);

}  // namespace cfsim
