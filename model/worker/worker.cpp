#include "model/worker/worker.h"

#include <fmt/format.h>

#include <stdexcept>

#include "model/http/body_stream.h"
#include "model/http/websocket.h"
#include "sim/sync.h"

namespace cfsim {

DurableObjectNamespace& Env::durable_object(std::string_view binding) const {
  auto it = namespaces_.find(binding);
  if (it == namespaces_.end()) throw std::out_of_range(fmt::format("env has no Durable Object binding '{}'", binding));
  return *it->second;
}

const std::string& Env::var(std::string_view name) const {
  auto it = vars_.find(name);
  if (it == vars_.end()) throw std::out_of_range(fmt::format("env has no var '{}'", name));
  return it->second;
}

const std::string& Env::secret(std::string_view name) const {
  auto it = secrets_.find(name);
  if (it == secrets_.end()) throw std::out_of_range(fmt::format("env has no secret '{}'", name));
  return it->second;
}

KvNamespace& Env::kv(std::string_view binding) const {
  auto it = kv_.find(binding);
  if (it == kv_.end()) throw std::out_of_range(fmt::format("env has no KV binding '{}'", binding));
  return *it->second;
}

R2Bucket& Env::r2(std::string_view binding) const {
  auto it = r2_.find(binding);
  if (it == r2_.end()) throw std::out_of_range(fmt::format("env has no R2 binding '{}'", binding));
  return *it->second;
}

DurableObjectStub get_container(DurableObjectNamespace& ns, std::string_view name) { return ns.get_by_name(name); }

DurableObjectStub get_random(DurableObjectNamespace& ns, Random& rng, int n) {
  if (n < 1) throw std::invalid_argument(fmt::format("getRandom: instance count must be at least 1 (got {})", n));
  return ns.get_by_name(fmt::format("instance-{}", rng.below(static_cast<uint64_t>(n))));
}

Worker::Worker(Simulator& sim, WorkerFetch handler, WorkerOptions options)
    : sim_(sim), handler_(std::move(handler)), options_(options), latency_rng_(sim.random("worker.client_latency")) {
  if (!handler_) throw std::invalid_argument("Worker: no fetch handler");
}

Response Worker::client_websocket(Request req) {
  if (!is_websocket_upgrade(req)) req.headers.set("Upgrade", "websocket");
  return client_fetch(std::move(req));
}

Response Worker::client_fetch(Request req) {
  const bool upgrade = is_websocket_upgrade(req);
  const uint64_t n = ++requests_;
  sim_.sleep_for(latency_rng_.lognormal(options_.client_latency));
  sim_.record_begin("worker", "request", {{"id", n}, {"method", req.method}, {"url", req.url}});
  auto out = std::make_shared<Response>();
  auto invocation = sim_.spawn(fmt::format("worker#{}", n), [this, out, req = std::move(req)] {
    try {
      *out = handler_(req, env_);
    } catch (const std::exception& e) {
      // What the client sees when the Worker throws: an error page with status 500.
      *out = Response(500, fmt::format("Error 1101: Worker threw exception ({})", e.what()));
    }
  });
  invocation.join();
  if (invocation.state() == FiberState::killed) *out = Response(500, "Error 1101: Worker threw exception (invocation killed)");
  sim_.record_end("worker", "request", {{"id", n}, {"status", out->status}});
  if (out->websocket) {
    if (!upgrade) {
      // workerd refuses the response; the end the handler returned is dropped (its peer sees 1006).
      out->websocket.reset();
      *out = Response(500, "Error 1101: Worker threw exception (Worker tried to return a WebSocket in a response to a "
                           "request which did not contain the header \"Upgrade: websocket\".)");
    } else {
      // The client's end crosses the client <-> edge connection: every message, each way, takes
      // one client latency, drawn per message from this socket's own stream.
      out->websocket->add_hop(options_.client_latency.median, options_.client_latency.sigma,
                              sim_.random(fmt::format("worker.websocket/{}", n)));
      sim_.record("worker", "websocket", {{"id", n}, {"status", out->status}, {"ws", out->websocket->label()}});
    }
  }
  // One latency for the way back, drawn once: the headers and then every chunk of a streamed body
  // cross it in order.
  const Duration back = latency_rng_.lognormal(options_.client_latency);
  if (out->stream) out->stream = out->stream->relay(back, fmt::format("worker#{} -> client", n));
  sim_.sleep_for(back);
  return std::move(*out);
}

}  // namespace cfsim
