// `cfsim merge`: join the result files of a sweep's shards into one, in seed order, refusing
// overlapping shards and results of another scenario, and naming the seeds missing from the range.

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "tools/replay/commands.h"
#include "tools/replay/sweep_results.h"

namespace cfsim::cli {

namespace {

using ojson = nlohmann::ordered_json;

struct ResultLine {
  std::string text, file;
  bool passed;
  std::string failure, replay, trace;
};

struct MergedResults {
  std::map<uint64_t, ResultLine> by_seed;
  std::string scenario;  // "" until a line names one
};

// One line of a results file into `m`; UsageError naming path:line_no for anything that does not fit.
void add_result_line(MergedResults& m, const std::string& text, const std::string& path, size_t line_no) {
  ojson j = ojson::parse(text, nullptr, false);
  auto seed = j.is_object() ? j.find("seed") : j.end();
  auto passed = j.is_object() ? j.find("passed") : j.end();
  if (j.is_discarded() || !j.is_object() || seed == j.end() || !seed->is_number_unsigned() || passed == j.end() ||
      !passed->is_boolean())
    throw UsageError(fmt::format("{}:{}: not a sweep result line (a JSON object with seed and passed)", path, line_no));
  std::string s = j.value("scenario", "");
  if (!m.scenario.empty() && !s.empty() && s != m.scenario)
    throw UsageError(fmt::format("{}:{}: results of scenario '{}' cannot be merged with results of '{}'", path, line_no, s, m.scenario));
  if (m.scenario.empty()) m.scenario = s;
  uint64_t sd = seed->get<uint64_t>();
  if (auto it = m.by_seed.find(sd); it != m.by_seed.end())
    throw UsageError(fmt::format("seed {} appears in both {} and {}:{}: overlapping shards?", sd, it->second.file, path, line_no));
  auto text_of = [&](const char* key) {
    auto f = j.find(key);
    return f != j.end() && f->is_string() ? f->get<std::string>() : std::string();
  };
  m.by_seed[sd] = ResultLine{text, path, passed->get<bool>(), text_of("failure"), text_of("replay"), text_of("trace")};
}

MergedResults read_results(const std::vector<std::string>& inputs) {
  MergedResults m;
  for (const auto& path : inputs) {
    check_input_file(path, "results file");
    std::ifstream in(path);
    if (!in) throw UsageError(fmt::format("cannot read results file '{}': {}", path, std::strerror(errno)));
    std::string text;
    size_t line_no = 0;
    while (std::getline(in, text)) {
      ++line_no;
      if (!text.empty()) add_result_line(m, text, path, line_no);
    }
  }
  if (m.by_seed.empty()) throw UsageError("merge: the results files hold no result lines");
  return m;
}

// "none missing", or "12 missing: 4, 5, 9, ..." (the first ten) between the lowest and highest seed.
std::string missing_text(const MergedResults& m) {
  std::vector<uint64_t> missing;
  uint64_t expected = m.by_seed.begin()->first, missing_count = 0;
  for (const auto& [seed, line] : m.by_seed) {
    if (seed > expected) {
      missing_count += seed - expected;
      for (uint64_t s = expected; s < seed && missing.size() < 10; ++s) missing.push_back(s);
    }
    expected = seed + 1;
  }
  if (!missing_count) return "none missing";
  std::string text = fmt::format("{} missing: ", missing_count);
  for (size_t i = 0; i < missing.size(); ++i) text += fmt::format("{}{}", i ? ", " : "", missing[i]);
  if (missing_count > missing.size()) text += ", ...";
  return text;
}

}  // namespace

int cmd_merge(const std::vector<std::string>& inputs, const std::string& out) {
  const MergedResults m = read_results(inputs);
  ResultWriter results(out);
  std::vector<FailureNote> failures;
  for (const auto& [seed, line] : m.by_seed) {
    results.write(line.text);
    if (!line.passed) failures.push_back(FailureNote{seed, line.failure, line.replay, line.trace});
  }
  results.close();
  std::FILE* human = out.empty() ? stderr : stdout;
  std::fprintf(human, "merged %zu file%s: %zu results%s, seeds %llu..%llu (%s); %zu passed, %zu failed\n", inputs.size(),
               inputs.size() == 1 ? "" : "s", m.by_seed.size(), m.scenario.empty() ? "" : (" for " + m.scenario).c_str(),
               static_cast<unsigned long long>(m.by_seed.begin()->first),
               static_cast<unsigned long long>(m.by_seed.rbegin()->first), missing_text(m).c_str(),
               m.by_seed.size() - failures.size(), failures.size());
  if (!out.empty()) std::fprintf(human, "results: %s\n", out.c_str());
  print_failures(human, failures);
  return failures.empty() ? kExitOk : kExitFailed;
}

}  // namespace cfsim::cli
