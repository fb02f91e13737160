#pragma once
// The whole `cfsim` command line as one function, for a program of its own: register scenarios
// (scenarios/registry.h), then `return cfsim::cli_main(argc, argv);`. list, run, replay, sweep,
// merge, diff, explain, timeline, perfetto and faults then work on the registered scenarios, and
// printed commands (replay lines, sweep results) name this program. `sweep` forks this process for
// each seed, so its children know the same scenarios. docs/cli.md is the manual.

namespace cfsim {

// Exit codes: 0 passed / identical, 1 failed / differs, 2 bad usage (tools/replay/cli_common.h).
int cli_main(int argc, char** argv);

}  // namespace cfsim
