// `cfsim list` and `cfsim faults`: what there is to run, and what can be injected into it.

#include <algorithm>
#include <cstdio>

#include "tools/replay/commands.h"
#include "tools/replay/fault_table.h"

namespace cfsim::cli {

int cmd_list() {
  size_t w = 0;
  for (const auto& s : all_scenarios()) w = std::max(w, s.name.size());
  for (const auto& s : all_scenarios()) std::printf("%-*s  %s\n", static_cast<int>(w), s.name.c_str(), s.description.c_str());
  return kExitOk;
}

int cmd_faults() {
  std::fputs(fault_table_markdown(registered_faults()).c_str(), stdout);
  return kExitOk;
}

}  // namespace cfsim::cli
