#pragma once
// The egress decision of one container instance (platform-facts.md §7.2, §1.2 enableInternet, §8
// items 37-38): given the instance's EgressPolicy, the host and the request, which route an
// outbound HTTP request takes — a handler, the proxy's 520, the internet, no route, no DNS, or a
// denied https request — in the order of the SDK's ContainerProxy.fetch. A pure function: it
// touches no network state, draws nothing and sleeps nowhere; Network::fetch (network.h) carries
// the decision out (latency, faults, errors, trace).
//
// Fault model: none here. The decision is the same for every seed; what can go wrong on the route
// it picks (partitions, loss, slow links) is the network's (network.h).

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "model/http/http.h"

namespace cfsim {

using HttpHandler = std::function<Response(const Request&)>;

// The outbound configuration of one container instance, as the SDK's Container class holds it
// (enableInternet, allowedHosts, deniedHosts, outboundByHost, outbound). Host patterns are globs
// where '*' matches any run of characters; hostnames and patterns are normalised by stripping
// trailing dots and lowering ASCII case (DNS names are case-insensitive).
struct EgressPolicy {
  bool internet = false;  // raw ctx.container default (§1.2); the Container class defaults to true
  std::vector<std::string> allowed_hosts, denied_hosts;
  // Exact names first, then globs; among several matching globs the first in key (byte) order
  // wins (the SDK walks its object in insertion order, which a std::map does not keep).
  std::map<std::string, HttpHandler> outbound_by_host;
  HttpHandler outbound;                                  // catch-all handler (empty: none)
  // Per-host handlers set at run time (the SDK's setOutboundByHost): consulted before
  // outbound_by_host, exact then glob, so a run-time glob beats a static exact name, as in
  // ContainerProxy.fetch (§7.2). The run-time catch-all needs no field of its own: it replaces
  // `outbound` (the SDK tries it first, and either one ends the search).
  std::map<std::string, HttpHandler> outbound_by_host_override;
  // Do host lists and handlers see https:// requests? The SDK intercepts HTTPS only with
  // interceptHttps (§7.2); without it an https request goes straight to the network: the
  // internet if on, else NetError denied (no proxy answers it). true (the default) puts every
  // request on the proxy path; the SDK's Container class sets its intercept_https (default false).
  bool intercept_https = true;
};

// The SDK's host matching (§7.2): normalizeHostname (strip trailing dots; cfsim also lowers ASCII
// case) and simpleGlobMatch ('*' matches any run of characters, possibly empty; no other
// metacharacters). The pattern is matched as given: normalise both sides first.
std::string normalize_hostname(std::string_view host);
bool host_glob_match(std::string_view pattern, std::string_view host);

// Every container sees its own interface as this address (§7.1, A12); Network::kOwnInterfaceAddress.
inline constexpr std::string_view kOwnInterfaceAddress = "10.0.0.1";

// What a (normalised) host names, for routing: a DNS name, this container itself (localhost,
// 127.x, [::1], 10.0.0.1 or `own_address`), a container's private address (10.x, [fd..]), or
// another literal IP.
enum class HostKind { name, loopback, container_private, other_ip };
HostKind classify_host(std::string_view host, std::string_view own_address);

// Where an outbound HTTP request goes.
enum class EgressRoute {
  denied,        // the proxy answers 520 "Origin is disallowed" (`reason` says why)
  handler,       // an intercept handler answers (`handler`)
  no_route,      // loopback or a container address: NetError refused / no_route (§7.3)
  internet,      // the network carries it to the service the host names (or fails to resolve it)
  dns_timeout,   // internet off and no DNS on this platform version (A16): NetError dns after dns_timeout
  https_denied,  // https the policy does not intercept, internet off: a name is resolved, then NetError denied
};
const char* to_string(EgressRoute r);

struct EgressDecision {
  EgressRoute route = EgressRoute::denied;
  std::string trace_route;  // the "route" field of the net/fetch record: proxy, override:<p>, handler:<p>, network, internet, dns
  std::string reason;       // denied: why (the net/denied record's reason)
  const HttpHandler* handler = nullptr;  // handler: the policy's entry (valid while the policy is unchanged)
  HostKind host_kind = HostKind::name;
  bool proxied = false;  // the request went through the proxy's lists and handlers (not an unintercepted https one)
};

// The decision order of the SDK's ContainerProxy.fetch (§7.2), for `host` (normalised) and `req`
// from a container whose own address is `own_address`:
// 1. https and !intercept_https: no proxy sees it. Loopback or a container address => no_route;
//    internet => internet; else dns_timeout (a name, !dns_without_internet) or https_denied.
// 2. denied_hosts matches => denied (even with internet on).
// 3. allowed_hosts set and no match => denied; a match makes the host allowlisted.
// 4. outbound_by_host_override, exact then glob => handler; then outbound_by_host, exact then
//    glob => handler; then the catch-all `outbound` => handler.
// 5. Loopback or a container address => no_route.
// 6. allowlisted or internet => internet.
// 7. A name, internet off and !dns_without_internet => dns_timeout.
// 8. Otherwise => denied (internet off, no handler or allowlist entry takes it: §8 item 37).
EgressDecision decide_egress(const EgressPolicy& policy, std::string_view host, const Request& req,
                             std::string_view own_address, bool dns_without_internet);

}  // namespace cfsim
