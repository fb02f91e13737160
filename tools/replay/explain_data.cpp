#include "tools/replay/explain_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

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

// The fields that are not the data's name: what was written or read.
std::string payload_text(const Record& r) {
  Record copy;
  for (const auto& [k, v] : r.fields)
    if (!one_of(k, {"key", "path", "container", "do", "object", "bucket", "namespace", "mount", "scope", "actor"}))
      copy.fields.emplace_back(k, v);
  return fields_text(copy);
}

std::string plural(size_t n) { return n == 1 ? "" : "s"; }

void add_line(std::string& out, const std::string& s) { out += s + '\n'; }

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

std::string cite(const Record& r, const std::string& who) {
  std::string f = fields_text(r);
  return fmt::format("{}.{}{}{} (record #{} at {}, by {})", r.category, r.name, f.empty() ? "" : " ", f, r.index,
                     format_time(r.time), who);
}

constexpr size_t kMaxWriteLines = 500;  // beyond this many writes, each piece shows its last few

// One store record, as the ledger sees it.
struct StoreEvent {
  const Record& r;
  Op op;
  std::string scope;
  std::optional<std::string> key;
  std::string who;
};

// The pieces of data and what happened to each, built record by record in trace order.
class Ledger {
 public:
  Ledger(size_t time_width, bool list_every_write) : tw_(time_width), list_every_write_(list_every_write) {}

  void observe(const Record& r);
  std::string account(size_t write_count) const;

 private:
  void on_write(const StoreEvent& e);
  void on_erase(const StoreEvent& e);
  void on_commit(const StoreEvent& e);
  void on_loss(const StoreEvent& e);
  void on_read(const StoreEvent& e);
  // A read of `p` that found it missing or stale: the story line and the problem.
  void bad_read(const StoreEvent& e, const PieceKey& k, Piece& p, bool missing, const std::string& differs);
  // The pieces a record covers: the one it names, or with no key every piece of its store and scope
  // (every scope if it names none).
  template <class Fn>
  void for_covered(const StoreEvent& e, Fn&& fn);

  std::string no_data_account() const;
  std::string piece_account(const PieceKey& k, const Piece& p) const;
  std::string losses_and_reads_account() const;

  size_t tw_;
  bool list_every_write_;
  std::map<PieceKey, Piece> pieces_;
  std::vector<std::string> problems_, losses_;
  size_t empty_losses_ = 0;
  std::map<std::string, size_t> unnamed_store_records_;  // "storage.exec" -> count, for records with no key or path
};

template <class Fn>
void Ledger::for_covered(const StoreEvent& e, Fn&& fn) {
  if (e.key) {
    auto it = pieces_.find(PieceKey{e.r.category, e.scope, *e.key});
    if (it != pieces_.end()) fn(it->first, it->second);
    return;
  }
  for (auto& [k, p] : pieces_)
    if (k.store == e.r.category && (e.scope.empty() || k.scope == e.scope)) fn(k, p);
}

void Ledger::observe(const Record& r) {
  std::optional<std::string> key = key_of(r);
  if (store_title(r.category) && !key) unnamed_store_records_[r.category + "." + r.name]++;
  const Op op = op_of(r);
  if (op == Op::none) return;
  const StoreEvent e{r, op, store_scope(r), std::move(key), doer(r)};
  switch (op) {
    case Op::write: on_write(e); break;
    case Op::erase: on_erase(e); break;
    case Op::commit: on_commit(e); break;
    case Op::loss_all:
    case Op::loss_pending: on_loss(e); break;
    case Op::read: on_read(e); break;
    case Op::none: break;
  }
}

void Ledger::on_write(const StoreEvent& e) {
  if (!e.key) return;
  const Record& r = e.r;
  const std::string payload = payload_text(r);
  Piece& p = pieces_[PieceKey{r.category, e.scope, *e.key}];
  p.writes.push_back(Write{&r, flag(r, "durable")});
  p.erased_by = nullptr;
  if (list_every_write_)
    p.lines.push_back(fmt::format("    {:>{}}  written by {}: {}.{}{}", format_time(r.time), tw_, e.who, r.category, r.name,
                                  payload.empty() ? "" : " " + payload));
}

void Ledger::on_erase(const StoreEvent& e) {
  for_covered(e, [&](const PieceKey&, Piece& p) {
    p.erased_by = &e.r;
    p.lines.push_back(fmt::format("    {:>{}}  deleted by the app ({}): {}", format_time(e.r.time), tw_, e.who, cite(e.r, e.who)));
  });
}

void Ledger::on_commit(const StoreEvent& e) {
  for_covered(e, [&](const PieceKey&, Piece& p) {
    for (Write& w : p.writes) w.durable = true;
  });
}

void Ledger::on_loss(const StoreEvent& e) {
  const Record& r = e.r;
  const Value* since = r.field("since");
  std::optional<int64_t> since_ns;
  if (since && std::holds_alternative<int64_t>(*since)) since_ns = std::get<int64_t>(*since);
  size_t took = 0;
  std::vector<std::string> names;
  for_covered(e, [&](const PieceKey& k, Piece& p) {
    size_t here = 0;
    for (Write& w : p.writes) {
      if (w.lost_by) continue;
      bool goes = e.op == Op::loss_all || (since_ns ? w.r->time.ns >= *since_ns : !w.durable);
      if (goes) {
        w.lost_by = &r;
        ++here;
      }
    }
    if (here == 0) return;
    took += here;
    names.push_back(k.key);
    p.lines.push_back(fmt::format("    {:>{}}  LOST {} write{}: {}", format_time(r.time), tw_, here, plural(here), cite(r, e.who)));
  });
  if (took == 0) {
    ++empty_losses_;  // nothing of the app's left to take (or already taken by an earlier record)
    return;
  }
  losses_.push_back(fmt::format("  {}\n      took {} write{} to {} piece{} of data: {}", cite(r, e.who), took, plural(took),
                                names.size(), plural(names.size()), summarize_names(names)));
}

void Ledger::on_read(const StoreEvent& e) {
  if (!e.key) return;
  const Record& r = e.r;
  auto it = pieces_.find(PieceKey{r.category, e.scope, *e.key});
  if (it == pieces_.end() || it->second.writes.empty()) return;  // never written: nothing expected
  Piece& p = it->second;
  if (p.erased_by) {
    ++p.reads_ok;  // the app deleted it itself; not finding it is expected
    return;
  }
  const Write& last = p.writes.back();
  const bool missing = flag_false(r, "found") || flag(r, "missing");
  std::string differs;
  for (const char* f : {"value", "version", "etag", "size", "generation"}) {
    const Value* got = r.field(f);
    const Value* wrote = last.r->field(f);
    if (!missing && got && wrote && value_text(*got) != value_text(*wrote))
      differs = fmt::format("{} {} where the last write (record #{}) wrote {}", f, value_text(*got), last.r->index,
                            value_text(*wrote));
  }
  const bool stale = !missing && (flag(r, "stale") || !differs.empty());
  if (!missing && !stale) {
    ++p.reads_ok;
    return;
  }
  bad_read(e, it->first, p, missing, differs);
}

void Ledger::bad_read(const StoreEvent& e, const PieceKey& k, Piece& p, bool missing, const std::string& differs) {
  const Record& r = e.r;
  const Write& last = p.writes.back();
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
  p.lines.push_back(fmt::format("    {:>{}}  read by {}: {} ({}); {}", format_time(r.time), tw_, e.who, what, detail, cause));
  problems_.push_back(
      fmt::format("  {} read at {} by {}: {} ({});\n      {}", piece_title(k), format_time(r.time), e.who, what, detail, cause));
}

std::string Ledger::no_data_account() const {
  std::string out;
  add_line(out, "App data: the trace holds no record of a write to a data store (category disk, storage, r2 or kv");
  add_line(out, "with a key or path field), so there is no app data to account for: nothing was written to a");
  add_line(out, "container disk, DO storage, R2 or KV that explain can follow.");
  if (unnamed_store_records_.empty()) return out;
  std::string list;
  size_t total = 0;
  for (const auto& [name, n] : unnamed_store_records_) {
    list += fmt::format("{}{} {}", list.empty() ? "" : ", ", name, n);
    total += n;
  }
  add_line(out, fmt::format("  The trace does hold {} store records without a key or path field, which name no piece of", total));
  add_line(out, fmt::format("  data: {}.", list));
  return out;
}

std::string Ledger::piece_account(const PieceKey& k, const Piece& p) const {
  std::string out;
  add_line(out, "  " + piece_title(k));
  for (const auto& l : p.lines) add_line(out, l);
  const Write& last = p.writes.back();
  std::string state;
  if (p.erased_by) state = "deleted by the app";
  else if (last.lost_by) state = p.missing_or_stale ? "LOST, and the app read it missing or stale" : "LOST, and never read again";
  else state = fmt::format("kept (last written at {}{})", format_time(last.r->time), last.durable ? ", durable" : "");
  add_line(out, fmt::format("    {:>{}}  in the end: {}; {} write{}, {} read{} as expected", "", tw_, state, p.writes.size(),
                            plural(p.writes.size()), p.reads_ok, plural(p.reads_ok)));
  return out;
}

std::string Ledger::losses_and_reads_account() const {
  std::string out;
  add_line(out, "");
  if (losses_.empty()) add_line(out, "Losses: none (no wipe, lose, lost, reset, rollback or discard record took a write).");
  else {
    add_line(out, fmt::format("Losses ({}):", losses_.size()));
    for (const auto& l : losses_) add_line(out, l);
  }
  if (empty_losses_)
    add_line(out, fmt::format("  ({} more loss record{} found no write of the app's left to take.)", empty_losses_,
                              plural(empty_losses_)));
  add_line(out, "");
  if (problems_.empty()) add_line(out, "Missing or stale reads: none.");
  else {
    add_line(out, fmt::format("Missing or stale reads ({}):", problems_.size()));
    for (const auto& l : problems_) add_line(out, l);
  }
  return out;
}

std::string Ledger::account(size_t write_count) const {
  if (pieces_.empty()) return no_data_account();
  std::vector<std::string> stores;
  for (const auto& [k, p] : pieces_)
    if (std::find(stores.begin(), stores.end(), store_title(k.store)) == stores.end()) stores.push_back(store_title(k.store));
  std::string store_list;
  for (const auto& s : stores) store_list += (store_list.empty() ? "" : ", ") + s;
  std::string out;
  add_line(out, fmt::format("App data: {} write{} to {} piece{} of data in {}.", write_count, plural(write_count), pieces_.size(),
                            plural(pieces_.size()), store_list));
  if (!list_every_write_)
    add_line(out, fmt::format("  (more than {} writes: each piece lists its losses and bad reads, not every write)", kMaxWriteLines));
  for (const auto& [k, p] : pieces_) out += piece_account(k, p);
  return out + losses_and_reads_account();
}

}  // namespace

std::string doer(const Record& r) {
  if (r.fiber == 0) return "kernel";
  return r.fiber_name.empty() ? fmt::format("fiber {}", r.fiber) : r.fiber_name;
}

bool flag_false(const Record& r, const char* key) {
  const Value* v = r.field(key);
  return v && std::holds_alternative<bool>(*v) && !std::get<bool>(*v);
}

std::string explain_app_data(std::span<const Record> records, size_t time_width) {
  // Writes are listed in full unless there are very many.
  size_t write_count = 0;
  for (const Record& r : records)
    if (op_of(r) == Op::write && key_of(r)) ++write_count;
  Ledger ledger(time_width, write_count <= kMaxWriteLines);
  for (const Record& r : records) ledger.observe(r);
  return ledger.account(write_count);
}

}  // namespace cfsim::cli
