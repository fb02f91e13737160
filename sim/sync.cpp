#include "sim/sync.h"

namespace cfsim {

const char* to_string(WaitStatus s) {
  switch (s) {
    case WaitStatus::ok: return "ok";
    case WaitStatus::timeout: return "timeout";
    case WaitStatus::closed: return "closed";
  }
  return "?";
}

uint32_t Mutex::caller(const char* op) const {
  FiberHandle me = sim_->current();
  if (!me) throw SimError(fmt::format("mutex '{}' {}: outside a fiber", name_, op));
  return me.id();
}

bool Mutex::try_lock() {
  uint32_t me = caller("try_lock");
  if (owner_ == me) throw SimError(fmt::format("mutex '{}': fiber {} already holds it (not recursive)", name_, me));
  if (owner_ != 0) return false;
  owner_ = me;
  return true;
}

bool Mutex::lock_until(Time deadline) {
  uint32_t me = caller("lock");
  if (owner_ == me) throw SimError(fmt::format("mutex '{}': fiber {} already holds it (not recursive)", name_, me));
  if (owner_ == 0) {
    owner_ = me;
    return true;
  }
  for (;;) {
    bool woken = waiters_.wait({"mutex", &name_}, deadline);
    if (owner_ == me) return true;  // unlock() handed it to us
    if (!woken) return false;
  }
}

void Mutex::unlock() {
  uint32_t me = caller("unlock");
  if (owner_ != me)
    throw SimError(fmt::format("mutex '{}': unlock by fiber {} which does not hold it", name_, me));
  hand_over();
}

void Mutex::hand_over() {
  owner_ = 0;
  // Hand over directly so that a fiber arriving later cannot barge past the waiters.
  uint32_t next = 0;
  if (waiters_.notify_one(&next)) owner_ = next;
}

}  // namespace cfsim
