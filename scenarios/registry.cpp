#include "scenarios/registry.h"

#include <algorithm>
#include <stdexcept>

namespace cfsim {

namespace {

// Function-local statics, so that registrations from other files' static initialisers find them
// built whatever the order of initialisation.
struct Registry {
  std::vector<Scenario> list;            // sorted by name
  std::vector<Scenario (*)()> pending;   // factories not called yet, in registration order
};

Registry& registry() {
  static Registry r;
  return r;
}

void insert_sorted(std::vector<Scenario>& list, Scenario s) {
  if (s.name.empty()) throw std::invalid_argument("a scenario needs a name");
  if (!s.run) throw std::invalid_argument("scenario '" + s.name + "' has no run function");
  auto at = std::lower_bound(list.begin(), list.end(), s.name,
                             [](const Scenario& x, const std::string& name) { return x.name < name; });
  if (at != list.end() && at->name == s.name)
    throw std::invalid_argument("a scenario named '" + s.name + "' is registered twice");
  list.insert(at, std::move(s));
}

// Calls the factories registered since the last look-up.
void drain_pending(Registry& r) {
  while (!r.pending.empty()) {
    Scenario (*factory)() = r.pending.front();
    r.pending.erase(r.pending.begin());
    insert_sorted(r.list, factory());
  }
}

}  // namespace

void register_scenario(Scenario s) {
  Registry& r = registry();
  drain_pending(r);
  insert_sorted(r.list, std::move(s));
}

bool register_scenario_factory(Scenario (*factory)()) {
  if (!factory) throw std::invalid_argument("register_scenario_factory: no factory");
  registry().pending.push_back(factory);
  return true;
}

const std::vector<Scenario>& all_scenarios() {
  Registry& r = registry();
  drain_pending(r);
  return r.list;
}

}  // namespace cfsim
