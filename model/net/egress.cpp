#include "model/net/egress.h"

#include <fmt/format.h>

#include "sim/assert.h"

namespace cfsim {

namespace {

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

}  // namespace

std::string normalize_hostname(std::string_view host) { return normalize_host(host); }
bool host_glob_match(std::string_view pattern, std::string_view host) { return glob_match(pattern, host); }

HostKind classify_host(std::string_view host, std::string_view own_address) {
  if (host == "localhost" || host == "[::1]" || host == kOwnInterfaceAddress || host == own_address)
    return HostKind::loopback;
  if (!host.empty() && host.front() == '[') return host.starts_with("[fd") ? HostKind::container_private : HostKind::other_ip;
  int o[4];
  if (!parse_ipv4(host, o)) return HostKind::name;
  if (o[0] == 127) return HostKind::loopback;
  if (o[0] == 10) return HostKind::container_private;
  return HostKind::other_ip;
}


const char* to_string(EgressRoute r) {
  switch (r) {
    case EgressRoute::denied: return "denied";
    case EgressRoute::handler: return "handler";
    case EgressRoute::no_route: return "no_route";
    case EgressRoute::internet: return "internet";
    case EgressRoute::dns_timeout: return "dns_timeout";
    case EgressRoute::https_denied: return "https_denied";
  }
  return "?";
}

namespace {

EgressDecision route_to(EgressRoute r, std::string trace_route, HostKind kind, bool proxied) {
  EgressDecision d;
  d.route = r;
  d.trace_route = std::move(trace_route);
  d.host_kind = kind;
  d.proxied = proxied;
  return d;
}

EgressDecision deny(std::string reason) {
  EgressDecision d = route_to(EgressRoute::denied, "proxy", HostKind::name, true);
  d.reason = std::move(reason);
  return d;
}

EgressDecision to_handler(std::string trace_route, const HttpHandler& h) {
  EgressDecision d = route_to(EgressRoute::handler, std::move(trace_route), HostKind::name, true);
  d.handler = &h;
  CFSIM_ASSERT(h);  // Network normalises policies and rejects empty handlers in the tables
  return d;
}

// Step 1: without interceptHttps no proxy sees an https request: the network alone decides (§7.2).
EgressDecision decide_unintercepted_https(const EgressPolicy& p, std::string_view host, std::string_view own_address,
                                          bool dns_without_internet) {
  const HostKind kind = classify_host(host, own_address);
  if (kind == HostKind::loopback || kind == HostKind::container_private) return route_to(EgressRoute::no_route, "network", kind, false);
  if (p.internet) return route_to(EgressRoute::internet, "internet", kind, false);
  // As connect_db: the name is looked up first (DNS works without internet unless the platform
  // version says otherwise), then the connection is denied.
  if (!dns_without_internet && kind == HostKind::name) return route_to(EgressRoute::dns_timeout, "dns", kind, false);
  return route_to(EgressRoute::https_denied, "network", kind, false);
}

// Step 4: run-time per-host overrides first, then the static table; each exact, then glob; then
// the catch-all. Null if no handler takes the host.
const HttpHandler* find_handler(const EgressPolicy& p, std::string_view host, std::string& trace_route) {
  const std::string key(host);
  if (auto it = p.outbound_by_host_override.find(key); it != p.outbound_by_host_override.end()) {
    trace_route = "override:" + it->first;
    return &it->second;
  }
  for (const auto& [pat, h] : p.outbound_by_host_override)
    if (pat.find('*') != std::string::npos && glob_match(pat, host)) {
      trace_route = "override:" + pat;
      return &h;
    }
  if (auto it = p.outbound_by_host.find(key); it != p.outbound_by_host.end()) {
    trace_route = "handler:" + it->first;
    return &it->second;
  }
  for (const auto& [pat, h] : p.outbound_by_host)
    if (pat.find('*') != std::string::npos && glob_match(pat, host)) {
      trace_route = "handler:" + pat;
      return &h;
    }
  if (p.outbound) {
    trace_route = "handler:*";
    return &p.outbound;
  }
  return nullptr;
}

}  // namespace

EgressDecision decide_egress(const EgressPolicy& p, std::string_view host, const Request& req, std::string_view own_address,
                             bool dns_without_internet) {
  if (!p.intercept_https && req.url.rfind("https:", 0) == 0) return decide_unintercepted_https(p, host, own_address, dns_without_internet);
  // The SDK's ContainerProxy.fetch order (§7.2).
  if (const std::string* pat = first_match(p.denied_hosts, host)) return deny(fmt::format("matches denied_hosts '{}'", *pat));
  bool allowlisted = false;
  if (!p.allowed_hosts.empty()) {
    if (!first_match(p.allowed_hosts, host)) return deny("allowed_hosts is set and does not match");
    allowlisted = true;
  }
  std::string trace_route;
  if (const HttpHandler* h = find_handler(p, host, trace_route)) return to_handler(std::move(trace_route), *h);
  const HostKind kind = classify_host(host, own_address);
  if (kind == HostKind::loopback || kind == HostKind::container_private) return route_to(EgressRoute::no_route, "network", kind, true);
  if (allowlisted || p.internet) return route_to(EgressRoute::internet, "internet", kind, true);
  if (!dns_without_internet && kind == HostKind::name) return route_to(EgressRoute::dns_timeout, "dns", kind, true);
  EgressDecision d = deny("internet is off and no handler or allowlist entry takes it (§8 item 37)");
  d.host_kind = kind;
  return d;
}

}  // namespace cfsim
