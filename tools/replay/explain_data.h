#pragma once
// The app-data part of `cfsim explain`: a ledger that follows each piece of data (a key or path,
// in a scope, in a store) through a trace's writes, deletes, commits, losses and reads, by the
// record conventions stated in explain.h, and the account of what became of it.

#include <span>
#include <string>

#include "sim/trace.h"

namespace cfsim::cli {

// The "App data", "Losses" and "Missing or stale reads" paragraphs for `records` (or the paragraph
// saying there is no app data), each line ending in '\n'; times are right-aligned to `time_width`.
std::string explain_app_data(std::span<const Record> records, size_t time_width);

// Who did it: the fiber that recorded it ("fiber N" if it has no name), or "kernel".
std::string doer(const Record& r);
// Whether the record's field `key` is the boolean false (absent or another type: no).
bool flag_false(const Record& r, const char* key);

}  // namespace cfsim::cli
