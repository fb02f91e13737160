// Unit tests for sim/fault_injector.h: registration in one shape, a plan checked whole before
// anything is scheduled (verbs, old names, arguments and their ranges, targets, knobs), exact
// firing with trace records, knobs, the derived swarm space, and buggify.

#include "sim/fault_injector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sim/scheduler.h"
#include "tests/sim/fault_test_support.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

using fault_test::action;
using fault_test::plan_error;

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

// A verb declaration for these tests.
FaultVerbDecl decl(std::string name, FaultTarget target = FaultTarget::none, std::vector<FaultArgDecl> args = {}) {
  return FaultVerbDecl{.name = std::move(name), .seam = "test", .target = target, .args = std::move(args), .models = "a test"};
}

FaultArgDecl int_arg(std::string name, int64_t lo, int64_t hi, std::optional<int64_t> fallback = std::nullopt) {
  return FaultArgDecl{.name = std::move(name), .about = "a test argument", .lo = lo, .hi = hi, .fallback = fallback,
                      .draw_lo = lo, .draw_hi = hi};
}

FaultKnobDecl knob_decl(std::string name, int64_t lo, int64_t hi, int64_t fallback) {
  return FaultKnobDecl{.name = std::move(name), .about = "a test knob", .lo = lo, .hi = hi, .fallback = fallback, .draw_lo = lo,
                       .draw_hi = hi, .models = "a test"};
}

TEST(FaultInjector, UnknownVerbRejectedBeforeAnythingIsScheduled) {
  World w;
  int fired = 0;
  w.faults.define(decl("crash", FaultTarget::object), [&](const FaultAction&) { ++fired; });
  w.faults.define(decl("restart-host"), [&](const FaultAction&) { ++fired; });
  FaultPlan p;
  p.add(action(1s, "crash", "container:a"));
  p.add(action(2s, "explode"));
  const std::string msg = plan_error([&] { w.faults.apply(p); });
  EXPECT_NE(msg.find("unknown verb 'explode' (known here: crash, restart-host)"), std::string::npos) << msg;
  RunResult r = w.sim.run();
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(r.now, Time::zero());  // nothing was scheduled
  EXPECT_TRUE(fault_records(*w.sink).empty());
  EXPECT_TRUE(w.faults.plan().empty());
  // The injector is still usable: a corrected plan applies.
  p.actions.pop_back();
  w.faults.apply(p);
  w.sim.run();
  EXPECT_EQ(fired, 1);
}

TEST(FaultInjector, AnOldNameFailsNamingTheNewOne) {
  World w;
  FaultVerbDecl d = decl("net-loss", FaultTarget::service, {int_arg("loss_ppm", 0, 1'000'000)});
  d.old_names = {"loss"};
  d.old_args = {{"ppm", "loss_ppm"}};
  w.faults.define(d, [](const FaultAction&) {});
  FaultPlan old_verb;
  old_verb.add(action(1s, "loss", "api", {{"loss_ppm", "5"}}));
  EXPECT_EQ(plan_error([&] { w.faults.apply(old_verb); }), "fault plan: verb 'loss' is now called 'net-loss' (rename it in the plan)");
  FaultPlan old_arg;
  old_arg.add(action(1s, "net-loss", "api", {{"ppm", "5"}}));
  EXPECT_EQ(plan_error([&] { w.faults.apply(old_arg); }), "fault 'net-loss' on 'api': argument 'ppm' is now called 'loss_ppm'");
}

TEST(FaultInjector, EveryArgumentIsCheckedAgainstItsDeclaration) {
  World w;
  w.faults.define(decl("partition", FaultTarget::service, {int_arg("duration_ms", 0, 86'400'000, 0)}), [](const FaultAction&) {});
  w.faults.define(decl("loss", FaultTarget::service, {int_arg("loss_ppm", 0, 1'000'000)}), [](const FaultAction&) {});
  w.faults.define(decl("tick"), [](const FaultAction&) {});
  auto error_of = [&](FaultAction a) {
    FaultPlan p;
    p.add(std::move(a));
    return plan_error([&] { w.faults.apply(p); });
  };
  // The case of issue 14: a duration that would overflow virtual time is a plan error, not UB.
  EXPECT_EQ(error_of(action(1s, "partition", "api", {{"duration_ms", "9223372036854"}})),
            "fault 'partition' on 'api': duration_ms=9223372036854 is out of range 0..86400000 (a test argument)");
  EXPECT_EQ(error_of(action(1s, "partition", "api", {{"duration_ms", "-1"}})),
            "fault 'partition' on 'api': duration_ms=-1 is out of range 0..86400000 (a test argument)");
  EXPECT_EQ(error_of(action(1s, "partition", "api", {{"duration_ms", "soon"}})),
            "fault 'partition': argument duration_ms=soon is not an integer");
  EXPECT_EQ(error_of(action(1s, "partition", "api", {{"for_ms", "1"}})),
            "fault 'partition' on 'api': unknown argument 'for_ms' (known: duration_ms)");
  EXPECT_EQ(error_of(action(1s, "loss", "api")),
            "fault 'loss' on 'api': argument 'loss_ppm' is required (a test argument, 0..1000000)");
  EXPECT_EQ(error_of(action(1s, "partition")), "fault 'partition': a target is required (SERVICE)");
  EXPECT_EQ(error_of(action(1s, "tick", "api")), "fault 'tick' on 'api': this verb takes no target");
  EXPECT_TRUE(w.faults.plan().empty()) << "nothing was applied";
}

TEST(FaultInjector, TheHandlerSeesFallbacksFilledInTheTraceShowsThePlanAsWritten) {
  World w;
  std::vector<int64_t> seen;
  w.faults.define(decl("partition", FaultTarget::service, {int_arg("duration_ms", 0, 1000, 250)}),
                  [&](const FaultAction& a) { seen.push_back(a.arg_int("duration_ms")); });
  FaultPlan p;
  p.add(action(1s, "partition", "api"));
  p.add(action(2s, "partition", "api", {{"duration_ms", "7"}}));
  w.faults.apply(p);
  w.sim.run();
  EXPECT_EQ(seen, (std::vector<int64_t>{250, 7}));
  auto recs = fault_records(*w.sink);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(format_record(recs[0]), "        1.000s [kernel] fault.partition target=api");
  EXPECT_EQ(format_record(recs[1]), "        2.000s [kernel] fault.partition target=api duration_ms=7");
}

TEST(FaultInjector, AVerbsCheckRejectsABadTargetBeforeAnythingIsScheduled) {
  World w;
  int fired = 0, checked = 0;
  w.faults.define(
      decl("crash", FaultTarget::object), [&](const FaultAction&) { ++fired; },
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
  p.actions.pop_back();
  w.faults.apply(p);
  w.sim.run();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(checked, 3);
}

TEST(FaultInjector, ActionInThePastRejected) {
  World w;
  std::vector<int64_t> fired_at;
  w.faults.define(decl("crash"), [&](const FaultAction&) { fired_at.push_back(w.sim.now().ns); });
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
  w.faults.define(decl("crash", FaultTarget::object, {int_arg("exit_code", 0, 255)}), handler);
  w.faults.define(decl("restart-host"), handler);
  w.faults.define(decl("slow", FaultTarget::bucket, {int_arg("pct", 1, 1000)}), [&](const FaultAction& a) {
    // A handler that needs to wait spawns a fiber.
    w.sim.spawn("slowdown", [&, pct = a.arg_int("pct")] {
      w.sim.sleep_for(1s);
      fired.push_back(format_time(w.sim.now()) + " slow done pct=" + std::to_string(pct));
    });
  });
  w.faults.define_knob(knob_decl("r2.error_ppm", 0, 1'000'000, 0));
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

TEST(FaultInjector, KnobsAreDeclaredCheckedAndReadAfterApply) {
  World w;
  w.faults.define_knob(knob_decl("r2.error_ppm", 0, 1'000'000, 0));
  w.faults.define_knob(knob_decl("r2.latency_percent", 1, 1000, 100));
  std::vector<int64_t> read_after_apply;
  w.faults.after_apply([&] { read_after_apply = {w.faults.knob("r2.error_ppm"), w.faults.knob("r2.latency_percent")}; });
  EXPECT_NE(plan_error([&] { w.faults.apply(FaultPlan::parse("cfsim-faults v1\nknob r2.errors 5\n")); })
                .find("unknown knob 'r2.errors' (known here: r2.error_ppm, r2.latency_percent)"),
            std::string::npos);
  EXPECT_EQ(plan_error([&] { w.faults.apply(FaultPlan::parse("cfsim-faults v1\nknob r2.latency_percent 0\n")); }),
            "fault plan: knob r2.latency_percent=0 is out of range 1..1000 (a test knob)");
  EXPECT_TRUE(read_after_apply.empty()) << "a rejected plan runs no after_apply hook";
  w.faults.apply(FaultPlan::parse("cfsim-faults v1\nknob r2.error_ppm 250\n"));
  EXPECT_EQ(read_after_apply, (std::vector<int64_t>{250, 100})) << "a knob the plan leaves out reads its fallback";
  EXPECT_THROW(w.faults.knob("absent"), std::logic_error);
}

TEST(FaultInjector, SecondApplyRejected) {
  // The first plan's scheduled actions refer to the applied plan; replacing it would make them
  // fire someone else's actions.
  World w;
  std::vector<std::string> fired;
  w.faults.define(decl("crash", FaultTarget::object), [&](const FaultAction& a) { fired.push_back(a.target); });
  FaultPlan first, second;
  first.add(action(1s, "crash", "a"));
  first.add(action(2s, "crash", "b"));
  second.add(action(1s, "crash", "z"));
  w.faults.apply(first);
  EXPECT_NE(plan_error([&] { w.faults.apply(second); }).find("already applied"), std::string::npos);
  w.sim.run();
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "b"}));
}

TEST(FaultInjector, InvalidActionsAndDeclarationsRejected) {
  World w;
  w.faults.define(decl("crash", FaultTarget::object), [](const FaultAction&) {});
  FaultPlan p;
  p.actions.push_back(action(1s, "crash", "bad target"));  // bypasses add()'s checks
  EXPECT_NE(plan_error([&] { w.faults.apply(p); }).find("bad target 'bad target'"), std::string::npos);
  EXPECT_THROW(w.faults.define(decl("Bad Verb"), [](const FaultAction&) {}), std::invalid_argument);
  EXPECT_THROW(w.faults.define(decl("crash"), [](const FaultAction&) {}), std::invalid_argument) << "registered twice";
  EXPECT_THROW(w.faults.define(decl("x", FaultTarget::none, {int_arg("n_ms", 5, 1)}), [](const FaultAction&) {}),
               std::invalid_argument);
  EXPECT_THROW(w.faults.define(decl("y", FaultTarget::none, {int_arg("n_ms", 0, 10, 11)}), [](const FaultAction&) {}),
               std::invalid_argument) << "a fallback outside the range";
  EXPECT_THROW(w.faults.define_knob(knob_decl("k_ppm", 0, 10, 20)), std::invalid_argument);
}

TEST(FaultSpaceDerived, EveryVerbWithATargetOfItsKindAndEveryKnob) {
  FaultVerbDecl rollout = decl("rollout", FaultTarget::container_namespace);
  rollout.hand_only = true;
  FaultArgDecl narrow = int_arg("exit_code", 0, 255);
  narrow.draw_lo = 1;
  narrow.draw_hi = 2;
  FaultArgDecl word{.name = "version", .about = "a word", .word = true};
  const std::vector<FaultVerbDecl> verbs = {decl("crash", FaultTarget::object, {narrow, word}), rollout,
                                            decl("partition", FaultTarget::service), decl("tick")};
  const FaultSpace s = fault_space(verbs, {knob_decl("r2.error_ppm", 0, 100, 0)}, {.objects = {"A/x", "A/y"}, .container_namespaces = {"A"}},
                                   Duration::seconds(9), 3);
  ASSERT_EQ(s.verbs.size(), 2u) << "rollout is hand-only; partition has no service to target";
  EXPECT_EQ(s.verbs[0].verb, "crash");
  EXPECT_EQ(s.verbs[0].targets, (std::vector<std::string>{"A/x", "A/y"}));
  ASSERT_EQ(s.verbs[0].args.size(), 1u) << "a word argument is never drawn";
  EXPECT_EQ(s.verbs[0].args[0].lo, 1);
  EXPECT_EQ(s.verbs[0].args[0].hi, 2);
  EXPECT_EQ(s.verbs[1].verb, "tick");
  EXPECT_TRUE(s.verbs[1].targets.empty());
  ASSERT_EQ(s.knobs.size(), 1u);
  EXPECT_EQ(s.knobs[0].name, "r2.error_ppm");
  EXPECT_EQ(s.horizon, Duration::seconds(9));
  EXPECT_EQ(s.max_actions, 3u);
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
