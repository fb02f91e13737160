// cfsim: the command line over cfsim's demo scenarios. A program of your own gets the same command
// line over its scenarios by calling cfsim::cli_main (tools/replay/cli_main.h, docs/cli.md).

#include "scenarios/registry.h"
#include "tools/replay/cli_main.h"

int main(int argc, char** argv) {
  cfsim::register_builtin_scenarios();
  return cfsim::cli_main(argc, argv);
}
