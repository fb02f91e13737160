#pragma once
// What a Durable Object namespace is configured with: its options (each a platform figure or an
// engineering assumption, with its source) and what this seam's fault knobs change.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/durable_objects/storage.h"
#include "sim/fault_injector.h"
#include "sim/time.h"

namespace cfsim {

// What this seam's fault knobs and buggify sites change (model/durable_objects/faults.h fills it in
// once a plan is applied; a namespace outside a World keeps the defaults: no change).
struct DurableObjectFaultKnobs {
  int64_t storage_latency_percent = 100;  // do.storage_latency_percent: every round trip's latency x N/100
  int64_t commit_failure_ppm = 0;         // do.commit_failure_ppm: each round trip fails with N/1e6
  FaultInjector* buggify = nullptr;       // the run's buggify sites ("do.slow_commit"), if any
};

struct DurableObjectOptions {
  StorageBackend backend = StorageBackend::sqlite;
  // One storage round trip (the replicas confirming a write). An engineering assumption: the
  // facts give no figure; a few milliseconds matches the "output gate" blog posts (D12, D13).
  Duration durability_latency = Duration::millis(2);
  // An idle object (no request, alarm or write in flight) is evicted after this long; its
  // constructor reruns on the next request. D7: hibernation after 10 s idle (70-140 s for
  // objects that cannot hibernate: set this to 70 s to model those).
  Duration idle_eviction_after = Duration::seconds(10);
  Duration block_concurrency_timeout = Duration::seconds(30);  // D8: overrun resets the object
  Duration alarm_retry_first_backoff = Duration::seconds(2);   // D6: doubling from 2 s
  int alarm_max_retries = 6;                                   // D6
  bool delete_all_deletes_alarm = true;  // D5: compatibility date >= 2026-02-24
  StorageOptions storage;                  // per-object storage limits (10 GB by default)
};

// DurableObjectOptions as key/value pairs for SimOptions::run_info (the trace header); keys start
// with `prefix` (e.g. "do.SESSIONS.").
std::vector<std::pair<std::string, std::string>> run_info(const DurableObjectOptions& o, const std::string& prefix);

}  // namespace cfsim
