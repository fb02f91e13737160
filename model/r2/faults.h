#pragma once
// The R2 seam's faults: knobs on every operation of every bucket, and an outage window per bucket.
//
// Fault model (r2-fuse-facts §16.2 and R5, r2/api/error-codes): an operation can be slower than
// usual (a latency multiplier), stall for seconds now and then (retries and backoff inside the
// service), fail with 10001 InternalError, or fail with 10043 ServiceUnavailable while the
// bucket is unavailable. The model promises that a failed operation changed nothing: a write that
// fails did not land, so a caller that retries until success sees its write exactly once.
// Strong consistency is never weakened by a fault.

#include <functional>
#include <string_view>
#include <vector>

#include "model/r2/r2.h"
#include "sim/fault_injector.h"

namespace cfsim {

// Finds the bucket a target names, or throws FaultPlanError naming the known ones.
using BucketResolver = std::function<R2Bucket&(const FaultAction&)>;

const std::vector<FaultVerbDecl>& r2_fault_verbs();
const std::vector<FaultKnobDecl>& r2_fault_knobs();
// Registers them; the knobs are read into `knobs` once a plan is applied (attach `knobs` to every
// bucket: R2Bucket::attach_fault_knobs).
void register_r2_faults(FaultInjector& faults, BucketResolver resolve, R2FaultKnobs& knobs);

}  // namespace cfsim
