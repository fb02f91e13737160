// cfsim::cli_main: run scenarios, reproduce a failure from its seed, and look at what happened.
// docs/cli.md is the manual. Exit codes: 0 passed / identical, 1 failed / differs, 2 bad usage.

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <optional>

#include "tools/replay/cli_main.h"
#include "tools/replay/commands.h"

using namespace cfsim::cli;

namespace {

// Every command's arguments, filled in by the parser; `command` is set by the subcommand's callback
// and runs once parsing succeeded.
struct CommandLine {
  std::string program;  // how to name this binary in printed commands
  std::string name;     // how to name it in messages: its file name ("cfsim", "notes_cli")
  RunArgs run;
  SweepArgs sweep;
  std::string trace, other_trace;  // replay, diff, explain, timeline
  bool no_fork = false, scheduling = false;
  std::vector<std::string> merge_inputs;
  std::string merge_out;
  std::function<int()> command;
};

void add_world_options(CLI::App* cmd, WorldArgs& w) {
  cmd->add_option("scenario", w.scenario, "The scenario to run (cfsim list)")->required();
  cmd->add_option("--faults", w.faults, "none, swarm (the seed draws a fault plan) or a fault plan file (cfsim faults)")
      ->type_name("none|swarm|FILE");
  // A function, not a string: an empty --until '' is an error, not "no limit".
  cmd->add_option_function<std::string>("--until", [&w](const std::string& v) { w.until = v; },
                                        "Stop at this virtual time (300ms, 10min, 1h30m); default: the scenario's end")
      ->type_name("DURATION");
  cmd->add_flag("--shuffle-ties", w.shuffle_ties, "Run same-instant events in a seed-shuffled order");
}

void add_run(CLI::App& app, CommandLine& c) {
  CLI::App* cmd = app.add_subcommand("run", "Run one world; exit 0 if it passed, 1 if an invariant failed");
  add_world_options(cmd, c.run.world);
  cmd->add_option("--seed", c.run.seed, "The seed (0 to 2^64-1); default 1")->type_name("N");
  cmd->add_option("--trace", c.run.trace, "Write the JSON-lines trace here (a failing run always writes one)")->type_name("FILE.jsonl");
  cmd->add_option("--perfetto", c.run.perfetto, "Write a Perfetto / Chrome trace here (ui.perfetto.dev)")->type_name("FILE.json");
  cmd->add_flag("--timeline", c.run.timeline, "Print a time-ordered account, one column per actor");
  cmd->add_flag("--no-fork", c.run.no_fork, "Run in this process (e.g. under a debugger): a crash is not caught");
  cmd->callback([&c] { c.command = [&c] { return cmd_run(c.run, c.program); }; });
}

void add_sweep(CLI::App& app, CommandLine& c) {
  SweepArgs& s = c.sweep;
  CLI::App* cmd = app.add_subcommand("sweep", "Run many seeds, each in its own process; one JSON result line per seed");
  add_world_options(cmd, s.world);
  cmd->add_option("--seeds", s.seeds, "The seeds, inclusive: A..B")->required()->type_name("A..B");
  cmd->add_option("--jobs", s.jobs, "Seeds run at once (default 1)")->type_name("J");
  cmd->add_option("--shard", s.shard, "Take every N-th seed starting at the I-th (0 <= I < N) of the range")->type_name("I/N");
  cmd->add_option("--out", s.out, "Write the result lines here instead of stdout")->type_name("results.jsonl");
  cmd->add_option("--trace-dir", s.trace_dir, "Where failing seeds leave their traces (default out/traces)")->type_name("DIR");
  cmd->callback([&c] { c.command = [&c] { return cmd_sweep(c.sweep, c.program); }; });
}

void add_merge(CLI::App& app, CommandLine& c) {
  CLI::App* cmd = app.add_subcommand("merge", "Join the result files of a sweep's shards, in seed order");
  cmd->add_option("results", c.merge_inputs, "Result files of cfsim sweep --out")->required()->type_name("FILE.jsonl");
  cmd->add_option("--out", c.merge_out, "Write the merged lines here instead of stdout")->type_name("FILE.jsonl");
  cmd->callback([&c] { c.command = [&c] { return cmd_merge(c.merge_inputs, c.merge_out); }; });
}

void add_replay(CLI::App& app, CommandLine& c) {
  CLI::App* cmd = app.add_subcommand("replay", "Rerun a trace's run and check it takes the same steps, record by record");
  cmd->add_option("trace", c.trace, "A trace written by cfsim run or sweep")->required()->type_name("TRACE.jsonl");
  cmd->add_flag("--no-fork", c.no_fork, "Rerun in this process (e.g. under a debugger)");
  cmd->callback([&c] { c.command = [&c] { return cmd_replay(c.trace, c.no_fork); }; });
}

// The commands that look at traces: diff, explain, timeline.
void add_trace_views(CLI::App& app, CommandLine& c) {
  CLI::App* diff = app.add_subcommand("diff", "The first differing record of two traces, with the records before it");
  diff->add_option("a", c.trace, "A trace")->required()->type_name("A.jsonl");
  diff->add_option("b", c.other_trace, "Another trace")->required()->type_name("B.jsonl");
  diff->callback([&c] { c.command = [&c] { return cmd_diff(c.trace, c.other_trace); }; });

  CLI::App* explain = app.add_subcommand("explain", "What happened to the app's data: writes, losses, missing and stale reads");
  explain->add_option("trace", c.trace, "A trace")->required()->type_name("TRACE.jsonl");
  explain->callback([&c] { c.command = [&c] { return cmd_explain(c.trace); }; });

  CLI::App* timeline = app.add_subcommand("timeline", "A trace as a time-ordered account, one column per actor");
  timeline->add_option("trace", c.trace, "A trace")->required()->type_name("TRACE.jsonl");
  timeline->add_flag("--scheduling", c.scheduling, "Also show each fiber resume (sched.resume)");
  timeline->callback([&c] { c.command = [&c] { return cmd_timeline(c.trace, c.scheduling); }; });
}

void add_commands(CLI::App& app, CommandLine& c) {
  app.add_subcommand("list", "The registered scenarios, one line each")->callback([&c] { c.command = [] { return cmd_list(); }; });
  add_run(app, c);
  add_replay(app, c);
  add_sweep(app, c);
  add_merge(app, c);
  add_trace_views(app, c);
  app.add_subcommand("faults", "Every fault verb, knob and buggify site, as a Markdown table (docs/faults.md)")
      ->callback([&c] { c.command = [] { return cmd_faults(); }; });
}

// argv[1] when it is meant as a command (not an option) but names none; CLI11 would only say that a
// subcommand is required.
std::optional<std::string> unknown_command(const CLI::App& app, const std::string& name, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  std::string names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == argv[1]) return std::nullopt;
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return fmt::format("unknown command '{}'; the commands are {} (see {} --help)", argv[1], names, name);
}

// Parses the command line; the exit code if that is the end of it (help, version, bad usage).
std::optional<int> parse(CLI::App& app, const std::string& name, int argc, char** argv) {
  if (std::optional<std::string> unknown = unknown_command(app, name, argc, argv)) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), unknown->c_str());
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& ch : what)
      if (ch == '\n') ch = ' ';
    std::fprintf(stderr, "%s: error: %s (see %s --help)\n", name.c_str(), what.c_str(), name.c_str());
    return kExitUsage;
  }
  return std::nullopt;
}

int run_command(const std::string& name, const std::function<int()>& command) {
  try {
    return command();
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: internal error: %s\n", name.c_str(), e.what());
    return kExitFailed;
  }
}

// The file name of argv[0], for messages.
std::string display_name(int argc, char** argv) {
  std::string p = argc > 0 && argv[0] ? argv[0] : "";
  p = p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
  return p.empty() ? "cfsim" : p;
}

}  // namespace

int cfsim::cli_main(int argc, char** argv) {
  CommandLine c;
  c.name = display_name(argc, argv);
  c.program = program_for_commands(argc > 0 ? argv[0] : nullptr);
  CLI::App app{"cfsim: a deterministic simulator of apps on Cloudflare Containers. Every run replays exactly from its seed.",
               c.name};
  app.set_version_flag("--version", std::string("cfsim ") + CFSIM_VERSION);
  app.require_subcommand(1);
  add_commands(app, c);
  if (std::optional<int> exit_code = parse(app, c.name, argc, argv)) return *exit_code;
  return run_command(c.name, c.command);
}
