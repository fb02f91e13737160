// `cfsim diff`: where two trace files first part. Records are compared by hash, as replay compares
// them. Two things the trace reader does not keep in a Record are compared too, so that two files
// that differ are never called identical: members of a line outside the trace format (read_jsonl
// ignores them: an edited file, or one from a writer that adds fields) and the footer (its hash is
// as written; no footer means the run was aborted).

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tools/replay/build_info.h"
#include "tools/replay/commands.h"
#include "tools/replay/outcome.h"

namespace cfsim::cli {

namespace {

using ojson = nlohmann::ordered_json;

// What the lines of a trace file hold beyond the trace format (sim/trace_file.h), as JSON text;
// "" where there is nothing more.
struct UnreadMembers {
  std::vector<std::string> records;  // one per record line, in order
  std::string footer;
};

// Adds to `out` the members of `line` other than `known`, their names after `prefix` (where they sit).
void collect_unknown(const ojson& line, std::initializer_list<const char*> known, const std::string& prefix, ojson& out) {
  for (auto it = line.begin(); it != line.end(); ++it) {
    bool is_known = false;
    for (const char* k : known) is_known = is_known || it.key() == k;
    if (!is_known) out[prefix + it.key()] = it.value();
  }
}

std::string text_of(const ojson& members) {
  return members.empty() ? "" : members.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The file was read by load_trace already, so every non-empty line is a JSON object.
UnreadMembers unread_members(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("cannot read trace file '{}': {}", path, std::strerror(errno)));
  UnreadMembers out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ojson j = ojson::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw UsageError(fmt::format("{}: changed while it was being read", path));
    ojson extra = ojson::object();
    if (auto end = j.find("end"); end != j.end()) {
      collect_unknown(j, {"end"}, "", extra);
      if (end->is_object()) collect_unknown(*end, {"hash", "records"}, "end.", extra);
      out.footer = text_of(extra);
    } else {
      // The header line's "build" is in the format (read into TraceFile::build, compared apart).
      if (out.records.empty()) collect_unknown(j, {"i", "t", "f", "fn", "c", "n", "p", "a", "build"}, "", extra);
      else collect_unknown(j, {"i", "t", "f", "fn", "c", "n", "p", "a"}, "", extra);
      out.records.push_back(text_of(extra));
    }
  }
  return out;
}

// The first record index below `limit` where the two files' unread members differ.
std::optional<size_t> first_unread_difference(const UnreadMembers& a, const UnreadMembers& b, size_t limit) {
  for (size_t i = 0; i < limit && i < a.records.size() && i < b.records.size(); ++i)
    if (a.records[i] != b.records[i]) return i;
  return std::nullopt;
}

std::string members_or_none(const std::string& text) { return text.empty() ? "(none)" : text; }

// Two traces with the same records and lines: what differs in their footers, or "" if nothing.
std::string footer_difference(const TraceFile& left, const TraceFile& right, const UnreadMembers& ul,
                              const UnreadMembers& ur) {
  auto footer = [](const TraceFile& t) {
    return t.final_hash ? fmt::format("a footer with hash {}", hash_hex(*t.final_hash))
                        : std::string("no footer (its run was aborted after its last record)");
  };
  if (left.final_hash != right.final_hash) return fmt::format("A has {}, B has {}", footer(left), footer(right));
  if (ul.footer != ur.footer)
    return fmt::format("their footers differ outside the trace format: A {}, B {}", members_or_none(ul.footer),
                       members_or_none(ur.footer));
  return "";
}

void print_unread(const UnreadMembers& ul, const UnreadMembers& ur, size_t index) {
  if (index >= ul.records.size() || index >= ur.records.size() || ul.records[index] == ur.records[index]) return;
  std::printf("  members outside the trace format (replay and explain ignore them): A %s, B %s\n",
              members_or_none(ul.records[index]).c_str(), members_or_none(ur.records[index]).c_str());
}

// Before any record is compared: whether the two traces come from different builds, which alone
// can make the same run take other steps.
void print_build_note(const TraceFile& left, const TraceFile& right) {
  if (left.build.empty() != right.build.empty()) {
    std::printf("note: only %s records the build that wrote it (the other is from an older cfsim): if the traces "
                "differ, another SQLite, Boost or compiler may be the reason\n", left.build.empty() ? "B" : "A");
    return;
  }
  std::vector<std::string> diffs = build_differences(left.build, right.build, "A", "B");
  if (diffs.empty()) return;
  std::printf("note: the traces were written by different builds; their records may differ for that reason alone:\n");
  for (const auto& d : diffs) std::printf("  %s\n", d.c_str());
}

}  // namespace

int cmd_diff(const std::string& a, const std::string& b) {
  TraceFile left = load_trace(a), right = load_trace(b);
  UnreadMembers unread_left = unread_members(a), unread_right = unread_members(b);
  print_build_note(left, right);
  std::optional<TraceDifference> d = first_difference(left.records, right.records);
  const size_t limit = d ? d->index : std::min(left.records.size(), right.records.size());
  if (std::optional<size_t> i = first_unread_difference(unread_left, unread_right, limit))
    d = TraceDifference{*i, left.records[*i], right.records[*i]};
  if (d) {
    std::printf("the traces differ first at record #%llu (%s has %zu records, %s has %zu)\n",
                static_cast<unsigned long long>(d->index), a.c_str(), left.records.size(), b.c_str(), right.records.size());
    print_difference(*d, left.records, "A:", "B:");
    print_unread(unread_left, unread_right, d->index);
    std::printf("  (A = %s, B = %s)\n", a.c_str(), b.c_str());
    return kExitFailed;
  }
  if (std::string footers = footer_difference(left, right, unread_left, unread_right); !footers.empty()) {
    std::printf("the traces hold the same %zu records, but %s\n", left.records.size(), footers.c_str());
    std::printf("  (A = %s, B = %s)\n", a.c_str(), b.c_str());
    return kExitFailed;
  }
  std::printf("identical: %zu records%s\n", left.records.size(),
              left.final_hash ? fmt::format(", trace hash {}", hash_hex(*left.final_hash)).c_str() : "");
  return kExitOk;
}

}  // namespace cfsim::cli
