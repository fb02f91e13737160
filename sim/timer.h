#pragma once
// A one-shot timer on the simulator's clock: a callback that is either armed (due at a time) or not.
// It keeps the EventId and the "is it pending" flag together, so no layer keeps a `pending_` flag
// beside an EventId by hand and gets the two out of step. Arming an armed timer replaces it; the
// callback runs on the scheduler (it must not block) and may re-arm the timer. Destroying the
// timer cancels it.
//
//   Timer idle(sim);
//   idle.arm_after(10s, [this] { evict(); });
//   if (idle.armed()) idle.cancel();

#include <functional>

#include "sim/assert.h"
#include "sim/scheduler.h"

namespace cfsim {

class Timer {
 public:
  explicit Timer(Simulator& sim) : sim_(&sim) {}
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Due at `t` (>= now: a SimError otherwise, as for Simulator::call_at).
  void arm_at(Time t, std::function<void()> fn) {
    cancel();
    id_ = sim_->call_at(t, [this, fn = std::move(fn)] {
      CFSIM_ASSERT(armed_);  // a cancelled timer's event never runs
      armed_ = false;
      fn();
    });
    armed_ = true;
    due_ = t;
  }
  void arm_after(Duration d, std::function<void()> fn) { arm_at(sim_->now() + d, std::move(fn)); }
  // True if it was armed (its callback now never runs).
  bool cancel() {
    if (!armed_) return false;
    armed_ = false;
    const bool cancelled = sim_->cancel(id_);
    CFSIM_ASSERT(cancelled);
    return true;
  }
  bool armed() const { return armed_; }
  Time due() const { return due_; }  // meaningful while armed()

 private:
  Simulator* sim_;
  EventId id_;
  bool armed_ = false;
  Time due_;
};

}  // namespace cfsim
