#pragma once
// Durable Objects: identity, one live instance per id, requests in their own fibers, the input
// and output gates, blockConcurrencyWhile, alarms, resets and idle eviction — after
// platform-facts.md §3, §4.4, §4.6, §4.7.
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

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "model/http/http.h"
#include "model/durable_objects/storage.h"
#include "sim/fault_injector.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace cfsim {

// What this seam's fault knobs and buggify sites change (model/durable_objects/faults.h fills it in
// once a plan is applied; a namespace outside a World keeps the defaults: no change).
struct DurableObjectFaultKnobs {
  int64_t storage_latency_percent = 100;  // do.storage_latency_percent: every round trip's latency x N/100
  int64_t commit_failure_ppm = 0;         // do.commit_failure_ppm: each round trip fails with N/1e6
  FaultInjector* buggify = nullptr;       // the run's buggify sites ("do.slow_commit"), if any
};

struct DurableObjectOptions {
  StorageBackend backend = StorageBackend::sqlite;
  // One storage round trip (the replicas confirming a write). An engineering assumption: the
  // facts give no figure; a few milliseconds matches the "output gate" blog posts (D12, D13).
  Duration durability_latency = Duration::millis(2);
  // An idle object (no request, alarm or write in flight) is evicted after this long; its
  // constructor reruns on the next request. D7: hibernation after 10 s idle (70-140 s for
  // objects that cannot hibernate: set this to 70 s to model those).
  Duration idle_eviction_after = Duration::seconds(10);
  Duration block_concurrency_timeout = Duration::seconds(30);  // D8: overrun resets the object
  Duration alarm_retry_first_backoff = Duration::seconds(2);   // D6: doubling from 2 s
  int alarm_max_retries = 6;                                   // D6
  bool delete_all_deletes_alarm = true;  // D5: compatibility date >= 2026-02-24
  StorageOptions storage;                  // per-object storage limits (10 GB by default)
};

// DurableObjectOptions as key/value pairs for SimOptions::run_info (the trace header); keys start
// with `prefix` (e.g. "do.SESSIONS.").
std::vector<std::pair<std::string, std::string>> run_info(const DurableObjectOptions& o, const std::string& prefix);

// What a caller sees when the object fails under it (reset, crash, failed commit).
class DurableObjectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// RPC could not serialize the method's result (workerd's DOMException "DataCloneError"). A
// WebSocket cannot cross RPC, alone or in a Response: only the stub's fetch() can carry an
// upgraded socket (platform-facts §3, §8 item 18, workerd#2319).
class DataCloneError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
inline constexpr const char* kWebSocketDataCloneMessage =
    "Could not serialize object of type \"WebSocket\". This type does not support serialization.";

// A 64-hex-digit id. The last 16 digits tag the namespace, so an id from another namespace is
// recognised (D10: idFromString throws for ids of another namespace).
class DurableObjectId {
 public:
  const std::string& hex() const { return hex_; }
  const std::string& name() const { return name_; }  // the name it came from, "" for unique ids
  std::string label() const;  // name, or the first 8 hex digits
  bool operator==(const DurableObjectId& o) const { return hex_ == o.hex_; }
  bool operator<(const DurableObjectId& o) const { return hex_ < o.hex_; }

 private:
  friend class DurableObjectNamespace;
  std::string hex_, name_;
};

struct AlarmInfo {
  bool is_retry = false;
  int retry_count = 0;
  Time scheduled_time;
};

class DurableObjectState;
class ObjectHost;

// User Durable Object classes derive from this. Each request runs in its own fiber.
class DurableObject {
 public:
  explicit DurableObject(DurableObjectState& ctx) : ctx_(ctx) {}
  virtual ~DurableObject() = default;
  virtual Response fetch(const Request& req);   // default: 501
  virtual void alarm(const AlarmInfo& info);    // default: nothing

 protected:
  DurableObjectState& ctx() { return ctx_; }

 private:
  DurableObjectState& ctx_;
};

// `ctx` / `this.ctx` of a Durable Object.
class DurableObjectState {
 public:
  const DurableObjectId& id() const;
  ObjectStorage& storage();
  Simulator& sim();
  // Runs fn with the input gate closed: no other request of this object starts (or resumes from
  // gate waits) until fn returns. A throw from fn, or running past 30 s, resets the object (D8).
  void block_concurrency_while(const std::function<void()>& fn);
  // Alarms (D5a, D6): one per object; setting replaces; a time not after now fires as soon as possible.
  void set_alarm(Time t);
  std::optional<Time> get_alarm() const;
  void delete_alarm();
  // Wipes SQL and KV data atomically and, per the compatibility option, the alarm (D5).
  void delete_all();
  // Resets the object (ctx.abort()): requests in flight fail with `reason`.
  [[noreturn]] void abort(const std::string& reason);

 private:
  friend class ObjectHost;
  explicit DurableObjectState(ObjectHost& h) : host_(h) {}
  ObjectHost& host_;
};

using DurableObjectFactory = std::function<std::unique_ptr<DurableObject>(DurableObjectState&)>;

class DurableObjectNamespace;

// A stub: naming an object creates nothing; the first request constructs it (D7, D10).
class DurableObjectStub {
 public:
  const DurableObjectId& id() const { return id_; }
  // Delivers a request and blocks the calling fiber until the response passes the output gate.
  // Throws DurableObjectError if the object resets first; an exception thrown by the object's
  // fetch() reaches the caller as it was thrown.
  Response fetch(Request req);
  // RPC: runs fn(object) as a request of the object (same gates); returns what fn returns.
  // A result that is a WebSocket, or a Response carrying one, cannot be serialized: the method
  // runs, then the caller gets DataCloneError (§8 item 18) and the socket is dropped (its peer
  // sees 1006).
  template <class T, class F>
  auto call(F&& fn) -> decltype(fn(std::declval<T&>()));

 private:
  friend class DurableObjectNamespace;
  DurableObjectStub(DurableObjectNamespace& ns, DurableObjectId id) : ns_(&ns), id_(std::move(id)) {}
  void deliver(const char* kind, std::string detail, std::function<void(DurableObject&)> work);
  DurableObjectNamespace* ns_;
  DurableObjectId id_;
};

class DurableObjectNamespace {
 public:
  DurableObjectNamespace(Simulator& sim, std::string name, DurableObjectFactory factory, DurableObjectOptions options);
  ~DurableObjectNamespace();
  const std::string& name() const { return name_; }
  const DurableObjectOptions& options() const { return options_; }

  DurableObjectId id_from_name(std::string_view name) const;
  DurableObjectId new_unique_id();
  // Throws std::invalid_argument (the platform's TypeError) unless `hex` is 64 hex digits naming
  // an object of this namespace.
  DurableObjectId id_from_string(std::string_view hex) const;
  DurableObjectStub get(const DurableObjectId& id) { return DurableObjectStub(*this, id); }
  DurableObjectStub get_by_name(std::string_view name) { return get(id_from_name(name)); }

  // The knobs the round trips of this namespace's objects read (World attaches its own; the
  // pointer must outlive the namespace). nullptr: the defaults.
  void attach_fault_knobs(const DurableObjectFaultKnobs* knobs) { knobs_ = knobs; }

  // The runtime behind an id, created on first use. Tests and fault verbs reach objects here.
  ObjectHost& host(const DurableObjectId& id);
  ObjectHost* find_host(const DurableObjectId& id);
  // Every object that has been used, by id.
  std::vector<ObjectHost*> hosts();

 private:
  Simulator& sim_;
  std::string name_;
  std::string tag_;  // 16 hex digits naming this namespace inside ids
  DurableObjectFactory factory_;
  DurableObjectOptions options_;
  Random unique_ids_;
  const DurableObjectFaultKnobs* knobs_ = nullptr;
  std::map<std::string, std::unique_ptr<ObjectHost>> hosts_;  // by id hex
  friend class ObjectHost;
  friend class DurableObjectState;
  friend class DurableObjectStub;
};

// The runtime of one Durable Object id: its storage (for the life of the world), its current
// instance, gates, alarm, and the requests in flight.
class ObjectHost {
 public:
  ObjectHost(DurableObjectNamespace& ns, DurableObjectId id);
  ~ObjectHost();
  const DurableObjectId& id() const { return id_; }
  ObjectStorage& storage() { return storage_; }
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
  friend class DurableObjectNamespace;
  struct InFlight {
    FiberHandle fiber;
    std::shared_ptr<Promise<bool>> done;  // null for alarms
  };

  void ensure_instance();
  void close_batch();
  uint64_t storage_ops() const;
  void reset_after_storage_abort();
  void start_round_trip();
  void finish_round_trip();
  void wait_input_gate();
  void close_input_gate();
  void open_input_gate();
  void hold_gate_for_transaction(uint32_t me);
  void release_transaction_gate(uint32_t me);
  void wait_for_transaction_gate();
  void reset_instance(const std::string& reason, bool lose_unconfirmed_writes, const char* what);
  void request_finished(uint32_t fiber_id);
  void arm_idle_timer();
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
  bool round_trip_in_flight_ = false;
  EventId round_trip_event_;
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
  EventId alarm_event_;
  int alarm_retries_ = 0;
  bool alarm_running_ = false;
  // Eviction.
  EventId idle_event_;
  bool idle_armed_ = false;
  std::function<void(bool constructed)> lifecycle_;
};


template <class T, class F>
auto DurableObjectStub::call(F&& fn) -> decltype(fn(std::declval<T&>())) {
  using R = decltype(fn(std::declval<T&>()));
  if constexpr (std::is_void_v<R>) {
    deliver("rpc", "", [fn = std::forward<F>(fn)](DurableObject& o) mutable { fn(dynamic_cast<T&>(o)); });
  } else {
    auto slot = std::make_shared<std::optional<R>>();
    deliver("rpc", "", [slot, fn = std::forward<F>(fn)](DurableObject& o) mutable { slot->emplace(fn(dynamic_cast<T&>(o))); });
    if constexpr (std::is_same_v<std::decay_t<R>, std::shared_ptr<WebSocket>>) {
      if (**slot) {
        slot->reset();
        throw DataCloneError(kWebSocketDataCloneMessage);
      }
    } else if constexpr (std::is_same_v<std::decay_t<R>, Response>) {
      if ((*slot)->websocket) {
        slot->reset();
        throw DataCloneError(kWebSocketDataCloneMessage);
      }
    }
    return std::move(**slot);
  }
}

}  // namespace cfsim
