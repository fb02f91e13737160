#include "model/net/network.h"

#include <fmt/format.h>

#include <optional>

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

namespace {

using Kind = NetError::Kind;

// Strips trailing dots (as the SDK's normalizeHostname) and lowers ASCII case (DNS names are
// case-insensitive).
std::string normalize_host(std::string_view h) {
  while (!h.empty() && h.back() == '.') h.remove_suffix(1);
  std::string out(h);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

// '*' matches any run of characters (possibly empty), as the SDK's simpleGlobMatch.
bool glob_match(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pat.size() && pat[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

const std::string* first_match(const std::vector<std::string>& patterns, std::string_view host) {
  for (const auto& p : patterns)
    if (glob_match(p, host)) return &p;
  return nullptr;
}

bool parse_ipv4(std::string_view s, int (&o)[4]) {
  int n = 0;
  size_t i = 0;
  while (n < 4) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    int v = 0, digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 4) v = v * 10 + (s[i++] - '0'), ++digits;
    if (digits > 3 || v > 255) return false;
    o[n++] = v;
    if (n < 4) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

enum class HostKind { name, loopback, container_private, other_ip };

HostKind classify(std::string_view host, std::string_view own_address) {
  if (host == "localhost" || host == "[::1]" || host == Network::kOwnInterfaceAddress || host == own_address)
    return HostKind::loopback;
  if (!host.empty() && host.front() == '[') return host.starts_with("[fd") ? HostKind::container_private : HostKind::other_ip;
  int o[4];
  if (!parse_ipv4(host, o)) return HostKind::name;
  if (o[0] == 127) return HostKind::loopback;
  if (o[0] == 10) return HostKind::container_private;
  return HostKind::other_ip;
}

int64_t request_bytes(const Request& r) {
  int64_t n = static_cast<int64_t>(r.method.size() + r.url.size() + r.body.size());
  for (const auto& [k, v] : r.headers.fields()) n += static_cast<int64_t>(k.size() + v.size());
  return n;
}

void check_latency(const LinkLatency& l, std::string_view name) {
  if (l.median < Duration::zero() || !(l.sigma >= 0) || l.sigma > 100)
    throw std::invalid_argument(fmt::format("service '{}': latency median {} must be >= 0 and sigma {} in [0, 100]",
                                            name, format_duration(l.median), l.sigma));
}

}  // namespace

std::string normalize_hostname(std::string_view host) { return normalize_host(host); }
bool host_glob_match(std::string_view pattern, std::string_view host) { return glob_match(pattern, host); }

std::vector<std::pair<std::string, std::string>> run_info(const NetworkOptions& o) {
  return {{"net.dns_without_internet", o.dns_without_internet ? "true" : "false"},
          {"net.unreachable_timeout", format_duration(o.unreachable_timeout)},
          {"net.dns_timeout", format_duration(o.dns_timeout)}};
}

namespace detail {

struct Service {
  Service(Simulator& sim, std::string n, bool db, HttpHandler h, int max_conn, LinkLatency lat)
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
  LinkLatency latency;
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
    auto it = services.find(normalize_host(name));
    if (it != services.end()) return it->second;
    std::string known;
    for (const auto& [n, s] : services) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument(
        fmt::format("Network::{}: no service '{}' (registered: {})", op, name, known.empty() ? "none" : known));
  }

  Duration draw_latency(Service& s) {
    Duration d = s.latency_rng.lognormal(s.latency.median, s.latency.sigma);
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
    sim.record("net", "close", {{"conn", id}, {"db", it->second.db}, {"why", why}});
  }

  Response deny(const Endpoint& ep, std::string_view host, std::string_view reason) {
    sim.record("net", "denied", {{"from", ep.label}, {"host", host}, {"reason", reason}});
    return Response(520, "Origin is disallowed");
  }

  Response call_handler(const HttpHandler& h, const Request& req, const Endpoint& ep, std::string_view host) {
    HttpHandler copy = h;  // the handler may replace the policy that holds it
    std::string label = ep.label;
    try {
      return copy(req);
    } catch (const std::exception& e) {
      sim.record("net", "handler-error", {{"from", label}, {"host", host}, {"error", e.what()}});
      return Response(500, std::string("outbound handler threw: ") + e.what());
    }
  }

  // Where a route for a name or IP ends: a service, or a NetError.
  Service& resolve(std::string_view host, HostKind kind) {
    if (kind == HostKind::other_ip)
      throw NetError(Kind::no_route, fmt::format("no route to {}: no simulated service lives at that address", host));
    auto it = services.find(host);
    if (it == services.end()) {
      std::string known;
      for (const auto& [n, s] : services) known += (known.empty() ? "" : ", ") + n;
      throw NetError(Kind::dns, fmt::format("could not resolve host '{}': no simulated service has that name (registered: {})",
                                            host, known.empty() ? "none" : known));
    }
    return it->second;
  }

  [[noreturn]] void unroutable(const Endpoint& ep, std::string_view host, HostKind kind) {
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

  Response http_to_service(EndpointId from, Service& s, Request req) {
    if (s.is_db)
      throw NetError(Kind::refused, fmt::format("connection refused: '{}' is a database (port {}), not an HTTP service",
                                                s.name, Network::kDatabasePort));
    Time sent = sim.now();
    count_egress(from, request_bytes(req));
    if (s.partitioned) hang(s, sent, "request");
    bool drop = lost(s);
    sim.sleep_for(draw_latency(s));
    if (drop) throw NetError(Kind::reset, fmt::format("connection to '{}' reset: request lost on the link", s.name));
    if (s.partitioned) hang(s, sent, "request");
    // The server handles the request in a fiber of its own, so that it may sleep.
    auto result = std::make_shared<Response>();
    Simulator* simp = &sim;
    std::string fiber_name = fmt::format("net/{}#{}", s.name, ++s.requests);
    FiberHandle server = sim.spawn(fiber_name, [simp, result, handler = s.handler, r = std::move(req), name = s.name] {
      try {
        *result = handler(r);
      } catch (const std::exception& e) {
        simp->record("net", "service-error", {{"service", name}, {"error", e.what()}});
        *result = Response(500, std::string("internal server error: ") + e.what());
      }
    });
    server.join();
    sim.sleep_for(draw_latency(s));
    if (s.partitioned) hang(s, sent, "reply");
    if (reply_dropped()) throw NetError(Kind::reset, fmt::format("connection to '{}' reset: it dropped before the reply arrived", s.name));
    return std::move(*result);
  }
};

}  // namespace detail

using detail::Conn;
using detail::Endpoint;
using detail::NetState;
using detail::Service;

// --- DbConnection ---------------------------------------------------------------------------------

DbConnection::DbConnection(DbConnection&& o) noexcept : st_(std::move(o.st_)), id_(o.id_) { o.id_ = 0; }

DbConnection& DbConnection::operator=(DbConnection&& o) noexcept {
  if (this != &o) {
    close();
    st_ = std::move(o.st_);
    id_ = o.id_;
    o.id_ = 0;
  }
  return *this;
}

DbConnection::~DbConnection() { close(); }

bool DbConnection::open() const {
  auto st = st_.lock();
  if (!st || id_ == 0) return false;
  auto it = st->conns.find(id_);
  return it != st->conns.end() && it->second.open;
}

void DbConnection::close() {
  if (auto st = st_.lock(); st && id_ != 0) st->close_conn(id_, "closed");
}

std::string DbConnection::query(std::string_view q) {
  auto st = st_.lock();
  if (!st || id_ == 0 || !open())
    throw NetError(NetError::Kind::reset, fmt::format("query '{}' on a closed database connection", q));
  if (!st->sim.in_fiber()) throw SimError("DbConnection::query must be called from a fiber (it blocks for a round trip)");
  const uint64_t id = id_;
  const Conn& c = st->conns.find(id)->second;
  const EndpointId from = c.from;
  Service& s = st->services.find(c.db)->second;
  const std::string label = st->endpoint(from).label;
  std::string op(q.substr(0, q.find(' ')));
  Time sent = st->sim.now();
  // A query that meets a partition or a reset breaks the connection: it is closed first.
  auto timeout = [&](std::string_view what) {
    st->close_conn(id, "timeout");
    st->hang(s, sent, what);
  };
  auto still_open = [&](std::string_view when) {
    if (!open())
      throw NetError(NetError::Kind::reset, fmt::format("connection to database '{}' closed {}", s.name, when));
  };
  std::string result;
  try {
    st->count_egress(from, static_cast<int64_t>(q.size()));
    if (s.partitioned) timeout("query");
    bool drop = st->lost(s);
    st->sim.sleep_for(st->draw_latency(s));
    if (drop) {
      st->close_conn(id, "reset");
      throw NetError(NetError::Kind::reset, fmt::format("connection to database '{}' reset: query lost on the link", s.name));
    }
    if (s.partitioned) timeout("query");
    still_open("while the query was in flight");
    // The server runs the command on arrival.
    std::string_view rest = q.size() > op.size() ? q.substr(op.size() + 1) : std::string_view();
    if (op == "SET" && rest.find(' ') != std::string_view::npos && rest.find(' ') > 0) {
      size_t sp = rest.find(' ');
      s.store[std::string(rest.substr(0, sp))] = std::string(rest.substr(sp + 1));
      result = "OK";
    } else if (op == "GET" && !rest.empty()) {
      auto it = s.store.find(std::string(rest));
      result = it == s.store.end() ? "(nil)" : it->second;
    } else if (op == "DEL" && !rest.empty()) {
      result = s.store.erase(std::string(rest)) ? "1" : "0";
    } else {
      result = fmt::format("ERR unknown or malformed command '{}' (use SET k v, GET k, DEL k)", q);
    }
    st->sim.sleep_for(st->draw_latency(s));
    if (s.partitioned) timeout("query reply");
    still_open("before the reply came");
  } catch (const NetError& e) {
    st->sim.record("net", "query", {{"from", label}, {"db", s.name}, {"op", op}, {"error", to_string(e.kind())}});
    throw;
  }
  st->sim.record("net", "query", {{"from", label}, {"db", s.name}, {"op", op}, {"result", result}});
  return result;
}

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
  for (auto& h : p.allowed_hosts) h = normalize_host(h);
  for (auto& h : p.denied_hosts) h = normalize_host(h);
  auto normalize_keys = [](std::map<std::string, HttpHandler>& m, const char* field) {
    std::map<std::string, HttpHandler> by_host;
    for (auto& [k, v] : m) {
      if (!v) throw std::invalid_argument(fmt::format("EgressPolicy: {}['{}'] has an empty handler", field, k));
      by_host[normalize_host(k)] = std::move(v);
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

void Network::add_http_service(std::string dns_name, HttpHandler handler, LinkLatency latency) {
  auto& st = *st_;
  std::string name = normalize_host(dns_name);
  if (name.empty()) throw std::invalid_argument(fmt::format("Network::add_http_service: empty name '{}'", dns_name));
  if (!handler) throw std::invalid_argument(fmt::format("Network::add_http_service: '{}' needs a handler", name));
  if (st.services.contains(name)) throw std::invalid_argument(fmt::format("Network: service '{}' already exists", name));
  check_latency(latency, name);
  st.services.emplace(std::piecewise_construct, std::forward_as_tuple(name),
                      std::forward_as_tuple(st.sim, name, false, std::move(handler), 0, latency));
}

void Network::add_database(std::string dns_name, int max_connections, LinkLatency latency) {
  auto& st = *st_;
  std::string name = normalize_host(dns_name);
  if (name.empty()) throw std::invalid_argument(fmt::format("Network::add_database: empty name '{}'", dns_name));
  if (max_connections < 1)
    throw std::invalid_argument(fmt::format("Network::add_database: '{}' max_connections {} must be >= 1", name, max_connections));
  if (st.services.contains(name)) throw std::invalid_argument(fmt::format("Network: service '{}' already exists", name));
  check_latency(latency, name);
  st.services.emplace(std::piecewise_construct, std::forward_as_tuple(name),
                      std::forward_as_tuple(st.sim, name, true, HttpHandler{}, max_connections, latency));
}

bool Network::has_service(std::string_view dns_name) const { return st_->services.contains(normalize_host(dns_name)); }

int Network::open_connections(std::string_view db_name) const {
  return st_->service(db_name, "open_connections").open_connections;
}

Response Network::fetch(EndpointId from, Request req) {
  auto keep = st_;  // the state outlives this call even if the Network goes away meanwhile
  NetState& st = *keep;
  if (!st.sim.in_fiber()) throw SimError("Network::fetch must be called from a fiber (it blocks for the link latency)");
  Endpoint& ep = st.live_endpoint(from, "fetch");
  const std::string host = normalize_host(req.host());
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
    Response r = [&]() -> Response {
      const EgressPolicy& p = ep.policy;
      // Without interceptHttps no proxy sees an https request: the network alone decides (§7.2).
      if (!p.intercept_https && req.url.rfind("https:", 0) == 0) {
        HostKind kind = classify(host, ep.address);
        route = "network";
        if (kind == HostKind::loopback || kind == HostKind::container_private) st.unroutable(ep, host, kind);
        if (!p.internet) {
          // As connect_db: the name is looked up first (DNS works without internet unless the
          // platform version says otherwise), then the connection is denied.
          if (!st.opts.dns_without_internet && kind == HostKind::name) {
            route = "dns";
            st.sim.sleep_for(st.opts.dns_timeout);
            throw NetError(Kind::dns, fmt::format("could not resolve host '{}': no DNS without internet on this platform "
                                                  "version (A16); timed out after {}",
                                                  host, format_duration(st.opts.dns_timeout)));
          }
          if (kind == HostKind::name) st.resolve(host, kind);
          throw NetError(Kind::denied, fmt::format("outbound HTTPS from container '{}' to '{}' is denied: internet is off "
                                                   "and HTTPS is not intercepted (interceptHttps is false; §7.2)",
                                                   label, host));
        }
        route = "internet";
        return st.http_to_service(from, st.resolve(host, kind), std::move(req));
      }
      // The SDK's ContainerProxy.fetch order (§7.2).
      if (const std::string* pat = first_match(p.denied_hosts, host)) {
        route = "proxy";
        return st.deny(ep, host, fmt::format("matches denied_hosts '{}'", *pat));
      }
      bool allowlisted = false;
      if (!p.allowed_hosts.empty()) {
        if (!first_match(p.allowed_hosts, host)) {
          route = "proxy";
          return st.deny(ep, host, "allowed_hosts is set and does not match");
        }
        allowlisted = true;
      }
      // Run-time per-host overrides first, then the static table; each exact, then glob.
      if (auto it = p.outbound_by_host_override.find(host); it != p.outbound_by_host_override.end()) {
        route = "override:" + it->first;
        return st.call_handler(it->second, req, ep, host);
      }
      for (const auto& [pat, h] : p.outbound_by_host_override)
        if (pat.find('*') != std::string::npos && glob_match(pat, host)) {
          route = "override:" + pat;
          return st.call_handler(h, req, ep, host);
        }
      if (auto it = p.outbound_by_host.find(host); it != p.outbound_by_host.end()) {
        route = "handler:" + it->first;
        return st.call_handler(it->second, req, ep, host);
      }
      for (const auto& [pat, h] : p.outbound_by_host)
        if (pat.find('*') != std::string::npos && glob_match(pat, host)) {
          route = "handler:" + pat;
          return st.call_handler(h, req, ep, host);
        }
      if (p.outbound) {
        route = "handler:*";
        return st.call_handler(p.outbound, req, ep, host);
      }
      HostKind kind = classify(host, ep.address);
      route = "network";
      if (kind == HostKind::loopback || kind == HostKind::container_private) st.unroutable(ep, host, kind);
      if (allowlisted || p.internet) {
        route = "internet";
        return st.http_to_service(from, st.resolve(host, kind), std::move(req));
      }
      if (!st.opts.dns_without_internet && kind == HostKind::name) {
        route = "dns";
        st.sim.sleep_for(st.opts.dns_timeout);
        throw NetError(Kind::dns, fmt::format("could not resolve host '{}': container '{}' has internet off and this "
                                              "platform version answers no DNS without internet (A16); timed out after {}",
                                              host, label, format_duration(st.opts.dns_timeout)));
      }
      route = "proxy";
      return st.deny(ep, host, "internet is off and no handler or allowlist entry takes it (§8 item 37)");
    }();
    finish(r.status, nullptr);
    return r;
  } catch (const NetError& e) {
    finish(std::nullopt, &e);
    throw;
  }
}

DbConnection Network::connect_db(EndpointId from, std::string_view host_in, int port) {
  auto keep = st_;
  NetState& st = *keep;
  if (!st.sim.in_fiber()) throw SimError("Network::connect_db must be called from a fiber (it blocks for a round trip)");
  Endpoint& ep = st.live_endpoint(from, "connect_db");
  const std::string host = normalize_host(host_in);
  if (host.empty()) throw std::invalid_argument("Network::connect_db: empty host");
  if (port < 1 || port > 65535) throw std::invalid_argument(fmt::format("Network::connect_db: port {} is not in 1..65535", port));
  const std::string label = ep.label;
  const Time sent = st.sim.now();
  auto record = [&](std::string_view result, int open) {
    st.sim.record("net", "connect",
                  {{"from", label}, {"host", host}, {"port", port}, {"result", result}, {"open", open}, {"took", st.sim.now() - sent}});
  };
  try {
    HostKind kind = classify(host, ep.address);
    if (kind == HostKind::loopback || kind == HostKind::container_private) st.unroutable(ep, host, kind);
    if (!ep.policy.internet) {
      if (!st.opts.dns_without_internet && kind == HostKind::name) {
        st.sim.sleep_for(st.opts.dns_timeout);
        throw NetError(Kind::dns, fmt::format("could not resolve host '{}': no DNS without internet on this platform "
                                              "version (A16); timed out after {}",
                                              host, format_duration(st.opts.dns_timeout)));
      }
      if (kind == HostKind::name) st.resolve(host, kind);  // an unknown name still fails as DNS first
      throw NetError(Kind::denied, fmt::format("outbound TCP from container '{}' to {}:{} is denied: internet is off "
                                               "(platform-facts §7.2, §8 item 37; handlers and host lists see HTTP only)",
                                               label, host, port));
    }
    Service& s = st.resolve(host, kind);
    if (!s.is_db)
      throw NetError(Kind::refused, fmt::format("connection to {}:{} refused: '{}' is an HTTP service", host, port, s.name));
    if (port != kDatabasePort)
      throw NetError(Kind::refused, fmt::format("connection to {}:{} refused: database '{}' listens on port {}", host, port,
                                                s.name, kDatabasePort));
    if (s.partitioned) st.hang(s, sent, "connect");
    bool drop = st.lost(s);
    st.sim.sleep_for(st.draw_latency(s));
    if (drop) throw NetError(Kind::reset, fmt::format("connection to database '{}' reset: handshake lost on the link", s.name));
    if (s.partitioned) st.hang(s, sent, "connect");
    if (s.open_connections >= s.max_connections) {
      st.sim.sleep_for(st.draw_latency(s));
      throw NetError(Kind::too_many_connections,
                     fmt::format("database '{}' refused the connection from '{}': too many clients ({} of {} in use)", s.name,
                                 label, s.open_connections, s.max_connections));
    }
    ++s.open_connections;
    const uint64_t id = st.next_conn++;
    st.conns.emplace(id, Conn{from, s.name, true});
    DbConnection conn(keep, id);  // from here on, an exception closes it
    st.sim.sleep_for(st.draw_latency(s));
    if (s.partitioned) {
      st.close_conn(id, "timeout");
      st.hang(s, sent, "connect reply");
    }
    if (!conn.open())
      throw NetError(Kind::reset, fmt::format("connection to database '{}' closed during the handshake", s.name));
    record("ok", s.open_connections);
    return conn;
  } catch (const NetError& e) {
    record(to_string(e.kind()), -1);
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
    Service& s2 = st->services.find(name)->second;
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
