#pragma once
// This binary's build as a trace records it (BuildInfo, sim/trace_file.h), and what differs between
// two such records: a trace replayed or compared elsewhere may take other steps for reasons outside
// cfsim's source (another SQLite answers a query differently, another compiler or -ffp-contract
// rounds differently), and `replay` and `diff` say so before they compare records.

#include <string>
#include <vector>

#include "sim/trace_file.h"

namespace cfsim::cli {

// cfsim's version, sqlite3_libversion(), BOOST_LIB_VERSION, the compiler and its version, and the
// flags that decide floating point and code generation (-O, -ffp-contract, -fsanitize, -march, ...).
const BuildInfo& this_build();

// One line per name whose value differs, "sqlite: 3.40.1 (A) vs 3.45.0 (B)", a name one side lacks
// included; empty when they are the same.
std::vector<std::string> build_differences(const BuildInfo& a, const BuildInfo& b, const char* a_name, const char* b_name);

}  // namespace cfsim::cli
