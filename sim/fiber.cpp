// Fibers: spawning, killing by unwinding, starting a body on a pooled stack, and the handle.
#include <fmt/format.h>

#include "sim/fiber_record.h"

namespace cfsim {

using detail::Fiber;

namespace {

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

// --- Simulator: fibers ---------------------------------------------------------------------------

void Simulator::kill_now(const FiberHandle& h) {
  if (!h.f_) throw SimError("kill_now: empty fiber handle");
  if (current_) throw SimError("kill_now: only from outside a fiber (use kill() inside one)");
  unwind_now(h.f_.get());
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

}  // namespace cfsim
