#pragma once
// The readable account of a run: one line per record in time order, one column per actor (see
// actors.h), each record's text starting in its actor's column. Scheduling records (sched.resume)
// are left out unless asked for; span ends say how long the span lasted; long quiet stretches get a
// line saying how much time passed. Durations are in human units ("250ms", "4m05s").
//
// With more actors than columns fit, actors whose names differ only by a trailing number share a
// column ("submit-*"), then by any number ("do:C/c*#*"); if that is still too many, the biggest of
// those families share a last column, "(others)". A line in a shared column names its actor.

#include <span>
#include <string>

#include "sim/trace.h"

namespace cfsim::cli {

struct TimelineOptions {
  size_t width_chars = 120;     // total line width the columns are laid out in
  size_t max_columns = 0;       // more actors than this: group them by name family (0: as many as fit, 4..16)
  bool scheduling = false;      // include sched.resume records
  Duration gap_line_after = Duration::seconds(1);  // a "... passes" line for quiet stretches this long
};

std::string render_timeline(std::span<const Record> records, const TimelineOptions& options = {});

// The width to lay a timeline out in: the terminal's width when stdout is one, else $COLUMNS, else 120.
size_t terminal_width();

// "k=v k2=\"two words\"" for a record's fields, as format_record writes them.
std::string fields_text(const Record& r);

}  // namespace cfsim::cli
