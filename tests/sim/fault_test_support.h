#pragma once
// Helpers shared by the fault-plan and fault-injector tests.

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "sim/fault_plan.h"

namespace cfsim::fault_test {

inline FaultAction action(Duration at, std::string verb, std::string target = "",
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

}  // namespace cfsim::fault_test
