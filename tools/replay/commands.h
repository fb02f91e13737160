#pragma once
// The `cfsim` commands, one function each; main.cpp parses the command line into these argument
// structs. Each returns the process exit code (cli_common.h) and throws UsageError for bad input.

#include <optional>
#include <string>
#include <vector>

#include "sim/trace_file.h"
#include "tools/replay/cli_common.h"

namespace cfsim::cli {

// Options shared by `run` and `sweep`: which world to run.
struct WorldArgs {
  std::string scenario;
  std::string faults = "none";  // none | swarm | FILE
  std::optional<std::string> until;  // absent = the scenario's own end ("" given is an error)
  bool shuffle_ties = false;
};
RunSpec spec_from_args(const WorldArgs& a, std::string_view seed_text);

struct RunArgs {
  WorldArgs world;
  std::string seed = "1";
  std::string trace;     // JSON-lines trace file ("" = only a failing run keeps one, in out/traces/)
  std::string perfetto;  // Perfetto / Chrome trace-event file
  bool timeline = false;
  bool no_fork = false;  // run in this process (under a debugger); a crash then takes cfsim down
};
int cmd_run(const RunArgs& a, const std::string& program);

int cmd_replay(const std::string& trace_path, bool no_fork);
int cmd_diff(const std::string& a, const std::string& b);
int cmd_explain(const std::string& trace_path);
int cmd_timeline(const std::string& trace_path, bool scheduling);
int cmd_list();
// Every fault verb, knob and buggify site as Markdown (fault_table.h); docs/faults.md is its output.
int cmd_faults();

struct SweepArgs {
  WorldArgs world;
  std::string seeds;
  unsigned jobs = 1;
  std::string shard = "0/1";
  std::string out;  // "" = result lines on stdout
  std::string trace_dir = kDefaultTraceDir;
};
int cmd_sweep(const SweepArgs& a, const std::string& program);
int cmd_merge(const std::vector<std::string>& inputs, const std::string& out);

// A trace file, or UsageError with the reader's message.
TraceFile load_trace(const std::string& path);
// The run a trace's header describes; UsageError if it is not a header, names an unknown scenario,
// or was written by another cfsim version.
RunSpec spec_from_header(const TraceFile& trace, const std::string& origin);

}  // namespace cfsim::cli
