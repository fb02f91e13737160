#pragma once
// The scheduler: one Simulator per world. It owns virtual time, the event queue, the fibers, the
// random streams and the trace. Everything runs on one thread; a run is a pure function of the
// seed and the inputs.
//
// Events sit in a priority queue keyed by (time, key, sequence number). The key is the sequence
// number itself (same-instant events run FIFO) or, with shuffle_ties, a draw from the "sched"
// random stream (same-instant events run in a seed-shuffled order, exploring interleavings).
// When nothing is due, time jumps to the next event. run() stops at quiescence, at a virtual-time
// limit, or at an event budget, and says which; fibers left blocked with nothing scheduled are a
// deadlock, reported one by one with what each waits on.
//
// Fibers are boost::context::fiber on pooled, guard-paged stacks. A blocking call suspends the
// fiber and returns to the scheduler. kill() resumes the victim with a flag that makes its
// suspension point throw FiberKilled, so it unwinds on its own stack (destructors run; code after
// the kill point does not). An exception that escapes a fiber is caught, recorded in the trace and
// rethrown to whoever joins it; it never takes the simulator down.
#include <boost/context/fiber.hpp>

#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/fiber.h"
#include "sim/random.h"
#include "sim/stack_pool.h"
#include "sim/time.h"
#include "sim/trace.h"
#include "sim/wait.h"

namespace cfsim {

// Misuse of the kernel: a blocking call outside a fiber, a fiber joining itself, bad options.
class SimError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

struct SimOptions {
  uint64_t seed = 1;                 // root seed of every random stream
  bool shuffle_ties = false;         // run same-instant events in a seed-shuffled order
  size_t stack_bytes = 256 * 1024;   // usable stack per fiber (plus one guard page); >= 16 KiB
  bool trace_scheduling = true;      // one "sched.resume" record per fiber resume (in the hash)
  // Written into the trace's header record, so the trace alone says how to replay the run
  // (scenario name, fault plan, options of the layers above...).
  std::vector<std::pair<std::string, std::string>> run_info;
};

struct RunLimits {
  Time until = Time::max();          // stop before any event later than this; time then reads `until`
  uint64_t max_events = UINT64_MAX;  // stop after this many events in this call
};

enum class StopReason { quiescent, time_limit, event_budget, deadlock };
const char* to_string(StopReason r);

struct BlockedFiber {
  uint32_t id;
  std::string name;
  std::string waiting_on;
};

struct FailedFiber {
  uint32_t id;
  std::string name;
  std::string error;
};

struct RunResult {
  StopReason reason = StopReason::quiescent;
  Time now;                         // virtual time when run() returned
  uint64_t events = 0;              // events executed by this call
  uint64_t trace_hash = 0;          // fingerprint of the trace so far
  std::vector<BlockedFiber> blocked;  // on deadlock: every blocked fiber, by id
  std::vector<FailedFiber> failed;  // fibers that ended by an exception during this call
  std::string describe() const;     // one paragraph for people
};

// Handle to a scheduled callback, for cancel().
struct EventId {
  uint32_t slot = UINT32_MAX;
  uint32_t generation = 0;
};


class Simulator {
 public:
  explicit Simulator(SimOptions options = {}, std::vector<std::shared_ptr<TraceSink>> sinks = {});
  ~Simulator();  // kills and unwinds every fiber still alive, then closes the trace
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  Time now() const { return now_; }
  const SimOptions& options() const { return opts_; }
  // A fresh generator for the stream `name` under this run's seed. A component keeps its own;
  // two calls with the same name give the same sequence.
  Random random(std::string_view stream) const { return Random(opts_.seed, stream); }

  // --- fibers -----------------------------------------------------------------------------------
  // Starts `body` as a fiber at the current instant (after the events already due now).
  FiberHandle spawn(std::string name, std::function<void()> body, SpawnOptions o = {});
  // Kills a fiber: unwinds it at its suspension point (or at once if it is the caller). A fiber
  // that has not started yet never runs. Killing a finished fiber does nothing.
  void kill(const FiberHandle& f);
  // Kills a fiber and unwinds it right now, before returning. Only from outside any fiber (a
  // destructor tearing a world down); inside a fiber use kill().
  void kill_now(const FiberHandle& f);
  bool in_fiber() const { return current_ != nullptr; }
  // Sets a hook the current fiber runs just before each of its suspensions (not at its end). The
  // Durable Object layer uses it to close a write batch whenever a request yields. The hook must
  // not block. An empty function removes it.
  void set_suspend_hook(std::function<void()> hook);
  // One opaque pointer per fiber for the layer that owns the fiber (the Durable Object layer marks
  // its request fibers with their object). nullptr outside a fiber and for unmarked fibers.
  void set_fiber_context(void* context);
  void* fiber_context() const;
  FiberHandle current() const;  // empty outside a fiber
  size_t live_fibers() const { return live_.size(); }
  // Footprint figures for checks that a long run stays flat (scenarios/long_run.h): events waiting
  // in the queue (cancelled ones included, until popped) and callback slots ever allocated (freed
  // slots are reused, so this is the peak of pending callbacks).
  size_t queued_events() const { return heap_.size() + due_now_.size(); }
  size_t callback_slots() const { return callbacks_.size(); }

  // --- blocking calls: only from inside a fiber ------------------------------------------------------
  void sleep_for(Duration d);  // d >= 0; resumes at exactly now + d
  void sleep_until(Time t);    // a time not after now behaves like yield()
  void yield();                // lets every other event due now run first

  // --- callbacks: run on the scheduler's own stack; they must not block -------------------------
  EventId call_at(Time t, std::function<void()> fn);
  EventId call_after(Duration d, std::function<void()> fn);
  bool cancel(EventId id);  // true if it was pending and now never runs

  // --- running ----------------------------------------------------------------------------------
  // Runs events until quiescence, the time limit or the event budget. May be called again to go on.
  // An exception thrown by a callback propagates out (the kernel stays consistent).
  RunResult run(RunLimits limits = {});
  uint64_t events_executed() const { return events_total_; }

  // --- trace ------------------------------------------------------------------------------------------
  void record(std::string_view category, std::string_view name, std::initializer_list<Field> fields = {}) {
    record_phase(category, name, Phase::instant, fields);
  }
  void record_begin(std::string_view category, std::string_view name, std::initializer_list<Field> fields = {}) {
    record_phase(category, name, Phase::begin, fields);
  }
  void record_end(std::string_view category, std::string_view name, std::initializer_list<Field> fields = {}) {
    record_phase(category, name, Phase::end, fields);
  }
  void record_phase(std::string_view category, std::string_view name, Phase phase, std::span<const Field> fields);
  Trace& trace() { return trace_; }
  uint64_t trace_hash() const { return trace_.hash(); }
  void close_trace() { trace_.close(); }

  // --- the low-level wait protocol that sync primitives are built on -------------------------
  // prepare_wait() names the current wait; block() suspends until wake() is called with its token
  // (returns the code given to wake) or until `deadline` (returns kTimedOut).
  static constexpr int kWoken = 0;
  static constexpr int kTimedOut = 1;
  WaitToken prepare_wait(WaitInfo info, const char* op);
  int block(Time deadline = Time::max());
  // Wakes the fiber behind `token` at the current instant. False if that wait is already over.
  bool wake(const WaitToken& token, int code = kWoken);
  static bool token_live(const WaitToken& token);

  // The simulator whose run() is executing (for code that has no reference at hand).
  static Simulator& active();

  const StackPool& stacks() const { return stacks_; }

 private:
  // 32 bytes: the heap moves these around on every event. `arg` packs what the event needs to
  // know whether it is stale; read it only through the accessors.
  struct Event {
    int64_t time;
    uint64_t key;          // tie-break among same-instant events: a sequence number (FIFO) or a random draw
    detail::Fiber* fiber;  // a fiber to resume, or nullptr for a callback
    uint64_t arg;          // fiber: wait epoch << 1 | wake code; callback: generation << 32 | slot

    static uint64_t pack_fiber(uint64_t epoch, int code) { return epoch << 1 | static_cast<uint64_t>(code); }
    static uint64_t pack_callback(uint32_t slot, uint32_t generation) { return static_cast<uint64_t>(generation) << 32 | slot; }
    uint64_t epoch() const { return arg >> 1; }                // fiber events
    int wake_code() const { return static_cast<int>(arg & 1); }  // fiber events: kWoken or kTimedOut
    uint32_t slot() const { return static_cast<uint32_t>(arg); }  // callback events
    uint32_t generation() const { return static_cast<uint32_t>(arg >> 32); }
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      // One comparison of (time, key); time is never negative.
      return (static_cast<u128>(static_cast<uint64_t>(a.time)) << 64 | a.key) >
             (static_cast<u128>(static_cast<uint64_t>(b.time)) << 64 | b.key);
    }
  };
  __extension__ typedef unsigned __int128 u128;
  struct Callback {
    std::function<void()> fn;
    uint32_t generation = 0;
    bool pending = false;
  };

  void push(int64_t time, detail::Fiber* f, uint64_t arg, int code);
  bool pop_next(Event& e, Time until, bool& time_limit_hit);
  void run_fiber_event(const Event& e);
  void run_callback_event(const Event& e);
  RunResult finish_run(RunResult& r, uint64_t events);
  bool is_stale(const Event& e) const;
  void resume(detail::Fiber* f);
  void start_fiber(detail::Fiber* f);
  void fiber_main(detail::Fiber* f);
  void suspend(detail::Fiber* f);
  void on_fiber_exit(detail::Fiber* f);
  detail::Fiber* require_fiber(const char* op) const;
  void kill_all_live();
  void unwind_now(detail::Fiber* f);
  std::string wait_text(const detail::Fiber& f) const;

  SimOptions opts_;
  Time now_;
  Random sched_rng_;
  StackPool stacks_;
  Trace trace_;
  const Hasher resume_prefix_ = record_prefix("sched", "resume", Phase::instant, 0);
  std::vector<Event> heap_;        // binary heap, Later-ordered
  std::deque<Event> due_now_;      // FIFO events at time == now_ (only when not shuffling ties)
  uint64_t next_seq_ = 0;
  std::vector<Callback> callbacks_;
  std::vector<uint32_t> free_slots_;
  std::map<uint32_t, std::shared_ptr<detail::Fiber>> live_;  // by id: iteration order is fixed
  std::vector<FailedFiber> failed_this_run_;
  uint32_t next_fiber_id_ = 1;
  detail::Fiber* current_ = nullptr;
  uint64_t events_total_ = 0;
  bool in_run_ = false;
  Simulator* previous_active_ = nullptr;

  friend class FiberHandle;
};

}  // namespace cfsim
