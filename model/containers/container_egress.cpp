// The SDK Container class's outbound interception (platform-facts.md §7.2, §1.3, §8 item 38;
// @cloudflare/containers 0.3.7 applyOutboundInterception, persist/restoreOutboundConfiguration):
// the static configuration and run-time overrides become the EgressPolicy the runtime hands to the
// network (model/net/egress.h decides each request's route from it). Adds no faults of its own.

#include <fmt/format.h>

#include <algorithm>

#include "model/containers/container.h"

namespace cfsim {

// --- egress (§7.2, §1.3) ------------------------------------------------------------------------------------

void Container::check_outbound_method(const std::string& method) const {
  if (!outbound_handlers.count(method)) {
    std::string known;
    for (const auto& [name, h] : outbound_handlers) known += (known.empty() ? "" : ", ") + name;
    throw std::invalid_argument(fmt::format("Outbound handler method '{}' not found in outbound_handlers of {} (has: {})",
                                            method, label_, known.empty() ? "none" : known));
  }
}

HttpHandler Container::bind_outbound(const OutboundHandler& h, const std::string& params) {
  // A copy of the handler and of the context, never `this`: the policy outlives this instance
  // when the object resets while its container runs.
  OutboundContext c{ctx().id().hex(), platform_.namespace_of(ctx().id()).name(), params};
  return [h, c](const Request& r) { return h(r, c); };
}

void Container::restore_outbound_configuration() {
  if (outbound_restored_) return;
  outbound_restored_ = true;
  std::optional<StoredValue> v = ctx().storage().get(kOutboundConfigurationKey);
  if (!v || v->type() != StoredValue::Type::map) return;
  using_interception_ = true;  // a persisted configuration means the proxy was in use
  const StoredValue::Map& m = v->as_map();
  auto read_override = [&](const StoredValue& o, const std::string& where) -> std::optional<OutboundOverride> {
    if (o.type() != StoredValue::Type::map) return std::nullopt;
    const StoredValue::Map& om = o.as_map();
    auto method = om.find("method");
    if (method == om.end() || method->second.type() != StoredValue::Type::string) return std::nullopt;
    OutboundOverride ov{method->second.as_string(), ""};
    if (auto p = om.find("params"); p != om.end() && p->second.type() == StoredValue::Type::string) ov.params = p->second.as_string();
    if (!outbound_handlers.count(ov.method)) {  // the SDK warns and ignores it
      sim_.record("container", "outbound_restore_skipped", {{"container", label_}, {"where", where}, {"method", ov.method}});
      return std::nullopt;
    }
    return ov;
  };
  auto read_list = [&](const char* key) -> std::optional<std::vector<std::string>> {
    auto it = m.find(key);
    if (it == m.end() || it->second.type() != StoredValue::Type::array) return std::nullopt;
    std::vector<std::string> out;
    for (const StoredValue& h : it->second.as_array())
      if (h.type() == StoredValue::Type::string) out.push_back(h.as_string());
    return out;
  };
  if (auto it = m.find("outboundHandlerOverride"); it != m.end()) outbound_handler_override_ = read_override(it->second, "*");
  if (auto it = m.find("outboundByHostOverrides"); it != m.end() && it->second.type() == StoredValue::Type::map)
    for (const auto& [host, o] : it->second.as_map())
      if (std::optional<OutboundOverride> ov = read_override(o, host)) outbound_by_host_overrides_[host] = *ov;
  if (auto it = m.find("hasInterceptAllRegistration"); it != m.end() && it->second.type() == StoredValue::Type::boolean)
    intercept_all_registration_ = it->second.as_bool();
  if (auto l = read_list("allowedHosts")) allowed_hosts_override_ = std::move(l);
  if (auto l = read_list("deniedHosts")) denied_hosts_override_ = std::move(l);
  sim_.record("container", "outbound_restored",
              {{"container", label_}, {"overrides", static_cast<int64_t>(outbound_by_host_overrides_.size())},
               {"catch_all_override", outbound_handler_override_.has_value()}});
}

void Container::persist_outbound_configuration() {
  // P:persistOutboundConfiguration: the run-time state only (the static fields are code). Absent
  // fields are left out rather than stored as undefined.
  StoredValue::Map m;
  auto override_value = [](const OutboundOverride& o) {
    StoredValue::Map om{{"method", StoredValue(o.method)}};
    if (!o.params.empty()) om.emplace("params", StoredValue(o.params));
    return StoredValue(std::move(om));
  };
  if (!outbound_by_host_overrides_.empty()) {
    StoredValue::Map hosts;
    for (const auto& [host, o] : outbound_by_host_overrides_) hosts.emplace(host, override_value(o));
    m.emplace("outboundByHostOverrides", StoredValue(std::move(hosts)));
  }
  if (outbound_handler_override_) m.emplace("outboundHandlerOverride", override_value(*outbound_handler_override_));
  auto list_value = [](const std::vector<std::string>& l) {
    StoredValue::Array a;
    for (const std::string& h : l) a.emplace_back(h);
    return StoredValue(std::move(a));
  };
  if (allowed_hosts_override_) m.emplace("allowedHosts", list_value(*allowed_hosts_override_));
  if (denied_hosts_override_) m.emplace("deniedHosts", list_value(*denied_hosts_override_));
  if (intercept_all_registration_) m.emplace("hasInterceptAllRegistration", StoredValue(true));
  ctx().storage().put(kOutboundConfigurationKey, StoredValue(std::move(m)));
}

bool Container::using_interception() {
  restore_outbound_configuration();
  return using_interception_ || !outbound_by_host.empty() || static_cast<bool>(outbound) || !outbound_handlers.empty() ||
         allowed_hosts || denied_hosts || allowed_hosts_override_ || denied_hosts_override_;
}

EgressPolicy Container::outbound_policy() {
  restore_outbound_configuration();
  EgressPolicy p;
  p.internet = enable_internet;
  p.intercept_https = intercept_https;
  const std::optional<std::vector<std::string>>& denied = denied_hosts_override_ ? denied_hosts_override_ : denied_hosts;
  const std::optional<std::vector<std::string>>& allowed = allowed_hosts_override_ ? allowed_hosts_override_ : allowed_hosts;
  if (denied) p.denied_hosts = *denied;
  if (allowed) {
    // An empty list is still "set" in the SDK (an empty array is truthy) and matches nothing, so
    // every host is refused before any handler: the same as denying "*".
    if (allowed->empty()) p.denied_hosts.push_back("*");
    else p.allowed_hosts = *allowed;
  }
  for (const auto& [host, o] : outbound_by_host_overrides_)
    if (auto it = outbound_handlers.find(o.method); it != outbound_handlers.end() && it->second)
      p.outbound_by_host_override[host] = bind_outbound(it->second, o.params);
  for (const auto& [host, h] : outbound_by_host)
    if (h) p.outbound_by_host[host] = bind_outbound(h, "");
  if (outbound_handler_override_) {
    if (auto it = outbound_handlers.find(outbound_handler_override_->method); it != outbound_handlers.end() && it->second)
      p.outbound = bind_outbound(it->second, outbound_handler_override_->params);
  }
  if (!p.outbound && outbound) p.outbound = bind_outbound(outbound, "");
  return p;
}

bool Container::intercepts_all_outbound() {
  restore_outbound_configuration();
  return intercept_all_registration_;
}

void Container::refresh_outbound_interception() {
  if (!using_interception()) return;  // nothing configured: the raw network alone decides
  if (rt_.running()) {
    // enableInternet is fixed at start (§7.2, §8 item 38): a changed field cannot take effect.
    // Refused only if the field changed since start and now differs from what the run has:
    // explicit start options may have started it with another value than the field's (B2).
    const bool run_has = rt_.egress_policy().internet;
    const bool started_with = internet_at_start_.value_or(run_has);
    if (enable_internet != started_with && enable_internet != run_has)
      throw std::invalid_argument(fmt::format(
          "container {}: enable_internet changed from {} to {} while the container runs; enableInternet is fixed at "
          "start and needs a restart (stop the container and start it again) to change (platform-facts §7.2, "
          "§8 item 38). Host lists and handlers change live",
          label_, started_with, enable_internet));
  }
  // P:shouldInterceptAllOutbound: once promoted, an instance stays intercept-all until it restarts.
  const bool all = intercept_all_registration_ || outbound_handler_override_ || outbound ||
                   (allowed_hosts_override_ ? true : allowed_hosts.has_value()) ||
                   (denied_hosts_override_ ? true : denied_hosts.has_value()) || !outbound_by_host_overrides_.empty();
  if (all) intercept_all_registration_ = true;
  persist_outbound_configuration();
  EgressPolicy p = outbound_policy();
  sim_.record("container", "outbound_apply",
              {{"container", label_}, {"running", rt_.running()}, {"intercept_all", all},
               {"allowed_hosts", static_cast<int64_t>(p.allowed_hosts.size())},
               {"denied_hosts", static_cast<int64_t>(p.denied_hosts.size())},
               {"overrides", static_cast<int64_t>(p.outbound_by_host_override.size())},
               {"by_host", static_cast<int64_t>(p.outbound_by_host.size())}, {"catch_all", static_cast<bool>(p.outbound)}});
  rt_.set_outbound_proxy(std::move(p));
}

namespace {
// Sets `field` to `value`, then runs `apply` (which pushes the configuration to the runtime);
// puts the old value back if `apply` throws, so a refused change leaves everything as it was.
template <class T, class Apply>
void set_then_apply(T& field, T value, Apply apply) {
  T before = std::move(field);
  field = std::move(value);
  try {
    apply();
  } catch (...) {
    field = std::move(before);
    throw;
  }
}

// A host list with `host` added (once) or removed: the run-time override if there is one, else
// the class field's list.
std::vector<std::string> hosts_with(const std::optional<std::vector<std::string>>& override_list,
                                    const std::optional<std::vector<std::string>>& field, const std::string& host, bool add) {
  std::vector<std::string> l = override_list ? *override_list : field.value_or(std::vector<std::string>{});
  if (!add) std::erase(l, host);
  else if (std::find(l.begin(), l.end(), host) == l.end()) l.push_back(host);
  return l;
}
}  // namespace

void Container::set_outbound_handler(const std::string& method, const std::string& params) {
  restore_outbound_configuration();
  check_outbound_method(method);
  set_then_apply(outbound_handler_override_, std::optional<OutboundOverride>(OutboundOverride{method, params}),
                 [&] { refresh_outbound_interception(); });
}

void Container::set_outbound_by_host(const std::string& host, const std::string& method, const std::string& params) {
  restore_outbound_configuration();
  check_outbound_method(method);
  auto overrides = outbound_by_host_overrides_;
  overrides[host] = OutboundOverride{method, params};
  set_then_apply(outbound_by_host_overrides_, std::move(overrides), [&] { refresh_outbound_interception(); });
}

void Container::remove_outbound_by_host(const std::string& host) {
  restore_outbound_configuration();
  auto overrides = outbound_by_host_overrides_;
  overrides.erase(host);
  set_then_apply(outbound_by_host_overrides_, std::move(overrides), [&] { refresh_outbound_interception(); });
}

void Container::set_outbound_by_hosts(const std::map<std::string, std::string>& host_to_method) {
  restore_outbound_configuration();
  for (const auto& [host, method] : host_to_method) check_outbound_method(method);
  std::map<std::string, OutboundOverride> overrides;
  for (const auto& [host, method] : host_to_method) overrides[host] = OutboundOverride{method, ""};
  set_then_apply(outbound_by_host_overrides_, std::move(overrides), [&] { refresh_outbound_interception(); });
}

void Container::set_allowed_hosts(std::vector<std::string> hosts) {
  restore_outbound_configuration();
  set_then_apply(allowed_hosts_override_, std::optional<std::vector<std::string>>(std::move(hosts)), [&] {
    using_interception_ = true;
    refresh_outbound_interception();
  });
}

void Container::set_denied_hosts(std::vector<std::string> hosts) {
  restore_outbound_configuration();
  set_then_apply(denied_hosts_override_, std::optional<std::vector<std::string>>(std::move(hosts)), [&] {
    using_interception_ = true;
    refresh_outbound_interception();
  });
}

void Container::allow_host(const std::string& host) {
  restore_outbound_configuration();
  set_allowed_hosts(hosts_with(allowed_hosts_override_, allowed_hosts, host, true));
}

void Container::deny_host(const std::string& host) {
  restore_outbound_configuration();
  set_denied_hosts(hosts_with(denied_hosts_override_, denied_hosts, host, true));
}

void Container::remove_allowed_host(const std::string& host) {
  restore_outbound_configuration();
  set_allowed_hosts(hosts_with(allowed_hosts_override_, allowed_hosts, host, false));
}

void Container::remove_denied_host(const std::string& host) {
  restore_outbound_configuration();
  set_denied_hosts(hosts_with(denied_hosts_override_, denied_hosts, host, false));
}

}  // namespace cfsim
