#include "model/durable_objects/durable_object.h"

#include <fmt/format.h>

#include "sim/hash.h"

namespace cfsim {

namespace {
std::string hex16(uint64_t v) { return fmt::format("{:016x}", v); }

// What an exception says, for trace records and reset reasons; objects may throw anything.
std::string exception_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "exception not derived from std::exception";
  }
}
bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> run_info(const DurableObjectOptions& o, const std::string& prefix) {
  return {{prefix + "backend", to_string(o.backend)},
          {prefix + "durability_latency", format_duration(o.durability_latency)},
          {prefix + "idle_eviction_after", format_duration(o.idle_eviction_after)},
          {prefix + "block_concurrency_timeout", format_duration(o.block_concurrency_timeout)},
          {prefix + "alarm_retry_first_backoff", format_duration(o.alarm_retry_first_backoff)},
          {prefix + "alarm_max_retries", std::to_string(o.alarm_max_retries)},
          {prefix + "delete_all_deletes_alarm", o.delete_all_deletes_alarm ? "true" : "false"},
          {prefix + "max_database_bytes", std::to_string(o.storage.max_database_bytes)}};
}

// --- ids -----------------------------------------------------------------------------------------

std::string DurableObjectId::label() const { return name_.empty() ? hex_.substr(0, 8) : name_; }

DurableObjectNamespace::DurableObjectNamespace(Simulator& sim, std::string name, DurableObjectFactory factory,
                                               DurableObjectOptions options)
    : sim_(sim),
      name_(std::move(name)),
      tag_(hex16(hash_string("cfsim-do-namespace\x1f" + name_))),
      factory_(std::move(factory)),
      options_(options),
      unique_ids_(sim.random("do.unique_ids/" + name_)) {
  if (!factory_) throw std::invalid_argument(fmt::format("Durable Object namespace '{}': no class factory", name_));
}

DurableObjectNamespace::~DurableObjectNamespace() {
  // Requests still blocked in these objects run on them: unwind them now, while the objects exist.
  if (!sim_.in_fiber())
    for (auto& [hex, h] : hosts_) {
      std::vector<FiberHandle> fibers;
      for (auto& [id, r] : h->requests_) fibers.push_back(r.fiber);
      for (auto& f : fibers) sim_.kill_now(f);
    }
}

DurableObjectId DurableObjectNamespace::id_from_name(std::string_view name) const {
  // Deterministic in (namespace, name), as on the platform (D10).
  DurableObjectId id;
  for (int k = 0; k < 3; ++k) id.hex_ += hex16(hash_string(fmt::format("{}\x1f{}\x1f{}", k, name_, name)));
  id.hex_ += tag_;
  id.name_ = std::string(name);
  return id;
}

DurableObjectId DurableObjectNamespace::new_unique_id() {
  DurableObjectId id;
  for (int k = 0; k < 3; ++k) id.hex_ += hex16(unique_ids_.next_u64());
  id.hex_ += tag_;
  return id;
}

DurableObjectId DurableObjectNamespace::id_from_string(std::string_view hex) const {
  if (hex.size() != 64 || !is_lower_hex(hex))
    throw std::invalid_argument(fmt::format("Invalid Durable Object ID: '{}' must be 64 lowercase hex digits", hex));
  if (hex.substr(48) != tag_)
    throw std::invalid_argument(fmt::format("Durable Object ID '{}' belongs to another namespace than '{}'", hex, name_));
  DurableObjectId id;
  id.hex_ = std::string(hex);
  if (auto it = hosts_.find(id.hex_); it != hosts_.end()) id.name_ = it->second->id().name();
  return id;
}

ObjectHost& DurableObjectNamespace::host(const DurableObjectId& id) {
  auto it = hosts_.find(id.hex());
  if (it == hosts_.end()) it = hosts_.emplace(id.hex(), std::make_unique<ObjectHost>(*this, id)).first;
  return *it->second;
}

ObjectHost* DurableObjectNamespace::find_host(const DurableObjectId& id) {
  auto it = hosts_.find(id.hex());
  return it == hosts_.end() ? nullptr : it->second.get();
}

std::vector<ObjectHost*> DurableObjectNamespace::hosts() {
  std::vector<ObjectHost*> out;
  for (auto& [hex, h] : hosts_) out.push_back(h.get());
  return out;
}

// --- user base class and ctx ------------------------------------------------------------------------

Response DurableObject::fetch(const Request&) { return Response(501, "fetch() not implemented by this Durable Object"); }
void DurableObject::alarm(const AlarmInfo&) {}

const DurableObjectId& DurableObjectState::id() const { return host_.id_; }
ObjectStorage& DurableObjectState::storage() { return host_.storage_; }
Simulator& DurableObjectState::sim() { return host_.sim_; }

void DurableObjectState::block_concurrency_while(const std::function<void()>& fn) {
  ObjectHost& h = host_;
  h.close_input_gate();
  const uint64_t inc = h.incarnation_;
  EventId timer = h.sim_.call_after(h.ns_.options_.block_concurrency_timeout, [&h, inc] {
    if (h.incarnation_ == inc)
      h.reset_instance("Durable Object reset because blockConcurrencyWhile() exceeded its 30 s limit", false, "bcw_timeout");
  });
  try {
    fn();
  } catch (const FiberKilled&) {
    throw;
  } catch (...) {
    const std::string what = exception_text(std::current_exception());
    h.sim_.cancel(timer);
    h.reset_instance(fmt::format("Durable Object reset because blockConcurrencyWhile() threw: {}", what), false, "bcw_threw");
    throw;  // not reached from a request fiber: the reset kills it
  }
  h.sim_.cancel(timer);
  if (h.incarnation_ == inc) h.open_input_gate();  // after a reset the gate is not ours to open
}

void DurableObjectState::set_alarm(Time t) {
  host_.wait_for_transaction_gate();
  host_.sim_.record("do", "alarm_set", {{"object", host_.label_}, {"at", t}});
  host_.change_alarm(t);
}

std::optional<Time> DurableObjectState::get_alarm() const {
  host_.wait_for_transaction_gate();
  return host_.alarm_time_;  // read-your-writes: a change not yet durable included
}

void DurableObjectState::delete_alarm() {
  host_.wait_for_transaction_gate();
  host_.sim_.record("do", "alarm_deleted", {{"object", host_.label_}});
  host_.change_alarm(std::nullopt);
}

void DurableObjectState::delete_all() {
  host_.storage_.delete_all();
  if (host_.ns_.options_.delete_all_deletes_alarm) delete_alarm();
}

void DurableObjectState::abort(const std::string& reason) {
  host_.reset_instance(reason, false, "abort");
  throw DurableObjectError(reason);  // reached only when called from outside the object's own fibers
}

// --- stub -----------------------------------------------------------------------------------------------

void DurableObjectStub::deliver(const char* kind, std::string detail, std::function<void(DurableObject&)> work) {
  // A request sent from inside another object is an outgoing message of that object: the output
  // gate holds it until the sender's earlier writes are durable (D11).
  if (auto* sender = static_cast<ObjectHost*>(ns_->sim_.fiber_context())) sender->wait_output_gate();
  auto done = std::make_shared<Promise<bool>>(ns_->sim_, "durable object reply");
  ns_->host(id_).run_request(kind, detail, std::move(work), done);
  done->future().get();  // rethrows what the object threw, or the reset's DurableObjectError
}

Response DurableObjectStub::fetch(Request req) {
  auto slot = std::make_shared<std::optional<Response>>();
  auto r = std::make_shared<Request>(std::move(req));
  deliver("fetch", r->method + " " + r->path(), [slot, r](DurableObject& o) { slot->emplace(o.fetch(*r)); });
  return std::move(**slot);
}

// --- the host -------------------------------------------------------------------------------------------

ObjectHost::ObjectHost(DurableObjectNamespace& ns, DurableObjectId id)
    : ns_(ns),
      sim_(ns.sim_),
      id_(std::move(id)),
      label_(fmt::format("{}/{}", ns.name(), id_.label())),
      storage_(ns.options_.backend, ns.options_.storage, &ns.sim_, label_),
      state_(*this),
      gate_waiters_(ns.sim_),
      commit_failures_(ns.sim_.options().seed, "do.commit_failure/" + label_),
      durable_waiters_(ns.sim_) {
  storage_.set_operation_gate([this] { wait_for_transaction_gate(); });
}

ObjectHost::~ObjectHost() {
  if (round_trip_in_flight_) sim_.cancel(round_trip_event_);
  if (alarm_event_.slot != UINT32_MAX) sim_.cancel(alarm_event_);
  if (idle_armed_) sim_.cancel(idle_event_);
}

void ObjectHost::run_request(const char* kind, const std::string& detail, std::function<void(DurableObject&)> work,
                             std::shared_ptr<Promise<bool>> done) {
  if (idle_armed_) {
    sim_.cancel(idle_event_);
    idle_armed_ = false;
  }
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

// --- gates ------------------------------------------------------------------------------------------------

void ObjectHost::wait_input_gate() {
  // Closed by a block_concurrency_while (or a construction) of another fiber, or by another
  // fiber's transaction() open across a suspension.
  const uint32_t me = sim_.current().id();
  while ((gate_holder_ != 0 && gate_holder_ != me) || (txn_gate_holder_ != 0 && txn_gate_holder_ != me))
    gate_waiters_.wait({"input gate", &label_});
}

void ObjectHost::close_input_gate() {
  wait_input_gate();
  gate_holder_ = sim_.current().id();
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

uint64_t ObjectHost::storage_ops() const {
  // Any operation while writes are pending closes a batch: a read-only one too, since its reply
  // must also wait for the writes before it (the output gate holds every outgoing message).
  const StorageCounters& c = storage_.counters();
  return c.puts + c.deletes + c.delete_alls + c.execs + alarm_writes_;
}

void ObjectHost::close_batch() {
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
    return;
  }
  if (!storage_.has_pending_writes() && !alarm_dirty_) return;
  uint64_t w = storage_ops();
  if (w == writes_seen_) return;
  writes_seen_ = w;
  ++batches_closed_;
  if (!round_trip_in_flight_) start_round_trip();
}

void ObjectHost::start_round_trip() {
  round_trip_in_flight_ = true;
  Duration latency = ns_.options_.durability_latency;
  if (const DurableObjectFaultKnobs* k = ns_.knobs_) {
    latency = latency.scaled_percent(k->storage_latency_percent);
    // A slow storage round trip: the replicas take a second to confirm (buggify, swarm runs only).
    if (k->buggify && k->buggify->buggify("do.slow_commit") && latency < Duration::max() - Duration::seconds(1)) latency += Duration::seconds(1);
  }
  latency += extra_latency_;
  extra_latency_ = Duration::zero();
  sim_.record("do", "round_trip", {{"object", label_}, {"latency", latency}});
  round_trip_event_ = sim_.call_after(latency, [this] { finish_round_trip(); });
}

void ObjectHost::reset_after_storage_abort() {
  if (!abort_pending_) return;
  abort_pending_ = false;
  reset_instance("Durable Object storage exceeded its size limit; unconfirmed writes were lost", true, "storage_full");
}

void ObjectHost::finish_round_trip() {
  round_trip_event_ = {};
  close_batch();  // still marked in flight: writes made outside request fibers ride along
  round_trip_in_flight_ = false;
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
    start_round_trip();
    return;
  }
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
    revert_alarm();
    writes_seen_ = storage_ops();
    batches_closed_ = batches_durable_;
    if (round_trip_in_flight_) {
      sim_.cancel(round_trip_event_);
      round_trip_in_flight_ = false;
    }
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
  if (!instance_ || idle_armed_ || !requests_.empty() || alarm_running_ || round_trip_in_flight_) return;
  idle_armed_ = true;
  idle_event_ = sim_.call_after(ns_.options_.idle_eviction_after, [this] {
    idle_armed_ = false;
    if (!instance_ || !requests_.empty() || alarm_running_ || round_trip_in_flight_) return;
    if (storage_.has_pending_writes() || alarm_dirty_) {
      // Writes made outside any request (a container's monitor, say) close no batch by themselves:
      // make them durable now, and evict only once they are.
      close_batch();
      if (round_trip_in_flight_) return;
    }
    sim_.record("do", "evict", {{"object", label_}});
    ++incarnation_;
    instance_.reset();
    if (lifecycle_) lifecycle_(false);
  });
}

// --- alarms ----------------------------------------------------------------------------------------------

void ObjectHost::schedule_alarm_event(Time at) {
  if (alarm_event_.slot != UINT32_MAX) sim_.cancel(alarm_event_);
  alarm_event_ = sim_.call_at(std::max(at, sim_.now()), [this] {
    alarm_event_ = {};
    fire_alarm();
  });
}

void ObjectHost::cancel_alarm_event() {
  if (alarm_event_.slot != UINT32_MAX) sim_.cancel(alarm_event_);
  alarm_event_ = {};
}

void ObjectHost::change_alarm(std::optional<Time> t) {
  // setAlarm()/deleteAlarm() are storage operations (§4.4, §4.6): the change joins the current
  // write batch, a reply waits until it is durable, and a crash or failed commit before then
  // reverts it (revert_alarm). The alarm is scheduled at once, so it fires on time even while the
  // change is still in flight (the platform would start it once committed, at most one round trip
  // later).
  alarm_time_ = t;
  alarm_dirty_ = true;
  ++alarm_writes_;
  if (t) schedule_alarm_event(*t);
  else cancel_alarm_event();
  // Outside the object's request fibers no suspension closes the batch: close it now, or the
  // change would wait for unrelated traffic to become durable.
  if (sim_.fiber_context() != this) close_batch();
}

void ObjectHost::revert_alarm() {
  // The unconfirmed batches are lost, and the alarm changes made in them with them: back to the
  // last durable alarm, scheduled or none.
  if (!alarm_dirty_) return;
  alarm_dirty_ = false;
  alarm_time_ = durable_alarm_;
  sim_.record("do", "alarm_reverted", {{"object", label_}, {"scheduled", alarm_time_.has_value()}, {"at", alarm_time_.value_or(Time::zero())}});
  if (alarm_time_) schedule_alarm_event(*alarm_time_);
  else cancel_alarm_event();
}

void ObjectHost::fire_alarm() {
  if (!alarm_time_) return;
  if (alarm_running_) return;  // alarms never overlap: alarm_settled() fires it once the handler is done
  AlarmInfo info{alarm_retries_ > 0, alarm_retries_, *alarm_time_};
  alarm_time_.reset();  // an alarm counts as set until it starts (D5a)
  // The runtime takes a durable alarm. One whose setting is still in flight stays as it was
  // underneath: a crash before the setting is durable brings the earlier alarm back.
  if (!alarm_dirty_) durable_alarm_.reset();
  alarm_running_ = true;
  sim_.record("do", "alarm_fire", {{"object", label_}, {"retry_count", info.retry_count}});
  run_request("alarm", "", [info](DurableObject& o) { o.alarm(info); }, nullptr);
}

void ObjectHost::alarm_failed() {
  if (alarm_retries_ >= ns_.options_.alarm_max_retries) {
    sim_.record("do", "alarm_gave_up", {{"object", label_}, {"retries", alarm_retries_}});
    alarm_retries_ = 0;
  } else if (alarm_time_) {  // the handler set a new alarm before failing: that one stands, fresh
    alarm_retries_ = 0;
  } else {
    ++alarm_retries_;
    Duration backoff = ns_.options_.alarm_retry_first_backoff * (int64_t{1} << (alarm_retries_ - 1));
    alarm_time_ = sim_.now() + backoff;
    durable_alarm_ = alarm_time_;  // the platform's retry, not a write of the object: no crash loses it
    sim_.record("do", "alarm_retry", {{"object", label_}, {"retry", alarm_retries_}, {"at", *alarm_time_}});
    schedule_alarm_event(*alarm_time_);
  }
  alarm_settled();
}

void ObjectHost::alarm_settled() {
  alarm_running_ = false;
  // An alarm that came due while the handler ran (set by the handler itself, say) had its event
  // consumed without firing: give it one now.
  if (alarm_time_ && alarm_event_.slot == UINT32_MAX) schedule_alarm_event(*alarm_time_);
}

}  // namespace cfsim
