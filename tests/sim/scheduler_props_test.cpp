// Properties of the scheduler, checked by RapidCheck over generated programs of fibers and
// callbacks, with random seeds and with same-instant tie shuffling on and off:
//  - virtual time never goes backwards: now() observed at every resume and callback never decreases;
//  - sleep_for(d) resumes at exactly now + d (and sleep_until(t) at max(now, t)), even among
//    waits that end early and leave stale timers behind;
//  - every call_at event runs exactly once, at its time, unless its cancel() returned true.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "sim/scheduler.h"
#include "sim/sync.h"

using namespace cfsim;

namespace {

SimOptions options(uint64_t seed, bool shuffle_ties) {
  SimOptions o;
  o.seed = seed;
  o.shuffle_ties = shuffle_ties;
  o.stack_bytes = 64 * 1024;
  o.trace_scheduling = false;
  return o;
}

// RapidCheck scales inRange() by the current size (small early in a run, and inside resize()):
// choices such as "which kind of step" must not collapse to the first one, so they are drawn at
// full size; shrinking still moves them towards the low end.
template <class T>
rc::Gen<T> unscaled(rc::Gen<T> g) {
  return rc::gen::resize(100, std::move(g));
}

// Durations: mostly a few whole milliseconds (so that many events share an instant), sometimes an
// odd count of nanoseconds, sometimes hours (time jumps).
rc::Gen<int64_t> gen_duration_ns() {
  return unscaled(rc::gen::weightedOneOf<int64_t>({
      {6, rc::gen::map(rc::gen::inRange<int64_t>(0, 6), [](int64_t ms) { return ms * 1'000'000; })},
      {2, rc::gen::inRange<int64_t>(0, 5'000'000)},
      {1, rc::gen::inRange<int64_t>(0, 10 * 3'600'000'000'000)},
  }));
}

enum OpKind { op_sleep_for, op_yield, op_sleep_until, op_call_after, op_spawn, kOpKinds };
struct Op {
  int kind;
  int64_t ns;
};

rc::Gen<Op> gen_op() {
  return rc::gen::build<Op>(rc::gen::set(&Op::kind, unscaled(rc::gen::inRange<int>(0, kOpKinds))),
                            rc::gen::set(&Op::ns, gen_duration_ns()));
}

rc::Gen<std::vector<std::vector<Op>>> gen_program() {
  return rc::gen::resize(30, rc::gen::container<std::vector<std::vector<Op>>>(rc::gen::container<std::vector<Op>>(gen_op())));
}

RC_GTEST_PROP(SchedulerProps, VirtualTimeNeverDecreasesAndEverythingRuns, ()) {
  const auto program = *gen_program();
  const auto outside = *rc::gen::container<std::vector<int64_t>>(gen_duration_ns());  // call_at from outside
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const bool shuffle = *rc::gen::arbitrary<bool>();
  const int chunks = *unscaled(rc::gen::inRange(1, 5));  // run() in this many time-limited slices, then to the end
  const int64_t slice_ns = *gen_duration_ns();

  Simulator sim(options(seed, shuffle));
  std::vector<int64_t> seen;  // now() at every resume and callback, in execution order
  size_t expected = outside.size();
  auto observe = [&] { seen.push_back(sim.now().ns); };
  for (size_t f = 0; f < program.size(); ++f) {
    expected += 1;
    for (const Op& op : program[f]) expected += op.kind == op_call_after || op.kind == op_spawn ? 2 : 1;
    sim.spawn("f", [&, f] {
      observe();
      for (const Op& op : program[f]) {
        switch (op.kind) {
          case op_sleep_for: sim.sleep_for(Duration::nanos(op.ns)); break;
          case op_yield: sim.yield(); break;
          case op_sleep_until: sim.sleep_until(Time::from_ns(op.ns)); break;  // often in the past
          case op_call_after: sim.call_after(Duration::nanos(op.ns), observe); break;
          case op_spawn:
            sim.spawn("child", [&, d = op.ns] {
              observe();
              sim.sleep_for(Duration::nanos(d));
            });
            break;
          default: break;
        }
        observe();
      }
    });
  }
  for (int64_t t : outside) sim.call_at(Time::from_ns(t), observe);

  int64_t until = 0;
  for (int c = 0; c < chunks; ++c) {
    until += slice_ns;
    RunResult r = sim.run({.until = Time::from_ns(until)});
    // Nothing later than the limit ran, and time reads the limit if the run stopped there.
    for (int64_t t : seen) RC_ASSERT(t <= until);
    if (r.reason == StopReason::time_limit) RC_ASSERT(r.now.ns == until);
    RC_ASSERT(r.reason == StopReason::time_limit || r.reason == StopReason::quiescent);
  }
  RunResult r = sim.run();
  RC_ASSERT(r.reason == StopReason::quiescent);
  RC_ASSERT(std::is_sorted(seen.begin(), seen.end()));
  RC_ASSERT(seen.size() == expected);
  if (!seen.empty()) RC_ASSERT(r.now.ns >= seen.back());
  RC_ASSERT(sim.live_fibers() == 0u);
}

// Sleeps are mixed with waits on an event that callbacks set and reset, so that many waits end
// early (woken) and leave a stale timer behind: a stale timer must never end a later sleep.
enum WaitKind { wait_sleep_for, wait_sleep_until, wait_event_for, kWaitKinds };

RC_GTEST_PROP(SchedulerProps, SleepResumesAtExactlyNowPlusDuration, ()) {
  const auto plans = *rc::gen::resize(
      20, rc::gen::container<std::vector<std::vector<std::pair<int, int64_t>>>>(
              rc::gen::container<std::vector<std::pair<int, int64_t>>>(
                  rc::gen::pair(unscaled(rc::gen::inRange<int>(0, kWaitKinds)), gen_duration_ns()))));
  const auto toggles = *rc::gen::container<std::vector<std::pair<bool, int64_t>>>(
      rc::gen::pair(rc::gen::arbitrary<bool>(), gen_duration_ns()));  // (set or reset, when)
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const bool shuffle = *rc::gen::arbitrary<bool>();

  Simulator sim(options(seed, shuffle));
  Event ev(sim, "toggled");
  struct Check {
    int kind;
    int64_t before, arg, after;
    bool result;  // event waits: true if the event was set in time
  };
  std::vector<Check> checks;
  for (const auto& plan : plans)
    sim.spawn("sleeper", [&] {
      for (const auto& [kind, ns] : plan) {
        int64_t before = sim.now().ns;
        bool result = true;
        switch (kind) {
          case wait_sleep_for: sim.sleep_for(Duration::nanos(ns)); break;
          case wait_sleep_until: sim.sleep_until(Time::from_ns(ns)); break;
          default: result = ev.wait_for(Duration::nanos(ns)); break;
        }
        checks.push_back({kind, before, ns, sim.now().ns, result});
      }
    });
  for (const auto& [set, at] : toggles)
    sim.call_at(Time::from_ns(at), [&ev, set_it = set] { set_it ? ev.set() : ev.reset(); });
  sim.run();
  size_t total = 0;
  for (const auto& plan : plans) total += plan.size();
  RC_ASSERT(checks.size() == total);
  for (const Check& c : checks) {
    switch (c.kind) {
      case wait_sleep_for: RC_ASSERT(c.after == c.before + c.arg); break;
      case wait_sleep_until: RC_ASSERT(c.after == std::max(c.before, c.arg)); break;
      default:  // woken no later than the deadline, and a timeout is exactly at the deadline
        if (c.result) RC_ASSERT(c.after <= c.before + c.arg);
        else RC_ASSERT(c.after == c.before + c.arg);
    }
  }
}

RC_GTEST_PROP(SchedulerProps, EveryCallAtRunsExactlyOnceUnlessCancelled, ()) {
  // Per event: when it is scheduled (from a callback at that time), how much later it is due, and
  // how long after scheduling it is cancelled (-1: never).
  const auto events = *rc::gen::resize(
      60, rc::gen::container<std::vector<std::tuple<int64_t, int64_t, int64_t>>>(rc::gen::tuple(
              gen_duration_ns(), gen_duration_ns(),
              rc::gen::weightedOneOf<int64_t>({{1, rc::gen::just<int64_t>(-1)}, {2, gen_duration_ns()}}))));
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const bool shuffle = *rc::gen::arbitrary<bool>();

  Simulator sim(options(seed, shuffle));
  struct Tally {
    int runs = 0;
    int64_t due = -1, ran_at = -1, cancel_at = -1;
    bool cancel_result = false, second_cancel_result = false;
  };
  std::vector<Tally> tally(events.size());
  for (size_t k = 0; k < events.size(); ++k) {
    const auto& [schedule_at, delay, cancel_after] = events[k];
    sim.call_at(Time::from_ns(schedule_at), [&, k, d = delay, c = cancel_after] {
      tally[k].due = sim.now().ns + d;
      EventId id = sim.call_after(Duration::nanos(d), [&, k] {
        ++tally[k].runs;
        tally[k].ran_at = sim.now().ns;
      });
      if (c >= 0) {
        sim.call_after(Duration::nanos(c), [&, k, id] {
          tally[k].cancel_at = sim.now().ns;
          tally[k].cancel_result = sim.cancel(id);
          tally[k].second_cancel_result = sim.cancel(id);
        });
      }
    });
  }
  sim.run();
  for (size_t k = 0; k < events.size(); ++k) {
    const Tally& t = tally[k];
    RC_ASSERT(t.second_cancel_result == false);
    if (t.cancel_result) {
      RC_ASSERT(t.runs == 0);
      RC_ASSERT(t.cancel_at <= t.due);  // only a pending event can be cancelled
    } else {
      RC_ASSERT(t.runs == 1);
      RC_ASSERT(t.ran_at == t.due);
      if (t.cancel_at >= 0) RC_ASSERT(t.cancel_at >= t.due);  // the cancel came too late
    }
  }
}

}  // namespace
