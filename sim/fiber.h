#pragma once
// Fibers: each container process, request handler and platform loop runs as one. A FiberHandle
// names a fiber and lets others join it; the Simulator (sim/scheduler.h) creates, runs and kills
// them on pooled, guard-paged stacks (sim/stack_pool.h). A kill resumes the victim with a flag
// that makes its suspension point throw FiberKilled, so it unwinds on its own stack: destructors
// run, code after the kill point does not, and AddressSanitizer sees every switch annotated.

#include <cstdint>
#include <memory>
#include <string>

namespace cfsim {

// Thrown at the suspension point of a killed fiber. Deliberately not a std::exception, so that
// `catch (const std::exception&)` in user code does not swallow a kill.
struct FiberKilled {};

enum class FiberState { not_started, runnable, running, blocked, finished, failed, killed };
const char* to_string(FiberState s);

class Simulator;

namespace detail {
struct Fiber;
}

// A handle to a fiber; copyable; keeps the fiber's record (not its stack) alive.
class FiberHandle {
 public:
  FiberHandle() = default;
  uint32_t id() const;
  const std::string& name() const;
  FiberState state() const;
  bool done() const;  // finished, failed or killed
  // Blocks the calling fiber until this one is done. Rethrows the exception that ended it, if
  // any; returns normally if it finished or was killed. Outside a fiber it works only on a fiber
  // that is already done. Joining oneself is a SimError.
  void join();
  const std::string& error_text() const;  // what() of the exception that ended it, or ""
  explicit operator bool() const { return f_ != nullptr; }

 private:
  friend class Simulator;
  explicit FiberHandle(std::shared_ptr<detail::Fiber> f) : f_(std::move(f)) {}
  std::shared_ptr<detail::Fiber> f_;
};

struct SpawnOptions {
  // A daemon fiber (a platform background loop) may stay blocked forever without that being
  // reported as a deadlock.
  bool daemon = false;
};

}  // namespace cfsim
