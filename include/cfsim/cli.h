#pragma once
// The `cfsim` command line as a library (target cfsim::cli: cfsim::cfsim + cfsim_cli + the
// built-in scenarios): one function per command (run, replay, sweep, merge, diff, explain,
// timeline, list, faults) over the scenario registry, and the trace views they print.
// docs/cli.md is the command line's manual.

#include "cfsim/cfsim.h"

#include "scenarios/registry.h"
#include "scenarios/scenario.h"
#include "tools/replay/cli_common.h"
#include "tools/replay/commands.h"
#include "tools/replay/explain.h"
#include "tools/replay/outcome.h"
#include "tools/replay/perfetto.h"
#include "tools/replay/timeline.h"
