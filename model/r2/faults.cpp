#include "model/r2/faults.h"

namespace cfsim {

const std::vector<FaultVerbDecl>& r2_fault_verbs() {
  static const std::vector<FaultVerbDecl> verbs = {
      {.name = "r2-outage",
       .seam = "r2",
       .target = FaultTarget::bucket,
       .args = {{.name = "duration_ms", .about = "how long every operation fails, ms", .lo = 1, .hi = 86'400'000,
                 .fallback = 60'000, .draw_lo = 1'000, .draw_hi = 120'000}},
       .models = "the bucket is unavailable: every operation ending in the window fails with 10043 ServiceUnavailable "
                 "(r2/api/error-codes)"},
  };
  return verbs;
}

const std::vector<FaultKnobDecl>& r2_fault_knobs() {
  static const std::vector<FaultKnobDecl> knobs = {
      {.name = "r2.latency_percent", .about = "every operation's latency, % of its configured draw",
       .lo = 1, .hi = 100'000, .fallback = 100, .draw_lo = 50, .draw_hi = 400,
       .models = "r2-fuse-facts §16.2: latencies are assumptions; the pessimistic preset is x2.5"},
      {.name = "r2.error_ppm", .about = "chance per operation of 10001 InternalError, per million",
       .lo = 0, .hi = 1'000'000, .fallback = 0, .draw_lo = 0, .draw_hi = 10'000,
       .models = "r2-fuse-facts §16.2: other 5xx at ~1e-4 (an assumption); 10001 per r2/api/error-codes"},
      {.name = "r2.stall_ppm", .about = "chance per operation of a 1..10 s stall, per million",
       .lo = 0, .hi = 1'000'000, .fallback = 0, .draw_lo = 0, .draw_hi = 10'000,
       .models = "r2-fuse-facts §16.2: rare stalls, 1e-3 per request, U(1 s, 10 s)"},
  };
  return knobs;
}

void register_r2_faults(FaultInjector& faults, BucketResolver resolve, R2FaultKnobs& knobs) {
  faults.define(
      r2_fault_verbs()[0],
      [resolve, &faults](const FaultAction& a) {
        R2Bucket& b = resolve(a);
        b.outage_until(faults.sim().now() + Duration::millis(a.arg_int("duration_ms")));  // <= 1 day: no overflow
      },
      [resolve](const FaultAction& a) { resolve(a); });
  for (const FaultKnobDecl& k : r2_fault_knobs()) faults.define_knob(k);
  faults.after_apply([&faults, &knobs] {
    knobs.latency_percent = faults.knob("r2.latency_percent");
    knobs.error_ppm = faults.knob("r2.error_ppm");
    knobs.stall_ppm = faults.knob("r2.stall_ppm");
  });
}

}  // namespace cfsim
