// The app's base class and its ctx. The gates and resets they use are the host's (object_host.h).

#include "model/durable_objects/object.h"

#include <fmt/format.h>

#include "model/durable_objects/errors.h"
#include "model/durable_objects/namespace.h"
#include "model/durable_objects/object_host.h"

namespace cfsim {

Response DurableObject::fetch(const Request&) { return Response(501, "fetch() not implemented by this Durable Object"); }
void DurableObject::alarm(const AlarmInfo&) {}

const DurableObjectId& DurableObjectState::id() const { return host_.id_; }
DurableObjectStorage& DurableObjectState::storage() { return host_.storage_api_; }
Simulator& DurableObjectState::sim() { return host_.sim_; }

void DurableObjectState::block_concurrency_while(const std::function<void()>& fn) {
  ObjectHost& h = host_;
  h.close_input_gate();
  const uint64_t inc = h.incarnation_;
  // A plain event, not a Timer: when a reset kills this fiber the event stays queued (and finds
  // the incarnation changed); a Timer on this stack would cancel it as the fiber unwinds.
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

void DurableObjectState::abort(const std::string& reason) {
  host_.reset_instance(reason, false, "abort");
  throw DurableObjectError(reason);  // reached only when called from outside the object's own fibers
}

}  // namespace cfsim
