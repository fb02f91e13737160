#pragma once
// long-run: one world that runs for as long as it is asked to (`--until 100h`), to show that the
// simulator and the platform model keep a flat footprint over simulated days: no fiber, event,
// timer, stack or stored row that piles up hour after hour.
//
// The app is the sessions app of sessions-sql (scenarios/sessions_app.h): sessions in Durable
// Object SQL storage, the compute in a container, behind one Worker that routes each client to one
// of a few container instances ("SESSIONS/shard-K"). Every simulated hour has the same shape:
// clients replace, read back and compute for 45 minutes from a bounded set of session ids, then
// stay idle for 15, so every container sleeps (sleepAfter is 10 minutes) and cold-starts again the
// next hour. On each hour mark the world records its footprint (below); the long-run test
// (tests/scenarios/long_run_test.cpp) checks that it stays flat, and `cfsim_bench_platform
// long-run --hours 100` reports events, wall time and max RSS for 100 simulated hours.
//
// Fault model (swarm): container crashes and host restarts, Durable Object resets, crashes and
// failed commits, in the first five minutes (the default run's length). Invariants, checked at every read: a session whose creation
// was acknowledged never reads back as missing; what it reads back is one of the values its client
// wrote to it; and an id none of whose writes ever failed reads back exactly its last acknowledged
// value.

#include <cstdint>
#include <vector>

#include "scenarios/scenario.h"

namespace cfsim {

// The world's footprint at one instant: deterministic counts, not RSS (which is not).
struct LongRunFootprint {
  Time at;
  uint64_t events = 0;             // events executed since the start
  size_t live_fibers = 0;          // fibers started and not yet finished
  size_t queued_events = 0;        // the simulator's event queue
  size_t callback_slots = 0;       // the simulator's callback table (its peak)
  size_t fiber_stacks = 0;         // stacks the fiber stack pool has made (its peak)
  size_t object_hosts = 0;         // Durable Objects ever used
  size_t requests_in_flight = 0;   // requests inside those objects
  uint64_t storage_pages = 0;      // SQLite pages of every object's storage
  uint64_t container_starts = 0;   // cold starts so far (grows by design: once an hour per shard)
  uint64_t requests = 0;           // client requests so far
};

struct LongRunOutcome {
  ScenarioResult result;
  std::vector<LongRunFootprint> hours;  // one per whole simulated hour reached, then one at the end
};

// The run behind the `long-run` scenario, with the footprints kept. Its length is o.until, or five
// simulated minutes when o.until is Duration::max() (cheap enough for sweeps of many seeds).
LongRunOutcome run_long_run(const Scenario& self, const ScenarioOptions& o);

}  // namespace cfsim
