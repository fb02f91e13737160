#pragma once
// The wait protocol the sync primitives (sim/sync.h) are built on: a fiber names what it waits
// on (WaitInfo), blocks, and is woken through a WaitToken, which goes stale as soon as that wait
// is over (a wake through a stale token does nothing). WaitQueue is a FIFO of such waits.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "sim/fiber.h"
#include "sim/time.h"

namespace cfsim {

// What a blocked fiber waits on, kept as pointers so that blocking costs no string building;
// it is turned into text only for a deadlock report.
struct WaitInfo {
  const char* what = "";              // "sleep", "channel recv", "join", ...
  const std::string* object = nullptr;  // the name of the thing waited on, if it has one
};

// A claim on one blocking wait of one fiber. Waking through a stale token does nothing.
struct WaitToken {
  detail::Fiber* fiber = nullptr;
  uint64_t epoch = 0;
};

// A FIFO of blocked fibers; the building block of every sync primitive.
class WaitQueue {
 public:
  explicit WaitQueue(Simulator& sim) : sim_(&sim) {}
  ~WaitQueue();
  WaitQueue(const WaitQueue&) = delete;  // blocked fibers point at it
  WaitQueue& operator=(const WaitQueue&) = delete;
  // Blocks the current fiber until notified (true) or until `deadline` passes (false).
  bool wait(WaitInfo info, Time deadline = Time::max());
  // Wakes the longest-waiting fiber still waiting; false if there was none. `woken_id`, if given,
  // receives the id of the fiber woken.
  bool notify_one(uint32_t* woken_id = nullptr);
  size_t notify_all();
  bool empty() const;  // no fiber still waiting
  // Runs, on the fiber's own stack, when a fiber that a notify woke is killed before its wait()
  // returns: the owner passes the wake-up on (a channel wakes the next waiter, a mutex hands the
  // lock on), or it would be lost with the dead fiber. Not run if this queue is gone by then.
  // Must not block or throw.
  void set_on_abandoned_wake(std::function<void()> fn) { on_abandoned_wake_ = std::move(fn); }

 private:
  Simulator* sim_;
  std::deque<WaitToken> waiters_;
  std::vector<WaitToken> woken_;  // woken by a notify, not yet returned from wait()
  std::function<void()> on_abandoned_wake_;
};

}  // namespace cfsim
