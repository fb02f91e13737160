#pragma once
// What `sweep` and `merge` both write: the result lines (to a file through "<out>.tmp", renamed at
// the end, or to stdout) and the list of failing seeds for people.

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace cfsim::cli {

// Writes result lines to `path` (through "<path>.tmp", renamed by close()) or, for "", to stdout.
// UsageError if the file cannot be created.
class ResultWriter {
 public:
  explicit ResultWriter(std::string path);
  ~ResultWriter() { close(); }
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;
  void write(const std::string& line);  // one line, flushed
  void close();

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

// One failing seed, as the summary lists it.
struct FailureNote {
  uint64_t seed;
  std::string failure, replay, trace;
};

// "failing seeds:" and the first 20 with their replay commands and traces; nothing if none failed.
void print_failures(std::FILE* to, const std::vector<FailureNote>& failures);

}  // namespace cfsim::cli
