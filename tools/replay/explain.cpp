#include "tools/replay/explain.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "sim/trace_file.h"
#include "tools/replay/actors.h"
#include "tools/replay/cli_common.h"
#include "tools/replay/timeline.h"

namespace cfsim::cli {

namespace {

enum class Op { none, write, erase, read, commit, loss_all, loss_pending };

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

Op op_of(const Record& r) {
  if (!store_title(r.category)) return Op::none;
  const std::string& n = r.name;
  if (one_of(n, {"write", "put", "set", "create", "append", "upload", "insert", "update"})) return Op::write;
  if (one_of(n, {"delete", "remove", "unlink", "delete_all"})) return Op::erase;
  if (one_of(n, {"read", "get", "head", "stat", "list"})) return Op::read;
  if (one_of(n, {"commit", "fsync", "sync", "flush", "durable"})) return Op::commit;
  if (one_of(n, {"wipe", "lose", "lost", "reset"})) return Op::loss_all;
  if (one_of(n, {"rollback", "discard"})) return Op::loss_pending;
  return Op::none;
}

std::optional<std::string> key_of(const Record& r) {
  for (const char* k : {"key", "path"})
    if (const Value* v = r.field(k)) return value_text(*v);
  return std::nullopt;
}

bool flag(const Record& r, const char* key) {
  const Value* v = r.field(key);
  return v && std::holds_alternative<bool>(*v) && std::get<bool>(*v);
}
bool flag_false(const Record& r, const char* key) {
  const Value* v = r.field(key);
  return v && std::holds_alternative<bool>(*v) && !std::get<bool>(*v);
}

// The fields that are not the data's name: what was written or read.
std::string payload_text(const Record& r) {
  Record copy;
  for (const auto& [k, v] : r.fields)
    if (!one_of(k, {"key", "path", "container", "do", "object", "bucket", "namespace", "mount", "scope", "actor"}))
      copy.fields.emplace_back(k, v);
  return fields_text(copy);
}

struct PieceKey {
  std::string store, scope, key;
  auto operator<=>(const PieceKey&) const = default;
};

std::string piece_title(const PieceKey& k) {
  std::string t = store_title(k.store);
  if (!k.scope.empty()) t += " " + k.scope;
  return t + ": " + k.key;
}

struct Write {
  const Record* r;
  bool durable;
  const Record* lost_by = nullptr;
};

struct Piece {
  std::vector<Write> writes;
  const Record* erased_by = nullptr;  // the app deleted it after its last write
  std::vector<std::string> lines;     // its story, in order
  size_t reads_ok = 0;
  bool missing_or_stale = false;
};

// Who did it: the fiber that recorded it, or the kernel.
std::string doer(const Record& r) {
  if (r.fiber == 0) return "kernel";
  return r.fiber_name.empty() ? fmt::format("fiber {}", r.fiber) : r.fiber_name;
}

std::string cite(const Record& r, const std::string& who) {
  std::string f = fields_text(r);
  return fmt::format("{}.{}{}{} (record #{} at {}, by {})", r.category, r.name, f.empty() ? "" : " ", f, r.index,
                     format_time(r.time), who);
}

constexpr size_t kMaxCheckLines = 20;
constexpr size_t kMaxWriteLines = 500;  // beyond this many writes, each piece shows its last few

}  // namespace

std::string explain_trace(const ExplainInput& in) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + '\n'; };
  const auto& recs = in.records;

  // --- what run this is --------------------------------------------------------------------------------
  const Record* header = !recs.empty() && recs[0].category == "meta" && recs[0].name == "header" ? &recs[0] : nullptr;
  if (header) {
    std::string plan = header->field_text("fault_plan");
    line(fmt::format("Trace {}: scenario {}, seed {}, faults {}, until {}; written by cfsim {}.", in.origin,
                     header->field_text("scenario"), header->field_text("seed"), header->field_text("faults"),
                     header->field_text("until"), header->field_text("cfsim_version")));
    if (!plan.empty()) {
      line("Fault plan given:");
      size_t pos = 0;
      while (pos < plan.size()) {
        size_t nl = plan.find('\n', pos);
        if (nl == std::string::npos) nl = plan.size();
        if (nl > pos) line("  " + plan.substr(pos, nl - pos));
        pos = nl + 1;
      }
    }
  } else {
    line(fmt::format("Trace {}: it has no header record, so the scenario, seed and options are unknown.", in.origin));
  }
  if (recs.empty()) {
    line("It holds no records.");
    return out;
  }
  std::string ending = in.footer_hash
                           ? fmt::format("complete (footer: {} records, hash {})", in.footer_count.value_or(0), hash_hex(*in.footer_hash))
                           : "with no footer: the run was aborted (it crashed or was killed) after the last record";
  line(fmt::format("{} records, from {} to {} of virtual time; {}.", recs.size(), format_time(recs.front().time),
                   format_time(recs.back().time), ending));

  // --- one pass: outcome, faults, data -----------------------------------------------------------------
  size_t tw = 0;  // width of the time column: the longest time in the trace
  for (const Record& r : recs) tw = std::max(tw, format_time(r.time).size());
  std::vector<std::string> outcome, faults;
  size_t fault_count = 0;
  std::map<std::string, std::map<std::string, size_t>> by_category;  // category -> name -> count
  std::vector<std::string> fiber_names;
  std::map<PieceKey, Piece> pieces;
  std::vector<std::string> problems, losses;
  size_t write_count = 0, empty_losses = 0, check_count = 0, checks_not_shown = 0;
  std::map<std::string, size_t> unnamed_store_records;  // "storage.exec" -> count, for records with no key or path

  for (size_t i = 0; i < recs.size(); ++i) {
    const Record& r = recs[i];
    by_category[r.category][r.name]++;
    if (r.category == "fiber" && r.name == "life" && r.phase == Phase::begin) fiber_names.push_back(r.field_text("name"));
  }

  // Writes are listed in full unless there are very many.
  for (const Record& r : recs)
    if (op_of(r) == Op::write && key_of(r)) ++write_count;
  const bool list_every_write = write_count <= kMaxWriteLines;

  for (size_t i = 0; i < recs.size(); ++i) {
    const Record& r = recs[i];
    const std::string who = doer(r);
    if (r.category == "check") {
      bool failed = flag_false(r, "passed");
      // Many checks: the failed ones all, the others up to a point.
      if (++check_count > kMaxCheckLines && !failed) {
        ++checks_not_shown;
        continue;
      }
      Record rest;
      for (const auto& [k, v] : r.fields)
        if (k != "passed") rest.fields.emplace_back(k, v);
      outcome.push_back(fmt::format("  check {}: {}{}", r.name, failed ? "FAILED" : r.field("passed") ? "passed" : "recorded",
                                    rest.fields.empty() ? "" : " (" + fields_text(rest) + ")"));
    } else if (r.category == "fiber" && r.name == "error") {
      outcome.push_back(fmt::format("  fiber {} ({}) ended by an exception at {}: {}", r.field_text("id"), who,
                                    format_time(r.time), r.field_text("error")));
    } else if (r.category == "sched" && (r.name == "stop" || r.name == "deadlock")) {
      outcome.push_back(fmt::format("  {} at {}: {}", r.name == "stop" ? "the kernel stopped" : "DEADLOCK", format_time(r.time),
                                    fields_text(r)));
    } else if (r.category == "fault") {
      ++fault_count;
      if (faults.size() < 20) faults.push_back(fmt::format("  {:>{}}  {}.{} {}", format_time(r.time), tw, r.category, r.name, fields_text(r)));
    }

    std::optional<std::string> key = key_of(r);
    if (store_title(r.category) && !key) unnamed_store_records[r.category + "." + r.name]++;
    Op op = op_of(r);
    if (op == Op::none) continue;
    const std::string scope = store_scope(r);
    // The pieces a scope-wide record covers: same store, same scope (every scope if it names none).
    auto covered = [&](auto&& fn) {
      if (key) {
        auto it = pieces.find(PieceKey{r.category, scope, *key});
        if (it != pieces.end()) fn(it->first, it->second);
        return;
      }
      for (auto& [k, p] : pieces)
        if (k.store == r.category && (scope.empty() || k.scope == scope)) fn(k, p);
    };

    switch (op) {
      case Op::write: {
        if (!key) break;
        const std::string payload = payload_text(r);
        Piece& p = pieces[PieceKey{r.category, scope, *key}];
        p.writes.push_back(Write{&r, flag(r, "durable")});
        p.erased_by = nullptr;
        if (list_every_write)
          p.lines.push_back(fmt::format("    {:>{}}  written by {}: {}.{}{}", format_time(r.time), tw, who, r.category, r.name,
                                        payload.empty() ? "" : " " + payload));
        break;
      }
      case Op::erase:
        covered([&](const PieceKey&, Piece& p) {
          p.erased_by = &r;
          p.lines.push_back(fmt::format("    {:>{}}  deleted by the app ({}): {}", format_time(r.time), tw, who, cite(r, who)));
        });
        break;
      case Op::commit:
        covered([&](const PieceKey&, Piece& p) {
          for (Write& w : p.writes) w.durable = true;
        });
        break;
      case Op::loss_all:
      case Op::loss_pending: {
        const Value* since = r.field("since");
        std::optional<int64_t> since_ns;
        if (since && std::holds_alternative<int64_t>(*since)) since_ns = std::get<int64_t>(*since);
        size_t took = 0;
        std::vector<std::string> names;
        covered([&](const PieceKey& k, Piece& p) {
          size_t here = 0;
          for (Write& w : p.writes) {
            if (w.lost_by) continue;
            bool goes = op == Op::loss_all || (since_ns ? w.r->time.ns >= *since_ns : !w.durable);
            if (goes) {
              w.lost_by = &r;
              ++here;
            }
          }
          if (here == 0) return;
          took += here;
          names.push_back(k.key);
          p.lines.push_back(fmt::format("    {:>{}}  LOST {} write{}: {}", format_time(r.time), tw, here, here == 1 ? "" : "s",
                                        cite(r, who)));
        });
        if (took == 0) {
          ++empty_losses;  // nothing of the app's left to take (or already taken by an earlier record)
          break;
        }
        losses.push_back(fmt::format("  {}\n      took {} write{} to {} piece{} of data: {}", cite(r, who), took,
                                     took == 1 ? "" : "s", names.size(), names.size() == 1 ? "" : "s", summarize_names(names)));
        break;
      }
      case Op::read: {
        if (!key) break;
        auto it = pieces.find(PieceKey{r.category, scope, *key});
        if (it == pieces.end() || it->second.writes.empty()) break;  // never written: nothing expected
        Piece& p = it->second;
        if (p.erased_by) {
          ++p.reads_ok;  // the app deleted it itself; not finding it is expected
          break;
        }
        const Write& last = p.writes.back();
        bool missing = flag_false(r, "found") || flag(r, "missing");
        std::string differs;
        for (const char* f : {"value", "version", "etag", "size", "generation"}) {
          const Value* got = r.field(f);
          const Value* wrote = last.r->field(f);
          if (!missing && got && wrote && value_text(*got) != value_text(*wrote))
            differs = fmt::format("{} {} where the last write (record #{}) wrote {}", f, value_text(*got), last.r->index,
                                  value_text(*wrote));
        }
        bool stale = !missing && (flag(r, "stale") || !differs.empty());
        if (!missing && !stale) {
          ++p.reads_ok;
          break;
        }
        p.missing_or_stale = true;
        std::string what = missing ? "MISSING" : "STALE";
        std::string cause;
        // The most recent write that a loss took explains it; otherwise say what the trace lacks.
        const Write* lost = nullptr;
        for (const Write& w : p.writes)
          if (w.lost_by) lost = &w;
        if (lost) {
          cause = fmt::format("caused by {}", cite(*lost->lost_by, doer(*lost->lost_by)));
        } else if (r.category == "kv") {
          cause = "no loss in the trace: a Workers KV read elsewhere can be stale for up to the cache TTL (platform-facts §6)";
        } else {
          cause = "no loss event in the trace accounts for it";
        }
        std::string detail = missing ? fmt::format("last written at {} (record #{})", format_time(last.r->time), last.r->index)
                                     : (differs.empty() ? "the read says stale=true" : differs);
        p.lines.push_back(fmt::format("    {:>{}}  read by {}: {} ({}); {}", format_time(r.time), tw, who, what, detail, cause));
        problems.push_back(fmt::format("  {} read at {} by {}: {} ({});\n      {}", piece_title(it->first), format_time(r.time),
                                       who, what, detail, cause));
        break;
      }
      case Op::none: break;
    }
  }

  // --- outcome and faults ------------------------------------------------------------------------------
  line("");
  line("Outcome:");
  if (outcome.empty()) line("  the trace records no check, stop or fiber error (the run may have been cut short).");
  for (const auto& o : outcome) line(o);
  if (checks_not_shown) line(fmt::format("  ... and {} more check records that did not fail", checks_not_shown));
  line("");
  if (fault_count == 0) {
    line("Faults: none fired (no record of category fault).");
  } else {
    line(fmt::format("Faults ({} records of category fault):", fault_count));
    for (const auto& f : faults) line(f);
    if (fault_count > faults.size()) line(fmt::format("  ... and {} more", fault_count - faults.size()));
  }

  // --- the app's data -------------------------------------------------------------------------------------
  line("");
  if (pieces.empty()) {
    line("App data: the trace holds no record of a write to a data store (category disk, storage, r2 or kv");
    line("with a key or path field), so there is no app data to account for: nothing was written to a");
    line("container disk, DO storage, R2 or KV that explain can follow.");
    if (!unnamed_store_records.empty()) {
      std::string list;
      size_t total = 0;
      for (const auto& [name, n] : unnamed_store_records) {
        list += fmt::format("{}{} {}", list.empty() ? "" : ", ", name, n);
        total += n;
      }
      line(fmt::format("  The trace does hold {} store records without a key or path field, which name no piece of", total));
      line(fmt::format("  data: {}.", list));
    }
  } else {
    std::vector<std::string> stores;
    for (const auto& [k, p] : pieces)
      if (std::find(stores.begin(), stores.end(), store_title(k.store)) == stores.end()) stores.push_back(store_title(k.store));
    std::string store_list;
    for (const auto& s : stores) store_list += (store_list.empty() ? "" : ", ") + s;
    line(fmt::format("App data: {} write{} to {} piece{} of data in {}.", write_count, write_count == 1 ? "" : "s",
                     pieces.size(), pieces.size() == 1 ? "" : "s", store_list));
    if (!list_every_write)
      line(fmt::format("  (more than {} writes: each piece lists its losses and bad reads, not every write)", kMaxWriteLines));
    for (const auto& [k, p] : pieces) {
      line("  " + piece_title(k));
      for (const auto& l : p.lines) line(l);
      const Write& last = p.writes.back();
      std::string state;
      if (p.erased_by) state = "deleted by the app";
      else if (last.lost_by) state = p.missing_or_stale ? "LOST, and the app read it missing or stale" : "LOST, and never read again";
      else state = fmt::format("kept (last written at {}{})", format_time(last.r->time), last.durable ? ", durable" : "");
      line(fmt::format("    {:>{}}  in the end: {}; {} write{}, {} read{} as expected", "", tw, state, p.writes.size(),
                       p.writes.size() == 1 ? "" : "s", p.reads_ok, p.reads_ok == 1 ? "" : "s"));
    }
    line("");
    if (losses.empty()) line("Losses: none (no wipe, lose, lost, reset, rollback or discard record took a write).");
    else {
      line(fmt::format("Losses ({}):", losses.size()));
      for (const auto& l : losses) line(l);
    }
    if (empty_losses)
      line(fmt::format("  ({} more loss record{} found no write of the app's left to take.)", empty_losses,
                       empty_losses == 1 ? "" : "s"));
    line("");
    if (problems.empty()) line("Missing or stale reads: none.");
    else {
      line(fmt::format("Missing or stale reads ({}):", problems.size()));
      for (const auto& l : problems) line(l);
    }
  }

  // --- what else the trace holds ----------------------------------------------------------------------
  line("");
  line("What the trace contains:");
  if (!fiber_names.empty()) line(fmt::format("  {} fibers: {}", fiber_names.size(), summarize_names(fiber_names)));
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
    line(fmt::format("  {:<10} {:>7} records: {}", cat, total, list));
  }
  return out;
}

}  // namespace cfsim::cli
