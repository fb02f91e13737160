#pragma once
// The Perfetto export: a trace in the Chrome trace-event JSON format that ui.perfetto.dev (and
// chrome://tracing) load. One process, the world; one track (thread) per actor (actors.h), named
// after it; every span of the trace (a record with phase begin and its end: a fiber's life, a
// container's lifetime, a fault lasting a while) becomes a complete slice ("ph":"X") on its actor's
// track; every other record an instant on that track, with its fields as args. Slices on one
// track must nest, so spans of one actor that overlap without nesting go to an extra track
// "<actor> (2)", "(3)"... A span still open when the trace ends lasts to the last record and says
// unfinished=true. Scheduling records (sched.resume) are left out.

#include <span>
#include <string>

#include "sim/trace.h"

namespace cfsim::cli {

std::string perfetto_json(std::span<const Record> records);
// Writes perfetto_json() to "<path>.tmp" and renames it into place. UsageError if it cannot.
void write_perfetto_file(const std::string& path, std::span<const Record> records);

}  // namespace cfsim::cli
