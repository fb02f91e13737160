#pragma once
// The `cfsim` command line as a library (target cfsim::cli: cfsim::cfsim + cfsim_cli + the
// scenario registry). A program of its own registers its scenarios and hands over to the command
// line (docs/cli.md, "Your own scenarios"):
//   CFSIM_SCENARIO(my_scenario)                       // or cfsim::register_scenario(...) in main
//   int main(int argc, char** argv) { return cfsim::cli_main(argc, argv); }
// cfsim's demo scenarios come only with cfsim::register_builtin_scenarios(). Also here: one
// function per command (run, replay, sweep, ...) and the trace views they print.

#include "cfsim/cfsim.h"

#include "scenarios/registry.h"
#include "scenarios/scenario.h"
#include "tools/replay/cli_common.h"
#include "tools/replay/cli_main.h"
#include "tools/replay/commands.h"
#include "tools/replay/explain.h"
#include "tools/replay/outcome.h"
#include "tools/replay/perfetto.h"
#include "tools/replay/timeline.h"
