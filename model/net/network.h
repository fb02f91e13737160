#pragma once
// The network of the platform model: container addresses and isolation, egress to simulated
// external services (HTTP APIs and databases, services.cpp), DNS, latency per link; the SDK's
// outbound decision order is egress.h's decide_egress, carried out here — after platform-facts.md
// §7 (all), §1.2 (enableInternet), §8 items 37-38.
//
// Fault model. What can go wrong, and what the model promises:
// - A service can be partitioned away (fault verb "net-partition"). A request or query that meets the
//   partition — when it is sent, when it would arrive, or when its reply would come back — is
//   lost: the caller hangs until `unreachable_timeout` after it sent it, then gets NetError
//   timeout. Healing does not rescue a request already lost; requests sent after heal() go through.
//   A database connection whose query timed out or was reset is closed (its slot is freed).
// - A link can lose requests (fault verb "net-loss", loss_ppm): a lost request fails with
//   NetError reset after its one-way latency, and reaches nothing (no handler runs, no write).
// - A link can be slowed (fault verb "net-slow-link", latency_percent): every one-way latency drawn for it is
//   multiplied by percent/100.
// - Nothing else fails on its own: no duplicates, no reordering within one request, no corruption.
//   Latency draws come from one stream per service ("net/<service>"), loss draws from another
//   ("net/<service>/loss"), so switching loss on does not change anyone's latencies.
//
// What is a 520 Response and what is a thrown NetError (fetch):
// - 520 "Origin is disallowed" (the SDK's ContainerProxy answers; no byte leaves Cloudflare):
//   a deniedHosts match (even with internet on); allowedHosts set and no match; internet off, no
//   handler and the host not allowlisted (§8 item 37). An https request that the policy does not
//   intercept (intercept_https false) meets no proxy: with internet off it is NetError denied.
// - NetError no_route: a literal container address (10.x.y.z) not taken by a handler — containers
//   cannot reach each other (§7.3) — and a literal IP where no simulated service lives.
// - NetError refused: loopback (localhost, 127.x, 10.0.0.1, the own address: the container runtime
//   serves those, not the network), an HTTP request to a database, connect_db to an HTTP service or
//   to a port other than 5432.
// - NetError dns: a hostname no service registered, on the internet path; and, with internet off,
//   no handler and `dns_without_internet == false` (older platform, A16), any hostname, after
//   `dns_timeout`.
// - NetError denied: connect_db with internet off (§7.2: everything but DNS is denied). The SDK's
//   host lists and handlers see HTTP only (§7.2), so they do not apply to connect_db.
// - NetError timeout / reset: partitions and loss, above.
//
// Trace records, category "net": attach, detach, policy; fetch {from, host, method, route
// ("proxy" | "override:<pattern>" | "handler:<pattern>" | "network" | "internet" | "dns"), status
// or error, bytes, took};
// denied {from, host, reason}; handler-error, service-error; connect {from, host, port, result,
// open, took}; query {from, db, op, result or error}; close {conn, db, why}; partition, heal,
// loss, slow.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/http/http.h"
#include "model/net/egress.h"
#include "sim/fault_injector.h"
#include "sim/random.h"
#include "sim/scheduler.h"
#include "sim/time.h"

namespace cfsim {

class NetError : public std::runtime_error {
 public:
  enum class Kind { no_route, refused, timeout, dns, denied, reset, too_many_connections };
  NetError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};
const char* to_string(NetError::Kind k);  // "no_route", "refused", ...

// A link's one-way latency unless add_http_service / add_database are given one: lognormal,
// median 20 ms, sigma 0.5 (an assumption for a nearby internet service).
inline constexpr Lognormal kDefaultLinkLatency = {Duration::millis(20), 0.5};

// Version-dependent or assumed figures; every field carries its unit.
struct NetworkOptions {
  // With internet off, is DNS answered? Current docs (A9): yes, by Cloudflare's resolvers. Older
  // docs (A16): no DNS at all — then a fetch by hostname that no handler takes fails with
  // NetError dns after `dns_timeout` (instead of the proxy's 520), and so does connect_db.
  bool dns_without_internet = true;
  // How long a request lost to a partition hangs before NetError timeout (a client's usual
  // connect/read timeout; alchemy#85 reports hangs rather than fast failures).
  Duration unreachable_timeout = Duration::seconds(30);
  // How long a lookup waits when no DNS is available (glibc: 5 s x 2 attempts).
  Duration dns_timeout = Duration::seconds(10);
};

// NetworkOptions as key/value pairs for SimOptions::run_info, so the trace alone replays the run.
std::vector<std::pair<std::string, std::string>> run_info(const NetworkOptions& o);

class Network;
namespace detail {
struct NetState;
}

// A TCP connection to a simulated database. Move-only; closed on destruction, by close(), when its
// endpoint detaches, and after a query times out or is reset.
class DbConnection {
 public:
  DbConnection() = default;
  DbConnection(DbConnection&& o) noexcept;
  DbConnection& operator=(DbConnection&& o) noexcept;
  DbConnection(const DbConnection&) = delete;
  DbConnection& operator=(const DbConnection&) = delete;
  ~DbConnection();

  // One round trip from a fiber. Commands: "SET k v" -> "OK" (v is the rest of the line),
  // "GET k" -> the value or "(nil)", "DEL k" -> "1" or "0"; anything else -> "ERR ...".
  // NetError reset if the connection is closed; timeout/reset under faults (see the top).
  std::string query(std::string_view q);
  void close();
  bool open() const;

 private:
  friend class Network;
  DbConnection(std::weak_ptr<detail::NetState> st, uint64_t id) : st_(std::move(st)), id_(id) {}
  std::weak_ptr<detail::NetState> st_;
  uint64_t id_ = 0;
};

using EndpointId = uint32_t;

// What this seam's fault knobs and buggify sites change (model/net/faults.h fills it in once a plan
// is applied; a network outside a World keeps the defaults: no change).
struct NetFaultKnobs {
  int64_t latency_percent = 100;  // net.latency_percent: every link's latency x N/100 (on top of net-slow-link)
  int64_t loss_ppm = 0;           // net.loss_ppm: added to every service's own loss rate
  FaultInjector* buggify = nullptr;  // the run's buggify sites ("net.dropped_connection"), if any
};

class Network {
 public:
  // Every container sees its own interface as this address (§7.1, A12); address() is the unique
  // address the network knows it by.
  static constexpr std::string_view kOwnInterfaceAddress = cfsim::kOwnInterfaceAddress;
  static constexpr int kDatabasePort = 5432;

  explicit Network(Simulator& sim, NetworkOptions options = {});
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const NetworkOptions& options() const;

  // --- endpoints: one per running container instance ----------------------------------------
  // A container instance starts: it gets a fresh private address 10.a.b.c (never reused).
  EndpointId attach(std::string label, EgressPolicy policy);
  // The instance stopped: its database connections close. Its counters stay readable.
  void detach(EndpointId id);
  bool attached(EndpointId id) const;
  std::string address(EndpointId id) const;
  const std::string& label(EndpointId id) const;
  // Live change of host lists and handlers (§8 item 38). `internet` is fixed at attach: a
  // different value throws std::invalid_argument saying a restart is needed.
  void set_policy(EndpointId id, EgressPolicy policy);
  const EgressPolicy& policy(EndpointId id) const;  // as stored (normalised patterns)

  // --- simulated external services (one DNS namespace; names are unique) ---------------------
  // `handler` runs in a fiber of its own per request, so it may sleep. An exception it throws
  // becomes a 500 Response (a crashing server).
  void add_http_service(std::string dns_name, HttpHandler handler, Lognormal latency = kDefaultLinkLatency);
  // A key-value database on port 5432 accepting at most `max_connections` (>= 1) at once.
  void add_database(std::string dns_name, int max_connections, Lognormal latency = kDefaultLinkLatency);
  bool has_service(std::string_view dns_name) const;
  // For a harness's final check, not for app code (which goes through connect_db): the value the
  // database `db` holds for `key` right now, or nullopt — no latency, no faults, nothing recorded.
  // The external service's own state, as a test would read it from the real database.
  // std::invalid_argument if `db` is not a registered database.
  std::optional<std::string> database_get(std::string_view db, std::string_view key) const;
  int open_connections(std::string_view db_name) const;

  // --- egress ---------------------------------------------------------------------------------------
  // From a fiber. The route is decide_egress's (egress.h: the order of the SDK's
  // ContainerProxy.fetch, §7.2): deniedHosts => 520; allowedHosts set and no match => 520;
  // outbound_by_host_override, then outbound_by_host (each exact, then glob) => handler; outbound
  // => handler; allowlisted or internet => the service (latency each way); else 520. An https
  // request with intercept_https false skips the lists and handlers: internet => the service,
  // else NetError denied.
  // Handlers run in the caller's fiber and take no network time. See the top for errors.
  Response fetch(EndpointId from, Request req);
  // From a fiber: one round trip. Throws NetError too_many_connections at the database's limit.
  DbConnection connect_db(EndpointId from, std::string_view host, int port = kDatabasePort);

  // Bytes that left the endpoint for the internet: for each HTTP request sent to a service
  // (including ones then lost to faults) the sum of the sizes of method, URL, every header name
  // and value, and body (no framing); for each query sent, its length. Requests answered by
  // handlers or by the proxy's 520, and failed lookups/routes, count nothing.
  int64_t egress_bytes(EndpointId id) const;
  int64_t total_egress_bytes() const;

  // --- faults ------------------------------------------------------------------------------------------
  void partition(std::string_view service);
  void heal(std::string_view service);
  void set_loss(std::string_view service, uint64_t parts_per_million);  // <= 1'000'000
  void slow(std::string_view service, int64_t latency_percent);         // 1..1'000'000; 100 = normal
  // Partitions `service` and heals it `d` later, unless it was healed or partitioned again meanwhile.
  void partition_for(std::string_view service, Duration d);
  // The registered services (HTTP and databases), by name.
  std::vector<std::string> service_names() const;
  // The knobs every link reads (World attaches its own; it must outlive the network). The fault
  // verbs and knobs themselves are registered by model/net/faults.h.
  void attach_fault_knobs(const NetFaultKnobs* knobs);

 private:
  std::shared_ptr<detail::NetState> st_;
};

}  // namespace cfsim
