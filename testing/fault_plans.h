#pragma once
// RapidCheck generators of fault plans (sim/faults.h), for property tests that throw faults at a
// world and want a failing plan shrunk to its essence.
//
//   fault_plan(space)   plans a FaultSpace allows: only its verbs, their targets and argument
//                       ranges, its knobs and knob ranges, times in [0, horizon], at most
//                       max_actions actions. Use it in scenario properties:
//                         const FaultPlan plan = *cfsim::testgen::fault_plan(my_space);
//   any_fault_plan()    any valid plan: verbs, targets, argument names and values, knob names and
//                       values drawn from the text format's whole alphabets (UTF-8 targets
//                       included). For tests of the format itself.
//
// Shrinking: a failing plan shrinks towards fewer actions (any action can be dropped), fewer
// knobs, earlier times, the first verb and target of the space, and arguments and knobs towards
// the low end of their ranges. Plans are built with FaultPlan::add, so they are always in time
// order (ties keep generation order). Counterexamples print as the plan's text form.

#include <rapidcheck.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "sim/fault_plan.h"

namespace cfsim {

// RapidCheck prints counterexamples with showValue, found by argument-dependent lookup.
inline void showValue(const FaultPlan& plan, std::ostream& os) { os << "\n" << plan.to_text(); }
inline void showValue(const FaultAction& a, std::ostream& os) {
  FaultPlan p;
  p.actions.push_back(a);
  os << p.to_text();
}

namespace testgen {

// Uniform-ish in [lo, hi], both inclusive (rc::gen::inRange excludes its upper end), shrinking
// towards lo.
inline rc::Gen<int64_t> int_inclusive(int64_t lo, int64_t hi) {
  if (lo > hi) throw FaultPlanError("testgen::int_inclusive: lo > hi");
  if (hi < INT64_MAX) return rc::gen::inRange<int64_t>(lo, hi + 1);
  if (lo == hi) return rc::gen::just(hi);
  return rc::gen::oneOf(rc::gen::inRange<int64_t>(lo, hi), rc::gen::just(hi));
}

inline rc::Gen<Time> time_upto(Duration horizon) {
  return rc::gen::map(int_inclusive(0, horizon.ns), [](int64_t ns) { return Time::from_ns(ns); });
}

// One action of one of the space's verbs.
inline rc::Gen<FaultAction> fault_action(std::shared_ptr<const FaultSpace> space) {
  return rc::gen::exec([space] {
    const FaultVerbSpec& v = space->verbs[*rc::gen::inRange<size_t>(0, space->verbs.size())];
    FaultAction a;
    a.at = *time_upto(space->horizon);
    a.verb = v.verb;
    if (!v.targets.empty()) a.target = v.targets[*rc::gen::inRange<size_t>(0, v.targets.size())];
    for (const auto& arg : v.args) a.args.emplace_back(arg.name, std::to_string(*int_inclusive(arg.lo, arg.hi)));
    return a;
  });
}

// Plans within `space` (see the top of this file). The space is checked once, up front, the way
// fault_plan_from_seed checks it (FaultPlanError for lo > hi, bad names...).
inline rc::Gen<FaultPlan> fault_plan(FaultSpace space) {
  fault_plan_from_seed(0, space);  // validates the space; the plan itself is not used
  auto sp = std::make_shared<const FaultSpace>(std::move(space));
  return rc::gen::exec([sp] {
    FaultPlan plan;
    for (const auto& k : sp->knobs) {
      const rc::Maybe<int64_t> v = *rc::gen::maybe(int_inclusive(k.lo, k.hi));
      if (v) plan.knobs[k.name] = *v;
    }
    if (!sp->verbs.empty() && sp->max_actions > 0) {
      // An unbounded list cut to max_actions, rather than a drawn count: RapidCheck can then
      // shrink by dropping any action, not only the last ones.
      auto actions = *rc::gen::container<std::vector<FaultAction>>(fault_action(sp));
      if (actions.size() > sp->max_actions) actions.resize(sp->max_actions);
      for (auto& a : actions) plan.add(std::move(a));
    }
    return plan;
  });
}

// --- any valid plan, for the text format ----------------------------------------------------------

// Verb, argument and knob names: [a-z0-9_.-]+.
inline rc::Gen<std::string> name() {
  return rc::gen::nonEmpty(rc::gen::container<std::string>(
      rc::gen::elementOf(std::string("abcdefghijklmnopqrstuvwxyz0123456789_.-"))));
}

// Targets and argument values: no spaces, control characters, '=' or '#'. Pieces rather than
// bytes so that multi-byte UTF-8 characters stay whole.
inline rc::Gen<std::string> token() {
  static const std::vector<std::string> pieces = {
      "a", "b", "z", "A", "Z", "0", "9", ":", "/", ".", "-", "_", "!", "\"", "'", "%", "+", ",", "@",
      "[", "]", "{", "}", "~", "\\", "\xc3\xa9", "\xe2\x98\x95", "\xf0\x9f\x98\x80"};
  return rc::gen::map(rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(pieces))),
                      [](const std::vector<std::string>& parts) {
                        std::string s;
                        for (const auto& p : parts) s += p;
                        return s;
                      });
}

// Sizes are scaled down (RapidCheck's size reaches 100): short names, a few arguments.
inline rc::Gen<FaultAction> any_fault_action() {
  return rc::gen::exec([] {
    FaultAction a;
    a.at = Time::from_ns(*int_inclusive(0, INT64_MAX));
    a.verb = *rc::gen::scale(0.2, name());
    if (*rc::gen::arbitrary<bool>()) a.target = *rc::gen::scale(0.2, token());
    // Distinct names, none of them "target" (reserved for the action's trace record).
    const auto names = *rc::gen::scale(0.05, rc::gen::unique<std::vector<std::string>>(rc::gen::suchThat(
        rc::gen::scale(4.0, name()), [](const std::string& n) { return n != "target"; })));
    for (const auto& n : names) a.args.emplace_back(n, *rc::gen::scale(0.2, token()));
    return a;
  });
}

inline rc::Gen<FaultPlan> any_fault_plan() {
  return rc::gen::exec([] {
    FaultPlan plan;
    const auto knob_names = *rc::gen::scale(0.1, rc::gen::container<std::vector<std::string>>(rc::gen::scale(2.0, name())));
    for (const auto& k : knob_names) plan.knobs[k] = *rc::gen::arbitrary<int64_t>();
    for (auto& a : *rc::gen::scale(0.2, rc::gen::container<std::vector<FaultAction>>(rc::gen::scale(5.0, any_fault_action()))))
      plan.add(std::move(a));
    return plan;
  });
}

}  // namespace testgen
}  // namespace cfsim
