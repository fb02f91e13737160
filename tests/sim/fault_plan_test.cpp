// Unit tests for sim/fault_plan.h: FaultPlan (ordering, text form, every parse error), plans drawn
// from a seed over a FaultSpace, and the RapidCheck generators of testing/fault_plans.h.

#include "sim/fault_plan.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sim/scheduler.h"
#include "tests/sim/fault_test_support.h"
#include "testing/fault_plans.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

using fault_test::action;
using fault_test::plan_error;

// --- FaultPlan -------------------------------------------------------------------------------

TEST(FaultPlan, AddKeepsTimeOrderStable) {
  FaultPlan p;
  p.add(action(5s, "a"));
  p.add(action(1s, "b"));
  p.add(action(5s, "c"));
  p.add(action(0s, "d"));
  p.add(action(1s, "e"));
  p.add(action(5s, "f"));
  std::string order;
  for (const auto& a : p.actions) order += a.verb;
  EXPECT_EQ(order, "dbeacf");  // by time; same-time actions in the order they were added
}

TEST(FaultPlan, AddRejectsInvalidActions) {
  FaultPlan p;
  EXPECT_NE(plan_error([&] { p.add(action(1s, "Crash")); }).find("bad verb 'Crash'"), std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "")); }).find("bad verb ''"), std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "crash", "a b")); }).find("bad target 'a b'"), std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "crash", "a=b")); }).find("bad target"), std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "crash", "a#b")); }).find("bad target"), std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "crash", "x", {{"Code", "1"}})); }).find("bad argument name 'Code'"),
            std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "crash", "x", {{"code", ""}})); }).find("bad value ''"), std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "crash", "x", {{"code", "a b"}})); }).find("bad value 'a b'"),
            std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "crash", "x", {{"a", "1"}, {"a", "2"}})); }).find("argument 'a' given twice"),
            std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(1s, "crash", "x", {{"target", "y"}})); }).find("'target' is reserved"),
            std::string::npos);
  EXPECT_NE(plan_error([&] { p.add(action(-1s, "crash")); }).find("negative time"), std::string::npos);
  EXPECT_TRUE(p.actions.empty());
  // UTF-8 is fine in targets and values, on every platform (plain char's signedness must not matter).
  p.add(action(1s, "crash", "container:caf\xc3\xa9", {{"note", "\xe2\x98\x95"}}));
  EXPECT_EQ(p.actions.size(), 1u);
}

TEST(FaultPlan, KnobsAndArguments) {
  FaultPlan p;
  EXPECT_TRUE(p.empty());
  p.knobs["r2.error_ppm"] = 100;
  EXPECT_FALSE(p.empty());
  EXPECT_EQ(p.knob("r2.error_ppm", 0), 100);
  EXPECT_EQ(p.knob("missing", -7), -7);
  FaultAction a = action(1s, "crash", "container:main", {{"exit_code", "137"}, {"signal", "KILL"}, {"neg", "-5"}});
  EXPECT_EQ(a.arg("signal"), "KILL");
  EXPECT_EQ(a.arg("missing", "dflt"), "dflt");
  EXPECT_EQ(a.arg_int("exit_code", 0), 137);
  EXPECT_EQ(a.arg_int("neg", 0), -5);
  EXPECT_EQ(a.arg_int("missing", 42), 42);
  EXPECT_NE(plan_error([&] { a.arg_int("signal", 0); }).find("argument signal=KILL is not an integer"), std::string::npos);
  FaultPlan q;
  q.add(a);
  EXPECT_FALSE(q.empty());
}

FaultPlan sample_plan() {
  FaultPlan p;
  p.knobs["r2.error_ppm"] = 100;
  p.knobs["latency.pct"] = -150;
  p.add(action(10min, "crash", "container:main", {{"exit_code", "137"}}));
  p.add(action(0s, "restart-host"));
  p.add(action(1h + 1ns, "partition", "net:a", {{"signal", "TERM"}, {"z", "1"}}));
  return p;
}

TEST(FaultPlanText, ExactForm) {
  EXPECT_EQ(sample_plan().to_text(),
            "cfsim-faults v1\n"
            "knob latency.pct -150\n"
            "knob r2.error_ppm 100\n"
            "at 0.000s restart-host\n"
            "at 10m00.000s crash container:main exit_code=137\n"
            "at 1h00m00.000000001s partition net:a signal=TERM z=1\n");
  EXPECT_EQ(FaultPlan().to_text(), "cfsim-faults v1\n");
}

TEST(FaultPlanText, RoundTrip) {
  FaultPlan p = sample_plan();
  EXPECT_EQ(FaultPlan::parse(p.to_text()), p);
  EXPECT_EQ(FaultPlan::parse(FaultPlan().to_text()), FaultPlan());
  FaultPlan only_args;
  only_args.add(action(2s, "slow", "", {{"pct", "200"}}));  // no target: the first word has '='
  EXPECT_EQ(FaultPlan::parse(only_args.to_text()), only_args);
}

TEST(FaultPlanText, CommentsBlankLinesAndWhitespaceIgnored) {
  const std::string text =
      "# a plan written by hand\n"
      "\n"
      "   # indented comment\n"
      "cfsim-faults v1   # the header may carry a comment\n"
      "\t\n"
      "knob\tr2.error_ppm   100\r\n"
      "knob latency.pct -150 # trailing comment\n"
      "  at 0s restart-host\n"
      "at 10min crash container:main exit_code=137\r\n"
      "at 1h0m0.000000001s partition net:a signal=TERM z=1";  // no final newline
  EXPECT_EQ(FaultPlan::parse(text), sample_plan());
}

// parse must throw FaultPlanError naming the line and what is wrong.
void expect_parse_error(const std::string& text, const std::string& fragment) {
  SCOPED_TRACE(text);
  std::string msg = plan_error([&] { FaultPlan::parse(text); });
  EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
}

TEST(FaultPlanText, ErrorMissingHeader) {
  expect_parse_error("knob a 1\n", "fault plan line 1: expected the header 'cfsim-faults v1'");
  expect_parse_error("# comment\n\ncfsim-faults v2\n", "fault plan line 3: expected the header");
  expect_parse_error("cfsim-faults\n", "line 1: expected the header");
  expect_parse_error("cfsim-faults v1 extra\n", "line 1: expected the header");
  expect_parse_error("", "fault plan: empty");
  expect_parse_error("# nothing but comments\n\n", "fault plan: empty");
}

TEST(FaultPlanText, ErrorBadVerb) {
  expect_parse_error("cfsim-faults v1\nat 1s Crash\n", "line 2: bad verb 'Crash'");
  expect_parse_error("cfsim-faults v1\nat 1s cr@sh x\n", "line 2: bad verb 'cr@sh'");
  expect_parse_error("cfsim-faults v1\nat 1s\n", "line 2: expected 'at TIME VERB [TARGET] [KEY=VALUE...]'");
}

TEST(FaultPlanText, ErrorBadTargetOrArgument) {
  expect_parse_error("cfsim-faults v1\nat 1s crash con\x01tainer\n", "line 2: bad target");
  expect_parse_error("cfsim-faults v1\nat 1s crash con\x7ftainer\n", "line 2: bad target");
  expect_parse_error("cfsim-faults v1\nat 1s crash a b\n", "line 2: 'b' is not KEY=VALUE");
  expect_parse_error("cfsim-faults v1\nat 1s crash a k=1 b\n", "line 2: 'b' is not KEY=VALUE");
  expect_parse_error("cfsim-faults v1\nat 1s crash a K=1\n", "line 2: bad argument name 'K'");
  expect_parse_error("cfsim-faults v1\nat 1s crash a =1\n", "line 2: bad argument name ''");
  expect_parse_error("cfsim-faults v1\nat 1s crash a k=\n", "line 2: bad value '' for argument 'k'");
  expect_parse_error("cfsim-faults v1\nat 1s crash a k=1=2\n", "line 2: bad value '1=2'");
  expect_parse_error("cfsim-faults v1\nat 1s crash a k=1 k=2\n", "line 2: argument 'k' given twice");
}

TEST(FaultPlanText, ErrorKnobs) {
  expect_parse_error("cfsim-faults v1\nknob a 1\nknob b 2\nknob a 3\n", "line 4: knob 'a' set twice");
  expect_parse_error("cfsim-faults v1\nknob a 1.5\n", "line 2: knob value '1.5' is not an integer");
  expect_parse_error("cfsim-faults v1\nknob a 1e3\n", "line 2: knob value '1e3' is not an integer");
  expect_parse_error("cfsim-faults v1\nknob a +1\n", "line 2: knob value '+1' is not an integer");
  expect_parse_error("cfsim-faults v1\nknob a 9223372036854775808\n", "not an integer");  // out of int64
  expect_parse_error("cfsim-faults v1\nknob a\n", "line 2: expected 'knob NAME INTEGER'");
  expect_parse_error("cfsim-faults v1\nknob a 1 2\n", "line 2: expected 'knob NAME INTEGER'");
  expect_parse_error("cfsim-faults v1\nknob Big 1\n", "line 2: bad knob name 'Big'");
  EXPECT_EQ(FaultPlan::parse("cfsim-faults v1\nknob a -9223372036854775808\n").knob("a", 0), INT64_MIN);
}

TEST(FaultPlanText, ErrorActionsOutOfOrder) {
  expect_parse_error("cfsim-faults v1\nat 2s a\nat 1s b\n", "line 3: actions must be in time order");
  // Equal times are in order (and keep their order).
  FaultPlan p = FaultPlan::parse("cfsim-faults v1\nat 1s b\nat 1s a\n");
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].verb, "b");
}

TEST(FaultPlanText, ErrorUnknownLineKind) {
  expect_parse_error("cfsim-faults v1\nevery 1s crash\n", "line 2: unknown line 'every'");
  expect_parse_error("cfsim-faults v1\nAT 1s crash\n", "line 2: unknown line 'AT'");
  expect_parse_error("cfsim-faults v1\ncfsim-faults v1\n", "line 2: unknown line 'cfsim-faults'");
}

TEST(FaultPlanText, ErrorBadDuration) {
  expect_parse_error("cfsim-faults v1\nat 1x crash\n", "line 2: invalid duration '1x'");
  expect_parse_error("cfsim-faults v1\nat -1s crash\n", "line 2: invalid duration '-1s'");
  expect_parse_error("cfsim-faults v1\nat 1.5 crash\n", "line 2: invalid duration '1.5': missing unit");
  expect_parse_error("cfsim-faults v1\nat 99999999999h crash\n", "too large");
}

RC_GTEST_PROP(FaultPlanProperty, TextRoundTripIsExact, ()) {
  const FaultPlan plan = *testgen::any_fault_plan();
  const std::string text = plan.to_text();
  const FaultPlan back = FaultPlan::parse(text);
  RC_ASSERT(back == plan);
  RC_ASSERT(back.to_text() == text);
}

// --- fault_plan_from_seed ----------------------------------------------------------------------

FaultSpace sample_space() {
  FaultSpace s;
  s.verbs = {
      {"crash", {"container:a", "container:b"}, {{"exit_code", 0, 255}}},
      {"restart-host", {}, {}},
      {"slow", {"r2"}, {{"pct", 100, 1000}, {"ms", -5, 5000}}},
  };
  s.knobs = {{"r2.error_ppm", 0, 1'000'000}, {"latency.pct", 100, 300}};
  s.horizon = 1h;
  s.max_actions = 8;
  return s;
}

// Checks that `plan` lies within `space`; returns "" or what is wrong.
std::string outside_space(const FaultPlan& plan, const FaultSpace& space) {
  if (plan.actions.size() > space.max_actions) return "too many actions";
  for (size_t i = 0; i < plan.actions.size(); ++i) {
    const FaultAction& a = plan.actions[i];
    if (i > 0 && a.at < plan.actions[i - 1].at) return "actions out of time order";
    if (a.at < Time::zero() || a.at > Time::zero() + space.horizon) return "time beyond the horizon";
    const FaultVerbSpec* spec = nullptr;
    for (const auto& v : space.verbs)
      if (v.verb == a.verb) spec = &v;
    if (!spec) return "verb " + a.verb + " not in the space";
    if (spec->targets.empty() ? !a.target.empty()
                              : std::find(spec->targets.begin(), spec->targets.end(), a.target) == spec->targets.end())
      return "target " + a.target + " not allowed for " + a.verb;
    if (a.args.size() != spec->args.size()) return "wrong argument count for " + a.verb;
    for (size_t k = 0; k < a.args.size(); ++k) {
      if (a.args[k].first != spec->args[k].name) return "unexpected argument " + a.args[k].first;
      int64_t v = a.arg_int(a.args[k].first, 0);
      if (v < spec->args[k].lo || v > spec->args[k].hi) return "argument " + a.args[k].first + " out of range";
    }
  }
  for (const auto& [name, value] : plan.knobs) {
    const FaultKnobSpec* spec = nullptr;
    for (const auto& k : space.knobs)
      if (k.name == name) spec = &k;
    if (!spec) return "knob " + name + " not in the space";
    if (value < spec->lo || value > spec->hi) return "knob " + name + " out of range";
  }
  return "";
}

TEST(FaultPlanFromSeed, DeterministicPerSeed) {
  const FaultSpace space = sample_space();
  for (uint64_t seed : {1ull, 2ull, 77ull, 0xFFFFFFFFFFFFFFFFull}) {
    EXPECT_EQ(fault_plan_from_seed(seed, space), fault_plan_from_seed(seed, space)) << seed;
  }
}

TEST(FaultPlanFromSeed, DifferentAcrossSeeds) {
  const FaultSpace space = sample_space();
  std::set<std::string> distinct;
  for (uint64_t seed = 1; seed <= 50; ++seed) distinct.insert(fault_plan_from_seed(seed, space).to_text());
  EXPECT_GE(distinct.size(), 45u);
}

TEST(FaultPlanFromSeed, RespectsTheSpaceAndSwarms) {
  const FaultSpace space = sample_space();
  std::map<std::string, int> plans_with_verb, plans_with_knob;
  std::set<size_t> action_counts;
  std::set<std::string> targets_seen;
  const int seeds = 300;
  for (int seed = 1; seed <= seeds; ++seed) {
    FaultPlan p = fault_plan_from_seed(static_cast<uint64_t>(seed), space);
    ASSERT_EQ(outside_space(p, space), "") << "seed " << seed << "\n" << p.to_text();
    action_counts.insert(p.actions.size());
    std::set<std::string> verbs;
    for (const auto& a : p.actions) {
      verbs.insert(a.verb);
      targets_seen.insert(a.target);
    }
    for (const auto& v : verbs) ++plans_with_verb[v];
    for (const auto& [k, v] : p.knobs) ++plans_with_knob[k];
  }
  // Swarm testing: each verb and each knob is in some plans and missing from others (each is
  // switched on with probability 1/2 per seed).
  for (const auto& v : space.verbs) {
    EXPECT_GT(plans_with_verb[v.verb], seeds / 5) << v.verb;
    EXPECT_LT(plans_with_verb[v.verb], seeds * 4 / 5) << v.verb;
  }
  for (const auto& k : space.knobs) {
    EXPECT_GT(plans_with_knob[k.name], seeds / 3) << k.name;
    EXPECT_LT(plans_with_knob[k.name], seeds * 2 / 3) << k.name;
  }
  EXPECT_TRUE(action_counts.count(0));
  EXPECT_TRUE(action_counts.count(space.max_actions));
  EXPECT_EQ(targets_seen, (std::set<std::string>{"", "container:a", "container:b", "r2"}));
}

TEST(FaultPlanFromSeed, EdgesOfTheSpace) {
  FaultSpace space = sample_space();
  space.horizon = Duration::zero();
  for (uint64_t seed = 1; seed <= 20; ++seed)
    for (const auto& a : fault_plan_from_seed(seed, space).actions) EXPECT_EQ(a.at, Time::zero());
  space = sample_space();
  space.max_actions = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) EXPECT_TRUE(fault_plan_from_seed(seed, space).actions.empty());
  EXPECT_TRUE(fault_plan_from_seed(1, FaultSpace{}).empty());
}

TEST(FaultPlanFromSeed, BadSpaceFailsForEverySeed) {
  // Checked before drawing: a seed that happens not to draw the bad part fails just the same.
  FaultSpace knob = sample_space();
  knob.knobs.push_back({"broken", 5, 4});
  FaultSpace arg = sample_space();
  arg.verbs[2].args[1] = {"ms", 10, 9};
  for (uint64_t seed = 1; seed <= 64; ++seed) {
    EXPECT_NE(plan_error([&] { fault_plan_from_seed(seed, knob); }).find("knob 'broken' has lo 5 > hi 4"), std::string::npos);
    EXPECT_NE(plan_error([&] { fault_plan_from_seed(seed, arg); }).find("argument 'ms' of 'slow' has lo 10 > hi 9"),
              std::string::npos);
  }
  FaultSpace s = sample_space();
  s.horizon = -1s;
  EXPECT_NE(plan_error([&] { fault_plan_from_seed(1, s); }).find("horizon -1.000s must be >= 0"), std::string::npos);
  s = sample_space();
  s.verbs[0].verb = "Crash";
  EXPECT_NE(plan_error([&] { fault_plan_from_seed(1, s); }).find("bad verb 'Crash'"), std::string::npos);
  s = sample_space();
  s.verbs[0].targets.push_back("has space");
  EXPECT_NE(plan_error([&] { fault_plan_from_seed(1, s); }).find("bad target 'has space' of 'crash'"), std::string::npos);
  s = sample_space();
  s.verbs[0].args.push_back({"exit_code", 0, 1});
  EXPECT_NE(plan_error([&] { fault_plan_from_seed(1, s); }).find("argument 'exit_code' given twice"), std::string::npos);
  s = sample_space();
  s.knobs[0].name = "bad name";
  EXPECT_NE(plan_error([&] { fault_plan_from_seed(1, s); }).find("bad knob name 'bad name'"), std::string::npos);
}

// --- the generators in tests/support/fault_plan_gen.h ---------------------------------------------

RC_GTEST_PROP(FaultPlanGen, PlansStayInsideTheirSpace, ()) {
  static const FaultSpace space = sample_space();
  const FaultPlan plan = *testgen::fault_plan(space);
  RC_ASSERT(outside_space(plan, space) == "");
  RC_ASSERT(FaultPlan::parse(plan.to_text()) == plan);
}

TEST(FaultPlanGen, BadSpaceIsRejected) {
  FaultSpace s = sample_space();
  s.knobs.push_back({"broken", 1, 0});
  EXPECT_THROW(testgen::fault_plan(s), FaultPlanError);
}

TEST(FaultPlanGen, ShrinksToAMinimalPlan) {
  // A property that fails whenever a plan crashes container:b must shrink to the one action that
  // matters, at time zero, with its arguments at the low end, and no knobs.
  const FaultSpace space = sample_space();
  const auto result = rc::detail::checkTestable([&] {
    const FaultPlan plan = *testgen::fault_plan(space);
    for (const auto& a : plan.actions) RC_ASSERT(!(a.verb == "crash" && a.target == "container:b"));
  });
  rc::detail::FailureResult failure;
  ASSERT_TRUE(result.match(failure)) << "the property never failed";
  const std::string shown = failure.counterExample.empty() ? "" : failure.counterExample.back().second;
  EXPECT_NE(shown.find("cfsim-faults v1\nat 0.000s crash container:b exit_code=0\n"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("knob"), std::string::npos) << shown;
}

}  // namespace
