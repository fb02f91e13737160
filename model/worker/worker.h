#pragma once
// The Worker: the only way in. Simulated end users (clients) send HTTP requests to the Worker's
// fetch(request, env) handler; the handler reaches Durable Objects (and the containers behind them)
// through bindings in `env`. There is no other ingress: a client cannot open TCP or UDP to a
// container (platform-facts §3, §7.1).

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "model/durable_objects/durable_object.h"
#include "model/http/http.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace cfsim {

class KvNamespace;  // model/workers_kv.h
class R2Bucket;     // model/r2.h

// The bindings a Worker sees: Durable Object / container namespaces, KV namespaces, R2 buckets,
// plain vars and secrets.
class Env {
 public:
  // Throws std::out_of_range naming the binding if it does not exist.
  DurableObjectNamespace& durable_object(std::string_view binding) const;
  const std::string& var(std::string_view name) const;
  const std::string& secret(std::string_view name) const;
  KvNamespace& kv(std::string_view binding) const;
  R2Bucket& r2(std::string_view binding) const;

  void bind(std::string binding, DurableObjectNamespace& ns) { namespaces_[std::move(binding)] = &ns; }
  void bind_kv(std::string binding, KvNamespace& ns) { kv_[std::move(binding)] = &ns; }
  void bind_r2(std::string binding, R2Bucket& bucket) { r2_[std::move(binding)] = &bucket; }
  void set_var(std::string name, std::string value) { vars_[std::move(name)] = std::move(value); }
  void set_secret(std::string name, std::string value) { secrets_[std::move(name)] = std::move(value); }

 private:
  std::map<std::string, DurableObjectNamespace*, std::less<>> namespaces_;
  std::map<std::string, KvNamespace*, std::less<>> kv_;
  std::map<std::string, R2Bucket*, std::less<>> r2_;
  std::map<std::string, std::string, std::less<>> vars_, secrets_;
};

// getContainer(binding, name = "cf-singleton-container"): the stub of the object named `name`;
// creates nothing and starts nothing (platform-facts §3, §8 item 16).
DurableObjectStub get_container(DurableObjectNamespace& ns, std::string_view name = "cf-singleton-container");
// getRandom(binding, n = 3): the stub of "instance-<k>" for k uniform in [0, n), drawn from `rng`
// (the platform uses Math.random: location-blind, fixed n, no health awareness). n must be >= 1.
DurableObjectStub get_random(DurableObjectNamespace& ns, Random& rng, int n = 3);

using WorkerFetch = std::function<Response(const Request&, Env&)>;

struct WorkerOptions {
  // One-way latency between a client and the Cloudflare edge, per request (lognormal).
  Lognormal client_latency{Duration::millis(20), 0.0};
};

class Worker {
 public:
  Worker(Simulator& sim, WorkerFetch handler, WorkerOptions options = {});
  Env& env() { return env_; }
  // A client's request: client -> edge latency, the handler in its own fiber, edge -> client
  // latency. A handler that throws gives the platform's 500 ("Error 1101: Worker threw exception"),
  // as the client would see it. Must be called from a fiber (the client). A streamed body
  // (Response::stream) reaches the client chunk by chunk, each chunk the edge -> client latency
  // after the edge got it; read it with read_body() or stream->read() (model/body_stream.h).
  // Without `Upgrade: websocket` a handler may not answer with a WebSocket: the client gets 500
  // (workerd's "Worker tried to return a WebSocket in a response to a request which did not
  // contain the header" error) and the handler's end is dropped.
  Response client_fetch(Request req);
  // A client opening a WebSocket through the Worker (§3: the only way to a container's socket):
  // client_fetch with `Upgrade: websocket`. If the handler accepts (status 101), the response's
  // `websocket` is the client's end, and every message on it, each way, also crosses the client
  // <-> edge latency (WorkerOptions). Otherwise the response is the handler's answer (e.g. 426).
  Response client_websocket(Request req);
  uint64_t requests() const { return requests_; }

 private:
  Simulator& sim_;
  WorkerFetch handler_;
  WorkerOptions options_;
  Env env_;
  Random latency_rng_;
  uint64_t requests_ = 0;
};

}  // namespace cfsim
