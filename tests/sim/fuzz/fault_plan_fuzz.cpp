// libFuzzer target over the fault-plan parser (cfsim::FaultPlan::parse and to_text): whatever the
// bytes, parse returns a plan or throws FaultPlanError, never crashes or throws anything else (ASan
// and UBSan are on). And what it accepts round-trips exactly: parse(to_text(p)) == p, the text of
// that plan is a fixed point, and re-adding its actions one by one with FaultPlan::add rebuilds the
// same plan (parse keeps them in time order, add inserts after equal times). Every argument read
// as an integer either gives a value or a FaultPlanError. Built with clang by
// tests/sim/fuzz/CMakeLists.txt.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sim/fault_plan.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "fault_plan_fuzz: %s\n--- to_text() ---\n%s--- end ---\n", what, text.c_str());
  std::abort();
}

// Reads every argument and knob the way fault handlers do; only FaultPlanError may come out.
void read_everything(const cfsim::FaultPlan& p) {
  for (const auto& a : p.actions)
    for (const auto& [k, v] : a.args) {
      try {
        (void)a.arg_int(k);
      } catch (const cfsim::FaultPlanError&) {
      }
      if (a.arg(k) != v || !a.has_arg(k)) fail("an argument does not read back by its name", p.to_text());
    }
  for (const auto& [k, v] : p.knobs)
    if (p.knob(k, v == 0 ? 1 : 0) != v) fail("a knob does not read back by its name", p.to_text());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  cfsim::FaultPlan p;
  try {
    p = cfsim::FaultPlan::parse(input);
  } catch (const cfsim::FaultPlanError&) {
    return 0;  // rejected with a message: fine
  }
  const std::string text = p.to_text();
  cfsim::FaultPlan q;
  try {
    q = cfsim::FaultPlan::parse(text);
  } catch (const cfsim::FaultPlanError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fail("a plan it accepted does not parse back from its own text", text);
  }
  if (!(q == p)) fail("parse(to_text(p)) != p", text);
  if (q.to_text() != text) fail("to_text is not a fixed point", text);
  cfsim::FaultPlan r;
  r.knobs = p.knobs;
  try {
    for (const auto& a : p.actions) r.add(a);
  } catch (const cfsim::FaultPlanError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fail("FaultPlan::add refuses an action that parse accepted", text);
  }
  if (!(r == p)) fail("re-adding the parsed actions gives another plan", text);
  read_everything(p);
  return 0;
}
