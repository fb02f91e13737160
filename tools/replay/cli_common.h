#pragma once
// Pieces every `cfsim` command shares: the usage-error type (exit code 2), strict parsers for the
// values people type (seeds, seed ranges, shards, durations, fault arguments), the run
// specification a command line or a trace header describes, and the exact command that replays a
// run. Wall-clock time is read only here in tools/, never in the simulated layers.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "scenarios/scenario.h"

namespace cfsim::cli {

// Exit codes of every command.
constexpr int kExitOk = 0;       // passed / identical / no failing seed
constexpr int kExitFailed = 1;   // an invariant failed, a run crashed, two traces differ
constexpr int kExitUsage = 2;    // bad usage or bad input: one line on stderr, nothing ran

// Bad usage or bad input. main() prints what() as one line and exits with kExitUsage.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A decimal integer in [0, 2^64-1]; UsageError naming `what` and the text otherwise.
uint64_t parse_u64(std::string_view text, std::string_view what);
uint64_t parse_seed(std::string_view text);

// "A..B" (inclusive, A <= B) or a single seed "A".
struct SeedRange {
  uint64_t first = 0, last = 0;
  uint64_t count() const { return last - first + 1; }
};
SeedRange parse_seed_range(std::string_view text);

// "I/N": this process takes every N-th seed of the range, starting at the I-th (0 <= I < N).
struct Shard {
  uint64_t index = 0, count = 1;
};
Shard parse_shard(std::string_view text);

Duration parse_until(std::string_view text);  // a duration (parse_duration syntax)

// One run, as a command line or a trace header describes it (sinks are added by the caller).
struct RunSpec {
  const Scenario* scenario = nullptr;
  ScenarioOptions options;
  std::string faults_arg = "none";  // as given: "none", "swarm" or the plan file's path
};

// The scenario by name; UsageError with the closest names if there is none.
const Scenario& scenario_or_usage_error(std::string_view name);
// Fills options.faults (and options.plan from the file) from "none", "swarm" or a plan file path.
void apply_faults_arg(RunSpec& spec, const std::string& faults_arg);

// The command that reruns `spec` exactly, e.g. "build/release/bin/cfsim run kernel-race --seed 7".
std::string replay_command(const std::string& program, const RunSpec& spec);
// How the running binary was invoked, for commands printed to people: argv[0] as given (a path is
// runnable from the same directory, a bare name is found on PATH again: "cfsim", "notes_cli"), or
// "cfsim" if there is none.
std::string program_for_commands(const char* argv0);
std::string shell_quote(std::string_view arg);

// Where a failing run leaves its trace when no --trace was given: <dir>/<scenario>-<seed>.jsonl.
std::string default_trace_path(const std::string& dir, const RunSpec& spec);
constexpr const char* kDefaultTraceDir = "out/traces";
// Every file cfsim writes goes through "<path>.tmp", renamed into place. check_output_file throws
// UsageError if `path` exists and is neither a regular file nor a symbolic link: the rename would
// replace it (run as root,
// `--trace /dev/null` would put a plain file where the device was). prepare_output_file also
// creates the parent directories (UsageError if that fails).
void check_output_file(const std::string& path);
// An input file (`what`: "trace file", "fault plan file", ...) must exist and be a regular file (or a
// link to one): a directory would read as empty, a FIFO would block the read forever. UsageError
// "cannot read <what> '<path>': ..." otherwise.
void check_input_file(const std::string& path, std::string_view what);
void prepare_output_file(const std::string& path);

// Durations for people: "0s", "850ns", "12.5us", "340ms", "2.35s", "4m05s", "1h02m", "3d04h".
std::string human_duration(Duration d);
std::string human_seconds(double seconds);  // wall time, same style

// A wall clock for tools/ only (wall time of runs, sweep rate and ETA).
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Collapses names that differ only by a trailing number ("submit-0", "submit-1", ...) into one
// family "submit-*"; other names are their own family.
std::string name_family(std::string_view name);
// Coarser: every run of digits becomes '*' ("do:COUNTER/c1#7" -> "do:COUNTER/c*#*").
std::string name_pattern(std::string_view name);
// "submit-0..199 (200)", "client", "worker-0..3 (4)": a short list of names, grouped by family.
std::string summarize_names(const std::vector<std::string>& names);

}  // namespace cfsim::cli
