// notes_scenario [SEED] [PLAN_FILE]: one run of the notes app on a World, with a fault plan (by
// default the one below: the container crashes between writes and reads, its host restarts, the
// Durable Object is reset). Prints what happened; exit 0 if every acknowledged note read back.

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "notes_run.h"

using namespace std::chrono_literals;

namespace {

// The text form of fault plans (docs/faults.md lists every verb): `cfsim faults` prints them.
constexpr const char* kDefaultPlan = R"(cfsim-faults v1
at 90s container-crash NOTES/main exit_code=137
at 4m container-restart-host NOTES/main
at 6m do-reset NOTES/main
)";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const uint64_t seed = argc > 1 ? std::stoull(argv[1]) : 1;
    const cfsim::FaultPlan plan = cfsim::FaultPlan::parse(argc > 2 ? read_file(argv[2]) : kDefaultPlan);
    const std::vector<cfsim::Duration> note_times = {10s, 2min, 3min, 5min, 7min};
    const notes::NotesRun run = notes::run_notes(seed, plan, note_times);
    fmt::print("notes: seed {}, {} fault actions; {} writes acknowledged, {} lost; the container started {} times\n",
               seed, plan.actions.size(), run.acknowledged, run.lost.size(), run.container_starts);
    for (const std::string& l : run.lost) fmt::print("  lost {}\n", l);
    fmt::print("trace hash {:016x}\n", run.trace_hash);
    return run.lost.empty() && run.acknowledged > 0 ? 0 : 1;
  } catch (const std::exception& e) {  // a bad seed, an unreadable or invalid plan file
    std::cerr << "notes_scenario: " << e.what() << "\n";
    return 2;
  }
}
