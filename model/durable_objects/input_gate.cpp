// The input gate (platform-facts §4.4): closed by blockConcurrencyWhile and by a construction, and
// held by a transaction() open across a suspension (the transaction gate).

#include "model/durable_objects/namespace.h"
#include "model/durable_objects/object_host.h"
#include "sim/assert.h"

namespace cfsim {

void ObjectHost::wait_input_gate() {
  // Closed by a block_concurrency_while (or a construction) of another fiber, or by another
  // fiber's transaction() open across a suspension.
  const uint32_t me = sim_.current().id();
  while ((gate_holder_ != 0 && gate_holder_ != me) || (txn_gate_holder_ != 0 && txn_gate_holder_ != me))
    gate_waiters_.wait({"input gate", &label_});
}

void ObjectHost::close_input_gate() {
  wait_input_gate();
  const uint32_t me = sim_.current().id();
  CFSIM_ASSERT(gate_holder_ == 0 || gate_holder_ == me);  // wait_input_gate let only the holder through
  gate_holder_ = me;
  ++gate_depth_;
}

void ObjectHost::hold_gate_for_transaction(uint32_t me) {
  // A transaction() open across a suspension shares the object's one SQLite savepoint stack: a
  // request starting meanwhile would write inside it, and lose its writes if it rolls back. So
  // the transaction's fiber holds the input gate from its first suspension inside the transaction
  // until the transaction is over (checked at each of its suspensions and at its end). Requests
  // already running when it began are held by wait_for_transaction_gate().
  //
  // Only the fiber that opened the (outermost) transaction holds it: another fiber suspending
  // meanwhile must not inherit it, or the owner would be held by its own transaction and the
  // object deadlock. The transaction's hold is kept apart from the block_concurrency_while hold
  // (gate_holder_/gate_depth_): a request that was already running can open a transaction while
  // another request's bcw has the gate closed, and then both hold it; the bcw's fiber is itself
  // held at its next storage call until the transaction is over.
  if (storage_.transaction_owner() == me) {
    // Any other holder is stale: the outermost transaction is ours.
    if (txn_gate_holder_ != me) {
      txn_gate_holder_ = me;
      sim_.record("do", "txn_gate_close", {{"object", label_}, {"id", me}});
    }
  } else {
    release_transaction_gate(me);
  }
}

void ObjectHost::release_transaction_gate(uint32_t me) {
  if (txn_gate_holder_ != me) return;
  txn_gate_holder_ = 0;
  sim_.record("do", "txn_gate_open", {{"object", label_}, {"id", me}});
  gate_waiters_.notify_all();  // new requests at the input gate, and requests held by wait_for_transaction_gate
}

void ObjectHost::wait_for_transaction_gate() {
  // On the platform a closed input gate holds every event to the object, the completions of
  // other requests' outgoing I/O included (§4.4), so a request suspended on a fetch or a timer
  // does not resume while another request's transaction() holds the gate. The kernel resumes a
  // fiber when its wait ends, so the model holds such a fiber at its next storage call, alarm
  // call, outgoing message or reply instead: it cannot read or write inside the transaction, nor
  // be rolled back with it. Only the object's own request fibers are held (tests and the platform
  // layers may look at the storage meanwhile).
  if (txn_gate_holder_ == 0 || sim_.fiber_context() != this) return;
  const uint32_t me = sim_.current().id();
  if (me == txn_gate_holder_) return;
  sim_.record("do", "txn_gate_hold", {{"object", label_}, {"id", me}, {"holder", txn_gate_holder_}});
  while (txn_gate_holder_ != 0 && txn_gate_holder_ != me) gate_waiters_.wait({"input gate (another request's transaction)", &label_});
  sim_.record("do", "txn_gate_release", {{"object", label_}, {"id", me}});
}

void ObjectHost::open_input_gate() {
  if (gate_depth_ > 0 && --gate_depth_ == 0) {
    gate_holder_ = 0;
    gate_waiters_.notify_all();
  }
}

}  // namespace cfsim
