// Rollouts (§1.9, A5): steps in id order, custom steps, the active grace period, the fault verb,
// a rollout superseding one in progress, and a platform destroyed with rollout events pending.
// The app and world: raw_runtime_fixture.h.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §1.9: /containers/platform-details/rollouts/ and /containers/configuration/rollouts/ (A5)
//   §1.8 (SIGKILL 15 min after SIGTERM): /containers/concepts/architecture/ (A1), /containers/faq/ (A3), the
//     rollouts pages (A5)
#include <gtest/gtest.h>

#include <algorithm>

#include "raw_runtime_fixture.h"
#include "model/containers/faults.h"
#include "testing/bare_faults.h"

using namespace std::chrono_literals;

namespace cfsim::raw_runtime_test {
namespace {

// --- rollout steps (§1.9, A5) ------------------------------------------------------------------------------

// The labels of RAW/<names> in the order a rollout replaces them: by id hex.
std::vector<std::string> replacement_order(World& w, const std::vector<std::string>& names) {
  std::vector<std::pair<std::string, std::string>> by_hex;
  for (const std::string& n : names) by_hex.emplace_back(w.raw.id_from_name(n).hex(), w.rt(n).label());
  std::sort(by_hex.begin(), by_hex.end());
  std::vector<std::string> out;
  for (auto& [hex, label] : by_hex) out.push_back(label);
  return out;
}

// (time, container) of every rollout SIGTERM.
std::vector<std::pair<Time, std::string>> rollout_sigterms(const World& w) {
  std::vector<std::pair<Time, std::string>> out;
  for (const Record& r : w.records("container", "signal", "source", "rollout")) out.emplace_back(r.time, r.field_text("container"));
  return out;
}

TEST(Rollout, DefaultStepsTenThenHundredPercentInIdOrder_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) {
    names.push_back("i" + std::to_string(i));
    w.start_raw(names.back(), Time::zero(), {{"ON_TERM", "exit-after-5s"}});
  }
  w.sim.call_at(at(60s), [&] { w.platform.rollout("RAW", "v2"); });
  w.start_raw("late", at(62s));  // during step 1: new starts use the new version at once
  w.run_until(at(10min));
  const std::vector<std::string> order = replacement_order(w, names);
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 10u);
  // Step 1: ceil(10 % of 10) = 1 instance, the first by id hex, at 60 s.
  EXPECT_EQ(sigterms[0], std::make_pair(at(60s), order[0]));
  // Step 2 starts when it has stopped (it exits 5 s after SIGTERM): the other 9, in id order.
  for (size_t i = 1; i < 10; ++i) EXPECT_EQ(sigterms[i], std::make_pair(at(65s), order[i])) << i;
  EXPECT_EQ(w.times("container", "rollout_step"), (std::vector<Time>{at(60s), at(65s)}));
  EXPECT_EQ(w.times("container", "rollout_done"), (std::vector<Time>{at(70s)}));
  EXPECT_EQ(w.rt("late").image_version(), "v2");
  EXPECT_FALSE(w.platform.rollout_in_progress("RAW"));
}

TEST(Rollout, CustomStepsRoundUpAndSkipStoppedInstances_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  std::vector<std::string> names = {"a", "b", "c", "d"};
  for (const std::string& n : names) w.start_raw(n, Time::zero(), {{"ON_TERM", "exit-after-5s"}});
  const std::vector<std::string> order = replacement_order(w, names);
  // The last instance in id order stops by itself before its step comes.
  std::string last_name;
  for (const std::string& n : names)
    if (w.rt(n).label() == order[3]) last_name = n;
  w.sim.call_at(at(61s), [&] { w.rt(last_name).destroy(); });
  w.sim.call_at(at(60s), [&] { w.platform.rollout("RAW", "v2", RolloutOptions{{10, 50, 100}, Duration::zero()}); });
  w.run_until(at(10min));
  // 4 instances: ceil(0.4) = 1, ceil(2) = 2, 4 -> steps of 1, 1 and 2 (the 4th already stopped).
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 3u);
  EXPECT_EQ(sigterms[0], std::make_pair(at(60s), order[0]));
  EXPECT_EQ(sigterms[1], std::make_pair(at(65s), order[1]));
  EXPECT_EQ(sigterms[2], std::make_pair(at(70s), order[2]));
  ASSERT_EQ(w.records("container", "rollout_skip").size(), 1u);
  EXPECT_EQ(w.records("container", "rollout_skip")[0].field_text("container"), order[3]);
  EXPECT_EQ(w.times("container", "rollout_done"), (std::vector<Time>{at(75s)}));
  // Bad shapes are rejected, naming the value.
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{}, Duration::zero()}), std::invalid_argument);
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{0, 100}, Duration::zero()}), std::invalid_argument);
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{50, 40, 100}, Duration::zero()}), std::invalid_argument);
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{10, 90}, Duration::zero()}), std::invalid_argument);
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{100}, -1s}), std::invalid_argument);
}

TEST(Rollout, ActiveGracePeriodDelaysYoungInstances_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  w.start_raw("old", Time::zero());
  w.start_raw("young", at(50s));
  w.sim.call_at(at(30s), [&] { w.platform.rollout("RAW", "v2", RolloutOptions{{100}, 60s}); });
  w.run_until(at(10min));
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 1u) << "'young' started after the rollout began: it runs v2 and is not replaced";
  EXPECT_EQ(sigterms[0], std::make_pair(at(60s), w.rt("old").label())) << "not before it has run 60 s";
  EXPECT_EQ(w.rt("young").image_version(), "v2");

  World g;  // both started before the rollout; one too young to be replaced at once
  g.platform.add_image_version("RAW", make_image("v2"));
  g.start_raw("old", Time::zero());
  g.start_raw("young", at(20s));
  g.sim.call_at(at(30s), [&] { g.platform.rollout("RAW", "v2", RolloutOptions{{100}, 60s}); });
  g.run_until(at(10min));
  auto st = rollout_sigterms(g);
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0], std::make_pair(at(60s), g.rt("old").label()));
  EXPECT_EQ(st[1], std::make_pair(at(80s), g.rt("young").label()));
  EXPECT_EQ(g.times("container", "rollout_done"), (std::vector<Time>{at(80s)}));
}

TEST(Rollout, FaultVerbTakesStepsAndGrace_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  FaultInjector faults(w.sim);
  register_container_faults(faults, w.platform, testing_support::any_instance_of({&w.raw, &w.sdk}), w.fault_knobs);
  for (const char* n : {"a", "b"}) w.start_raw(n, Time::zero(), {{"ON_TERM", "ignore"}});
  FaultPlan plan = FaultPlan::parse("cfsim-faults v1\nat 1m00.000s container-rollout RAW version=v2 steps=50,100 grace_s=90\n");
  faults.apply(plan);
  w.run_until(at(40min));
  const std::vector<std::string> order = replacement_order(w, {"a", "b"});
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 2u);
  EXPECT_EQ(sigterms[0], std::make_pair(at(90s), order[0])) << "grace: not before 90 s of running";
  // It ignores SIGTERM: SIGKILL 15 min later ends step 1, then step 2 begins (§1.8).
  EXPECT_EQ(sigterms[1], std::make_pair(at(90s + 15min), order[1]));

  // Bad arguments make the plan fail when it is applied, before anything runs.
  for (const char* bad : {"steps=0,100", "steps=50,40,100", "steps=10,90", "steps=a", "steps=10,,100", "grace_s=-1"}) {
    World b;
    b.platform.add_image_version("RAW", make_image("v2"));
    FaultInjector f(b.sim);
    register_container_faults(f, b.platform, testing_support::any_instance_of({&b.raw, &b.sdk}), b.fault_knobs);
    EXPECT_THROW(f.apply(FaultPlan::parse(std::string("cfsim-faults v1\nat 1s container-rollout RAW version=v2 ") + bad + "\n")),
                 FaultPlanError)
        << bad;
  }
}

// A rollout started while another is in progress replaces it: the old one takes no further step,
// and its pending events (grace waits, step checks) do nothing (§1.9; container_runtime.h rollout()).
TEST(Rollout, ANewRolloutSupersedesOneInProgress_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  w.platform.add_image_version("RAW", make_image("v3"));
  std::vector<std::string> names = {"a", "b", "c", "d"};
  for (const std::string& n : names) w.start_raw(n, Time::zero(), {{"ON_TERM", "ignore"}});
  w.sim.call_at(at(60s), [&] { w.platform.rollout("RAW", "v2", RolloutOptions{{50, 100}, Duration::zero()}); });
  w.sim.call_at(at(120s), [&] { w.platform.rollout("RAW", "v3", RolloutOptions{{100}, Duration::zero()}); });
  w.run_until(at(1h));
  const std::vector<std::string> order = replacement_order(w, names);
  ASSERT_EQ(w.records("container", "rollout_superseded").size(), 1u);
  const Record sup = w.records("container", "rollout_superseded")[0];
  EXPECT_EQ(sup.time, at(120s));
  EXPECT_EQ(sup.field_text("version"), "v2");
  EXPECT_EQ(sup.field_text("step"), "1") << "v2 was still in its first step (its instances ignore SIGTERM)";
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 6u);
  EXPECT_EQ(sigterms[0], std::make_pair(at(60s), order[0]));  // v2 step 1: ceil(50 % of 4) = 2
  EXPECT_EQ(sigterms[1], std::make_pair(at(60s), order[1]));
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(sigterms[2 + i], std::make_pair(at(120s), order[i])) << i;
  // v2's step 2 never comes (it would begin when its step-1 instances die, at 60 s + 15 min).
  EXPECT_EQ(w.times("container", "rollout_step"), (std::vector<Time>{at(60s), at(120s)}));
  ASSERT_EQ(w.records("container", "rollout_done").size(), 1u);
  EXPECT_EQ(w.records("container", "rollout_done")[0].field_text("version"), "v3");
  EXPECT_EQ(w.records("container", "rollout_done")[0].time, at(120s + 15min)) << "the last SIGKILL of v3's step";
  EXPECT_EQ(w.platform.current_version("RAW"), "v3");
  EXPECT_FALSE(w.platform.rollout_in_progress("RAW"));

  World g;  // the superseded rollout had grace waits pending: they must not act when they fire
  g.platform.add_image_version("RAW", make_image("v2"));
  g.platform.add_image_version("RAW", make_image("v3"));
  for (const char* n : {"x", "y"}) g.start_raw(n, Time::zero(), {{"ON_TERM", "exit-after-5s"}});
  g.sim.call_at(at(10s), [&] { g.platform.rollout("RAW", "v2", RolloutOptions{{100}, 60s}); });
  g.sim.call_at(at(30s), [&] { g.platform.rollout("RAW", "v3", RolloutOptions{{100}, Duration::zero()}); });
  g.run_until(at(10min));
  EXPECT_EQ(g.times("container", "rollout_grace_wait"), (std::vector<Time>{at(10s), at(10s)}));
  EXPECT_EQ(rollout_sigterms(g).size(), 2u);
  for (const auto& [t, label] : rollout_sigterms(g)) EXPECT_EQ(t, at(30s)) << label;
  EXPECT_TRUE(g.records("container", "rollout_skip").empty()) << "v2's grace waits (due at 60 s) belong to a superseded rollout";
  EXPECT_EQ(g.times("container", "rollout_done"), (std::vector<Time>{at(35s)}));
}

// A platform destroyed with rollout events still scheduled: they must not touch it (ASan).
TEST(Rollout, PlatformDestroyedWithAGraceWaitPendingIsSafe_S1_9) {
  auto sink = std::make_shared<MemorySink>();
  Simulator sim(SimOptions{.trace_scheduling = false}, {sink});
  Network net(sim);
  auto platform = std::make_unique<ContainerPlatform>(sim, net, exact_options());
  DurableObjectNamespace ns(sim, "RAW", [&](DurableObjectState& s) { return std::make_unique<RawObject>(s, *platform); }, {});
  platform->register_namespace(ns, make_image("v1"));
  platform->add_image_version("RAW", make_image("v2"));
  ContainerRuntime& rt = platform->runtime(ns.id_from_name("p"));
  sim.call_at(Time::zero(), [&] { rt.start(); });
  sim.call_at(at(10s), [&] { platform->rollout("RAW", "v2", RolloutOptions{{100}, 60s}); });
  sim.run(RunLimits{.until = at(20s)});
  ASSERT_EQ(std::count_if(sink->records.begin(), sink->records.end(), [](const Record& r) { return r.name == "rollout_grace_wait"; }), 1);
  platform.reset();
  const size_t records_before = sink->records.size();
  RunResult r = sim.run(RunLimits{.until = at(5min)});
  EXPECT_TRUE(r.failed.empty());
  size_t container_records = 0;
  for (size_t i = records_before; i < sink->records.size(); ++i) container_records += sink->records[i].category == "container";
  EXPECT_EQ(container_records, 0u) << "the grace wait due at 60 s found the platform gone and did nothing";
}

}  // namespace
}  // namespace cfsim::raw_runtime_test
