// cfsim: run scenarios, reproduce a failure from its seed, and look at what happened.
// docs/cli.md is the manual. Exit codes: 0 passed / identical, 1 failed / differs, 2 bad usage.

#include <CLI/CLI.hpp>
#include <cstdio>

#include "tools/replay/commands.h"

using namespace cfsim::cli;

namespace {

void add_world_options(CLI::App* cmd, WorldArgs& w) {
  cmd->add_option("scenario", w.scenario, "The scenario to run (cfsim list)")->required();
  cmd->add_option("--faults", w.faults, "none, swarm (the seed draws a fault plan) or a fault plan file")
      ->type_name("none|swarm|FILE");
  cmd->add_option("--until", w.until, "Stop at this virtual time (300ms, 10min, 1h30m); default: the scenario's end")
      ->type_name("DURATION");
  cmd->add_flag("--shuffle-ties", w.shuffle_ties, "Run same-instant events in a seed-shuffled order");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cfsim: a deterministic simulator of apps on Cloudflare Containers. Every run replays exactly from its seed.",
               "cfsim"};
  app.set_version_flag("--version", std::string("cfsim ") + CFSIM_VERSION);
  app.require_subcommand(1);
  const std::string program = program_for_commands(argc > 0 ? argv[0] : nullptr);
  std::function<int()> command;

  app.add_subcommand("list", "The registered scenarios, one line each")->callback([&] { command = [] { return cmd_list(); }; });

  RunArgs run;
  CLI::App* run_cmd = app.add_subcommand("run", "Run one world; exit 0 if it passed, 1 if an invariant failed");
  add_world_options(run_cmd, run.world);
  run_cmd->add_option("--seed", run.seed, "The seed (0 to 2^64-1); default 1")->type_name("N");
  run_cmd->add_option("--trace", run.trace, "Write the JSON-lines trace here (a failing run always writes one)")->type_name("FILE.jsonl");
  run_cmd->add_option("--perfetto", run.perfetto, "Write a Perfetto / Chrome trace here (ui.perfetto.dev)")->type_name("FILE.json");
  run_cmd->add_flag("--timeline", run.timeline, "Print a time-ordered account, one column per actor");
  run_cmd->add_flag("--no-fork", run.no_fork, "Run in this process (e.g. under a debugger): a crash is not caught");
  run_cmd->callback([&] { command = [&] { return cmd_run(run, program); }; });

  std::string replay_trace;
  bool replay_no_fork = false;
  CLI::App* replay_cmd = app.add_subcommand("replay", "Rerun a trace's run and check it takes the same steps, record by record");
  replay_cmd->add_option("trace", replay_trace, "A trace written by cfsim run or sweep")->required()->type_name("TRACE.jsonl");
  replay_cmd->add_flag("--no-fork", replay_no_fork, "Rerun in this process (e.g. under a debugger)");
  replay_cmd->callback([&] { command = [&] { return cmd_replay(replay_trace, replay_no_fork); }; });

  SweepArgs sweep;
  CLI::App* sweep_cmd = app.add_subcommand("sweep", "Run many seeds, each in its own process; one JSON result line per seed");
  add_world_options(sweep_cmd, sweep.world);
  sweep_cmd->add_option("--seeds", sweep.seeds, "The seeds, inclusive: A..B")->required()->type_name("A..B");
  sweep_cmd->add_option("--jobs", sweep.jobs, "Seeds run at once (default 1)")->type_name("J");
  sweep_cmd->add_option("--shard", sweep.shard, "Take every N-th seed starting at the I-th (0 <= I < N) of the range")
      ->type_name("I/N");
  sweep_cmd->add_option("--out", sweep.out, "Write the result lines here instead of stdout")->type_name("results.jsonl");
  sweep_cmd->add_option("--trace-dir", sweep.trace_dir, "Where failing seeds leave their traces (default out/traces)")
      ->type_name("DIR");
  sweep_cmd->callback([&] { command = [&] { return cmd_sweep(sweep, program); }; });

  std::vector<std::string> merge_inputs;
  std::string merge_out;
  CLI::App* merge_cmd = app.add_subcommand("merge", "Join the result files of a sweep's shards, in seed order");
  merge_cmd->add_option("results", merge_inputs, "Result files of cfsim sweep --out")->required()->type_name("FILE.jsonl");
  merge_cmd->add_option("--out", merge_out, "Write the merged lines here instead of stdout")->type_name("FILE.jsonl");
  merge_cmd->callback([&] { command = [&] { return cmd_merge(merge_inputs, merge_out); }; });

  std::string diff_a, diff_b;
  CLI::App* diff_cmd = app.add_subcommand("diff", "The first differing record of two traces, with the records before it");
  diff_cmd->add_option("a", diff_a, "A trace")->required()->type_name("A.jsonl");
  diff_cmd->add_option("b", diff_b, "Another trace")->required()->type_name("B.jsonl");
  diff_cmd->callback([&] { command = [&] { return cmd_diff(diff_a, diff_b); }; });

  std::string explain_trace_path;
  CLI::App* explain_cmd = app.add_subcommand("explain", "What happened to the app's data: writes, losses, missing and stale reads");
  explain_cmd->add_option("trace", explain_trace_path, "A trace")->required()->type_name("TRACE.jsonl");
  explain_cmd->callback([&] { command = [&] { return cmd_explain(explain_trace_path); }; });

  std::string timeline_trace;
  bool timeline_all = false;
  CLI::App* timeline_cmd = app.add_subcommand("timeline", "A trace as a time-ordered account, one column per actor");
  timeline_cmd->add_option("trace", timeline_trace, "A trace")->required()->type_name("TRACE.jsonl");
  timeline_cmd->add_flag("--scheduling", timeline_all, "Also show each fiber resume (sched.resume)");
  timeline_cmd->callback([&] { command = [&] { return cmd_timeline(timeline_trace, timeline_all); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    std::fprintf(stderr, "cfsim: error: %s (see cfsim --help)\n", what.c_str());
    return kExitUsage;
  }

  try {
    return command();
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "cfsim: error: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "cfsim: internal error: %s\n", e.what());
    return kExitFailed;
  }
}
