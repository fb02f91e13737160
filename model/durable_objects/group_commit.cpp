// Group commit and the output gate (platform-facts §4.4): writes made between two suspensions
// form a batch; the first closed batch after a quiet period starts a storage round trip; when it
// completes, every batch closed so far is durable, and the replies held behind them go out.

#include <fmt/format.h>

#include "model/durable_objects/namespace.h"
#include "model/durable_objects/object_host.h"
#include "sim/assert.h"

namespace cfsim {

uint64_t ObjectHost::storage_ops() const {
  // Any operation while writes are pending closes a batch: a read-only one too, since its reply
  // must also wait for the writes before it (the output gate holds every outgoing message).
  const StorageCounters& c = storage_.counters();
  return c.puts + c.deletes + c.delete_alls + c.execs + alarm_writes_;
}

bool ObjectHost::close_open_batch() {
  if (storage_.aborted_transactions() != aborted_seen_) {
    // SQLite threw away the implicit transaction (the 10 GB limit, SQLITE_FULL): every batch not
    // yet durable is gone, so every reply held behind them must fail, as after a failed commit.
    // The reset runs from the scheduler (this may be a fiber's suspend hook), before any round
    // trip can release those replies.
    aborted_seen_ = storage_.aborted_transactions();
    if (!abort_pending_) {
      abort_pending_ = true;
      sim_.call_after(Duration::zero(), [this] { reset_after_storage_abort(); });
    }
    return false;
  }
  if (!storage_.has_pending_writes() && !alarm_dirty_) return false;
  uint64_t w = storage_ops();
  if (w == writes_seen_) return false;
  writes_seen_ = w;
  ++batches_closed_;
  return true;
}

void ObjectHost::close_batch() {
  if (close_open_batch() && !round_trip_.armed()) start_round_trip();
}

void ObjectHost::start_round_trip() {
  CFSIM_ASSERT(!round_trip_.armed());  // one round trip at a time: it carries every batch closed so far
  Duration latency = ns_.options_.durability_latency;
  if (const DurableObjectFaultKnobs* k = ns_.knobs_) {
    latency = latency.scaled_percent(k->storage_latency_percent);
    // A slow storage round trip: the replicas take a second to confirm (buggify, swarm runs only).
    if (k->buggify && k->buggify->buggify("do.slow_commit") && latency < Duration::max() - Duration::seconds(1)) latency += Duration::seconds(1);
  }
  latency += extra_latency_;
  extra_latency_ = Duration::zero();
  sim_.record("do", "round_trip", {{"object", label_}, {"latency", latency}});
  round_trip_.arm_after(latency, [this] { finish_round_trip(); });
}

void ObjectHost::reset_after_storage_abort() {
  if (!abort_pending_) return;
  abort_pending_ = false;
  reset_instance("Durable Object storage exceeded its size limit; unconfirmed writes were lost", true, "storage_full");
}

void ObjectHost::finish_round_trip() {
  // Writes made outside request fibers ride along; this trip is still the one in flight, so the
  // batch they close starts none of its own.
  close_open_batch();
  if (abort_pending_) {
    reset_after_storage_abort();
    return;
  }
  const DurableObjectFaultKnobs* k = ns_.knobs_;
  if (!fail_next_commit_ && k && k->commit_failure_ppm > 0 && commit_failures_.bernoulli(static_cast<uint64_t>(k->commit_failure_ppm), 1'000'000)) {
    sim_.record("do", "commit_failure_drawn", {{"object", label_}, {"ppm", k->commit_failure_ppm}});
    fail_next_commit_ = true;
  }
  if (fail_next_commit_) {
    fail_next_commit_ = false;
    reset_instance("Internal error in Durable Object storage write caused object to be reset.", true, "commit_failed");
    return;
  }
  try {
    storage_.commit();
  } catch (const std::exception& e) {  // e.g. a deferred foreign key still violated
    reset_instance(fmt::format("Durable Object storage commit failed: {}", e.what()), true, "commit_failed");
    return;
  }
  if (storage_.has_pending_writes()) {
    // A transaction() is open across a suspension: the storage defers the commit until it ends
    // (a commit must never split one), so nothing is durable yet. Try again after another trip.
    CFSIM_ASSERT(storage_.in_transaction());
    start_round_trip();
    return;
  }
  CFSIM_ASSERT(batches_durable_ <= batches_closed_);  // a batch is closed before it can be durable
  batches_durable_ = batches_closed_;
  if (alarm_dirty_) {  // the alarm changes rode in these batches
    durable_alarm_ = alarm_time_;
    alarm_dirty_ = false;
  }
  sim_.record("do", "durable", {{"object", label_}, {"batches", batches_durable_}});
  durable_waiters_.notify_all();
  arm_idle_timer();
}

void ObjectHost::wait_output_gate() {
  wait_for_transaction_gate();  // a held request sends nothing, its reply included
  close_batch();
  const uint64_t target = batches_closed_;
  // With a storage abort pending, the reset that follows fails this reply too: wait for it.
  if (batches_durable_ >= target && !abort_pending_) return;
  sim_.record("do", "gate_hold", {{"object", label_}, {"batch", target}});
  while (batches_durable_ < target || abort_pending_) durable_waiters_.wait({"output gate", &label_});
  sim_.record("do", "gate_release", {{"object", label_}, {"batch", target}});
}

}  // namespace cfsim
