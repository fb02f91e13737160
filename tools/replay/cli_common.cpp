#include "tools/replay/cli_common.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sim/fault_plan.h"

namespace cfsim::cli {

uint64_t parse_u64(std::string_view text, std::string_view what) {
  auto bad = [&] {
    return UsageError(fmt::format("bad {} '{}': expected a decimal integer from 0 to {}", what, text, UINT64_MAX));
  };
  if (text.empty() || text.size() > 20) throw bad();
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') throw bad();
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) throw bad();
    v = v * 10 + digit;
  }
  return v;
}

uint64_t parse_seed(std::string_view text) { return parse_u64(text, "seed"); }

SeedRange parse_seed_range(std::string_view text) {
  SeedRange r;
  size_t dots = text.find("..");
  if (dots == std::string_view::npos) {
    r.first = r.last = parse_u64(text, "seed range");
    return r;
  }
  r.first = parse_u64(text.substr(0, dots), "first seed of the range");
  r.last = parse_u64(text.substr(dots + 2), "last seed of the range");
  if (r.first > r.last)
    throw UsageError(fmt::format("bad seed range '{}': the first seed is larger than the last", text));
  if (r.last - r.first >= (uint64_t{1} << 32))
    throw UsageError(fmt::format("bad seed range '{}': a sweep covers at most 4294967296 seeds", text));
  return r;
}

Shard parse_shard(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos)
    throw UsageError(fmt::format("bad shard '{}': expected I/N, e.g. 0/4 (shard I of N, 0 <= I < N)", text));
  Shard s;
  s.index = parse_u64(text.substr(0, slash), "shard index");
  s.count = parse_u64(text.substr(slash + 1), "shard count");
  if (s.count == 0 || s.index >= s.count)
    throw UsageError(fmt::format("bad shard '{}': need 0 <= I < N (I counts from 0)", text));
  return s;
}

Duration parse_until(std::string_view text) {
  try {
    return parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("bad --until: {}", e.what()));
  }
}

const Scenario& scenario_or_usage_error(std::string_view name) {
  if (const Scenario* s = find_scenario(name)) return *s;
  std::vector<std::string> close = closest_scenarios(name, 1);
  std::string hint = close.empty() ? "" : fmt::format(" (did you mean '{}'?", close[0]);
  hint += close.empty() ? " (`cfsim list` shows them all)" : " `cfsim list` shows them all)";
  throw UsageError(fmt::format("unknown scenario '{}'{}", name, hint));
}

void apply_faults_arg(RunSpec& spec, const std::string& faults_arg) {
  spec.faults_arg = faults_arg;
  if (faults_arg == "none" || faults_arg == "swarm") {
    spec.options.faults = fault_mode_from_string(faults_arg);
    spec.options.plan = {};
    return;
  }
  std::error_code ec;
  if (!std::filesystem::exists(faults_arg, ec))
    throw UsageError(fmt::format("--faults '{}' is neither none, swarm nor a readable fault plan file: {}", faults_arg,
                                 std::strerror(ENOENT)));
  check_input_file(faults_arg, "fault plan file");
  std::ifstream in(faults_arg, std::ios::binary);
  if (!in)
    throw UsageError(fmt::format("--faults '{}' is neither none, swarm nor a readable fault plan file: {}",
                                 faults_arg, std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  try {
    spec.options.plan = FaultPlan::parse(text.str());
  } catch (const FaultPlanError& e) {
    throw UsageError(fmt::format("bad fault plan file '{}': {}", faults_arg, e.what()));
  }
  spec.options.faults = FaultMode::plan;
}

std::string shell_quote(std::string_view arg) {
  bool plain = !arg.empty();
  for (char c : arg)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./:=@%+,-", c))) plain = false;
  if (plain) return std::string(arg);
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string replay_command(const std::string& program, const RunSpec& spec) {
  std::string cmd = fmt::format("{} run {} --seed {}", shell_quote(program), shell_quote(spec.scenario->name),
                                spec.options.seed);
  if (spec.options.faults != FaultMode::none) cmd += " --faults " + shell_quote(spec.faults_arg);
  if (spec.options.until != Duration::max()) cmd += " --until " + format_duration(spec.options.until);
  if (spec.options.shuffle_ties) cmd += " --shuffle-ties";
  return cmd;
}

std::string program_for_commands(const char* argv0) {
  std::string p = argv0 ? argv0 : "";
  return p.empty() ? "cfsim" : p;  // a name without a '/' is found on PATH again
}

std::string default_trace_path(const std::string& dir, const RunSpec& spec) {
  return fmt::format("{}/{}-{}.jsonl", dir, spec.scenario->name, spec.options.seed);
}

void check_output_file(const std::string& path) {
  std::error_code ec;
  std::filesystem::file_status st = std::filesystem::symlink_status(path, ec);
  if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st) && !std::filesystem::is_symlink(st))
    throw UsageError(fmt::format("cannot write '{}': it exists and is not a regular file (cfsim writes a file through a "
                                 "temporary one renamed into place, which would replace it)", path));
}

void check_input_file(const std::string& path, std::string_view what) {
  std::error_code ec;
  std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    int err = ec ? ec.value() : ENOENT;
    throw UsageError(fmt::format("cannot read {} '{}': {}", what, path, std::strerror(err)));
  }
  if (std::filesystem::is_directory(st)) throw UsageError(fmt::format("cannot read {} '{}': it is a directory", what, path));
  if (!std::filesystem::is_regular_file(st))
    throw UsageError(fmt::format("cannot read {} '{}': it is not a regular file", what, path));
}

void prepare_output_file(const std::string& path) {
  check_output_file(path);
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) throw UsageError(fmt::format("cannot create directory '{}': {}", parent.string(), ec.message()));
}

namespace {
// Three significant digits at most, trailing zeros dropped: 2.35, 12.5, 340.
std::string short_number(double v) {
  std::string s = fmt::format("{:.{}f}", v, v < 10 ? 2 : v < 100 ? 1 : 0);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}
}  // namespace

std::string human_duration(Duration d) {
  if (d.ns < 0) return "-" + human_duration(Duration::nanos(d.ns == INT64_MIN ? INT64_MAX : -d.ns));
  const int64_t ns = d.ns;
  constexpr int64_t us = 1000, ms = 1000 * us, s = 1000 * ms, min = 60 * s, h = 60 * min, day = 24 * h;
  if (ns == 0) return "0s";
  if (ns < us) return fmt::format("{}ns", ns);
  if (ns < ms) return short_number(static_cast<double>(ns) / us) + "us";
  if (ns < s) return short_number(static_cast<double>(ns) / ms) + "ms";
  if (ns < min) return short_number(static_cast<double>(ns) / s) + "s";
  if (ns < h) return fmt::format("{}m{:02}s", ns / min, (ns % min) / s);
  if (ns < day) return fmt::format("{}h{:02}m", ns / h, (ns % h) / min);
  return fmt::format("{}d{:02}h", ns / day, (ns % day) / h);
}

std::string human_seconds(double seconds) {
  if (!(seconds >= 0)) return "?";
  if (seconds > 9e9) return fmt::format("{:.0f}s", seconds);
  return human_duration(Duration::nanos(static_cast<int64_t>(seconds * 1e9)));
}

std::string name_family(std::string_view name) {
  size_t end = name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
  if (end == name.size() || end == 0) return std::string(name);
  return std::string(name.substr(0, end)) + "*";
}

std::string name_pattern(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) {
      out += name[i];
      continue;
    }
    out += '*';
    while (i + 1 < name.size() && std::isdigit(static_cast<unsigned char>(name[i + 1]))) ++i;
  }
  return out;
}

std::string summarize_names(const std::vector<std::string>& names) {
  // Group by pattern (every number a '*'), in order of first appearance. A group where only a
  // trailing number varies prints as a range ("submit-0..199 (200)"); a group of one distinct name
  // as that name ("client", "ct:main (x3)"); any other group as its pattern and count.
  constexpr size_t kMaxGroups = 12;
  struct Group {
    std::vector<std::string> names;
    std::set<std::string> distinct;
  };
  std::vector<std::string> order;
  std::map<std::string, Group> groups;
  for (const auto& n : names) {
    std::string pattern = name_pattern(n);
    auto [it, fresh] = groups.try_emplace(pattern);
    if (fresh) order.push_back(pattern);
    it->second.names.push_back(n);
    it->second.distinct.insert(n);
  }
  std::string out;
  for (size_t g = 0; g < order.size() && g < kMaxGroups; ++g) {
    const Group& group = groups[order[g]];
    const std::string& first = group.names.front();
    std::string family = name_family(first);
    if (!out.empty()) out += ", ";
    if (group.distinct.size() == 1) {
      out += first + (group.names.size() > 1 ? fmt::format(" (x{})", group.names.size()) : "");
      continue;
    }
    bool trailing_only = family.back() == '*' && std::all_of(group.names.begin(), group.names.end(), [&](const std::string& n) {
                           return name_family(n) == family;
                         });
    if (!trailing_only) {
      out += fmt::format("{} ({})", order[g], group.names.size());
      continue;
    }
    std::vector<uint64_t> nums;
    for (const auto& n : group.names) {
      std::string digits = n.substr(family.size() - 1);
      nums.push_back(digits.size() <= 18 ? std::stoull(digits) : 0);
    }
    std::sort(nums.begin(), nums.end());
    out += fmt::format("{}{}..{} ({})", family.substr(0, family.size() - 1), nums.front(), nums.back(), group.names.size());
  }
  if (order.size() > kMaxGroups) out += fmt::format(", and {} more kinds", order.size() - kMaxGroups);
  return out;
}

}  // namespace cfsim::cli
