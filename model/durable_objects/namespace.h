#pragma once
// A Durable Object namespace (a binding: env.COUNTER) and its stubs. Naming an object creates
// nothing; the first request constructs it (D7, D10). The namespace owns one ObjectHost per id
// ever used, for the life of the world (object_host.h).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "model/http/http.h"
#include "model/durable_objects/errors.h"
#include "model/durable_objects/id.h"
#include "model/durable_objects/object.h"
#include "model/durable_objects/options.h"
#include "sim/random.h"

namespace cfsim {

class DurableObjectNamespace;
class ObjectHost;
class Simulator;

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
