// libFuzzer target over the trace reader (cfsim::parse_jsonl): whatever the bytes, it returns a
// trace or throws TraceFileError, never crashes (ASan and UBSan are on). And what it accepts
// round-trips: writing the records back with record_to_json and reading them again gives the same
// records (same hash, same fiber names), the same build member and the same footer. Built with clang by tests/cli/CMakeLists.txt.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sim/trace_file.h"

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "trace_reader_fuzz: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cfsim::TraceFile t;
  try {
    t = cfsim::parse_jsonl(text, "fuzz");
  } catch (const cfsim::TraceFileError&) {
    return 0;  // rejected with a message: fine
  }
  std::string again;
  for (const auto& r : t.records) again += cfsim::record_to_json(r, r.index == 0 ? t.build : cfsim::BuildInfo{}) + "\n";
  if (t.final_hash)
    again += "{\"end\":{\"hash\":\"" + cfsim::hash_hex(*t.final_hash) + "\",\"records\":" + std::to_string(*t.final_count) + "}}\n";
  cfsim::TraceFile u;
  try {
    u = cfsim::parse_jsonl(again, "fuzz-again");
  } catch (const cfsim::TraceFileError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fail("a trace it accepted does not read back after writing");
  }
  if (u.records.size() != t.records.size()) fail("record count changed in a round trip");
  for (size_t i = 0; i < t.records.size(); ++i) {
    if (cfsim::record_hash(t.records[i]) != cfsim::record_hash(u.records[i])) fail("a record changed in a round trip");
    if (t.records[i].fiber_name != u.records[i].fiber_name) fail("a fiber name changed in a round trip");
  }
  if (t.build != u.build) fail("the header's build member changed in a round trip");
  if (t.final_hash != u.final_hash || t.final_count != u.final_count) fail("the footer changed in a round trip");
  return 0;
}
