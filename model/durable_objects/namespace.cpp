// The namespace (its objects by id) and the stub's delivery of a request.

#include "model/durable_objects/namespace.h"

#include <fmt/format.h>

#include "model/durable_objects/object_host.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace cfsim {

DurableObjectNamespace::DurableObjectNamespace(Simulator& sim, std::string name, DurableObjectFactory factory,
                                               DurableObjectOptions options)
    : sim_(sim),
      name_(std::move(name)),
      tag_(namespace_id_tag(name_)),
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

}  // namespace cfsim
