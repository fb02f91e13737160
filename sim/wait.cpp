// The wait protocol every sync primitive is built on (prepare_wait / block / wake) and WaitQueue.
#include <algorithm>

#include "sim/fiber_record.h"

namespace cfsim {

using detail::Fiber;

// --- WaitQueue ----------------------------------------------------------------------------------

WaitQueue::~WaitQueue() {
  // Fibers still blocked here can never be woken now; they stay blocked (a deadlock, or killed
  // when the simulator goes). They, and fibers woken from here that have not run yet, must not
  // touch this queue when they resume or unwind.
  auto orphan = [this](const WaitToken& t) {
    if (t.fiber->queue != this) return;
    t.fiber->queue = nullptr;
    // The name it points at usually dies with the queue's owner; a deadlock report must not read it.
    t.fiber->wait.object = nullptr;
    t.fiber->wait_orphaned = true;
  };
  for (const WaitToken& t : waiters_) orphan(t);
  for (const WaitToken& t : woken_) orphan(t);
}

bool WaitQueue::wait(WaitInfo info, Time deadline) {
  WaitToken t = sim_->prepare_wait(info, info.what);
  waiters_.push_back(t);
  t.fiber->queue = this;
  // However the wait ends (notify, timeout, kill), its entry must go: a stale entry would point at
  // a fiber that may be gone by the time someone notifies or this queue is destroyed.
  struct Remove {
    WaitQueue* q;
    WaitToken t;
    ~Remove() {
      if (t.fiber->queue != q) return;  // the queue was destroyed while we waited
      t.fiber->queue = nullptr;
      auto same = [this](const WaitToken& w) { return w.fiber == t.fiber && w.epoch == t.epoch; };
      // Woken fibers usually resume in the order they were woken: look from the front.
      if (auto it = std::find_if(q->woken_.begin(), q->woken_.end(), same); it != q->woken_.end()) {
        q->woken_.erase(it);
        return;
      }
      if (auto it = std::find_if(q->waiters_.rbegin(), q->waiters_.rend(), same); it != q->waiters_.rend())
        q->waiters_.erase(std::next(it).base());
    }
  } remove{this, t};
  int code;
  try {
    code = sim_->block(deadline);
  } catch (...) {  // killed
    if (t.fiber->queue == this && t.fiber->woken_epoch == t.epoch && on_abandoned_wake_) on_abandoned_wake_();
    throw;
  }
  return code == Simulator::kWoken;
}

bool WaitQueue::notify_one(uint32_t* woken_id) {
  while (!waiters_.empty()) {
    WaitToken t = waiters_.front();
    waiters_.pop_front();
    if (sim_->wake(t)) {
      woken_.push_back(t);  // until it runs: if this queue goes first, it must hear of it
      if (woken_id) *woken_id = t.fiber->id;
      return true;
    }
  }
  return false;
}

size_t WaitQueue::notify_all() {
  size_t n = 0;
  while (notify_one()) ++n;
  return n;
}

bool WaitQueue::empty() const {
  for (const WaitToken& t : waiters_)
    if (Simulator::token_live(t)) return false;
  return true;
}

// --- Simulator: the wait protocol -----------------------------------------------------------------

WaitToken Simulator::prepare_wait(WaitInfo info, const char* op) {
  Fiber* f = require_fiber(op);
  f->wait = info;
  f->wait_orphaned = false;
  f->wait_op = op;
  return WaitToken{f, f->epoch};
}

int Simulator::block(Time deadline) {
  Fiber* f = require_fiber("block");
  if (f->kill_requested) throw FiberKilled{};
  f->wait_deadline = deadline;
  if (deadline != Time::max()) {
    if (deadline <= now_) {  // already past: time out without suspending
      f->epoch++;
      return kTimedOut;
    }
    push(deadline.ns, f, f->epoch, kTimedOut);
  }
  f->state = FiberState::blocked;
  suspend(f);
  if (f->kill_requested) throw FiberKilled{};
  return f->wake_code;
}

bool Simulator::wake(const WaitToken& t, int code) {
  Fiber* f = t.fiber;
  if (!token_live(t)) return false;
  f->woken_epoch = f->epoch;
  f->epoch++;
  f->state = FiberState::runnable;
  f->wake_code = code;
  push(now_.ns, f, f->epoch, kWoken);  // the code travels in the fiber; events carry one bit
  return true;
}

bool Simulator::token_live(const WaitToken& t) {
  return t.fiber && t.fiber->epoch == t.epoch && t.fiber->state == FiberState::blocked;
}

}  // namespace cfsim
