#include "model/workers_kv/faults.h"

namespace cfsim {

const std::vector<FaultVerbDecl>& workers_kv_fault_verbs() {
  static const std::vector<FaultVerbDecl> verbs = {
      {.name = "kv-outage",
       .seam = "workers_kv",
       .target = FaultTarget::kv_namespace,
       .args = {{.name = "duration_ms", .about = "how long every operation fails, ms", .lo = 1, .hi = 86'400'000,
                 .fallback = 60'000, .draw_lo = 1'000, .draw_hi = 120'000}},
       .models = "the KV service unavailable: operations fail as \"KV GET failed: 503 Service Unavailable\" "
                 "(workerd api/kv.c++ error form; the status is an assumption)"},
  };
  return verbs;
}

const std::vector<FaultKnobDecl>& workers_kv_fault_knobs() {
  static const std::vector<FaultKnobDecl> knobs = {
      {.name = "kv.latency_percent", .about = "every operation's latency, % of its configured draw",
       .lo = 1, .hi = 100'000, .fallback = 100, .draw_lo = 50, .draw_hi = 400,
       .models = "KV latencies are assumptions (kv/concepts/how-kv-works gives no figures)"},
      {.name = "kv.cache_ttl_percent", .about = "how long an edge copy is held, % of its cacheTtl",
       .lo = 1, .hi = 1'000, .fallback = 100, .draw_lo = 50, .draw_hi = 200,
       .models = "edge caches hold copies for about cacheTtl, not exactly (kv/concepts/how-kv-works)"},
      {.name = "kv.propagation_delay_ms", .about = "how long a write takes to reach other locations, ms",
       .lo = 0, .hi = 60'000, .fallback = 0, .draw_lo = 0, .draw_hi = 10'000,
       .models = "changes are usually visible elsewhere within 60 s (kv/concepts/how-kv-works)"},
  };
  return knobs;
}

void register_workers_kv_faults(FaultInjector& faults, KvNamespaceResolver resolve, KvFaultKnobs& knobs) {
  faults.define(
      workers_kv_fault_verbs()[0],
      [resolve, &faults](const FaultAction& a) {
        resolve(a).outage_until(faults.sim().now() + Duration::millis(a.arg_int("duration_ms")));  // <= 1 day
      },
      [resolve](const FaultAction& a) { resolve(a); });
  for (const FaultKnobDecl& k : workers_kv_fault_knobs()) faults.define_knob(k);
  faults.after_apply([&faults, &knobs] {
    knobs.latency_percent = faults.knob("kv.latency_percent");
    knobs.cache_ttl_percent = faults.knob("kv.cache_ttl_percent");
    knobs.propagation_delay_ms = faults.knob("kv.propagation_delay_ms");
  });
}

}  // namespace cfsim
