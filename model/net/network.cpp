#include "model/net/network.h"

#include <fmt/format.h>

#include <optional>

#include "model/net/net_state.h"
#include "sim/assert.h"

namespace cfsim {

const char* to_string(NetError::Kind k) {
  switch (k) {
    case NetError::Kind::no_route: return "no_route";
    case NetError::Kind::refused: return "refused";
    case NetError::Kind::timeout: return "timeout";
    case NetError::Kind::dns: return "dns";
    case NetError::Kind::denied: return "denied";
    case NetError::Kind::reset: return "reset";
    case NetError::Kind::too_many_connections: return "too_many_connections";
  }
  return "?";
}

std::vector<std::pair<std::string, std::string>> run_info(const NetworkOptions& o) {
  return {{"net.dns_without_internet", o.dns_without_internet ? "true" : "false"},
          {"net.unreachable_timeout", format_duration(o.unreachable_timeout)},
          {"net.dns_timeout", format_duration(o.dns_timeout)}};
}

namespace detail {

Response NetState::deny(const Endpoint& ep, std::string_view host, std::string_view reason) {
  sim.record("net", "denied", {{"from", ep.label}, {"host", host}, {"reason", reason}});
  return Response(520, "Origin is disallowed");
}

Response NetState::call_handler(const HttpHandler& h, const Request& req, const Endpoint& ep, std::string_view host) {
  HttpHandler copy = h;  // the handler may replace the policy that holds it
  std::string label = ep.label;
  try {
    return copy(req);
  } catch (const std::exception& e) {
    sim.record("net", "handler-error", {{"from", label}, {"host", host}, {"error", e.what()}});
    return Response(500, std::string("outbound handler threw: ") + e.what());
  }
}

void NetState::unroutable(const Endpoint& ep, std::string_view host, HostKind kind) {
  if (kind == HostKind::loopback)
    throw NetError(Kind::refused, fmt::format("connection refused: '{}' from container '{}' is its own (loopback) "
                                              "address; the container runtime serves that, not the network",
                                              host, ep.label));
  for (const auto& [id, other] : endpoints)
    if (other.attached && other.address == host)
      throw NetError(Kind::no_route, fmt::format("no route from container '{}' to {}: containers cannot reach each "
                                                 "other (platform-facts §7.3)",
                                                 ep.label, host));
  throw NetError(Kind::no_route, fmt::format("no route from container '{}' to {}: no container network exists "
                                             "(platform-facts §7.3)",
                                             ep.label, host));
}

Response NetState::follow_route(EndpointId from, const Endpoint& ep, const EgressDecision& d, const std::string& host, Request req) {
  switch (d.route) {
    case EgressRoute::denied: return deny(ep, host, d.reason);
    case EgressRoute::handler: return call_handler(*d.handler, req, ep, host);
    case EgressRoute::no_route: unroutable(ep, host, d.host_kind);
    case EgressRoute::internet: return http_to_service(from, resolve(host, d.host_kind), std::move(req));
    case EgressRoute::dns_timeout:
      sim.sleep_for(opts.dns_timeout);
      if (!d.proxied)
        throw NetError(Kind::dns, fmt::format("could not resolve host '{}': no DNS without internet on this platform "
                                              "version (A16); timed out after {}",
                                              host, format_duration(opts.dns_timeout)));
      throw NetError(Kind::dns, fmt::format("could not resolve host '{}': container '{}' has internet off and this "
                                            "platform version answers no DNS without internet (A16); timed out after {}",
                                            host, ep.label, format_duration(opts.dns_timeout)));
    case EgressRoute::https_denied:
      // As connect_db: the name is looked up first (an unknown one fails as DNS), then denied.
      if (d.host_kind == HostKind::name) resolve(host, d.host_kind);
      throw NetError(Kind::denied, fmt::format("outbound HTTPS from container '{}' to '{}' is denied: internet is off "
                                               "and HTTPS is not intercepted (interceptHttps is false; §7.2)",
                                               ep.label, host));
  }
  CFSIM_ASSERT(false);  // every route is handled above
  throw std::logic_error("unreachable");
}

}  // namespace detail

using detail::Endpoint;
using detail::Kind;
using detail::NetState;
using detail::Service;

// --- Network -------------------------------------------------------------------------------------

Network::Network(Simulator& sim, NetworkOptions options) : st_(std::make_shared<NetState>(sim, options)) {
  if (options.unreachable_timeout < Duration::zero() || options.dns_timeout < Duration::zero())
    throw std::invalid_argument(fmt::format("NetworkOptions: unreachable_timeout {} and dns_timeout {} must be >= 0",
                                            format_duration(options.unreachable_timeout),
                                            format_duration(options.dns_timeout)));
}

Network::~Network() {
  // A fiber still inside fetch/query keeps the state alive until it unwinds; every connection it
  // holds is dead from now on (a query on it is a NetError reset).
  for (auto& [id, c] : st_->conns) c.open = false;
}

const NetworkOptions& Network::options() const { return st_->opts; }

namespace {
EgressPolicy normalized(EgressPolicy p) {
  for (auto& h : p.allowed_hosts) h = normalize_hostname(h);
  for (auto& h : p.denied_hosts) h = normalize_hostname(h);
  auto normalize_keys = [](std::map<std::string, HttpHandler>& m, const char* field) {
    std::map<std::string, HttpHandler> by_host;
    for (auto& [k, v] : m) {
      if (!v) throw std::invalid_argument(fmt::format("EgressPolicy: {}['{}'] has an empty handler", field, k));
      by_host[normalize_hostname(k)] = std::move(v);
    }
    m = std::move(by_host);
  };
  normalize_keys(p.outbound_by_host, "outbound_by_host");
  normalize_keys(p.outbound_by_host_override, "outbound_by_host_override");
  return p;
}
}  // namespace

EndpointId Network::attach(std::string label, EgressPolicy policy) {
  auto& st = *st_;
  EndpointId n = st.next_id;
  if (n >= (253u << 16)) throw std::length_error(fmt::format("Network::attach: {} endpoints is the limit", n - 1));
  Endpoint ep;
  ep.label = std::move(label);
  ep.address = fmt::format("10.{}.{}.{}", (n >> 8) & 255, n & 255, 2 + (n >> 16));
  ep.policy = normalized(std::move(policy));
  ++st.next_id;
  auto& e = st.endpoints.emplace(n, std::move(ep)).first->second;
  st.sim.record("net", "attach", {{"endpoint", n}, {"label", e.label}, {"address", e.address}, {"internet", e.policy.internet}});
  return n;
}

void Network::detach(EndpointId id) {
  auto& st = *st_;
  Endpoint& ep = st.live_endpoint(id, "detach");
  ep.attached = false;
  int closed = 0;
  for (auto& [cid, c] : st.conns)
    if (c.from == id && c.open) st.close_conn(cid, "endpoint detached"), ++closed;
  std::erase_if(st.conns, [](const auto& kv) { return !kv.second.open; });
  st.sim.record("net", "detach", {{"endpoint", id}, {"label", ep.label}, {"closed_connections", closed}});
}

bool Network::attached(EndpointId id) const {
  auto it = st_->endpoints.find(id);
  return it != st_->endpoints.end() && it->second.attached;
}

std::string Network::address(EndpointId id) const { return st_->endpoint(id).address; }
const std::string& Network::label(EndpointId id) const { return st_->endpoint(id).label; }

void Network::set_policy(EndpointId id, EgressPolicy policy) {
  auto& st = *st_;
  Endpoint& ep = st.live_endpoint(id, "set_policy");
  if (policy.internet != ep.policy.internet)
    throw std::invalid_argument(fmt::format(
        "Network::set_policy: container '{}' was started with internet={}; changing enableInternet needs a restart "
        "(platform-facts §7.2, §8 item 38) — host lists and handlers change live",
        ep.label, ep.policy.internet));
  ep.policy = normalized(std::move(policy));
  st.sim.record("net", "policy",
                {{"endpoint", id},
                 {"label", ep.label},
                 {"allowed_hosts", static_cast<int64_t>(ep.policy.allowed_hosts.size())},
                 {"denied_hosts", static_cast<int64_t>(ep.policy.denied_hosts.size())},
                 {"handlers", static_cast<int64_t>(ep.policy.outbound_by_host.size() + ep.policy.outbound_by_host_override.size() +
                                                   (ep.policy.outbound ? 1 : 0))}});
}

const EgressPolicy& Network::policy(EndpointId id) const { return st_->endpoint(id).policy; }

Response Network::fetch(EndpointId from, Request req) {
  auto keep = st_;  // the state outlives this call even if the Network goes away meanwhile
  NetState& st = *keep;
  if (!st.sim.in_fiber()) throw SimError("Network::fetch must be called from a fiber (it blocks for the link latency)");
  Endpoint& ep = st.live_endpoint(from, "fetch");
  const std::string host = normalize_hostname(req.host());
  if (host.empty()) throw std::invalid_argument(fmt::format("Network::fetch: URL '{}' has no host", req.url));
  const std::string label = ep.label, method = req.method;
  const int64_t bytes_before = ep.egress_bytes;
  const Time start = st.sim.now();
  std::string route;
  auto finish = [&](std::optional<int> status, const NetError* err) {
    const int64_t bytes = st.endpoint(from).egress_bytes - bytes_before;
    std::vector<Field> f{{"from", label}, {"host", host}, {"method", method}, {"route", route}};
    if (status) f.emplace_back("status", *status);
    if (err) f.emplace_back("error", to_string(err->kind()));
    f.emplace_back("bytes", bytes);
    f.emplace_back("took", st.sim.now() - start);
    st.sim.record_phase("net", "fetch", Phase::instant, f);
  };
  try {
    const EgressDecision d = decide_egress(ep.policy, host, req, ep.address, st.opts.dns_without_internet);
    route = d.trace_route;
    Response r = st.follow_route(from, ep, d, host, std::move(req));
    finish(r.status, nullptr);
    return r;
  } catch (const NetError& e) {
    finish(std::nullopt, &e);
    throw;
  }
}

int64_t Network::egress_bytes(EndpointId id) const { return st_->endpoint(id).egress_bytes; }
int64_t Network::total_egress_bytes() const { return st_->total_egress; }

// --- faults ----------------------------------------------------------------------------------------

void Network::partition(std::string_view service) {
  Service& s = st_->service(service, "partition");
  s.partitioned = true;
  ++s.partition_generation;
  st_->sim.record("net", "partition", {{"service", s.name}});
}

void Network::heal(std::string_view service) {
  Service& s = st_->service(service, "heal");
  s.partitioned = false;
  ++s.partition_generation;
  st_->sim.record("net", "heal", {{"service", s.name}});
}

void Network::set_loss(std::string_view service, uint64_t parts_per_million) {
  Service& s = st_->service(service, "set_loss");
  if (parts_per_million > 1'000'000)
    throw std::invalid_argument(fmt::format("Network::set_loss: {} ppm for '{}' is above 1000000", parts_per_million, s.name));
  s.loss_ppm = parts_per_million;
  st_->sim.record("net", "loss", {{"service", s.name}, {"ppm", parts_per_million}});
}

void Network::slow(std::string_view service, int64_t latency_percent) {
  Service& s = st_->service(service, "slow");
  if (latency_percent < 1 || latency_percent > 1'000'000)
    throw std::invalid_argument(
        fmt::format("Network::slow: latency_percent {} for '{}' is not in 1..1000000", latency_percent, s.name));
  s.slow_percent = latency_percent;
  st_->sim.record("net", "slow", {{"service", s.name}, {"percent", latency_percent}});
}

void Network::partition_for(std::string_view service, Duration d) {
  Service& s = st_->service(service, "partition_for");
  s.partitioned = true;
  const uint64_t gen = ++s.partition_generation;
  st_->sim.record("net", "partition", {{"service", s.name}, {"heal_after", d}});
  std::weak_ptr<NetState> weak = st_;
  st_->sim.call_after(d, [weak, name = s.name, gen] {
    auto st = weak.lock();
    if (!st) return;
    auto it = st->services.find(name);
    CFSIM_ASSERT(it != st->services.end());  // services are never removed
    Service& s2 = it->second;
    if (s2.partition_generation != gen) return;  // healed or re-partitioned meanwhile
    s2.partitioned = false;
    ++s2.partition_generation;
    st->sim.record("net", "heal", {{"service", name}});
  });
}

std::vector<std::string> Network::service_names() const {
  std::vector<std::string> names;
  for (const auto& [n, s] : st_->services) names.push_back(n);
  return names;
}


void Network::attach_fault_knobs(const NetFaultKnobs* knobs) { st_->knobs = knobs; }

}  // namespace cfsim
