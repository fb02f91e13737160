// The notes app's promise as a property: for any fault plan the platform can throw at it (drawn
// from World::fault_space by testing/fault_plans.h), any note times and any order of same-instant
// events, every acknowledged note and attachment reads back once the faults stop, and the same
// case always gives the same trace. A failure shrinks to the fewest, earliest faults and notes,
// and prints the plan in its text form (a file notes_scenario SEED PLAN_FILE replays).

#include <cfsim/testing.h>

#include "notes_run.h"

using namespace cfsim;

RC_GTEST_PROP(Notes, AcknowledgedWritesAreReadableAfterEveryFault, ()) {
  const FaultPlan plan = *testgen::fault_plan(notes::notes_fault_space());
  const auto seconds = *rc::gen::container<std::vector<int64_t>>(*rc::gen::inRange<size_t>(1, 6),
                                                                 rc::gen::inRange<int64_t>(0, 20 * 60));
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1000);
  const bool shuffle_ties = *rc::gen::arbitrary<bool>();
  std::vector<Duration> note_times;
  for (int64_t s : seconds) note_times.push_back(Duration::seconds(s));

  const notes::NotesRun run = notes::run_notes(seed, plan, note_times, shuffle_ties);
  for (const std::string& l : run.lost) RC_LOG() << "lost " << l << "\n";
  RC_ASSERT(run.lost.empty());
  RC_ASSERT(notes::run_notes(seed, plan, note_times, shuffle_ties).trace_hash == run.trace_hash);
}
