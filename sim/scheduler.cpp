// The scheduler: the event queue, timers, callbacks and the main loop.
#include <fmt/format.h>

#include <algorithm>

#include "sim/fiber_record.h"

namespace cfsim {

using detail::Fiber;

Simulator* g_active_simulator = nullptr;

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::quiescent: return "quiescent";
    case StopReason::time_limit: return "time_limit";
    case StopReason::event_budget: return "event_budget";
    case StopReason::deadlock: return "deadlock";
  }
  return "?";
}

std::string RunResult::describe() const {
  std::string s = fmt::format("stopped ({}) at {} after {} events, trace hash 0x{:016x}", to_string(reason),
                              format_time(now), events, trace_hash);
  for (const auto& b : blocked) s += fmt::format("\n  blocked forever: fiber {} '{}' waiting on {}", b.id, b.name, b.waiting_on);
  for (const auto& f : failed) s += fmt::format("\n  failed: fiber {} '{}': {}", f.id, f.name, f.error);
  return s;
}

// --- Simulator ------------------------------------------------------------------------------------

Simulator::Simulator(SimOptions options, std::vector<std::shared_ptr<TraceSink>> sinks)
    : opts_(std::move(options)), sched_rng_(opts_.seed, "sched"), stacks_(opts_.stack_bytes) {
  for (auto& s : sinks) trace_.add_sink(std::move(s));
  const std::string seed_text = std::to_string(opts_.seed);  // as text: seeds use all 64 bits
  std::vector<Field> fields = {
      {"cfsim_version", CFSIM_VERSION},
      {"seed", seed_text},
      {"shuffle_ties", opts_.shuffle_ties},
      {"stack_bytes", opts_.stack_bytes},
      {"trace_scheduling", opts_.trace_scheduling},
  };
  for (const auto& [k, v] : opts_.run_info) fields.emplace_back(k, v);
  record_phase("meta", "header", Phase::instant, fields);
}

Simulator::~Simulator() {
  kill_all_live();
  heap_.clear();
  due_now_.clear();
  callbacks_.clear();
  live_.clear();
  trace_.close();
}

void Simulator::kill_all_live() {
  // Unwind every fiber on its own stack, in id order, so destructors run and stacks go back.
  std::vector<std::shared_ptr<Fiber>> alive;
  for (auto& [id, f] : live_)
    if (!terminal(f->state)) alive.push_back(f);
  for (auto& f : alive) unwind_now(f.get());
}

void Simulator::unwind_now(Fiber* f) {
  if (terminal(f->state)) return;
  f->kill_requested = true;
  if (f->state == FiberState::not_started) {
    f->state = FiberState::killed;
    f->body = nullptr;
    return;
  }
  Simulator* prev = g_active_simulator;
  g_active_simulator = this;
  f->epoch++;  // any queued wake-up of it goes stale
  resume(f);
  g_active_simulator = prev;
  if (terminal(f->state) && f->pending == 0) live_.erase(f->id);  // callers hold a reference
}

Simulator& Simulator::active() {
  if (!g_active_simulator) throw SimError("no simulator is running (Simulator::active() outside run())");
  return *g_active_simulator;
}

void Simulator::record_phase(std::string_view category, std::string_view name, Phase phase, std::span<const Field> fields) {
  if (current_) trace_.record(now_, current_->id, current_->name, category, name, phase, fields);
  else trace_.record(now_, 0, std::string_view(), category, name, phase, fields);
}

void Simulator::push(int64_t time, Fiber* f, uint64_t arg, int code) {
  if (f) ++f->pending;
  CFSIM_ASSERT(f ? (code == kWoken || code == kTimedOut) : arg <= UINT32_MAX);
  const uint64_t packed = f ? Event::pack_fiber(arg, code) : Event::pack_callback(static_cast<uint32_t>(arg), static_cast<uint32_t>(code));
  if (!opts_.shuffle_ties && time == now_.ns) {
    due_now_.push_back(Event{time, next_seq_++, f, packed});
    return;
  }
  uint64_t key = opts_.shuffle_ties ? sched_rng_.next_u64() : next_seq_++;
  heap_.push_back(Event{time, key, f, packed});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

bool Simulator::is_stale(const Event& e) const {
  if (!e.fiber) {
    const Callback& c = callbacks_[e.slot()];
    return !c.pending || c.generation != e.generation();
  }
  const Fiber* f = e.fiber;
  if (f->epoch != e.epoch()) return true;
  return !(f->state == FiberState::not_started || f->state == FiberState::blocked || f->state == FiberState::runnable);
}

bool Simulator::pop_next(Event& e, Time until, bool& time_limit_hit) {
  for (;;) {
    bool from_due;
    if (!due_now_.empty()) {
      // Everything in due_now_ is at now_, and nothing in the heap is earlier than now_.
      from_due = heap_.empty() || heap_.front().time != now_.ns || heap_.front().key > due_now_.front().key;
    } else if (!heap_.empty()) {
      from_due = false;
    } else {
      return false;
    }
    const Event& cand = from_due ? due_now_.front() : heap_.front();
    bool stale = is_stale(cand);
    if (!stale && cand.time > until.ns) {
      time_limit_hit = true;
      return false;
    }
    e = cand;
    if (from_due) {
      due_now_.pop_front();
    } else {
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      heap_.pop_back();
    }
    if (!stale) return true;
    if (e.fiber) {
      Fiber* f = e.fiber;
      if (--f->pending == 0 && terminal(f->state)) live_.erase(f->id);
    } else {  // a cancelled callback: its slot can be reused now that its event is gone
      ++callbacks_[e.slot()].generation;
      free_slots_.push_back(e.slot());
    }
  }
}

void Simulator::sleep_for(Duration d) {
  if (d.ns < 0) throw SimError(fmt::format("sleep_for: negative duration {}", format_duration(d)));
  require_fiber("sleep_for");
  if (d.ns > INT64_MAX - now_.ns) throw SimError(fmt::format("sleep_for: {} from now is past the end of time", format_duration(d)));
  sleep_until(now_ + d);
}

void Simulator::sleep_until(Time t) {
  Fiber* f = require_fiber("sleep_until");
  if (t <= now_) {
    yield();
    return;
  }
  // The hot path of every timer: block() inlined. Only the timer (or a kill) ends a sleep, since
  // no token of this wait is handed out.
  if (f->kill_requested) throw FiberKilled{};
  f->wait = {"sleep", nullptr};
  f->wait_orphaned = false;
  f->wait_op = "sleep_until";
  f->wait_deadline = t;
  push(t.ns, f, f->epoch, kTimedOut);
  f->state = FiberState::blocked;
  suspend(f);
  if (f->kill_requested) throw FiberKilled{};
}

void Simulator::yield() {
  Fiber* f = require_fiber("yield");
  if (f->kill_requested) throw FiberKilled{};
  f->state = FiberState::runnable;
  f->epoch++;
  f->wake_code = kWoken;
  push(now_.ns, f, f->epoch, kWoken);
  suspend(f);
  if (f->kill_requested) throw FiberKilled{};
}

EventId Simulator::call_at(Time t, std::function<void()> fn) {
  if (!fn) throw SimError("call_at: empty function");
  if (t < now_) throw SimError(fmt::format("call_at: time {} is before now ({})", format_time(t), format_time(now_)));
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(callbacks_.size());
    callbacks_.emplace_back();
  }
  Callback& c = callbacks_[slot];
  c.fn = std::move(fn);
  c.pending = true;
  push(t.ns, nullptr, slot, static_cast<int>(c.generation));
  return EventId{slot, c.generation};
}

EventId Simulator::call_after(Duration d, std::function<void()> fn) {
  if (d.ns < 0) throw SimError(fmt::format("call_after: negative duration {}", format_duration(d)));
  return call_at(now_ + d, std::move(fn));
}

bool Simulator::cancel(EventId id) {
  if (id.slot >= callbacks_.size()) return false;
  Callback& c = callbacks_[id.slot];
  if (!c.pending || c.generation != id.generation) return false;
  c.pending = false;
  c.fn = nullptr;
  // The slot is recycled when its stale event leaves the queue (is_stale checks the generation).
  return true;
}

// The main loop: pop the earliest event, run it, until a limit or quiescence.
RunResult Simulator::run(RunLimits limits) {
  if (in_run_) throw SimError("run: the simulator is already running (a fiber or callback cannot call run())");
  in_run_ = true;
  previous_active_ = g_active_simulator;
  g_active_simulator = this;
  struct Restore {
    Simulator* s;
    ~Restore() {
      s->in_run_ = false;
      g_active_simulator = s->previous_active_;
    }
  } restore{this};

  failed_this_run_.clear();
  RunResult r;
  uint64_t n = 0;
  for (;;) {
    if (n >= limits.max_events) {
      r.reason = StopReason::event_budget;
      break;
    }
    Event e;
    bool time_limit_hit = false;
    if (!pop_next(e, limits.until, time_limit_hit)) {
      r.reason = time_limit_hit ? StopReason::time_limit : StopReason::quiescent;
      if (time_limit_hit && limits.until > now_) now_ = limits.until;
      break;
    }
    CFSIM_ASSERT(e.time >= now_.ns);  // time never runs backwards
    now_ = Time::from_ns(e.time);
    ++n;
    ++events_total_;
    if (e.fiber) run_fiber_event(e);
    else run_callback_event(e);
  }
  return finish_run(r, n);
}

void Simulator::run_fiber_event(const Event& e) {
  Fiber* f = e.fiber;
  --f->pending;
  if (f->state == FiberState::not_started) {
    start_fiber(f);
  } else {
    if (f->state == FiberState::blocked) {  // a timer claiming the wait
      f->epoch++;
      f->wake_code = e.wake_code();
    }
    resume(f);
  }
  if (terminal(f->state) && f->pending == 0) live_.erase(f->id);
}

void Simulator::run_callback_event(const Event& e) {
  Callback& c = callbacks_[e.slot()];
  std::function<void()> fn = std::move(c.fn);
  c.fn = nullptr;
  c.pending = false;
  ++c.generation;
  free_slots_.push_back(e.slot());
  fn();
}

// Quiescent with fibers still blocked (not daemons) is a deadlock: each is reported and recorded.
RunResult Simulator::finish_run(RunResult& r, uint64_t events) {
  if (r.reason == StopReason::quiescent) {
    for (auto& [id, f] : live_) {
      if (f->state == FiberState::blocked && !f->daemon) r.blocked.push_back({f->id, f->name, wait_text(*f)});
    }
    if (!r.blocked.empty()) r.reason = StopReason::deadlock;
    for (const auto& b : r.blocked) record("sched", "deadlock", {{"id", b.id}, {"waiting_on", b.waiting_on}});
  }
  record("sched", "stop", {{"reason", to_string(r.reason)}, {"events", events}});
  r.now = now_;
  r.events = events;
  r.failed = std::move(failed_this_run_);
  failed_this_run_.clear();
  r.trace_hash = trace_.hash();
  return r;
}

std::string Simulator::wait_text(const Fiber& f) const {
  std::string s = f.wait.what ? f.wait.what : "?";
  if (f.wait.object) s += fmt::format(" '{}'", *f.wait.object);
  if (f.wait_orphaned) s += " (destroyed while waited on)";
  if (f.wait_deadline != Time::max()) s += fmt::format(" until {}", format_time(f.wait_deadline));
  return s;
}

}  // namespace cfsim
