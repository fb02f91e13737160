#pragma once
// Trace files. JSON lines (one record per line, then a footer with the final hash) for replay and
// diffing; Chrome/Perfetto trace-event JSON (one track per fiber, spans as async slices) for
// looking at a run in ui.perfetto.dev or chrome://tracing.
//
// Both writers write to "<path>.tmp" and rename it into place when closed, so a reader never sees
// a half-written file under the final name; on destruction without close() they still flush and
// rename, so a run that fails by exception keeps its trace.

#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/trace.h"

namespace cfsim {

class TraceFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class JsonlSink : public TraceSink {
 public:
  explicit JsonlSink(std::string path);  // throws TraceFileError if the file cannot be created
  ~JsonlSink() override;
  void write(const Record& r) override;
  void close(uint64_t hash, uint64_t records) override;
  const std::string& path() const { return path_; }

 private:
  void finish(const std::string* footer);
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

class PerfettoSink : public TraceSink {
 public:
  explicit PerfettoSink(std::string path);
  ~PerfettoSink() override;
  void write(const Record& r) override;
  void close(uint64_t hash, uint64_t records) override;

 private:
  void finish();
  void emit(const std::string& json);
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  bool first_ = true;
  std::map<uint32_t, bool> named_tracks_;
};

struct TraceFile {
  std::vector<Record> records;
  std::optional<uint64_t> final_hash;  // from the footer; absent if the run did not close the trace
  std::optional<uint64_t> final_count;
};

// Reads a JSON-lines trace. Throws TraceFileError with the file name and line number on anything
// malformed or truncated (wrong types and out-of-range numbers included, and a footer whose record
// count is not the number of records read); never crashes on bad input. The footer's hash is
// returned as written, not checked against the records.
//
// Line format: {"i":INDEX,"t":NS,"f":FIBER,"fn":FIBER_NAME,"c":CATEGORY,"n":NAME[,"p":"b"|"e"],
// "a":{KEY:VALUE...}}, then {"end":{"hash":"0x...","records":N}}. A non-finite double value is
// written {"f64":"0x<its 64 bits>"}, since JSON has no NaN or infinity. Strings must be UTF-8:
// invalid bytes are written as U+FFFD, which changes that record's hash.
TraceFile read_jsonl(const std::string& path);
// The same from text already in memory (`origin` names it in errors).
TraceFile parse_jsonl(std::string_view text, const std::string& origin);

std::string record_to_json(const Record& r);
std::string hash_hex(uint64_t h);  // "0x" + 16 lowercase hex digits

}  // namespace cfsim
