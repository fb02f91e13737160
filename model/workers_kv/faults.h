#pragma once
// The Workers KV seam's faults: knobs on every operation of every namespace, and an outage window.
//
// Fault model ([K2] how KV works): reads elsewhere can be staler than the cache TTL alone explains
// (a write takes time to reach other locations: kv.propagation_delay_ms) or stale for longer or
// shorter than cacheTtl (kv.cache_ttl_percent); every operation can be slower
// (kv.latency_percent); the service can be unavailable for a while (kv-outage: 503). The model
// promises that the writer's own location still reads its write (read-your-write, as configured)
// and that a failed write changed nothing.

#include <functional>
#include <vector>

#include "model/workers_kv/workers_kv.h"
#include "sim/fault_injector.h"

namespace cfsim {

// Finds the namespace a target names, or throws FaultPlanError naming the known ones.
using KvNamespaceResolver = std::function<KvNamespace&(const FaultAction&)>;

const std::vector<FaultVerbDecl>& workers_kv_fault_verbs();
const std::vector<FaultKnobDecl>& workers_kv_fault_knobs();
// Registers them; the knobs are read into `knobs` once a plan is applied (attach `knobs` to every
// namespace: KvNamespace::attach_fault_knobs).
void register_workers_kv_faults(FaultInjector& faults, KvNamespaceResolver resolve, KvFaultKnobs& knobs);

}  // namespace cfsim
