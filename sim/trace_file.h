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

// What decides a run besides its seed and options but lies outside cfsim's records: the versions of
// cfsim and the libraries under it, the compiler and the flags that matter (name, value pairs in
// order: "cfsim", "sqlite", "boost", "compiler", "flags"). A writer puts it on the header line (the
// first record's) as the member "build"; it is no part of any record, so it never enters the trace
// hash: the same run hashes the same from any build. Empty: not written (and an old trace has none).
using BuildInfo = std::vector<std::pair<std::string, std::string>>;

class JsonlSink : public TraceSink {
 public:
  // Throws TraceFileError if the file cannot be created. `build` goes on the line of record 0.
  explicit JsonlSink(std::string path, BuildInfo build = {});
  ~JsonlSink() override;
  void write(const Record& r) override;
  void close(uint64_t hash, uint64_t records) override;
  const std::string& path() const { return path_; }

 private:
  void finish(const std::string* footer);
  std::string path_, tmp_;
  BuildInfo build_;
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
  BuildInfo build;  // from the header line's "build" member; empty if it has none
};

// Reads a JSON-lines trace. Throws TraceFileError with the file name and line number on anything
// malformed or truncated (wrong types and out-of-range numbers included, and a footer whose record
// count is not the number of records read); never crashes on bad input. The footer's hash is
// returned as written, not checked against the records.
//
// Line format: {"i":INDEX,"t":NS,"f":FIBER,"fn":FIBER_NAME,"c":CATEGORY,"n":NAME[,"p":"b"|"e"],
// "a":{KEY:VALUE...}}, then {"end":{"hash":"0x...","records":N}}. The line of record 0 may also hold
// "build":{NAME:"TEXT"...} (BuildInfo; strings only). A non-finite double value is
// written {"f64":"0x<its 64 bits>"}, since JSON has no NaN or infinity. Strings must be UTF-8:
// invalid bytes are written as U+FFFD, which changes that record's hash.
TraceFile read_jsonl(const std::string& path);
// The same from text already in memory (`origin` names it in errors).
TraceFile parse_jsonl(std::string_view text, const std::string& origin);

// One record's line (without the newline); with `build` non-empty, its "build" member after "a".
std::string record_to_json(const Record& r, const BuildInfo& build = {});
std::string hash_hex(uint64_t h);  // "0x" + 16 lowercase hex digits

}  // namespace cfsim
