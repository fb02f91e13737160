#pragma once
// The network seam's faults: verbs on the link to one external service, knobs on every link.
//
// Fault model (platform-facts §7: egress from a container to the internet): a link can be cut
// (net-partition: messages hang until the unreachable timeout, then fail), lose messages
// (net-loss, net.loss_ppm: the connection resets), or be slow (net-slow-link, net.latency_percent);
// a connection can drop after the service handled the request but before its reply arrived
// (buggify "net.dropped_connection") — the case that makes retries unsafe without idempotency.
// The model promises that every such failure reaches the caller as a NetError (never silence),
// and that nothing reaches a container from outside but through the Worker.

#include <vector>

#include "model/net/network.h"
#include "sim/fault_injector.h"

namespace cfsim {

const std::vector<FaultVerbDecl>& network_fault_verbs();
const std::vector<FaultKnobDecl>& network_fault_knobs();
// Registers them on `faults` for `net`'s services; the knobs are read into `knobs` once a plan is
// applied (and attached to `net` here).
void register_network_faults(FaultInjector& faults, Network& net, NetFaultKnobs& knobs);

}  // namespace cfsim
