#pragma once
// One run of the notes app (notes_app.h): its workload, its faults and the promise it keeps.
//
// Workload: one client per note, each posting its note at its own virtual time, and one client
// uploading an attachment at 1 min. Faults: a fault plan over every verb and knob of the platform
// that can hit this app (notes_fault_space). Promise: once the faults have stopped, every note and
// attachment the app acknowledged (200) reads back intact — whatever the container's disk lost.

#include <cfsim/cfsim.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace notes {

// Fault plans act in [0, kFaultHorizon]; the reader starts kQuietBeforeReading later (longer than
// the longest outage a plan can draw, 120 s).
inline constexpr cfsim::Duration kFaultHorizon = cfsim::Duration::seconds(20 * 60);
inline constexpr cfsim::Duration kQuietBeforeReading = cfsim::Duration::seconds(5 * 60);

// Every drawable fault verb and knob of the platform over the app's targets: the NOTES/main
// instance (container and Durable Object verbs) and the ATTACHMENTS bucket (R2 verbs).
cfsim::FaultSpace notes_fault_space();

struct NotesRun {
  int acknowledged = 0;           // notes and attachments answered 200
  std::vector<std::string> lost;  // the acknowledged ones that did not read back, and why
  uint64_t container_starts = 0;
  uint64_t trace_hash = 0;        // the same (seed, plan, note times) always gives the same hash
  cfsim::RunResult run;           // how the kernel stopped
};

// The end of a run: the reader's last retries are long over by then.
inline constexpr cfsim::Duration kRunEnd = kFaultHorizon + cfsim::Duration::seconds(3600);

// Notes "n0", "n1", ... are posted at `note_times`. `sinks` get the trace (e.g. a JsonlFileSink).
// The workload and its check on a world the caller built, with add_notes_app and the faults
// applied; runs it within `limits` and leaves the trace open (trace_hash is not set). The notes_cli
// scenario uses it with the world the command line's options describe.
NotesRun run_notes_workload(cfsim::World& world, const std::vector<cfsim::Duration>& note_times, cfsim::RunLimits limits);

NotesRun run_notes(uint64_t seed, const cfsim::FaultPlan& plan, const std::vector<cfsim::Duration>& note_times,
                   bool shuffle_ties = false, std::vector<std::shared_ptr<cfsim::TraceSink>> sinks = {});

}  // namespace notes
