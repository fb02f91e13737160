// Unit tests for sim/faults.h: FaultPlan (ordering, text form, every parse error), plans drawn
// from a seed over a FaultSpace, the RapidCheck generators of tests/support/fault_plan_gen.h, and
// FaultInjector (validation before scheduling, exact firing with trace records, knobs, buggify).

#include "sim/faults.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sim/simulator.h"
#include "support/fault_plan_gen.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

FaultAction action(Duration at, std::string verb, std::string target = "",
                   std::vector<std::pair<std::string, std::string>> args = {}) {
  FaultAction a;
  a.at = Time::zero() + at;
  a.verb = std::move(verb);
  a.target = std::move(target);
  a.args = std::move(args);
  return a;
}

// The message of the FaultPlanError that f throws (fails the test if it throws nothing).
template <class F>
std::string plan_error(F f) {
  try {
    f();
  } catch (const FaultPlanError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a FaultPlanError";
  return "";
}

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

// --- FaultInjector ----------------------------------------------------------------------------

std::vector<Record> fault_records(const MemorySink& sink) {
  std::vector<Record> out;
  for (const auto& r : sink.records)
    if (r.category == "fault") out.push_back(r);
  return out;
}

struct World {
  std::shared_ptr<MemorySink> sink = std::make_shared<MemorySink>();
  Simulator sim;
  FaultInjector faults{sim};
  explicit World(uint64_t seed = 1) : sim(options(seed), {sink}) {}
  static SimOptions options(uint64_t seed) {
    SimOptions o;
    o.seed = seed;
    return o;
  }
};

TEST(FaultInjector, UnknownVerbRejectedBeforeAnythingIsScheduled) {
  World w;
  int fired = 0;
  w.faults.on("crash", [&](const FaultAction&) { ++fired; });
  w.faults.on("restart-host", [&](const FaultAction&) { ++fired; });
  FaultPlan p;
  p.knobs["x"] = 5;
  p.add(action(1s, "crash", "container:a"));
  p.add(action(2s, "explode"));
  const std::string msg = plan_error([&] { w.faults.apply(p); });
  EXPECT_NE(msg.find("unknown verb 'explode' (known here: crash, restart-host)"), std::string::npos) << msg;
  RunResult r = w.sim.run();
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(r.now, Time::zero());  // nothing was scheduled
  EXPECT_TRUE(fault_records(*w.sink).empty());
  EXPECT_EQ(w.faults.knob("x", -1), -1);  // knobs not taken either
  EXPECT_TRUE(w.faults.plan().empty());
  // The injector is still usable: a corrected plan applies.
  p.actions.pop_back();
  w.faults.apply(p);
  w.sim.run();
  EXPECT_EQ(fired, 1);
}

TEST(FaultInjector, AVerbsCheckRejectsABadTargetBeforeAnythingIsScheduled) {
  World w;
  int fired = 0, checked = 0;
  w.faults.on(
      "crash", [&](const FaultAction&) { ++fired; },
      [&](const FaultAction& a) {
        ++checked;
        if (a.target != "container:a") throw FaultPlanError("crash: no container '" + a.target + "'");
      });
  FaultPlan p;
  p.add(action(1s, "crash", "container:a"));
  p.add(action(2s, "crash", "container:zz"));
  const std::string msg = plan_error([&] { w.faults.apply(p); });
  EXPECT_EQ(msg, "crash: no container 'container:zz'");
  EXPECT_EQ(checked, 2);
  w.sim.run();
  EXPECT_EQ(fired, 0) << "nothing was scheduled";
  EXPECT_TRUE(w.faults.plan().empty());
  // Re-registering the verb without a check drops the old one.
  w.faults.on("crash", [&](const FaultAction&) { ++fired; });
  w.faults.apply(p);
  w.sim.run();
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(checked, 2);
}

TEST(FaultInjector, ActionInThePastRejected) {
  World w;
  std::vector<int64_t> fired_at;
  w.faults.on("crash", [&](const FaultAction&) { fired_at.push_back(w.sim.now().ns); });
  w.sim.call_at(Time::zero() + 10s, [] {});
  w.sim.run();
  ASSERT_EQ(w.sim.now(), Time::zero() + 10s);
  FaultPlan past;
  past.add(action(10s, "crash"));
  past.add(action(5s, "crash"));
  const std::string msg = plan_error([&] { w.faults.apply(past); });
  EXPECT_NE(msg.find("action 'crash' at 5.000s is in the past (now 10.000s)"), std::string::npos) << msg;
  w.sim.run();
  EXPECT_TRUE(fired_at.empty());
  FaultPlan now;  // an action at the current instant is not in the past
  now.add(action(10s, "crash"));
  w.faults.apply(now);
  w.sim.run();
  EXPECT_EQ(fired_at, std::vector<int64_t>{10'000'000'000});
}

TEST(FaultInjector, ActionsFireAtTheirExactTimesInOrderAndAreTraced) {
  World w;
  std::vector<std::string> fired;
  auto handler = [&](const FaultAction& a) {
    fired.push_back(format_time(w.sim.now()) + " " + a.verb + " " + a.target + " " + a.arg("exit_code", "-"));
    EXPECT_FALSE(w.sim.in_fiber());  // handlers run on the scheduler
  };
  w.faults.on("crash", handler);
  w.faults.on("restart-host", handler);
  w.faults.on("slow", [&](const FaultAction& a) {
    // A handler that needs to wait spawns a fiber.
    w.sim.spawn("slowdown", [&, pct = a.arg_int("pct", 100)] {
      w.sim.sleep_for(1s);
      fired.push_back(format_time(w.sim.now()) + " slow done pct=" + std::to_string(pct));
    });
  });
  FaultPlan p;
  p.knobs["r2.error_ppm"] = 100;
  p.add(action(1h, "crash", "container:a", {{"exit_code", "1"}}));
  p.add(action(1s, "crash", "container:a", {{"exit_code", "137"}}));
  p.add(action(0s, "restart-host"));
  p.add(action(1s, "crash", "container:b", {{"exit_code", "2"}}));
  p.add(action(10min + 1ns, "slow", "r2", {{"pct", "200"}}));
  w.faults.apply(p);
  EXPECT_EQ(w.faults.plan(), p);
  RunResult r = w.sim.run();
  EXPECT_EQ(r.reason, StopReason::quiescent);
  EXPECT_EQ(fired, (std::vector<std::string>{
                       "0.000s restart-host  -",
                       "1.000s crash container:a 137",
                       "1.000s crash container:b 2",
                       "10m01.000000001s slow done pct=200",
                       "1h00m00.000s crash container:a 1",
                   }));
  // The trace alone says what was injected: the knobs at apply time, then one record per action.
  auto recs = fault_records(*w.sink);
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_EQ(format_record(recs[0]), "        0.000s [kernel] fault.knob name=r2.error_ppm value=100");
  EXPECT_EQ(format_record(recs[1]), "        0.000s [kernel] fault.restart-host target=\"\"");
  EXPECT_EQ(format_record(recs[2]), "        1.000s [kernel] fault.crash target=container:a exit_code=137");
  EXPECT_EQ(format_record(recs[3]), "        1.000s [kernel] fault.crash target=container:b exit_code=2");
  EXPECT_EQ(format_record(recs[4]), "10m00.000000001s [kernel] fault.slow target=r2 pct=200");
  EXPECT_EQ(format_record(recs[5]), "  1h00m00.000s [kernel] fault.crash target=container:a exit_code=1");
  EXPECT_EQ(recs[2].time, Time::zero() + 1s);
  EXPECT_EQ(recs[2].fiber, 0u);
  EXPECT_EQ(recs[2].phase, Phase::instant);
  EXPECT_TRUE(std::holds_alternative<std::string>(*recs[2].field("exit_code")));  // args are text
}

TEST(FaultInjector, Knobs) {
  World w;
  FaultPlan p = FaultPlan::parse("cfsim-faults v1\nknob r2.error_ppm 250\nknob latency.pct -3\n");
  w.faults.apply(p);
  EXPECT_EQ(w.faults.knob("r2.error_ppm", 0), 250);
  EXPECT_EQ(w.faults.knob("latency.pct", 0), -3);
  EXPECT_EQ(w.faults.knob("absent", 77), 77);
}

TEST(FaultInjector, SecondApplyRejected) {
  // The first plan's scheduled actions refer to the applied plan; replacing it would make them
  // fire someone else's actions.
  World w;
  std::vector<std::string> fired;
  w.faults.on("crash", [&](const FaultAction& a) { fired.push_back(a.target); });
  FaultPlan first, second;
  first.add(action(1s, "crash", "a"));
  first.add(action(2s, "crash", "b"));
  second.add(action(1s, "crash", "z"));
  w.faults.apply(first);
  EXPECT_NE(plan_error([&] { w.faults.apply(second); }).find("already applied"), std::string::npos);
  w.sim.run();
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "b"}));
}

TEST(FaultInjector, InvalidActionsAndVerbsRejected) {
  World w;
  w.faults.on("crash", [](const FaultAction&) {});
  FaultPlan p;
  p.actions.push_back(action(1s, "crash", "bad target"));  // bypasses add()'s checks
  EXPECT_NE(plan_error([&] { w.faults.apply(p); }).find("bad target 'bad target'"), std::string::npos);
  EXPECT_NE(plan_error([&] { w.faults.on("Bad Verb", [](const FaultAction&) {}); }).find("'Bad Verb' is not a valid name"),
            std::string::npos);
}

// --- buggify ----------------------------------------------------------------------------------------

TEST(FaultBuggify, OffByDefault) {
  World w;
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(w.faults.buggify("site" + std::to_string(i % 10), 1, 1));
  EXPECT_TRUE(fault_records(*w.sink).empty());  // not even a site decision is drawn
}

// Asks each site in `order` once per round; returns every site's answers in order.
std::map<std::string, std::vector<bool>> ask(FaultInjector& f, const std::vector<std::string>& order, int rounds,
                                             uint64_t num = 1, uint64_t den = 20) {
  std::map<std::string, std::vector<bool>> out;
  for (int r = 0; r < rounds; ++r)
    for (const auto& site : order) out[site].push_back(f.buggify(site, num, den));
  return out;
}

std::vector<std::string> sites(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back("site." + std::to_string(i));
  return v;
}

TEST(FaultBuggify, DecisionsDeterministicPerSeedAndRecorded) {
  auto run = [](uint64_t seed) {
    World w(seed);
    w.faults.set_buggify(true);
    auto answers = ask(w.faults, sites(40), 50);
    std::vector<std::string> trace;
    for (const auto& r : fault_records(*w.sink)) trace.push_back(format_record(r));
    return std::make_pair(answers, trace);
  };
  auto a = run(5), b = run(5), c = run(6);
  EXPECT_EQ(a, b);
  EXPECT_NE(a.first, c.first);
  // Recorded: one site decision per site, then one record per firing.
  int fires = 0, site_records = 0, enabled_sites = 0;
  for (const auto& [site, answers] : a.first)
    for (bool x : answers) fires += x;
  for (const auto& line : a.second) {
    if (line.find("fault.buggify_site") != std::string::npos) {
      ++site_records;
      enabled_sites += line.find("enabled=true") != std::string::npos;
    } else {
      EXPECT_NE(line.find("fault.buggify site="), std::string::npos) << line;
    }
  }
  EXPECT_EQ(site_records, 40);
  EXPECT_EQ(static_cast<int>(a.second.size()) - site_records, fires);
  EXPECT_GT(enabled_sites, 0);
  EXPECT_GT(fires, 0);
  // A switched-off site never fires.
  for (const auto& line : a.second)
    if (line.find("enabled=false") != std::string::npos) {
      std::string site = line.substr(line.find("site=") + 5, line.find(' ', line.find("site=")) - line.find("site=") - 5);
      for (bool x : a.first.at(site)) EXPECT_FALSE(x) << site;
    }
}

TEST(FaultBuggify, AddingASiteChangesNoOtherSitesDecisions) {
  // Find a seed where both sites are switched on, so that their answers carry information.
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    World probe(seed);
    probe.faults.set_buggify(true);
    auto first = ask(probe.faults, {"a", "b"}, 200, 1, 2);
    bool a_on = false, b_on = false;
    for (bool x : first["a"]) a_on |= x;
    for (bool x : first["b"]) b_on |= x;
    if (!a_on || !b_on) continue;
    World other(seed);
    other.faults.set_buggify(true);
    auto second = ask(other.faults, {"new.site", "a", "another", "b"}, 200, 1, 2);
    EXPECT_EQ(second["a"], first["a"]);
    EXPECT_EQ(second["b"], first["b"]);
    return;
  }
  FAIL() << "no seed in 1..200 switched both sites on";
}

TEST(FaultBuggify, AboutAQuarterOfSitesAreSwitchedOn) {
  World w(3);
  w.faults.set_buggify(true);
  ask(w.faults, sites(400), 1);
  int enabled = 0;
  for (const auto& r : fault_records(*w.sink))
    if (r.name == "buggify_site") enabled += std::get<bool>(*r.field("enabled"));
  EXPECT_NEAR(enabled, 100, 35);
}

TEST(FaultBuggify, FireFrequencyOnAnEnabledSite) {
  World w(4);
  w.faults.set_buggify(true);
  // The first site (in a fixed order) that this seed switches on.
  std::string site;
  for (const auto& s : sites(100)) {
    if (w.faults.buggify(s, 1, 1)) {  // 1/1: an enabled site always fires
      site = s;
      break;
    }
  }
  ASSERT_FALSE(site.empty());
  const int calls = 20000;
  int fired = 0;
  for (int i = 0; i < calls; ++i) fired += w.faults.buggify(site);  // default 1/20
  EXPECT_NEAR(fired / double(calls), 1.0 / 20, 0.006);
  fired = 0;
  for (int i = 0; i < calls; ++i) fired += w.faults.buggify(site, 3, 10);
  EXPECT_NEAR(fired / double(calls), 0.3, 0.015);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(w.faults.buggify(site, 0, 5));
}

TEST(FaultBuggify, BadProbabilityRejectedEvenWhenOff) {
  World w;
  EXPECT_THROW(w.faults.buggify("s", 1, 0), std::invalid_argument);
  EXPECT_THROW(w.faults.buggify("s", 3, 2), std::invalid_argument);
  w.faults.set_buggify(true);
  try {
    w.faults.buggify("my.site", 5, 4);
    ADD_FAILURE() << "accepted 5/4";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("buggify 'my.site': bad fire probability 5/4"), std::string::npos) << e.what();
  }
}

}  // namespace
