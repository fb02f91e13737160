#pragma once
// The object host: the runtime of one Durable Object id. It owns the object's storage engine (for
// the life of the world), its current instance, the input and output gates, group commit, the
// alarm, resets and idle eviction — after platform-facts.md §3, §4.4, §4.6, §4.7. The app never
// sees it: it sees its ctx (object.h) and ctx.storage (storage_api.h).
//
// Fault model. What can go wrong, and what the model promises:
// - An object can be reset (its isolate restarts: a fault, a throw or 30 s overrun in
//   block_concurrency_while, ctx.abort()): in-memory state is lost, every request in flight fails
//   with a DurableObjectError, and the next request constructs a fresh instance. Storage remains.
// - The object's machine can crash before a write is durable: then the writes not yet confirmed
//   are lost AND every reply held behind them fails — never one without the other (output gate).
// - A commit can fail: the object resets and the unconfirmed writes are lost, as above.
// - Durability can be slowed (a fault adds latency to the next storage round trip).
//
// Durability is modelled as group commit. Writes made between two suspension points of a request
// form one batch; a batch is closed when its fiber suspends or replies. The first closed batch
// after a quiet period starts a storage round trip of `durability_latency`; when it completes,
// every batch closed so far is durable (one SQLite COMMIT). A reply waits until every write made
// before it is durable. So a batch becomes durable between 0 and durability_latency after it
// closes, and a crash loses all batches not yet durable, each one whole. set_alarm/delete_alarm
// are writes of the batch too: a crash reverts the alarm to its last durable state.
//
// The host's member functions are defined by idea: object_host.cpp (requests, the instance,
// resets, eviction), input_gate.cpp (the input gate and the transaction gate), group_commit.cpp
// (batches, storage round trips, the output gate), alarms.cpp (scheduling, firing, retries).

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "model/durable_objects/id.h"
#include "model/durable_objects/object.h"
#include "model/durable_objects/storage.h"
#include "model/durable_objects/storage_api.h"
#include "sim/random.h"
#include "sim/scheduler.h"
#include "sim/sync.h"
#include "sim/timer.h"

namespace cfsim {

class DurableObjectNamespace;

// What an exception says, for trace records and reset reasons; objects may throw anything.
std::string exception_text(std::exception_ptr e);

// The runtime of one Durable Object id: its storage (for the life of the world), its current
// instance, gates, alarm, and the requests in flight.
class ObjectHost {
 public:
  ObjectHost(DurableObjectNamespace& ns, DurableObjectId id);
  ~ObjectHost();
  const DurableObjectId& id() const { return id_; }
  // The storage engine under ctx.storage: commit, rollback, counters, pending writes. For the
  // platform layers, tests and harness code that look at an object from outside; never the app's.
  ObjectStorage& storage_engine() { return storage_; }
  bool constructed() const { return instance_ != nullptr; }
  uint64_t incarnation() const { return incarnation_; }  // bumps at every reset and eviction
  uint64_t constructions() const { return constructions_; }
  size_t requests_in_flight() const { return requests_.size(); }

  // Fault verbs. reset: isolate restart (pending writes still become durable). crash: the
  // machine dies (unconfirmed writes and the replies behind them are lost). fail_next_commit:
  // the next round trip fails (reset + loss). delay_next_commit: adds latency to the next one.
  void reset(const std::string& reason);
  void crash(const std::string& reason);
  void fail_next_commit() { fail_next_commit_ = true; }
  void delay_next_commit(Duration extra) { extra_latency_ += extra; }

  // Used by the stub (delivers one request in its own fiber; returns when it is settled).
  void run_request(const char* kind, const std::string& detail, std::function<void(DurableObject&)> work,
                   std::shared_ptr<Promise<bool>> done);
  // Blocks the calling request fiber until every write made so far is durable (the output gate).
  // Layers that send messages out of an object (subrequests, container traffic) call it first.
  void wait_output_gate();
  // The container runtime's hook (container_runtime.h: setInactivityTimeout, the IoContext
  // abort): called with true right after an instance is constructed, with false right after one
  // is dropped (reset or eviction). One listener per object; it must not block or throw.
  void set_lifecycle_listener(std::function<void(bool constructed)> fn) { lifecycle_ = std::move(fn); }

 private:
  friend class DurableObjectState;
  friend class DurableObjectStorage;
  friend class DurableObjectNamespace;
  struct InFlight {
    FiberHandle fiber;
    std::shared_ptr<Promise<bool>> done;  // null for alarms
  };

  // object_host.cpp
  void ensure_instance();
  void reset_instance(const std::string& reason, bool lose_unconfirmed_writes, const char* what);
  void request_finished(uint32_t fiber_id);
  void arm_idle_timer();
  // input_gate.cpp
  void wait_input_gate();
  void close_input_gate();
  void open_input_gate();
  void hold_gate_for_transaction(uint32_t me);
  void release_transaction_gate(uint32_t me);
  void wait_for_transaction_gate();
  // group_commit.cpp
  bool close_open_batch();
  void close_batch();
  uint64_t storage_ops() const;
  void reset_after_storage_abort();
  void start_round_trip();
  void finish_round_trip();
  // alarms.cpp
  void schedule_alarm_event(Time at);
  void cancel_alarm_event();
  void change_alarm(std::optional<Time> t);
  void revert_alarm();
  void fire_alarm();
  void alarm_failed();
  void alarm_settled();

  DurableObjectNamespace& ns_;
  Simulator& sim_;
  DurableObjectId id_;
  std::string label_;
  ObjectStorage storage_;
  DurableObjectStorage storage_api_;  // ctx.storage: the app's surface over storage_
  DurableObjectState state_;
  std::shared_ptr<DurableObject> instance_;  // shared with the fibers running on it
  uint64_t incarnation_ = 0;
  uint64_t constructions_ = 0;
  std::map<uint32_t, InFlight> requests_;  // by fiber id
  uint64_t next_request_ = 0;
  // Input gate: held by one fiber at a time (depth counts nesting).
  uint32_t gate_holder_ = 0;
  int gate_depth_ = 0;
  // The fiber holding the gate for the transaction() it opened (storage_.transaction_owner()),
  // from its first suspension inside it until the transaction is over. Apart from gate_holder_:
  // both can be held at once (a request already running opens a transaction while another
  // request's block_concurrency_while has the gate closed).
  uint32_t txn_gate_holder_ = 0;
  WaitQueue gate_waiters_;
  // Output gate / durability.
  uint64_t writes_seen_ = 0;
  uint64_t aborted_seen_ = 0;  // storage_.aborted_transactions() already handled
  bool abort_pending_ = false;  // a storage abort seen, its reset not yet done
  uint64_t batches_closed_ = 0, batches_durable_ = 0;
  Timer round_trip_;  // armed while a storage round trip is in flight
  bool fail_next_commit_ = false;
  Duration extra_latency_;
  Random commit_failures_;  // draws for do.commit_failure_ppm (its own stream: no other draw shifts)
  WaitQueue durable_waiters_;
  // Alarm. setAlarm()/deleteAlarm() are storage writes (§4.4, §4.6): alarm_time_ is what the
  // object sees (its own pending change included), durable_alarm_ what a crash reverts to;
  // alarm_dirty_ says they may differ (a change not yet durable). alarm_writes_ counts the changes,
  // so that one closes a batch like a put.
  std::optional<Time> alarm_time_;
  std::optional<Time> durable_alarm_;
  bool alarm_dirty_ = false;
  uint64_t alarm_writes_ = 0;
  Timer alarm_timer_;  // armed while an alarm is due and its handler not yet started
  int alarm_retries_ = 0;
  bool alarm_running_ = false;
  // Eviction.
  Timer idle_timer_;
  std::function<void(bool constructed)> lifecycle_;
};

}  // namespace cfsim
