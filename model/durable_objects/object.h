#pragma once
// What an app's Durable Object class sees: the base class it derives from (fetch, alarm) and its
// `ctx` (DurableObjectState): its id, its storage (the platform's ctx.storage surface,
// storage_api.h), blockConcurrencyWhile and abort — after platform-facts.md §3, §4.4, §4.6, §4.7.
// Nothing here reaches the storage engine or the host's gates: those are the platform's.

#include <functional>
#include <memory>
#include <string>

#include "model/http/http.h"
#include "model/durable_objects/id.h"
#include "sim/time.h"

namespace cfsim {

class DurableObjectStorage;
class ObjectHost;
class Simulator;

struct AlarmInfo {
  bool is_retry = false;
  int retry_count = 0;
  Time scheduled_time;
};

class DurableObjectState;

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
  // ctx.storage: SQL, KV, transactions and alarms, as the platform offers them.
  DurableObjectStorage& storage();
  Simulator& sim();
  // Runs fn with the input gate closed: no other request of this object starts (or resumes from
  // gate waits) until fn returns. A throw from fn, or running past 30 s, resets the object (D8).
  void block_concurrency_while(const std::function<void()>& fn);
  // Resets the object (ctx.abort()): requests in flight fail with `reason`.
  [[noreturn]] void abort(const std::string& reason);

 private:
  friend class ObjectHost;
  explicit DurableObjectState(ObjectHost& h) : host_(h) {}
  ObjectHost& host_;
};

using DurableObjectFactory = std::function<std::unique_ptr<DurableObject>(DurableObjectState&)>;

}  // namespace cfsim
