// ObjectStorage's KV API (platform-facts §4.3, §4.5): the limit checks, get/put/delete/list on
// table _cf_KV, and deleteAll. The engine (SQLite handle, implicit transaction, savepoints) is in
// storage.cpp; the SQL API in storage_sql.cpp.

#include <algorithm>

#include "model/durable_objects/storage.h"
#include "model/durable_objects/storage_impl.h"

namespace cfsim {

// ---------------------------------------------------------------------------------------------
// KV API: limit checks (platform-facts §4.1, §8 item 19)

namespace {

[[noreturn]] void throw_batch(size_t n) {
  // workerd ActorStorageLimits::checkMaxPairsCount, verbatim.
  throw StorageError(ErrorKind::range_error, "Maximum number of key value pairs is " + std::to_string(kMaxBatchKeys) +
                                                 ". " + std::to_string(n) + " pairs were provided.");
}

}  // namespace

void ObjectStorage::check_batch(size_t n) const {
  if (n > limits_.max_batch_keys) throw_batch(n);
}

void ObjectStorage::check_key(std::string_view key) const {
  if (limits_.max_key_bytes && key.size() > limits_.max_key_bytes)
    // workerd ActorStorageLimits::checkMaxKeySize, verbatim.
    throw StorageError(ErrorKind::range_error, "Keys cannot be larger than " + std::to_string(limits_.max_key_bytes) +
                                                   " bytes. A key of size " + std::to_string(key.size()) +
                                                   " was provided.");
}

void ObjectStorage::check_entry(std::string_view key, size_t value_bytes) const {
  check_key(key);
  if (limits_.enforced_max_value_bytes && value_bytes > limits_.enforced_max_value_bytes)
    // workerd ActorStorageLimits::checkMaxValueSize, verbatim (the message names the advertised
    // limit; the enforced one is 34 bytes larger).
    throw StorageError(ErrorKind::range_error,
                       "Values cannot be larger than " + std::to_string(limits_.advertised_max_value_bytes) +
                           " bytes. A value of size " + std::to_string(value_bytes) + " was provided.");
  if (limits_.max_key_plus_value_bytes && key.size() + value_bytes > limits_.max_key_plus_value_bytes)
    // The platform rejects an oversized row with SQLite's SQLITE_TOOBIG text (workerd
    // SqliteKvRegulator); cfsim adds the sizes and the documented limit.
    throw StorageError(ErrorKind::error,
                       "string or blob too big: SQLITE_TOOBIG (key + value are " +
                           std::to_string(key.size() + value_bytes) + " bytes; SQLite-backed Durable Objects allow " +
                           std::to_string(limits_.max_key_plus_value_bytes) + ")");
}

void ObjectStorage::encode_value(const StoredValue& value, std::string& out) const {
  out.clear();
  try {
    value.encode_to(out);
  } catch (const StoredValueError& e) {
    throw StorageError(ErrorKind::error, std::string("value could not be serialized: ") + e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// KV API: operations

namespace {

// Binds a key as TEXT (byte length given, so embedded NULs survive). Fails with SQLITE_TOOBIG
// beyond SQLITE_LIMIT_LENGTH.
int bind_key(sqlite3_stmt* st, int i, std::string_view key) {
  return sqlite3_bind_text64(st, i, key.data(), key.size(), SQLITE_STATIC, SQLITE_UTF8);
}

std::string_view column_view(sqlite3_stmt* st, int i) {
  const void* p = sqlite3_column_blob(st, i);
  int n = sqlite3_column_bytes(st, i);
  return p ? std::string_view(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string_view();
}

}  // namespace

StoredValue ObjectStorage::decode_stored(std::string_view key, std::string_view bytes) const {
  try {
    return StoredValue::decode(bytes);
  } catch (const StoredValueError& e) {
    throw StorageError(ErrorKind::error, "stored value of key \"" + std::string(key.substr(0, 64)) +
                                             "\" is corrupt: " + e.what());
  }
}

std::optional<StoredValue> ObjectStorage::kv_get_one(std::string_view key, int64_t& bytes) {
  sqlite3_stmt* st = impl_->kv_get;
  int rc = bind_key(st, 1, key);
  if (rc != SQLITE_OK) {
    sqlite3_clear_bindings(st);
    throw_sqlite(rc);
  }
  rc = step_trusted(*impl_, st);
  std::optional<StoredValue> out;
  if (rc == SQLITE_ROW) {
    std::string_view v = column_view(st, 0);
    bytes += static_cast<int64_t>(key.size() + v.size());
    try {
      out = decode_stored(key, v);
    } catch (...) {
      sqlite3_reset(st);
      throw;
    }
    rc = SQLITE_DONE;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) throw_sqlite(rc);
  return out;
}

void ObjectStorage::kv_put_one(std::string_view key, std::string_view encoded) {
  sqlite3_stmt* st = impl_->kv_put;
  int rc = bind_key(st, 1, key);
  if (rc == SQLITE_OK) rc = sqlite3_bind_blob64(st, 2, encoded.data(), encoded.size(), SQLITE_STATIC);
  if (rc != SQLITE_OK) {
    sqlite3_clear_bindings(st);
    throw_sqlite(rc);
  }
  rc = step_trusted(*impl_, st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) throw_sqlite(rc);
}

bool ObjectStorage::kv_del_one(std::string_view key) {
  sqlite3_stmt* st = impl_->kv_del;
  int rc = bind_key(st, 1, key);
  if (rc != SQLITE_OK) {
    sqlite3_clear_bindings(st);
    throw_sqlite(rc);
  }
  rc = step_trusted(*impl_, st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) throw_sqlite(rc);
  return sqlite3_changes(impl_->db) > 0;
}

// Runs `body` as one atomic step: a failure in the middle of a multi-key write undoes the part
// already written.
template <class F>
void ObjectStorage::atomically(F&& body) {
  Impl& im = *impl_;
  run_internal(im.op_savepoint[0]);
  uint64_t epoch = txn_epoch_;
  try {
    body();
  } catch (...) {
    if (epoch == txn_epoch_) {  // not when SQLite already aborted the whole transaction
      run_internal(im.op_savepoint[2]);
      run_internal(im.op_savepoint[1]);
    }
    throw;
  }
  run_internal(im.op_savepoint[1]);
}

std::optional<StoredValue> ObjectStorage::get(std::string_view key) {
  pass_gate();
  TraceOp op(*this, "get");
  op.key = key;
  try {
    ++counters_.gets;
    check_key(key);
    auto v = kv_get_one(key, op.bytes);
    op.rows = v ? 1 : 0;
    return v;
  } catch (const StorageError& e) {
    op.fail(e);
    throw;
  }
}

std::map<std::string, StoredValue> ObjectStorage::get(const std::vector<std::string>& keys) {
  pass_gate();
  TraceOp op(*this, "get");
  op.keys = static_cast<int64_t>(keys.size());
  try {
    ++counters_.gets;
    check_batch(keys.size());
    for (const auto& k : keys) check_key(k);
    std::map<std::string, StoredValue> out;
    for (const auto& k : keys) {
      if (out.count(k)) continue;
      if (auto v = kv_get_one(k, op.bytes)) out.emplace(k, std::move(*v));
    }
    op.rows = static_cast<int64_t>(out.size());
    return out;
  } catch (const StorageError& e) {
    op.fail(e);
    throw;
  }
}

void ObjectStorage::put(std::string_view key, const StoredValue& value) {
  pass_gate();
  TraceOp op(*this, "put");
  op.key = key;
  try {
    ++counters_.puts;
    std::string& enc = impl_->scratch;
    encode_value(value, enc);
    check_entry(key, enc.size());
    op.bytes = static_cast<int64_t>(key.size() + enc.size());
    ensure_txn();
    dirty_ = true;
    kv_put_one(key, enc);
    op.rows = 1;
  } catch (const StorageError& e) {
    op.fail(e);
    throw;
  }
}

void ObjectStorage::put(const KvEntries& entries) {
  pass_gate();
  TraceOp op(*this, "put");
  op.keys = static_cast<int64_t>(entries.size());
  try {
    ++counters_.puts;
    check_batch(entries.size());
    std::vector<std::string> encoded(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      encode_value(entries[i].second, encoded[i]);
      check_entry(entries[i].first, encoded[i].size());
      op.bytes += static_cast<int64_t>(entries[i].first.size() + encoded[i].size());
    }
    if (entries.empty()) return;
    ensure_txn();
    dirty_ = true;
    atomically([&] {
      for (size_t i = 0; i < entries.size(); ++i) kv_put_one(entries[i].first, encoded[i]);
    });
    op.rows = static_cast<int64_t>(entries.size());
  } catch (const StorageError& e) {
    op.fail(e);
    throw;
  }
}

bool ObjectStorage::del(std::string_view key) {
  pass_gate();
  TraceOp op(*this, "delete");
  op.key = key;
  try {
    ++counters_.deletes;
    check_key(key);
    ensure_txn();
    dirty_ = true;
    bool existed = kv_del_one(key);
    op.rows = existed ? 1 : 0;
    return existed;
  } catch (const StorageError& e) {
    op.fail(e);
    throw;
  }
}

size_t ObjectStorage::del(const std::vector<std::string>& keys) {
  pass_gate();
  TraceOp op(*this, "delete");
  op.keys = static_cast<int64_t>(keys.size());
  try {
    ++counters_.deletes;
    check_batch(keys.size());
    for (const auto& k : keys) check_key(k);
    if (keys.empty()) return 0;
    ensure_txn();
    dirty_ = true;
    size_t count = 0;
    atomically([&] {
      for (const auto& k : keys) count += kv_del_one(k) ? 1 : 0;
    });
    op.rows = static_cast<int64_t>(count);
    return count;
  } catch (const StorageError& e) {
    op.fail(e);
    throw;
  }
}

KvEntries ObjectStorage::list(const ListOptions& o) {
  pass_gate();
  TraceOp op(*this, "list");
  op.keys = 0;
  try {
    ++counters_.lists;
    // workerd DurableObjectStorageOperations::list, messages verbatim.
    if (o.start && o.start_after)
      throw StorageError(ErrorKind::type_error, "list() cannot be called with both start and startAfter values.");
    if (o.limit && *o.limit <= 0) throw StorageError(ErrorKind::type_error, "List limit must be positive.");

    // The key range [lo, hi): startAfter becomes an inclusive start one byte later (key + "\0"),
    // and a prefix narrows the range to [prefix, first key after every key with the prefix).
    std::string lo = o.start ? *o.start : o.start_after ? *o.start_after + std::string(1, '\0') : std::string();
    std::optional<std::string> hi = o.end;
    if (o.prefix && !o.prefix->empty()) {
      const std::string& p = *o.prefix;
      op.key = p;
      if (lo < p) lo = p;
      else if (lo.compare(0, p.size(), p) != 0) return {};  // start lies after every prefixed key
      std::string after = p;
      while (!after.empty() && static_cast<uint8_t>(after.back()) == 0xFF) after.pop_back();
      if (!after.empty()) {
        after.back() = static_cast<char>(static_cast<uint8_t>(after.back()) + 1);
        if (!hi || after < *hi) hi = std::move(after);
      }
    }
    if (hi && *hi <= lo) return {};

    sqlite3_stmt* st = impl_->kv_list[(o.reverse ? 2 : 0) + (hi ? 1 : 0)];
    int brc = bind_key(st, 1, lo);
    if (brc == SQLITE_OK && hi) brc = bind_key(st, 2, *hi);
    if (brc == SQLITE_OK) brc = sqlite3_bind_int64(st, 3, o.limit ? *o.limit : -1);
    if (brc != SQLITE_OK) {
      sqlite3_clear_bindings(st);
      throw_sqlite(brc);
    }
    KvEntries out;
    int rc;
    try {
      while ((rc = step_trusted(*impl_, st)) == SQLITE_ROW) {
        std::string_view k = column_view(st, 0), v = column_view(st, 1);
        op.bytes += static_cast<int64_t>(k.size() + v.size());
        out.emplace_back(std::string(k), decode_stored(k, v));
      }
    } catch (...) {
      sqlite3_reset(st);
      throw;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) throw_sqlite(rc);
    op.rows = static_cast<int64_t>(out.size());
    return out;
  } catch (const StorageError& e) {
    op.fail(e);
    throw;
  }
}

// ---------------------------------------------------------------------------------------------
// deleteAll (platform-facts §4.5, §8 item 27)

namespace {

std::string quote_identifier(const std::string& name) {
  std::string q = "\"";
  for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

void ObjectStorage::delete_all() {
  pass_gate();
  TraceOp op(*this, "delete_all");
  op.keys = 0;
  try {
    ++counters_.delete_alls;
    if (!savepoints_.empty())
      throw StorageError(ErrorKind::error, "Cannot call deleteAll() within a transaction");  // workerd, verbatim
    ensure_txn();
    // Live cursors would keep tables locked; the platform discards them with the database.
    cancel_cursors("deleteAll() deleted the database");
    dirty_ = true;
    TrustedScope trusted(*impl_);
    drop_schema_and_kv(schema_drop_statements());
    bump_schema_epoch();
  } catch (const StorageError& e) {
    op.fail(e);
    throw;
  }
}

std::vector<std::string> ObjectStorage::schema_drop_statements() {
  // What to drop: views first, then virtual tables (which drop their shadow tables), then the
  // rest. Indexes and triggers go with their tables.
  std::vector<std::pair<int, std::string>> drops;  // (order, statement)
  sqlite3_stmt* st = impl_->misc_stmt(
      "SELECT type, name, coalesce(sql, '') FROM sqlite_schema "
      "WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_cf_KV'");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::string type(column_view(st, 0)), name(column_view(st, 1)), sql(column_view(st, 2));
    bool virt = sql.compare(0, 20, "CREATE VIRTUAL TABLE") == 0;
    int order = type == "view" ? 0 : virt ? 1 : 2;
    drops.emplace_back(order, std::string(type == "view" ? "DROP VIEW IF EXISTS " : "DROP TABLE IF EXISTS ") + quote_identifier(name));
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) throw_sqlite(rc);
  std::stable_sort(drops.begin(), drops.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& d : drops) out.push_back(std::move(d.second));
  return out;
}

void ObjectStorage::drop_schema_and_kv(const std::vector<std::string>& drops) {
  Impl& im = *impl_;
  auto exec_sql = [&](const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(im.db, sql.c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) throw_sqlite(rc);
  };
  atomically([&] {
    // Dropping a parent table before its children would fail an immediate foreign key check;
    // deferring the checks lets the drops cancel out (the children go too).
    sqlite3_stmt* dfk = im.misc_stmt("PRAGMA defer_foreign_keys");
    int deferred = 0;
    if (sqlite3_step(dfk) == SQLITE_ROW) deferred = sqlite3_column_int(dfk, 0);
    sqlite3_reset(dfk);
    exec_sql("PRAGMA defer_foreign_keys = ON");
    for (const auto& d : drops) exec_sql(d);
    exec_sql("DELETE FROM _cf_KV");
    exec_sql(std::string("PRAGMA defer_foreign_keys = ") + (deferred ? "ON" : "OFF"));
  });
}

}  // namespace cfsim
