#pragma once
// The network's state, shared by its files (network.cpp: endpoints, routes and faults;
// services.cpp: external services and databases) and by the DbConnections it hands out: not for
// apps or tests.

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "model/net/network.h"
#include "sim/assert.h"

namespace cfsim::detail {

using Kind = NetError::Kind;

struct Service {
  Service(Simulator& sim, std::string n, bool db, HttpHandler h, int max_conn, Lognormal lat)
      : name(std::move(n)),
        is_db(db),
        handler(std::move(h)),
        max_connections(max_conn),
        latency(lat),
        latency_rng(sim.random("net/" + name)),
        loss_rng(sim.random("net/" + name + "/loss")) {}
  std::string name;
  bool is_db;
  HttpHandler handler;
  int max_connections;
  Lognormal latency;
  Random latency_rng, loss_rng;
  bool partitioned = false;
  uint64_t partition_generation = 0;  // a scheduled heal only heals the partition it belongs to
  uint64_t loss_ppm = 0;
  int64_t slow_percent = 100;
  int open_connections = 0;
  uint64_t requests = 0;  // names the handler fibers
  std::map<std::string, std::string> store;  // databases only
};

struct Endpoint {
  std::string label, address;
  EgressPolicy policy;
  bool attached = true;
  int64_t egress_bytes = 0;
};

struct Conn {
  EndpointId from;
  std::string db;
  bool open = true;
};

struct NetState {
  NetState(Simulator& s, NetworkOptions o) : sim(s), opts(o) {}
  Simulator& sim;
  NetworkOptions opts;
  std::map<EndpointId, Endpoint> endpoints;
  EndpointId next_id = 1;
  std::map<std::string, Service, std::less<>> services;
  std::map<uint64_t, Conn> conns;
  uint64_t next_conn = 1;
  int64_t total_egress = 0;
  const NetFaultKnobs* knobs = nullptr;

  Endpoint& endpoint(EndpointId id) {
    auto it = endpoints.find(id);
    if (it == endpoints.end())
      throw std::invalid_argument(fmt::format("no network endpoint {} (ids 1..{} were attached so far)", id, next_id - 1));
    return it->second;
  }
  Endpoint& live_endpoint(EndpointId id, const char* op) {
    Endpoint& ep = endpoint(id);
    if (!ep.attached)
      throw std::invalid_argument(
          fmt::format("Network::{}: endpoint {} ('{}') is detached: its container instance stopped", op, id, ep.label));
    return ep;
  }
  Service& service(std::string_view name, const char* op) {
    auto it = services.find(normalize_hostname(name));
    if (it != services.end()) return it->second;
    std::string known;
    for (const auto& [n, s] : services) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument(
        fmt::format("Network::{}: no service '{}' (registered: {})", op, name, known.empty() ? "none" : known));
  }

  Duration draw_latency(Service& s) {
    Duration d = s.latency_rng.lognormal(s.latency);
    // d * percent / 100 in integers, without overflowing for large d.
    d = Duration::nanos(d.ns / 100 * s.slow_percent + d.ns % 100 * s.slow_percent / 100);
    return knobs ? d.scaled_percent(knobs->latency_percent) : d;
  }
  bool lost(Service& s) {
    const uint64_t ppm = std::min<uint64_t>(1'000'000, s.loss_ppm + (knobs ? static_cast<uint64_t>(knobs->loss_ppm) : 0));
    return ppm > 0 && s.loss_rng.bernoulli(ppm, 1'000'000);
  }
  // Buggify "net.dropped_connection": the service handled the request, but the connection drops
  // before the reply reaches the caller (swarm runs only).
  bool reply_dropped() { return knobs && knobs->buggify && knobs->buggify->buggify("net.dropped_connection"); }

  // A message met a partition: the caller hangs until the timeout counted from when it sent.
  [[noreturn]] void hang(Service& s, Time sent, std::string_view what) {
    sim.sleep_until(sent + opts.unreachable_timeout);
    throw NetError(Kind::timeout, fmt::format("{} to '{}' timed out after {}: the service is unreachable (partitioned)",
                                              what, s.name, format_duration(opts.unreachable_timeout)));
  }

  void count_egress(EndpointId id, int64_t bytes) {
    endpoint(id).egress_bytes += bytes;
    total_egress += bytes;
  }

  void close_conn(uint64_t id, std::string_view why) {
    auto it = conns.find(id);
    if (it == conns.end() || !it->second.open) return;
    it->second.open = false;
    auto s = services.find(it->second.db);
    if (s != services.end()) --s->second.open_connections;
    CFSIM_ASSERT(s == services.end() || s->second.open_connections >= 0);  // one decrement per opened connection
    sim.record("net", "close", {{"conn", id}, {"db", it->second.db}, {"why", why}});
  }

  // The route steps Network::fetch and connect_db share (network.cpp, services.cpp).
  Response deny(const Endpoint& ep, std::string_view host, std::string_view reason);
  Response call_handler(const HttpHandler& h, const Request& req, const Endpoint& ep, std::string_view host);
  // Where a route for a name or IP ends: a service, or a NetError.
  Service& resolve(std::string_view host, HostKind kind);
  [[noreturn]] void unroutable(const Endpoint& ep, std::string_view host, HostKind kind);
  Response http_to_service(EndpointId from, Service& s, Request req);
  // Carries out decide_egress's decision for a fetch of `host` (egress.h).
  Response follow_route(EndpointId from, const Endpoint& ep, const EgressDecision& d, const std::string& host, Request req);
};

}  // namespace cfsim::detail
