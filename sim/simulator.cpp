#include "sim/simulator.h"

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

using detail::Fiber;

namespace {

Simulator* g_active = nullptr;

bool terminal(FiberState s) {
  return s == FiberState::finished || s == FiberState::failed || s == FiberState::killed;
}

// Hands pooled stacks to boost::context and tells the fiber where its stack lies (for ASan).
struct PoolAllocator {
  StackPool* pool;
  Fiber* fiber;
  boost::context::stack_context allocate() {
    boost::context::stack_context sc = pool->allocate();
    fiber->stack_bottom = static_cast<char*>(sc.sp) - sc.size;
    fiber->stack_size = sc.size;
    return sc;
  }
  void deallocate(boost::context::stack_context& sc) noexcept { pool->deallocate(sc); }
};

}  // namespace

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::quiescent: return "quiescent";
    case StopReason::time_limit: return "time_limit";
    case StopReason::event_budget: return "event_budget";
    case StopReason::deadlock: return "deadlock";
  }
  return "?";
}

const char* to_string(FiberState s) {
  switch (s) {
    case FiberState::not_started: return "not_started";
    case FiberState::runnable: return "runnable";
    case FiberState::running: return "running";
    case FiberState::blocked: return "blocked";
    case FiberState::finished: return "finished";
    case FiberState::failed: return "failed";
    case FiberState::killed: return "killed";
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

// --- FiberHandle ---------------------------------------------------------------------------------

uint32_t FiberHandle::id() const { return f_ ? f_->id : 0; }
const std::string& FiberHandle::name() const {
  static const std::string empty;
  return f_ ? f_->name : empty;
}
FiberState FiberHandle::state() const { return f_ ? f_->state : FiberState::finished; }
bool FiberHandle::done() const { return terminal(state()); }
const std::string& FiberHandle::error_text() const {
  static const std::string empty;
  return f_ ? f_->error_text : empty;
}

void FiberHandle::join() {
  if (!f_) throw SimError("join: empty fiber handle");
  Simulator& s = *f_->sim;
  if (!terminal(f_->state)) {
    if (!s.in_fiber())
      throw SimError(fmt::format("join of fiber {} '{}' from outside a fiber: it has not finished (join from a fiber, or run() first)",
                                 f_->id, f_->name));
    if (s.current_ == f_.get()) throw SimError(fmt::format("fiber {} '{}' cannot join itself", f_->id, f_->name));
    while (!terminal(f_->state)) f_->joiners.wait({"join", &f_->name});
  }
  if (f_->state == FiberState::failed) std::rethrow_exception(f_->error);
}

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

void Simulator::kill_now(const FiberHandle& h) {
  if (!h.f_) throw SimError("kill_now: empty fiber handle");
  if (current_) throw SimError("kill_now: only from outside a fiber (use kill() inside one)");
  unwind_now(h.f_.get());
}

void Simulator::unwind_now(Fiber* f) {
  if (terminal(f->state)) return;
  f->kill_requested = true;
  if (f->state == FiberState::not_started) {
    f->state = FiberState::killed;
    f->body = nullptr;
    return;
  }
  Simulator* prev = g_active;
  g_active = this;
  f->epoch++;  // any queued wake-up of it goes stale
  resume(f);
  g_active = prev;
  if (terminal(f->state) && f->pending == 0) live_.erase(f->id);  // callers hold a reference
}

Simulator& Simulator::active() {
  if (!g_active) throw SimError("no simulator is running (Simulator::active() outside run())");
  return *g_active;
}

FiberHandle Simulator::current() const {
  if (!current_) return FiberHandle();
  return FiberHandle(live_.at(current_->id));
}

Fiber* Simulator::require_fiber(const char* op) const {
  if (!current_)
    throw SimError(fmt::format("{}: blocking call outside a fiber (call it from a fiber started with Simulator::spawn)", op));
  return current_;
}

void Simulator::record_phase(std::string_view category, std::string_view name, Phase phase, std::span<const Field> fields) {
  if (current_) trace_.record(now_, current_->id, current_->name, category, name, phase, fields);
  else trace_.record(now_, 0, std::string_view(), category, name, phase, fields);
}

void Simulator::push(int64_t time, Fiber* f, uint64_t arg, int code) {
  if (f) ++f->pending;
  const uint64_t packed = f ? (arg << 1 | static_cast<uint64_t>(code)) : (static_cast<uint64_t>(code) << 32 | arg);
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
    const Callback& c = callbacks_[static_cast<uint32_t>(e.arg)];
    return !c.pending || c.generation != static_cast<uint32_t>(e.arg >> 32);
  }
  const Fiber* f = e.fiber;
  if (f->epoch != e.arg >> 1) return true;
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
      ++callbacks_[static_cast<uint32_t>(e.arg)].generation;
      free_slots_.push_back(static_cast<uint32_t>(e.arg));
    }
  }
}

FiberHandle Simulator::spawn(std::string name, std::function<void()> body, SpawnOptions o) {
  if (!body) throw SimError(fmt::format("spawn '{}': empty function", name));
  uint32_t id = next_fiber_id_++;
  auto f = std::make_shared<Fiber>(*this, id, std::move(name), o.daemon);
  f->body = std::move(body);
  live_.emplace(id, f);
  record_begin("fiber", "life", {{"id", id}, {"name", f->name}});
  push(now_.ns, f.get(), f->epoch, kWoken);
  return FiberHandle(f);
}

void Simulator::kill(const FiberHandle& h) {
  Fiber* f = h.f_.get();
  if (!f) throw SimError("kill: empty fiber handle");
  if (f->sim != this) throw SimError("kill: fiber belongs to another simulator");
  if (terminal(f->state) || f->kill_requested) return;
  record("fiber", "kill", {{"id", f->id}});
  f->kill_requested = true;
  if (f == current_) throw FiberKilled{};
  switch (f->state) {
    case FiberState::not_started:
      f->body = nullptr;
      f->state = FiberState::killed;
      on_fiber_exit(f);
      break;
    case FiberState::blocked:
      f->epoch++;
      f->state = FiberState::runnable;
      push(now_.ns, f, f->epoch, kWoken);
      break;
    default:  // runnable: it throws as soon as it resumes
      break;
  }
}

void Simulator::resume(Fiber* f) {
  f->state = FiberState::running;
  current_ = f;
  if (opts_.trace_scheduling) trace_.record_prehashed(resume_prefix_, now_, f->id, f->name, "sched", "resume", Phase::instant);
  void* fake = nullptr;
  CFSIM_SWITCH_START(&fake, f->stack_bottom, f->stack_size);
  f->ctx = std::move(f->ctx).resume();
  CFSIM_SWITCH_FINISH(fake, nullptr, nullptr);
  current_ = nullptr;
}

void Simulator::start_fiber(Fiber* f) {
  f->ctx = boost::context::fiber(std::allocator_arg, PoolAllocator{&stacks_, f},
                                 [this, f](boost::context::fiber&& sched) -> boost::context::fiber {
                                   CFSIM_SWITCH_FINISH(nullptr, &f->sched_bottom, &f->sched_size);
                                   f->sched = std::move(sched);
                                   fiber_main(f);
                                   CFSIM_SWITCH_START(nullptr, f->sched_bottom, f->sched_size);
                                   return std::move(f->sched);
                                 });
  resume(f);
}

void Simulator::fiber_main(Fiber* f) {
  try {
    // The body is moved onto this stack so that its captures are destroyed here, inside the try.
    auto body = std::move(f->body);
    body();
    f->state = FiberState::finished;
  } catch (const FiberKilled&) {
    f->state = FiberState::killed;
  } catch (const std::exception& ex) {
    f->state = FiberState::failed;
    f->error = std::current_exception();
    f->error_text = ex.what();
  } catch (...) {
    f->state = FiberState::failed;
    f->error = std::current_exception();
    f->error_text = "unknown exception (not derived from std::exception)";
  }
  on_fiber_exit(f);
}

void Simulator::on_fiber_exit(Fiber* f) {
  if (f->state == FiberState::failed) {
    record("fiber", "error", {{"id", f->id}, {"error", f->error_text}});
    failed_this_run_.push_back({f->id, f->name, f->error_text});
  }
  record_end("fiber", "life", {{"id", f->id}, {"status", to_string(f->state)}});
  f->joiners.notify_all();
}

void Simulator::set_suspend_hook(std::function<void()> hook) {
  require_fiber("set_suspend_hook")->suspend_hook = std::move(hook);
}

void Simulator::set_fiber_context(void* context) { require_fiber("set_fiber_context")->context = context; }

void* Simulator::fiber_context() const { return current_ ? current_->context : nullptr; }

void Simulator::suspend(Fiber* f) {
  if (f->suspend_hook) f->suspend_hook();
  CFSIM_SWITCH_START(&f->fake_stack, f->sched_bottom, f->sched_size);
  f->sched = std::move(f->sched).resume();
  CFSIM_SWITCH_FINISH(f->fake_stack, &f->sched_bottom, &f->sched_size);
}

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

RunResult Simulator::run(RunLimits limits) {
  if (in_run_) throw SimError("run: the simulator is already running (a fiber or callback cannot call run())");
  in_run_ = true;
  previous_active_ = g_active;
  g_active = this;
  struct Restore {
    Simulator* s;
    ~Restore() {
      s->in_run_ = false;
      g_active = s->previous_active_;
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
      if (time_limit_hit) {
        if (limits.until > now_) now_ = limits.until;
        r.reason = StopReason::time_limit;
      } else {
        r.reason = StopReason::quiescent;
      }
      break;
    }
    now_ = Time::from_ns(e.time);
    ++n;
    ++events_total_;
    if (e.fiber) {
      Fiber* f = e.fiber;
      --f->pending;
      if (f->state == FiberState::not_started) {
        start_fiber(f);
      } else {
        if (f->state == FiberState::blocked) {  // a timer claiming the wait
          f->epoch++;
          f->wake_code = static_cast<int>(e.arg & 1);
        }
        resume(f);
      }
      if (terminal(f->state) && f->pending == 0) live_.erase(f->id);
    } else {
      Callback& c = callbacks_[static_cast<uint32_t>(e.arg)];
      std::function<void()> fn = std::move(c.fn);
      c.fn = nullptr;
      c.pending = false;
      ++c.generation;
      free_slots_.push_back(static_cast<uint32_t>(e.arg));
      fn();
    }
  }
  if (r.reason == StopReason::quiescent) {
    for (auto& [id, f] : live_) {
      if (f->state == FiberState::blocked && !f->daemon) r.blocked.push_back({f->id, f->name, wait_text(*f)});
    }
    if (!r.blocked.empty()) r.reason = StopReason::deadlock;
    for (const auto& b : r.blocked) record("sched", "deadlock", {{"id", b.id}, {"waiting_on", b.waiting_on}});
  }
  record("sched", "stop", {{"reason", to_string(r.reason)}, {"events", n}});
  r.now = now_;
  r.events = n;
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
