// The egress decision order alone (model/net/egress.h), without a network: each step of the SDK's
// ContainerProxy.fetch (platform-facts.md §7.2, §8 items 37-38; @cloudflare/containers 0.3.7
// ContainerProxy.fetch) beats the ones after it.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §7.2 and §8 items 37-38: /containers/configuration/outbound-traffic/ (A9); @cloudflare/containers@0.3.7
//     dist/lib/container.js ContainerProxy.fetch, normalizeHostname, simpleGlobMatch. Which of several
//     matching globs wins is cfsim's stand-in (key order) for the SDK's object insertion order
//   §7.3: /containers/concepts/architecture/ (A1), /containers/platform-details/workers-connections/ (A10);
//     that no network joins container instances is UNCONFIRMED (inferred from the docs), and no route
//     for loopback or container addresses without a handler is cfsim's model, not a documented fact
//   A16 (older platforms, no DNS without internet): cloudflare/cloudflare-docs
//     src/content/partials/containers/outbound-by-host-dns-note.mdx; that a lookup then hangs (a DNS
//     timeout here) rather than failing fast is a user report,
//     https://github.com/alchemy-run/alchemy/pull/85, UNCONFIRMED by the docs
#include "model/net/egress.h"

#include <gtest/gtest.h>

using namespace cfsim;

namespace {

constexpr std::string_view kOwn = "10.0.0.7";  // the endpoint's own unique address

HttpHandler answer(int status) {
  return [status](const Request&) { return Response(status, ""); };
}

Request get(std::string url) {
  Request r;
  r.url = std::move(url);
  return r;
}

EgressDecision decide(const EgressPolicy& p, std::string_view host, std::string scheme = "http",
                      bool dns_without_internet = true) {
  return decide_egress(p, host, get(scheme + "://" + std::string(host) + "/x"), kOwn, dns_without_internet);
}

// The status the chosen handler answers with (to tell handlers apart).
int handler_status(const EgressDecision& d) {
  EXPECT_EQ(d.route, EgressRoute::handler);
  return d.handler ? (*d.handler)(Request{}).status : -1;
}

}  // namespace

// §7.2: deniedHosts is checked first, even with internet on and a handler for the host.
TEST(EgressDecision, DeniedHostsBeatEverything_S7_2) {
  EgressPolicy p;
  p.internet = true;
  p.denied_hosts = {"*.evil.example"};
  p.allowed_hosts = {"api.evil.example"};
  p.outbound_by_host_override["api.evil.example"] = answer(201);
  p.outbound = answer(202);
  EgressDecision d = decide(p, "api.evil.example");
  EXPECT_EQ(d.route, EgressRoute::denied);
  EXPECT_EQ(d.trace_route, "proxy");
  EXPECT_EQ(d.reason, "matches denied_hosts '*.evil.example'");
}

// §7.2: with allowedHosts set, a host it does not match is refused before any handler.
TEST(EgressDecision, AllowedHostsSetAndNoMatchIsDenied_S7_2) {
  EgressPolicy p;
  p.internet = true;
  p.allowed_hosts = {"api.example"};
  p.outbound = answer(202);
  EgressDecision d = decide(p, "other.example");
  EXPECT_EQ(d.route, EgressRoute::denied);
  EXPECT_EQ(d.reason, "allowed_hosts is set and does not match");
  // A match goes on to the handlers.
  EXPECT_EQ(handler_status(decide(p, "api.example")), 202);
}

// §7.2: run-time overrides (exact, then glob), then the static table (exact, then glob), then
// the catch-all.
TEST(EgressDecision, HandlerOrderOverrideThenStaticThenCatchAll_S7_2) {
  EgressPolicy p;
  p.outbound_by_host_override["*.example"] = answer(301);
  p.outbound_by_host_override["a.example"] = answer(302);
  p.outbound_by_host["b.example"] = answer(303);
  p.outbound_by_host["*.test"] = answer(304);
  p.outbound = answer(305);
  EXPECT_EQ(handler_status(decide(p, "a.example")), 302);  // exact override before glob override
  EgressDecision glob = decide(p, "b.example");             // a run-time glob beats a static exact name
  EXPECT_EQ(handler_status(glob), 301);
  EXPECT_EQ(glob.trace_route, "override:*.example");
  EgressDecision stat = decide(p, "c.test");
  EXPECT_EQ(handler_status(stat), 304);
  EXPECT_EQ(stat.trace_route, "handler:*.test");
  EgressDecision all = decide(p, "elsewhere.org");
  EXPECT_EQ(handler_status(all), 305);
  EXPECT_EQ(all.trace_route, "handler:*");
}

// §7.2: among several matching globs of one table, the first in key order wins.
TEST(EgressDecision, FirstGlobInKeyOrderWins_S7_2) {
  EgressPolicy p;
  p.outbound_by_host["*.example"] = answer(401);
  p.outbound_by_host["a*"] = answer(402);
  EXPECT_EQ(handler_status(decide(p, "a.example")), 401);  // "*.example" < "a*" in byte order
}

// §7.3: with no handler, loopback and container addresses have no route; a handler still takes them.
TEST(EgressDecision, LoopbackAndContainerAddressesHaveNoRoute_S7_3) {
  EgressPolicy p;
  p.internet = true;
  for (std::string_view host : {std::string_view("localhost"), std::string_view("127.0.0.1"), std::string_view("10.0.0.1"), kOwn}) {
    EgressDecision d = decide(p, host);
    EXPECT_EQ(d.route, EgressRoute::no_route) << host;
    EXPECT_EQ(d.host_kind, HostKind::loopback) << host;
    EXPECT_EQ(d.trace_route, "network");
  }
  EXPECT_EQ(decide(p, "10.3.4.5").host_kind, HostKind::container_private);
  p.outbound_by_host["10.3.4.5"] = answer(200);
  EXPECT_EQ(handler_status(decide(p, "10.3.4.5")), 200);
}

// §8 item 37: internet off, no handler, no allowlist entry: the proxy's 520. Internet on or an
// allowlisted host: the internet.
TEST(EgressDecision, InternetOffDeniesUnlessAllowlisted_S8_37) {
  EgressPolicy p;
  EgressDecision off = decide(p, "api.example");
  EXPECT_EQ(off.route, EgressRoute::denied);
  EXPECT_EQ(off.trace_route, "proxy");
  p.allowed_hosts = {"api.example"};
  EgressDecision allowed = decide(p, "api.example");
  EXPECT_EQ(allowed.route, EgressRoute::internet);
  EXPECT_EQ(allowed.trace_route, "internet");
  EgressPolicy on;
  on.internet = true;
  EXPECT_EQ(decide(on, "api.example").route, EgressRoute::internet);
  EXPECT_EQ(decide(on, "93.184.216.34").host_kind, HostKind::other_ip);
}

// A16 (older platform versions): no DNS without internet, so a name nothing takes is a DNS
// timeout instead of the 520; a literal IP is still the 520.
TEST(EgressDecision, NoDnsWithoutInternetOnOlderPlatforms_A16) {
  EgressPolicy p;
  EgressDecision d = decide(p, "api.example", "http", /*dns_without_internet=*/false);
  EXPECT_EQ(d.route, EgressRoute::dns_timeout);
  EXPECT_EQ(d.trace_route, "dns");
  EXPECT_TRUE(d.proxied);
  EXPECT_EQ(decide(p, "93.184.216.34", "http", false).route, EgressRoute::denied);
}

// §7.2: without interceptHttps an https request meets no proxy: lists and handlers do not apply.
TEST(EgressDecision, UninterceptedHttpsSkipsListsAndHandlers_S7_2) {
  EgressPolicy p;
  p.intercept_https = false;
  p.denied_hosts = {"api.example"};
  p.outbound = answer(200);
  EgressDecision off = decide(p, "api.example", "https");
  EXPECT_EQ(off.route, EgressRoute::https_denied);
  EXPECT_EQ(off.trace_route, "network");
  EXPECT_FALSE(off.proxied);
  EXPECT_EQ(decide(p, "api.example", "https", false).route, EgressRoute::dns_timeout);
  EXPECT_EQ(decide(p, "localhost", "https").route, EgressRoute::no_route);
  p.internet = true;
  EXPECT_EQ(decide(p, "api.example", "https").route, EgressRoute::internet);  // denied_hosts not consulted
  // The same request over http goes through the proxy: denied.
  EXPECT_EQ(decide(p, "api.example", "http").route, EgressRoute::denied);
  // With interceptHttps (the default of EgressPolicy), https is on the proxy path too.
  p.intercept_https = true;
  EXPECT_EQ(decide(p, "api.example", "https").route, EgressRoute::denied);
}

// The decision is pure: the same inputs give the same decision, and the policy is not changed.
TEST(EgressDecision, IsPure) {
  EgressPolicy p;
  p.allowed_hosts = {"*.example"};
  p.outbound_by_host["a.example"] = answer(200);
  const EgressDecision a = decide(p, "a.example");
  const EgressDecision b = decide(p, "a.example");
  EXPECT_EQ(a.route, b.route);
  EXPECT_EQ(a.trace_route, b.trace_route);
  EXPECT_EQ(a.handler, b.handler);
  EXPECT_EQ(a.handler, &p.outbound_by_host.at("a.example"));
  EXPECT_EQ(p.allowed_hosts.size(), 1u);
}
