#include "scenarios/scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "model/world.h"

namespace cfsim {

const char* to_string(FaultMode m) {
  switch (m) {
    case FaultMode::none: return "none";
    case FaultMode::swarm: return "swarm";
    case FaultMode::plan: return "plan";
  }
  return "?";
}

FaultMode fault_mode_from_string(std::string_view s) {
  if (s == "none") return FaultMode::none;
  if (s == "swarm") return FaultMode::swarm;
  if (s == "plan") return FaultMode::plan;
  throw std::invalid_argument(fmt::format("unknown fault mode '{}' (none, swarm or plan)", s));
}

const Scenario* find_scenario(std::string_view name) {
  for (const auto& s : all_scenarios())
    if (s.name == name) return &s;
  return nullptr;
}

namespace {
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::vector<std::string> closest_scenarios(std::string_view name, size_t how_many) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& s : all_scenarios()) scored.emplace_back(edit_distance(name, s.name), s.name);
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < how_many; ++i) out.push_back(scored[i].second);
  return out;
}

FaultPlan plan_for(const Scenario& s, const ScenarioOptions& o) {
  switch (o.faults) {
    case FaultMode::none: return {};
    case FaultMode::plan: return o.plan;
    case FaultMode::swarm: return fault_plan_from_seed(o.seed, s.fault_space);
  }
  return {};
}

FaultPlan apply_faults(FaultInjector& faults, const Scenario& s, const ScenarioOptions& o) {
  FaultPlan plan = plan_for(s, o);
  faults.apply(plan);
  if (o.faults == FaultMode::swarm) faults.set_buggify(true);
  return plan;
}

SimOptions sim_options_for(const Scenario& s, const ScenarioOptions& o) {
  SimOptions so;
  so.seed = o.seed;
  so.shuffle_ties = o.shuffle_ties;
  so.run_info = {
      {"scenario", s.name},
      {"faults", to_string(o.faults)},
      {"until", o.until == Duration::max() ? std::string("end") : format_duration(o.until)},
  };
  if (o.faults == FaultMode::plan) so.run_info.emplace_back("fault_plan", o.plan.to_text());
  return so;
}

RunLimits limits_for(const ScenarioOptions& o) {
  RunLimits l;
  if (o.until != Duration::max()) l.until = Time::zero() + o.until;
  return l;
}

void fail(ScenarioResult& result, std::string why) {
  if (!result.passed) return;
  result.passed = false;
  result.failure = std::move(why);
}

void close_trace(Simulator& sim, ScenarioResult& result) {
  sim.close_trace();
  result.trace_hash = sim.trace_hash();
}

FiberHandle start_final_check(World& world, std::vector<FiberHandle> clients, Duration idle, std::function<void()> check) {
  return world.client("checker", [&world, clients = std::move(clients), idle, check = std::move(check)]() mutable {
    for (FiberHandle& c : clients) c.join();
    world.sim().sleep_for(idle);
    check();
  });
}

Response fetch_retrying_5xx(World& world, const Request& req, int retries, Duration pause) {
  Response r = world.fetch(req);
  for (int attempt = 0; r.status >= 500 && attempt < retries; ++attempt) {
    world.sim().sleep_for(pause);
    r = world.fetch(req);
  }
  return r;
}

}  // namespace cfsim
