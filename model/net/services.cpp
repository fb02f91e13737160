// The simulated external services a container reaches (platform-facts.md §7): HTTP APIs and
// key-value databases on port 5432, their registration, the HTTP round trip to a service, and the
// database connections. Their fault model is the network's (network.h): partitions hang a
// request until unreachable_timeout, loss resets it, slow links stretch its latency, and a
// database connection whose query timed out or was reset is closed.

#include <fmt/format.h>

#include "model/net/net_state.h"
#include "sim/assert.h"

namespace cfsim {

namespace {

using Kind = NetError::Kind;

int64_t request_bytes(const Request& r) {
  int64_t n = static_cast<int64_t>(r.method.size() + r.url.size() + r.body.size());
  for (const auto& [k, v] : r.headers.fields()) n += static_cast<int64_t>(k.size() + v.size());
  return n;
}

void check_latency(const Lognormal& l, std::string_view name) {
  if (l.median < Duration::zero() || !(l.sigma >= 0) || l.sigma > 100)
    throw std::invalid_argument(fmt::format("service '{}': latency median {} must be >= 0 and sigma {} in [0, 100]",
                                            name, format_duration(l.median), l.sigma));
}

}  // namespace

namespace detail {

Service& NetState::resolve(std::string_view host, HostKind kind) {
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

Response NetState::http_to_service(EndpointId from, Service& s, Request req) {
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
  auto conn_it = st->conns.find(id);
  CFSIM_ASSERT(conn_it != st->conns.end());  // open() found it
  const Conn& c = conn_it->second;
  const EndpointId from = c.from;
  auto service_it = st->services.find(c.db);
  CFSIM_ASSERT(service_it != st->services.end());  // services are never removed
  Service& s = service_it->second;
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

void Network::add_http_service(std::string dns_name, HttpHandler handler, Lognormal latency) {
  auto& st = *st_;
  std::string name = normalize_hostname(dns_name);
  if (name.empty()) throw std::invalid_argument(fmt::format("Network::add_http_service: empty name '{}'", dns_name));
  if (!handler) throw std::invalid_argument(fmt::format("Network::add_http_service: '{}' needs a handler", name));
  if (st.services.contains(name)) throw std::invalid_argument(fmt::format("Network: service '{}' already exists", name));
  check_latency(latency, name);
  st.services.emplace(std::piecewise_construct, std::forward_as_tuple(name),
                      std::forward_as_tuple(st.sim, name, false, std::move(handler), 0, latency));
}

void Network::add_database(std::string dns_name, int max_connections, Lognormal latency) {
  auto& st = *st_;
  std::string name = normalize_hostname(dns_name);
  if (name.empty()) throw std::invalid_argument(fmt::format("Network::add_database: empty name '{}'", dns_name));
  if (max_connections < 1)
    throw std::invalid_argument(fmt::format("Network::add_database: '{}' max_connections {} must be >= 1", name, max_connections));
  if (st.services.contains(name)) throw std::invalid_argument(fmt::format("Network: service '{}' already exists", name));
  check_latency(latency, name);
  st.services.emplace(std::piecewise_construct, std::forward_as_tuple(name),
                      std::forward_as_tuple(st.sim, name, true, HttpHandler{}, max_connections, latency));
}

std::optional<std::string> Network::database_get(std::string_view db, std::string_view key) const {
  auto it = st_->services.find(normalize_hostname(db));
  if (it == st_->services.end() || !it->second.is_db)
    throw std::invalid_argument(fmt::format("Network::database_get: '{}' is not a registered database", db));
  auto v = it->second.store.find(std::string(key));
  if (v == it->second.store.end()) return std::nullopt;
  return v->second;
}

bool Network::has_service(std::string_view dns_name) const { return st_->services.contains(normalize_hostname(dns_name)); }

int Network::open_connections(std::string_view db_name) const {
  return st_->service(db_name, "open_connections").open_connections;
}

DbConnection Network::connect_db(EndpointId from, std::string_view host_in, int port) {
  auto keep = st_;
  NetState& st = *keep;
  if (!st.sim.in_fiber()) throw SimError("Network::connect_db must be called from a fiber (it blocks for a round trip)");
  Endpoint& ep = st.live_endpoint(from, "connect_db");
  const std::string host = normalize_hostname(host_in);
  if (host.empty()) throw std::invalid_argument("Network::connect_db: empty host");
  if (port < 1 || port > 65535) throw std::invalid_argument(fmt::format("Network::connect_db: port {} is not in 1..65535", port));
  const std::string label = ep.label;
  const Time sent = st.sim.now();
  auto record = [&](std::string_view result, int open) {
    st.sim.record("net", "connect",
                  {{"from", label}, {"host", host}, {"port", port}, {"result", result}, {"open", open}, {"took", st.sim.now() - sent}});
  };
  try {
    HostKind kind = classify_host(host, ep.address);
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

}  // namespace cfsim
