#pragma once
// Internal to the kernel (sim/fiber.cpp, sim/wait.cpp, sim/scheduler.cpp): the record behind a
// FiberHandle, the switch in and out of a fiber with AddressSanitizer's fiber annotations, and the
// predicates every part of the kernel shares. Not a public header.

#include <boost/context/fiber.hpp>

#include "sim/assert.h"
#include "sim/scheduler.h"

#include <fmt/format.h>

#include <algorithm>

#if defined(__SANITIZE_ADDRESS__)
#define CFSIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CFSIM_ASAN 1
#endif
#endif

#if defined(CFSIM_ASAN)
#include <sanitizer/common_interface_defs.h>
#define CFSIM_SWITCH_START(fake, bottom, size) __sanitizer_start_switch_fiber(fake, bottom, size)
#define CFSIM_SWITCH_FINISH(fake, bottom, size) __sanitizer_finish_switch_fiber(fake, bottom, size)
#else
#define CFSIM_SWITCH_START(fake, bottom, size) ((void)(fake), (void)(bottom), (void)(size))
#define CFSIM_SWITCH_FINISH(fake, bottom, size) ((void)(fake), (void)(bottom), (void)(size))
#endif

namespace cfsim {

namespace detail {

struct Fiber {
  Fiber(Simulator& s, uint32_t i, std::string n, bool d) : sim(&s), id(i), name(std::move(n)), daemon(d), joiners(s) {}

  Simulator* sim;
  uint32_t id;
  std::string name;
  bool daemon;
  FiberState state = FiberState::not_started;
  std::function<void()> body;
  boost::context::fiber ctx;    // the fiber, while it is suspended
  boost::context::fiber sched;  // the scheduler, while the fiber runs
  bool kill_requested = false;
  std::exception_ptr error;
  std::string error_text;
  uint64_t epoch = 0;       // bumped whenever a wait ends: older tokens and timers go stale
  uint64_t woken_epoch = UINT64_MAX;  // epoch of the last wait ended by wake() (not by timer or kill)
  int wake_code = 0;
  uint32_t pending = 0;     // events in the queue that point at this fiber
  WaitInfo wait;
  WaitQueue* queue = nullptr;  // the queue this fiber waits in; cleared if that queue is destroyed
  bool wait_orphaned = false;  // that queue was destroyed: wait.object may be gone with it
  const char* wait_op = "";
  Time wait_deadline = Time::max();
  WaitQueue joiners;
  std::function<void()> suspend_hook;  // see Simulator::set_suspend_hook
  void* context = nullptr;             // see Simulator::set_fiber_context
  // AddressSanitizer's view of the stacks on either side of a switch.
  void* fake_stack = nullptr;
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
  const void* sched_bottom = nullptr;
  size_t sched_size = 0;
};

}  // namespace detail

inline bool terminal(FiberState s) {
  return s == FiberState::finished || s == FiberState::failed || s == FiberState::killed;
}

// The two halves of every switch, inline because each event runs one of each: resume() runs a
// fiber until it suspends; suspend() returns from a fiber to the scheduler.
inline void Simulator::resume(detail::Fiber* f) {
  f->state = FiberState::running;
  current_ = f;
  if (opts_.trace_scheduling) trace_.record_prehashed(resume_prefix_, now_, f->id, f->name, "sched", "resume", Phase::instant);
  void* fake = nullptr;
  CFSIM_SWITCH_START(&fake, f->stack_bottom, f->stack_size);
  f->ctx = std::move(f->ctx).resume();
  CFSIM_SWITCH_FINISH(fake, nullptr, nullptr);
  current_ = nullptr;
}

inline void Simulator::suspend(detail::Fiber* f) {
  if (f->suspend_hook) f->suspend_hook();
  CFSIM_SWITCH_START(&f->fake_stack, f->sched_bottom, f->sched_size);
  f->sched = std::move(f->sched).resume();
  CFSIM_SWITCH_FINISH(f->fake_stack, &f->sched_bottom, &f->sched_size);
}

// The simulator whose run() (or teardown) is executing; see Simulator::active().
extern Simulator* g_active_simulator;

}  // namespace cfsim
