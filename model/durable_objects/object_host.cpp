// The object host: requests in their own fibers, the instance, resets and crashes, idle eviction.
// The gates, group commit and alarms are in input_gate.cpp, group_commit.cpp and alarms.cpp.

#include "model/durable_objects/object_host.h"

#include <fmt/format.h>

#include "model/durable_objects/errors.h"
#include "model/durable_objects/namespace.h"
#include "sim/assert.h"

namespace cfsim {

std::string exception_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "exception not derived from std::exception";
  }
}

ObjectHost::ObjectHost(DurableObjectNamespace& ns, DurableObjectId id)
    : ns_(ns),
      sim_(ns.sim_),
      id_(std::move(id)),
      label_(fmt::format("{}/{}", ns.name(), id_.label())),
      storage_(ns.options_.backend, ns.options_.storage, &ns.sim_, label_),
      storage_api_(*this, storage_),
      state_(*this),
      gate_waiters_(ns.sim_),
      round_trip_(ns.sim_),
      commit_failures_(ns.sim_.options().seed, "do.commit_failure/" + label_),
      durable_waiters_(ns.sim_),
      alarm_timer_(ns.sim_),
      idle_timer_(ns.sim_) {
  storage_.set_operation_gate([this] { wait_for_transaction_gate(); });
}

ObjectHost::~ObjectHost() = default;  // the timers cancel their own events

void ObjectHost::run_request(const char* kind, const std::string& detail, std::function<void(DurableObject&)> work,
                             std::shared_ptr<Promise<bool>> done) {
  idle_timer_.cancel();
  std::string fiber_name = fmt::format("do:{}#{}", label_, next_request_++);
  FiberHandle f = sim_.spawn(std::move(fiber_name), [this, kind, detail, work = std::move(work), done] {
    const uint32_t me = sim_.current().id();
    sim_.set_suspend_hook([this, me] {
      close_batch();
      hold_gate_for_transaction(me);
    });
    sim_.set_fiber_context(this);
    sim_.record_begin("do", "request", {{"id", me}, {"object", label_}, {"kind", kind}, {"detail", detail}});
    const bool is_alarm = done == nullptr;
    try {
      wait_input_gate();
      ensure_instance();
      std::shared_ptr<DurableObject> instance = instance_;  // keeps it alive while we run on it
      work(*instance);
      hold_gate_for_transaction(me);  // the transaction ended with the work: let others in
      if (is_alarm && alarm_dirty_ && !storage_.has_pending_writes()) {
        // A handler that returns with nothing but alarm changes pending: the alarm scheduler
        // records the handler's outcome, the alarm it set included, as the handler completes
        // (a model assumption), so the next alarm is not a round trip late. Its storage writes,
        // if any, still go through the output gate, and a crash before they are durable reverts
        // its alarm changes with them and retries the handler.
        durable_alarm_ = alarm_time_;
        alarm_dirty_ = false;
      }
      wait_output_gate();
      sim_.record_end("do", "request", {{"id", me}, {"result", "ok"}});
      if (done) done->set_value(true);
      if (is_alarm) {
        alarm_retries_ = 0;
        alarm_settled();
      }
    } catch (const FiberKilled&) {
      throw;  // a reset killed us and has already settled `done`
    } catch (...) {  // whatever the object threw (not only std::exception) goes to the caller
      auto error = std::current_exception();
      const std::string what = exception_text(error);
      hold_gate_for_transaction(me);
      wait_output_gate();  // even an error reply waits for the writes made before it
      sim_.record_end("do", "request", {{"id", me}, {"result", "exception"}, {"error", what}});
      if (done) done->set_exception(error);
      if (is_alarm) alarm_failed();
    }
    request_finished(me);
  });
  requests_[f.id()] = InFlight{f, std::move(done)};
}

void ObjectHost::request_finished(uint32_t fiber_id) {
  requests_.erase(fiber_id);
  arm_idle_timer();
}

void ObjectHost::ensure_instance() {
  if (instance_) return;
  close_input_gate();
  const uint64_t inc = incarnation_;
  struct Open {
    ObjectHost* h;
    uint64_t inc;
    ~Open() {
      if (h->incarnation_ == inc) h->open_input_gate();  // a reset already opened it
    }
  } open{this, inc};
  if (instance_) return;  // built by the request we waited behind
  ++constructions_;
  sim_.record("do", "construct", {{"object", label_}, {"construction", constructions_}});
  instance_ = std::shared_ptr<DurableObject>(ns_.factory_(state_));
  if (lifecycle_) lifecycle_(true);
}

// --- resets, crashes, eviction ---------------------------------------------------------------------------

void ObjectHost::reset(const std::string& reason) { reset_instance(reason, false, "reset"); }
void ObjectHost::crash(const std::string& reason) { reset_instance(reason, true, "crash"); }

void ObjectHost::reset_instance(const std::string& reason, bool lose_unconfirmed_writes, const char* what) {
  sim_.record("do", "reset", {{"object", label_}, {"cause", what}, {"reason", reason}, {"lose_unconfirmed", lose_unconfirmed_writes}});
  ++incarnation_;
  if (lose_unconfirmed_writes) {
    abort_pending_ = false;  // this reset is the one a pending storage abort asked for
    aborted_seen_ = storage_.aborted_transactions();
    if (storage_.has_pending_writes() || alarm_dirty_)
      sim_.record("do", "writes_lost", {{"object", label_}, {"batches", batches_closed_ - batches_durable_}});
    storage_.rollback();
    CFSIM_ASSERT(!storage_.has_pending_writes());  // everything since the last commit is gone
    revert_alarm();
    writes_seen_ = storage_ops();
    batches_closed_ = batches_durable_;
    round_trip_.cancel();
  }
  std::map<uint32_t, InFlight> doomed = std::move(requests_);
  requests_.clear();
  auto error = std::make_exception_ptr(DurableObjectError(reason));
  bool alarm_doomed = false;
  for (auto& [fid, r] : doomed) {
    if (r.done && !r.done->ready()) r.done->set_exception(error);
    if (!r.done) alarm_doomed = true;
  }
  // A transaction() a doomed fiber left open dies with it, now: the fiber unwinds later, and
  // whatever runs first (a request let in below, a platform layer) must not write inside it and be
  // rolled back with it. (A crash has already rolled everything back.)
  if (const uint32_t owner = storage_.transaction_owner(); owner != 0 && doomed.count(owner)) storage_.abandon_transactions();
  gate_holder_ = 0;
  gate_depth_ = 0;
  txn_gate_holder_ = 0;
  gate_waiters_.notify_all();
  const bool had_instance = instance_ != nullptr;
  instance_.reset();  // the fibers still running on it hold their own reference until they unwind
  if (had_instance && lifecycle_) lifecycle_(false);
  if (alarm_doomed) alarm_failed();
  // Kill the others first and the caller last: killing oneself throws.
  FiberHandle self = sim_.current();
  bool self_doomed = false;
  for (auto& [fid, r] : doomed) {
    if (self && fid == self.id()) self_doomed = true;
    else sim_.kill(r.fiber);
  }
  if (self_doomed) sim_.kill(self);
}

void ObjectHost::arm_idle_timer() {
  if (!instance_ || idle_timer_.armed() || !requests_.empty() || alarm_running_ || round_trip_.armed()) return;
  idle_timer_.arm_after(ns_.options_.idle_eviction_after, [this] {
    if (!instance_ || !requests_.empty() || alarm_running_ || round_trip_.armed()) return;
    if (storage_.has_pending_writes() || alarm_dirty_) {
      // Writes made outside any request (a container's monitor, say) close no batch by themselves:
      // make them durable now, and evict only once they are.
      close_batch();
      if (round_trip_.armed()) return;
    }
    sim_.record("do", "evict", {{"object", label_}});
    ++incarnation_;
    instance_.reset();
    if (lifecycle_) lifecycle_(false);
  });
}

}  // namespace cfsim
