#include "tools/replay/sweep_results.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "tools/replay/cli_common.h"

namespace cfsim::cli {

ResultWriter::ResultWriter(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  prepare_output_file(path_);
  tmp_ = path_ + ".tmp";
  f_ = std::fopen(tmp_.c_str(), "w");
  if (!f_) throw UsageError(fmt::format("cannot create results file '{}': {}", tmp_, std::strerror(errno)));
}

void ResultWriter::write(const std::string& line) {
  std::FILE* f = f_ ? f_ : stdout;
  std::fputs(line.c_str(), f);
  std::fputc('\n', f);
  std::fflush(f);
}

void ResultWriter::close() {
  if (!f_) return;
  std::fclose(f_);
  f_ = nullptr;
  std::rename(tmp_.c_str(), path_.c_str());
}

void print_failures(std::FILE* to, const std::vector<FailureNote>& failures) {
  constexpr size_t kShown = 20;
  if (failures.empty()) return;
  std::fprintf(to, "failing seeds:\n");
  for (size_t i = 0; i < failures.size() && i < kShown; ++i) {
    const auto& f = failures[i];
    std::fprintf(to, "  seed %llu: %s\n", static_cast<unsigned long long>(f.seed), f.failure.c_str());
    if (!f.replay.empty()) std::fprintf(to, "    replay: %s\n", f.replay.c_str());
    if (!f.trace.empty()) std::fprintf(to, "    trace:  %s\n", f.trace.c_str());
  }
  if (failures.size() > kShown) std::fprintf(to, "  ... and %zu more (see the result lines)\n", failures.size() - kShown);
}

}  // namespace cfsim::cli
