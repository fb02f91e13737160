// `cfsim explain`: the account of a trace, section by section — what run it is, how it ended, the
// faults that fired, the app's data (explain_data.cpp) and what else the trace holds.

#include "tools/replay/explain.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <vector>

#include "sim/trace_file.h"
#include "tools/replay/cli_common.h"
#include "tools/replay/explain_data.h"
#include "tools/replay/timeline.h"

namespace cfsim::cli {

namespace {

constexpr size_t kMaxCheckLines = 20;
constexpr size_t kMaxFaultLines = 20;

void add_line(std::string& out, const std::string& s) { out += s + '\n'; }

// The first lines: the run the header describes (or that there is none), and the plan it was given.
std::string run_account(const ExplainInput& in) {
  std::string out;
  const auto& recs = in.records;
  const Record* header = !recs.empty() && recs[0].category == "meta" && recs[0].name == "header" ? &recs[0] : nullptr;
  if (!header) {
    add_line(out, fmt::format("Trace {}: it has no header record, so the scenario, seed and options are unknown.", in.origin));
    return out;
  }
  std::string plan = header->field_text("fault_plan");
  add_line(out, fmt::format("Trace {}: scenario {}, seed {}, faults {}, until {}; written by cfsim {}.", in.origin,
                            header->field_text("scenario"), header->field_text("seed"), header->field_text("faults"),
                            header->field_text("until"), header->field_text("cfsim_version")));
  if (plan.empty()) return out;
  add_line(out, "Fault plan given:");
  size_t pos = 0;
  while (pos < plan.size()) {
    size_t nl = plan.find('\n', pos);
    if (nl == std::string::npos) nl = plan.size();
    if (nl > pos) add_line(out, "  " + plan.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

// How many records, over what stretch of virtual time, and whether the trace is complete.
std::string extent_account(const ExplainInput& in) {
  const auto& recs = in.records;
  std::string ending = in.footer_hash
                           ? fmt::format("complete (footer: {} records, hash {})", in.footer_count.value_or(0), hash_hex(*in.footer_hash))
                           : "with no footer: the run was aborted (it crashed or was killed) after the last record";
  return fmt::format("{} records, from {} to {} of virtual time; {}.\n", recs.size(), format_time(recs.front().time),
                     format_time(recs.back().time), ending);
}

// What the checks, the kernel's stop and failed fibers say, and the faults that fired.
struct Outcome {
  std::vector<std::string> lines, faults;
  size_t fault_count = 0, check_count = 0, checks_not_shown = 0;
};

void add_check(Outcome& o, const Record& r) {
  bool failed = flag_false(r, "passed");
  // Many checks: the failed ones all, the others up to a point.
  if (++o.check_count > kMaxCheckLines && !failed) {
    ++o.checks_not_shown;
    return;
  }
  Record rest;
  for (const auto& [k, v] : r.fields)
    if (k != "passed") rest.fields.emplace_back(k, v);
  o.lines.push_back(fmt::format("  check {}: {}{}", r.name, failed ? "FAILED" : r.field("passed") ? "passed" : "recorded",
                                rest.fields.empty() ? "" : " (" + fields_text(rest) + ")"));
}

Outcome collect_outcome(std::span<const Record> recs, size_t tw) {
  Outcome o;
  for (const Record& r : recs) {
    if (r.category == "check") {
      add_check(o, r);
    } else if (r.category == "fiber" && r.name == "error") {
      o.lines.push_back(fmt::format("  fiber {} ({}) ended by an exception at {}: {}", r.field_text("id"), doer(r),
                                    format_time(r.time), r.field_text("error")));
    } else if (r.category == "sched" && (r.name == "stop" || r.name == "deadlock")) {
      o.lines.push_back(fmt::format("  {} at {}: {}", r.name == "stop" ? "the kernel stopped" : "DEADLOCK", format_time(r.time),
                                    fields_text(r)));
    } else if (r.category == "fault") {
      ++o.fault_count;
      if (o.faults.size() < kMaxFaultLines)
        o.faults.push_back(fmt::format("  {:>{}}  {}.{} {}", format_time(r.time), tw, r.category, r.name, fields_text(r)));
    }
  }
  return o;
}

std::string outcome_account(const Outcome& o) {
  std::string out;
  add_line(out, "");
  add_line(out, "Outcome:");
  if (o.lines.empty()) add_line(out, "  the trace records no check, stop or fiber error (the run may have been cut short).");
  for (const auto& l : o.lines) add_line(out, l);
  if (o.checks_not_shown) add_line(out, fmt::format("  ... and {} more check records that did not fail", o.checks_not_shown));
  add_line(out, "");
  if (o.fault_count == 0) {
    add_line(out, "Faults: none fired (no record of category fault).");
    return out;
  }
  add_line(out, fmt::format("Faults ({} records of category fault):", o.fault_count));
  for (const auto& f : o.faults) add_line(out, f);
  if (o.fault_count > o.faults.size()) add_line(out, fmt::format("  ... and {} more", o.fault_count - o.faults.size()));
  return out;
}

// The fibers by family, and per category its record count and most frequent names.
std::string contents_account(std::span<const Record> recs) {
  std::map<std::string, std::map<std::string, size_t>> by_category;  // category -> name -> count
  std::vector<std::string> fiber_names;
  for (const Record& r : recs) {
    by_category[r.category][r.name]++;
    if (r.category == "fiber" && r.name == "life" && r.phase == Phase::begin) fiber_names.push_back(r.field_text("name"));
  }
  std::string out;
  add_line(out, "");
  add_line(out, "What the trace contains:");
  if (!fiber_names.empty()) add_line(out, fmt::format("  {} fibers: {}", fiber_names.size(), summarize_names(fiber_names)));
  for (const auto& [cat, names] : by_category) {
    size_t total = 0;
    std::vector<std::pair<size_t, std::string>> top;
    for (const auto& [n, c] : names) {
      total += c;
      top.emplace_back(c, n);
    }
    std::stable_sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string list;
    for (size_t i = 0; i < top.size() && i < 6; ++i) list += fmt::format("{}{} {}", i ? ", " : "", top[i].second, top[i].first);
    if (top.size() > 6) list += fmt::format(", and {} more names", top.size() - 6);
    add_line(out, fmt::format("  {:<10} {:>7} records: {}", cat, total, list));
  }
  return out;
}

}  // namespace

std::string explain_trace(const ExplainInput& in) {
  std::string out = run_account(in);
  if (in.records.empty()) return out + "It holds no records.\n";
  out += extent_account(in);
  size_t tw = 0;  // width of the time column: the longest time in the trace
  for (const Record& r : in.records) tw = std::max(tw, format_time(r.time).size());
  out += outcome_account(collect_outcome(in.records, tw));
  out += "\n" + explain_app_data(in.records, tw);
  return out + contents_account(in.records);
}

}  // namespace cfsim::cli
