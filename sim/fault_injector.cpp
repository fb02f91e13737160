#include "sim/fault_injector.h"

#include <fmt/format.h>

#include <stdexcept>

#include "sim/assert.h"

namespace cfsim {

const char* to_string(FaultTarget t) {
  switch (t) {
    case FaultTarget::none: return "-";
    case FaultTarget::object: return "BINDING/name";
    case FaultTarget::container_namespace: return "BINDING";
    case FaultTarget::service: return "SERVICE";
    case FaultTarget::bucket: return "BUCKET";
    case FaultTarget::kv_namespace: return "KV_BINDING";
  }
  return "?";
}

namespace {

const std::vector<std::string>& targets_of(const FaultTargets& t, FaultTarget kind) {
  static const std::vector<std::string> none;
  switch (kind) {
    case FaultTarget::none: return none;
    case FaultTarget::object: return t.objects;
    case FaultTarget::container_namespace: return t.container_namespaces;
    case FaultTarget::service: return t.services;
    case FaultTarget::bucket: return t.buckets;
    case FaultTarget::kv_namespace: return t.kv_namespaces;
  }
  return none;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

void check_decl(const FaultVerbDecl& d) {
  if (!valid_fault_name(d.name)) throw std::invalid_argument(fmt::format("fault verb '{}' is not a valid name", d.name));
  for (const FaultArgDecl& a : d.args) {
    if (!valid_fault_name(a.name) || a.name == "target")
      throw std::invalid_argument(fmt::format("fault verb '{}': bad argument name '{}'", d.name, a.name));
    if (a.word) continue;
    if (a.lo > a.hi || a.draw_lo < a.lo || a.draw_hi > a.hi || a.draw_lo > a.draw_hi)
      throw std::invalid_argument(fmt::format("fault verb '{}': argument '{}' needs lo <= draw_lo <= draw_hi <= hi", d.name, a.name));
    if (a.fallback && (*a.fallback < a.lo || *a.fallback > a.hi))
      throw std::invalid_argument(fmt::format("fault verb '{}': argument '{}' has a fallback out of its range", d.name, a.name));
  }
}

}  // namespace

FaultSpace fault_space(const std::vector<FaultVerbDecl>& verbs, const std::vector<FaultKnobDecl>& knobs,
                       const FaultTargets& targets, Duration horizon, size_t max_actions) {
  FaultSpace space;
  space.horizon = horizon;
  space.max_actions = max_actions;
  for (const FaultVerbDecl& d : verbs) {
    if (d.hand_only) continue;
    const std::vector<std::string>& names = targets_of(targets, d.target);
    if (d.target != FaultTarget::none && names.empty()) continue;
    FaultVerbSpec v{d.name, names, {}};
    for (const FaultArgDecl& a : d.args)
      if (!a.word) v.args.push_back({a.name, a.draw_lo, a.draw_hi});
    space.verbs.push_back(std::move(v));
  }
  for (const FaultKnobDecl& k : knobs) space.knobs.push_back({k.name, k.draw_lo, k.draw_hi});
  return space;
}

void FaultInjector::define(FaultVerbDecl decl, Handler handler, Handler check) {
  check_decl(decl);
  if (!handler) throw std::invalid_argument(fmt::format("fault verb '{}': no handler", decl.name));
  if (verbs_.count(decl.name)) throw std::invalid_argument(fmt::format("fault verb '{}' is registered twice", decl.name));
  verbs_.emplace(decl.name, Verb{verb_decls_.size(), std::move(handler), std::move(check)});
  verb_decls_.push_back(std::move(decl));
}

void FaultInjector::define_knob(FaultKnobDecl decl) {
  if (!valid_fault_name(decl.name)) throw std::invalid_argument(fmt::format("fault knob '{}' is not a valid name", decl.name));
  if (decl.lo > decl.hi || decl.fallback < decl.lo || decl.fallback > decl.hi || decl.draw_lo < decl.lo || decl.draw_hi > decl.hi ||
      decl.draw_lo > decl.draw_hi)
    throw std::invalid_argument(fmt::format("fault knob '{}': needs lo <= fallback, draw_lo <= draw_hi <= hi", decl.name));
  if (knob_index_.count(decl.name)) throw std::invalid_argument(fmt::format("fault knob '{}' is registered twice", decl.name));
  knob_index_.emplace(decl.name, knob_decls_.size());
  knob_decls_.push_back(std::move(decl));
}

void FaultInjector::unknown_verb(const FaultAction& a) const {
  for (const FaultVerbDecl& d : verb_decls_)
    for (const std::string& old : d.old_names)
      if (old == a.verb) throw FaultPlanError(fmt::format("fault plan: verb '{}' is now called '{}' (rename it in the plan)", a.verb, d.name));
  std::vector<std::string> known;
  for (const FaultVerbDecl& d : verb_decls_) known.push_back(d.name);
  throw FaultPlanError(fmt::format("fault plan: unknown verb '{}' (known here: {})", a.verb, join_names(known)));
}

// Every argument declared, every integer in its range, every required one present.
void FaultInjector::check_action_against(const FaultAction& a, const FaultVerbDecl& d) const {
  const std::string where = fmt::format("fault '{}'{}", a.verb, a.target.empty() ? "" : " on '" + a.target + "'");
  if (d.target == FaultTarget::none && !a.target.empty()) throw FaultPlanError(fmt::format("{}: this verb takes no target", where));
  if (d.target != FaultTarget::none && a.target.empty())
    throw FaultPlanError(fmt::format("{}: a target is required ({})", where, to_string(d.target)));
  for (const auto& [key, value] : a.args) {
    const FaultArgDecl* found = nullptr;
    for (const FaultArgDecl& arg : d.args)
      if (arg.name == key) found = &arg;
    if (!found) {
      for (const auto& [old_name, new_name] : d.old_args)
        if (old_name == key) throw FaultPlanError(fmt::format("{}: argument '{}' is now called '{}'", where, key, new_name));
      std::vector<std::string> known;
      for (const FaultArgDecl& arg : d.args) known.push_back(arg.name);
      throw FaultPlanError(fmt::format("{}: unknown argument '{}' (known: {})", where, key, join_names(known)));
    }
    if (found->word) continue;
    const int64_t v = a.arg_int(key, 0);  // FaultPlanError if not an integer
    if (v < found->lo || v > found->hi)
      throw FaultPlanError(fmt::format("{}: {}={} is out of range {}..{} ({})", where, key, value, found->lo, found->hi, found->about));
  }
  for (const FaultArgDecl& arg : d.args)
    if (!arg.fallback && !arg.word && !a.has_arg(arg.name))
      throw FaultPlanError(fmt::format("{}: argument '{}' is required ({}, {}..{})", where, arg.name, arg.about, arg.lo, arg.hi));
}

void FaultInjector::check_knobs(const FaultPlan& plan) const {
  for (const auto& [name, value] : plan.knobs) {
    auto it = knob_index_.find(name);
    if (it == knob_index_.end()) {
      std::vector<std::string> known;
      for (const FaultKnobDecl& k : knob_decls_) known.push_back(k.name);
      throw FaultPlanError(fmt::format("fault plan: unknown knob '{}' (known here: {})", name, join_names(known)));
    }
    const FaultKnobDecl& k = knob_decls_[it->second];
    if (value < k.lo || value > k.hi)
      throw FaultPlanError(fmt::format("fault plan: knob {}={} is out of range {}..{} ({})", name, value, k.lo, k.hi, k.about));
  }
}

void FaultInjector::apply(const FaultPlan& plan) {
  // Scheduled actions refer to plan_ by index: replacing it would make them fire the wrong actions.
  if (applied_) throw FaultPlanError("FaultInjector::apply: a plan is already applied (merge the plans into one)");
  check_knobs(plan);
  for (const auto& a : plan.actions) {
    check_fault_action(a, "fault plan");
    auto v = verbs_.find(a.verb);
    if (v == verbs_.end()) unknown_verb(a);
    check_action_against(a, verb_decls_[v->second.decl]);
    if (a.at < sim_.now())
      throw FaultPlanError(fmt::format("fault plan: action '{}' at {} is in the past (now {})", a.verb, format_time(a.at), format_time(sim_.now())));
    if (v->second.check) v->second.check(a);
  }
  plan_ = plan;
  applied_ = true;
  for (const auto& [k, v] : plan_.knobs) sim_.record("fault", "knob", {{"name", k}, {"value", v}});
  for (size_t i = 0; i < plan_.actions.size(); ++i) {
    sim_.call_at(plan_.actions[i].at, [this, i] {
      const FaultAction& a = plan_.actions[i];
      std::vector<Field> fields = {{"target", a.target}};
      for (const auto& [k, v] : a.args) fields.emplace_back(k, v);
      sim_.record_phase("fault", a.verb, Phase::instant, fields);
      const Verb& verb = verbs_.find(a.verb)->second;
      FaultAction filled = a;  // the handler sees every declared fallback filled in
      for (const FaultArgDecl& arg : verb_decls_[verb.decl].args)
        if (arg.fallback && !filled.has_arg(arg.name)) filled.args.emplace_back(arg.name, std::to_string(*arg.fallback));
      verb.handler(filled);
    });
  }
  for (const auto& fn : after_apply_) fn();
}

int64_t FaultInjector::knob(std::string_view name) const {
  auto it = knob_index_.find(name);
  if (it == knob_index_.end()) throw std::logic_error(fmt::format("FaultInjector::knob: '{}' was never declared", name));
  return plan_.knob(name, knob_decls_[it->second].fallback);
}

bool FaultInjector::buggify(std::string_view site, uint64_t fire_num, uint64_t fire_den) {
  // Checked even when buggify is off, so a bad call site fails in every run, not only in some.
  if (fire_den == 0 || fire_num > fire_den)
    throw std::invalid_argument(fmt::format("buggify '{}': bad fire probability {}/{}", site, fire_num, fire_den));
  if (!buggify_on_) return false;
  auto it = sites_.find(site);
  if (it == sites_.end()) {
    Random rng(sim_.options().seed, fmt::format("buggify/{}", site));
    bool enabled = rng.bernoulli(1, 4);
    sim_.record("fault", "buggify_site", {{"site", site}, {"enabled", enabled}});
    it = sites_.emplace(std::string(site), Site{enabled, rng}).first;
  }
  CFSIM_ASSERT(it != sites_.end());
  if (!it->second.enabled) return false;
  bool fire = it->second.rng.bernoulli(fire_num, fire_den);
  if (fire) sim_.record("fault", "buggify", {{"site", site}});
  return fire;
}

}  // namespace cfsim
