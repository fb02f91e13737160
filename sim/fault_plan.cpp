#include "sim/fault_plan.h"

#include "sim/random.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace cfsim {

namespace {

bool is_verb_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'; }

// No spaces, control characters, '=' or '#'. Bytes >= 0x80 (UTF-8) are fine: compared as unsigned
// char, since plain char is signed on x86 and unsigned on ARM and the answer must not differ.
bool valid_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == '=' || u == '#' || u == 127) return false;
  }
  return true;
}

}  // namespace

bool valid_fault_name(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_verb_char); }

namespace {

std::optional<int64_t> to_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

void check_fault_action(const FaultAction& a, const std::string& where) {
  if (a.at.ns < 0) throw FaultPlanError(fmt::format("{}: negative time", where));
  if (!valid_fault_name(a.verb)) throw FaultPlanError(fmt::format("{}: bad verb '{}' (use a-z, 0-9, '_', '.', '-')", where, a.verb));
  if (!a.target.empty() && !valid_token(a.target))
    throw FaultPlanError(fmt::format("{}: bad target '{}' (no spaces, '=' or '#')", where, a.target));
  for (size_t i = 0; i < a.args.size(); ++i) {
    const auto& [k, v] = a.args[i];
    if (!valid_fault_name(k)) throw FaultPlanError(fmt::format("{}: bad argument name '{}'", where, k));
    if (!valid_token(v)) throw FaultPlanError(fmt::format("{}: bad value '{}' for argument '{}'", where, v, k));
    // The action's trace record carries the target and the arguments as fields, whose keys must
    // be distinct (see Trace::record).
    if (k == "target")
      throw FaultPlanError(fmt::format("{}: 'target' is reserved and cannot be an argument name", where));
    for (size_t j = 0; j < i; ++j)
      if (a.args[j].first == k) throw FaultPlanError(fmt::format("{}: argument '{}' given twice", where, k));
  }
}

namespace {

// Everything fault_plan_from_seed could trip over, checked before the first draw so that a bad
// space fails for every seed rather than only for the seeds that happen to draw the bad part.
void check_space(const FaultSpace& space) {
  if (space.horizon.ns < 0)
    throw FaultPlanError(fmt::format("fault space: horizon {} must be >= 0", format_duration(space.horizon)));
  if (space.max_actions > static_cast<size_t>(INT64_MAX))
    throw FaultPlanError(fmt::format("fault space: max_actions {} is too large", space.max_actions));
  for (const auto& k : space.knobs) {
    if (!valid_fault_name(k.name)) throw FaultPlanError(fmt::format("fault space: bad knob name '{}'", k.name));
    if (k.lo > k.hi) throw FaultPlanError(fmt::format("fault space: knob '{}' has lo {} > hi {}", k.name, k.lo, k.hi));
  }
  for (const auto& v : space.verbs) {
    FaultAction a;  // a sample action of this verb, checked like any other
    a.verb = v.verb;
    for (const auto& arg : v.args) {
      if (arg.lo > arg.hi)
        throw FaultPlanError(
            fmt::format("fault space: argument '{}' of '{}' has lo {} > hi {}", arg.name, v.verb, arg.lo, arg.hi));
      a.args.emplace_back(arg.name, "0");
    }
    check_fault_action(a, "fault space");
    for (const auto& t : v.targets)
      if (!valid_token(t)) throw FaultPlanError(fmt::format("fault space: bad target '{}' of '{}'", t, v.verb));
  }
}

}  // namespace

std::string FaultAction::arg(std::string_view key, std::string_view fallback) const {
  for (const auto& [k, v] : args)
    if (k == key) return v;
  return std::string(fallback);
}

int64_t FaultAction::arg_int(std::string_view key, int64_t fallback) const {
  for (const auto& [k, v] : args)
    if (k == key) {
      auto n = to_int(v);
      if (!n) throw FaultPlanError(fmt::format("fault '{}': argument {}={} is not an integer", verb, k, v));
      return *n;
    }
  return fallback;
}

int64_t FaultAction::arg_int(std::string_view key) const {
  if (!has_arg(key)) throw FaultPlanError(fmt::format("fault '{}': no argument '{}'", verb, key));
  return arg_int(key, 0);
}

bool FaultAction::has_arg(std::string_view key) const {
  for (const auto& [k, v] : args)
    if (k == key) return true;
  return false;
}

void FaultPlan::add(FaultAction a) {
  check_fault_action(a, "fault plan");
  auto pos = std::upper_bound(actions.begin(), actions.end(), a.at, [](Time t, const FaultAction& x) { return t < x.at; });
  actions.insert(pos, std::move(a));
}

int64_t FaultPlan::knob(std::string_view name, int64_t fallback) const {
  auto it = knobs.find(std::string(name));
  return it == knobs.end() ? fallback : it->second;
}

std::string FaultPlan::to_text() const {
  std::string out = "cfsim-faults v1\n";
  for (const auto& [k, v] : knobs) out += fmt::format("knob {} {}\n", k, v);
  for (const auto& a : actions) {
    out += fmt::format("at {} {}", format_time(a.at), a.verb);
    if (!a.target.empty()) out += " " + a.target;
    for (const auto& [k, v] : a.args) out += fmt::format(" {}={}", k, v);
    out += '\n';
  }
  return out;
}

FaultPlan FaultPlan::parse(std::string_view text) {
  FaultPlan plan;
  size_t line_no = 0, pos = 0;
  bool header = false;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto words = split_ws(line);
    if (words.empty()) continue;
    std::string where = fmt::format("fault plan line {}", line_no);
    if (!header) {
      if (words.size() != 2 || words[0] != "cfsim-faults" || words[1] != "v1")
        throw FaultPlanError(fmt::format("{}: expected the header 'cfsim-faults v1'", where));
      header = true;
      continue;
    }
    if (words[0] == "knob") {
      if (words.size() != 3) throw FaultPlanError(fmt::format("{}: expected 'knob NAME INTEGER'", where));
      if (!valid_fault_name(words[1])) throw FaultPlanError(fmt::format("{}: bad knob name '{}'", where, words[1]));
      auto v = to_int(words[2]);
      if (!v) throw FaultPlanError(fmt::format("{}: knob value '{}' is not an integer", where, words[2]));
      if (!plan.knobs.emplace(std::string(words[1]), *v).second)
        throw FaultPlanError(fmt::format("{}: knob '{}' set twice", where, words[1]));
    } else if (words[0] == "at") {
      if (words.size() < 3) throw FaultPlanError(fmt::format("{}: expected 'at TIME VERB [TARGET] [KEY=VALUE...]'", where));
      FaultAction a;
      try {
        a.at = Time::from_ns(parse_duration(words[1]).ns);
      } catch (const std::invalid_argument& e) {
        throw FaultPlanError(fmt::format("{}: {}", where, e.what()));
      }
      a.verb = std::string(words[2]);
      for (size_t i = 3; i < words.size(); ++i) {
        size_t eq = words[i].find('=');
        if (eq == std::string_view::npos) {
          if (i != 3) throw FaultPlanError(fmt::format("{}: '{}' is not KEY=VALUE (only the first word after the verb may be a target)", where, words[i]));
          a.target = std::string(words[i]);
        } else {
          a.args.emplace_back(std::string(words[i].substr(0, eq)), std::string(words[i].substr(eq + 1)));
        }
      }
      check_fault_action(a, where);
      if (!plan.actions.empty() && a.at < plan.actions.back().at)
        throw FaultPlanError(fmt::format("{}: actions must be in time order", where));
      plan.actions.push_back(std::move(a));
    } else {
      throw FaultPlanError(fmt::format("{}: unknown line '{}' (expected 'knob' or 'at')", where, words[0]));
    }
  }
  if (!header) throw FaultPlanError("fault plan: empty (expected the header 'cfsim-faults v1')");
  return plan;
}

FaultPlan fault_plan_from_seed(uint64_t seed, const FaultSpace& space) {
  check_space(space);
  Random rng(seed, "faults.plan");
  FaultPlan plan;
  std::vector<const FaultVerbSpec*> verbs;
  for (const auto& v : space.verbs)
    if (rng.bernoulli(1, 2)) verbs.push_back(&v);
  for (const auto& k : space.knobs)
    if (rng.bernoulli(1, 2)) plan.knobs[k.name] = rng.uniform_int(k.lo, k.hi);
  if (verbs.empty()) return plan;
  uint64_t n = rng.uniform_int(0, static_cast<int64_t>(space.max_actions));
  for (uint64_t i = 0; i < n; ++i) {
    const FaultVerbSpec& v = *verbs[rng.below(verbs.size())];
    FaultAction a;
    a.at = Time::from_ns(rng.uniform_int(0, space.horizon.ns));
    a.verb = v.verb;
    if (!v.targets.empty()) a.target = v.targets[rng.below(v.targets.size())];
    for (const auto& arg : v.args) a.args.emplace_back(arg.name, std::to_string(rng.uniform_int(arg.lo, arg.hi)));
    plan.add(std::move(a));
  }
  return plan;
}

}  // namespace cfsim
