#pragma once
// The storage of one Durable Object: one in-memory SQLite database per object, holding the SQL
// API's tables and the KV API's data (table _cf_KV), with the platform's semantics and limits
// (platform-facts §4.1-4.5, §8 items 19-24 and 27).
//
// Fault model. The storage itself never fails on its own: it is the durable state of the object,
// and what a crash does to it is decided by the DO layer above. Every write lands in one SQLite
// transaction that the storage opens lazily at the first write after the last commit (the
// implicit transaction; reads do not open it, as in workerd's ActorSqlite, so a PRAGMA such as
// foreign_keys = ON still takes effect before the first write). commit() makes everything
// since the last commit durable; rollback() throws it away, which is what a crash before the write
// was confirmed does (§4.4, §8 items 21-22). Committed data is never lost. Inside one call the
// storage checks every platform limit before it writes anything, so a rejected call changes
// nothing, and each KV call is atomic.
//
// One platform behaviour cannot be checked in advance: the per-object size limit (10 GB, §4.1).
// It is enforced by SQLite's max_page_count, and when a write needs one page more, SQLite returns
// SQLITE_FULL and, for almost every statement, aborts the whole transaction (SQLite's own rule;
// the platform runs the same SQLite, but its exact handling is UNCONFIRMED). The call then throws
// "Exceeded maximum DB size", everything since the last commit is gone (committed data is intact),
// aborted_transactions() counts it, and the DO layer should treat it like a failed commit.
//
// Where the platform's own error text is known (cloudflare/workerd sources) it is used verbatim;
// each message below says where it comes from.
//
// Determinism: SQLite's random()/randomblob() are replaced by a seeded per-object stream, and
// 'now' in SQL date functions reads the simulator's virtual time; nothing reads a real clock.
//
// Not thread-safe (nothing in cfsim is). A SqlCursor that outlives its ObjectStorage is
// invalidated: its methods throw instead of touching freed memory.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "model/durable_objects/stored_value.h"

struct sqlite3;
struct sqlite3_stmt;
struct sqlite3_context;
struct sqlite3_value;

namespace cfsim {

class Simulator;
class ObjectStorage;

// ---------------------------------------------------------------------------------------------
// Errors

// The JavaScript error class the platform throws.
enum class ErrorKind : uint8_t { error, type_error, range_error };
const char* to_string(ErrorKind k);  // "Error", "TypeError", "RangeError"

class StorageError : public std::runtime_error {
 public:
  StorageError(ErrorKind kind, std::string message)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// ---------------------------------------------------------------------------------------------
// Backends and limits (platform-facts §4.1)

enum class StorageBackend : uint8_t { sqlite, kv };
const char* to_string(StorageBackend b);

// KV API limits per backend. Sizes are bytes of the key's UTF-8 and of StoredValue::encode() (see
// stored_value.h: the platform measures the V8 serialization, a few bytes different).
struct KvLimits {
  size_t max_batch_keys;             // get/put/delete with a list: at most this many keys
  size_t max_key_bytes;              // 0 = no separate key limit
  size_t advertised_max_value_bytes; // the documented value limit (0 = none); used in messages
  size_t enforced_max_value_bytes;   // what is actually enforced (0 = none)
  size_t max_key_plus_value_bytes;   // 0 = no combined limit
};

// "get(keys[]), put({..}), delete(keys[]) <= 128 keys per call" [D3]; workerd's
// rpc::ActorStorage::MAX_KEYS, checked by ActorStorageLimits::checkMaxPairsCount.
inline constexpr size_t kMaxBatchKeys = 128;
// KV-backed key limit: 2 KiB [D1]; workerd ActorStorageLimits::MAX_KEY_SIZE = 2048.
inline constexpr size_t kKvMaxKeyBytes = 2048;
// KV-backed value limit: 128 KiB = 131072 bytes [D1]; workerd ADVERTISED_MAX_VALUE_SIZE.
inline constexpr size_t kKvAdvertisedMaxValueBytes = 128 * 1024;
// workerd enforces ADVERTISED_MAX_VALUE_SIZE + 34 (src/workerd/io/actor-storage.h: a cushion for
// the V8 serialization header, type tag and length; it was 32 before 2-byte headers, which the old
// local emulator still used). cfsim enforces the same 131106 bytes on its own encoding, whose
// header/tag/length overhead (3-7 bytes for a string or bytes value) is of the same order.
inline constexpr size_t kKvEnforcedMaxValueBytes = kKvAdvertisedMaxValueBytes + 34;
// SQLite-backed: "Key and value combined cannot exceed 2 MB" [D1]. The docs give no byte figure;
// cfsim reads 2 MB as 2,000,000 bytes, the decimal megabyte the DO limits page uses for storage
// (GB = 10^9) and the figure D1's limits page states for the same SQLite row limit.
inline constexpr size_t kSqliteMaxKeyPlusValueBytes = 2'000'000;

KvLimits kv_limits(StorageBackend b);

// SQL limits applied with sqlite3_limit() (platform-facts §4.1). The documented values are
// [D1]; where workerd's src/workerd/util/sqlite.c++ (SqliteDatabase::setupSecurity) sets another
// value, the comment says so.
struct SqlLimits {
  int max_columns = 100;               // per table / result / index [D1]; workerd: 100
  int max_bound_parameters = 100;      // [D1]; workerd SQLITE_LIMIT_VARIABLE_NUMBER 100
  int max_statement_bytes = 100'000;   // "100 KB" [D1]; workerd SQLITE_LIMIT_SQL_LENGTH 100000
  // "2 MB" string/BLOB/row [D1]. workerd sets SQLITE_LIMIT_LENGTH = 2,200,000 ("higher than
  // suggested ... plus some extra padding"), which is what the platform enforces; it must also
  // exceed the KV key+value limit plus the row header, or a 2,000,000-byte KV entry could not be
  // stored. cfsim uses workerd's figure.
  int max_length_bytes = 2'200'000;
  int max_function_args = 32;          // [D1]; newer workerd raised it to 127 (json_object use)
  int max_like_pattern_bytes = 50;     // [D1]; workerd 50
  int max_expr_depth = 100;            // workerd (undocumented)
  int max_compound_select = 5;         // workerd (undocumented)
  int max_trigger_depth = 10;          // workerd (undocumented)
};

// ---------------------------------------------------------------------------------------------
// Options

struct StorageOptions {
  // Per-object storage limit: 10 GB, GB = 10^9 bytes [D1]. Enforced as SQLite's max_page_count =
  // max_database_bytes / page_size_bytes (2,441,406 pages of 4 KiB for 10 GB). Tests set it tiny.
  uint64_t max_database_bytes = 10'000'000'000;
  uint32_t page_size_bytes = 4096;  // SQLite page size; a power of two in [512, 65536]
  SqlLimits sql_limits;
  // workerd's SQL_STATEMENT_CACHE_MAX_SIZE: cached statements are evicted least recently used
  // first once their SQL text exceeds this many bytes in total.
  size_t statement_cache_max_sql_bytes = 1024 * 1024;
  // Wall-clock time (Unix milliseconds) that virtual time 0 corresponds to, for SQL date
  // functions ('now', CURRENT_TIMESTAMP).
  int64_t wall_clock_epoch_unix_ms = 0;
  // Seed of SQL random()/randomblob() when no Simulator is given (with one, the stream is
  // "storage.sql_random:<label>" under the run's seed).
  uint64_t random_seed = 1;
};

// ---------------------------------------------------------------------------------------------
// SQL API (platform-facts §4.2)

using SqlBytes = std::vector<uint8_t>;
// SQL values: null, int64, double, string, bytes. (The platform returns integers as JavaScript
// numbers, losing precision beyond 2^53 [D2]; cfsim keeps the int64.)
using SqlValue = std::variant<std::monostate, int64_t, double, std::string, SqlBytes>;

// One result row: values in column order, addressable by column name.
class SqlRow {
 public:
  SqlRow(std::shared_ptr<const std::vector<std::string>> columns, std::vector<SqlValue> values)
      : columns_(std::move(columns)), values_(std::move(values)) {}
  size_t size() const { return values_.size(); }
  const SqlValue& at(size_t i) const { return values_.at(i); }
  const SqlValue& operator[](size_t i) const { return values_.at(i); }
  // By column name (the last column of that name, as a JavaScript object would keep); throws
  // std::out_of_range naming the column if there is none.
  const SqlValue& operator[](std::string_view column) const;
  const std::vector<SqlValue>& values() const { return values_; }
  const std::vector<std::string>& column_names() const { return *columns_; }
  // Convenience accessors; throw std::bad_variant_access on a type mismatch.
  int64_t get_int(std::string_view column) const { return std::get<int64_t>((*this)[column]); }
  double get_double(std::string_view column) const { return std::get<double>((*this)[column]); }
  const std::string& get_string(std::string_view column) const { return std::get<std::string>((*this)[column]); }
  bool is_null(std::string_view column) const { return std::holds_alternative<std::monostate>((*this)[column]); }

 private:
  std::shared_ptr<const std::vector<std::string>> columns_;
  std::vector<SqlValue> values_;
};

struct SqlCompiled;  // a cached (or one-off) compiled statement; defined in storage_impl.h

// The result of exec(): steps lazily. As in workerd, exec() runs the first step (so a write
// happens even if the cursor is never read) and each row read steps one row ahead, so the
// statement is finished as soon as its last row has been read. rows_read()/rows_written() grow as
// rows are stepped. A cursor is invalidated (its methods throw) by rollback(), delete_all() and the
// destruction of its storage.
class SqlCursor {
 public:
  SqlCursor(SqlCursor&& o) noexcept;
  SqlCursor& operator=(SqlCursor&& o) noexcept;
  SqlCursor(const SqlCursor&) = delete;
  SqlCursor& operator=(const SqlCursor&) = delete;
  ~SqlCursor();

  std::optional<SqlRow> next();
  std::vector<SqlRow> to_array();  // the remaining rows
  // Exactly one remaining row, else Error "Expected exactly one result from SQL query, but got
  // no results." / "... but got multiple results." (workerd sql.c++, verbatim).
  SqlRow one();

  // Rows as plain arrays; shares the position with the cursor.
  class Raw {
   public:
    std::optional<std::vector<SqlValue>> next();
    std::vector<std::vector<SqlValue>> to_array();
   private:
    friend class SqlCursor;
    explicit Raw(SqlCursor* c) : c_(c) {}
    SqlCursor* c_;
  };
  Raw raw() { return Raw(this); }

  const std::vector<std::string>& column_names();
  // Rows read and written so far by the cursor's (last) statement. SQLite alone cannot count rows
  // read the way the platform's patched SQLite (libsql's ROWS_READ counter) does; cfsim counts
  // max(rows stepped, rows visited by full table scans, rows changed by an UPDATE/DELETE), which
  // agrees for plain scans and key lookups and undercounts index range scans. Rows written are the
  // rows changed (sqlite3_total_changes) plus one per index entry of the written table for each
  // changed row ("each index row update counts as an extra written row" [D2]; for an UPDATE only
  // indexes on an updated column count).
  int64_t rows_read() const { return rows_read_; }
  int64_t rows_written() const { return rows_written_; }
  bool done() const { return stmt_ == nullptr; }

 private:
  friend class ObjectStorage;
  SqlCursor() = default;
  void step();          // advances one row; ends the statement when done
  void finish();        // returns the statement to the cache (or finalizes a one-off)
  void cancel(const char* why);  // finish + make every later call throw
  void update_rows_read();
  std::vector<SqlValue> row_values() const;  // the current row
  void link(ObjectStorage* owner);
  void unlink();
  void check_usable() const;

  ObjectStorage* owner_ = nullptr;
  SqlCursor* prev_ = nullptr;  // the owner's intrusive list of live (unfinished) cursors
  SqlCursor* next_cursor_ = nullptr;
  bool linked_ = false;
  sqlite3_stmt* stmt_ = nullptr;            // null once the statement has finished
  SqlCompiled* compiled_ = nullptr;         // cached entry this cursor holds, or the one-off below
  std::unique_ptr<SqlCompiled> one_off_;    // a one-off compile (the cached entry was busy)
  std::vector<SqlValue> bindings_;          // bound with SQLITE_STATIC: must outlive the statement
  std::shared_ptr<const std::vector<std::string>> columns_;
  const char* canceled_ = nullptr;          // why the cursor was invalidated
  int64_t rows_stepped_ = 0;
  int64_t rows_changed_ = 0;
  int64_t rows_read_ = 0;
  int64_t rows_written_ = 0;
  bool counts_changes_as_reads_ = false;    // UPDATE/DELETE: changed rows were read
};

// ---------------------------------------------------------------------------------------------
// KV API (platform-facts §4.3)

// Every member has an explicit default, so designated initializers can name any subset:
// s.list({.start = "a", .reverse = true}).
struct ListOptions {
  std::optional<std::string> start = std::nullopt;        // inclusive
  std::optional<std::string> start_after = std::nullopt;  // exclusive; not together with start
  std::optional<std::string> end = std::nullopt;          // exclusive
  std::optional<std::string> prefix = std::nullopt;
  bool reverse = false;                     // flips the order; start/end keep their lexical meaning
  std::optional<int64_t> limit = std::nullopt;  // must be positive
};

using KvEntries = std::vector<std::pair<std::string, StoredValue>>;

// The closure argument of transaction(): the same KV operations, plus rollback().
class Transaction {
 public:
  std::optional<StoredValue> get(std::string_view key);
  std::map<std::string, StoredValue> get(const std::vector<std::string>& keys);
  void put(std::string_view key, const StoredValue& value);
  void put(const KvEntries& entries);
  bool del(std::string_view key);
  size_t del(const std::vector<std::string>& keys);
  KvEntries list(const ListOptions& options = {});
  // Always throws Error "Cannot call deleteAll() within a transaction" (workerd, verbatim).
  void delete_all();
  // Discards the transaction's changes now; later operations through this object throw Error
  // "Cannot <op>() on rolled back transaction" (workerd, verbatim). Calling it again is a no-op.
  void rollback();
  bool rolled_back() const { return rolled_back_; }

 private:
  friend class ObjectStorage;
  Transaction(ObjectStorage& s, int depth, uint64_t epoch) : s_(s), depth_(depth), epoch_(epoch) {}
  void check(const char* op) const;
  ObjectStorage& s_;
  int depth_;
  uint64_t epoch_;
  bool rolled_back_ = false;
  bool finished_ = false;
};

// Operation counters (since construction; rollbacks do not undo them).
struct StorageCounters {
  uint64_t gets = 0, puts = 0, deletes = 0, lists = 0, execs = 0, delete_alls = 0;
  uint64_t commits = 0, rollbacks = 0, aborted_transactions = 0, errors = 0;
  uint64_t statement_cache_hits = 0, statement_cache_misses = 0;
};

// ---------------------------------------------------------------------------------------------

// The engine. An app never holds one: it sees ctx.storage (DurableObjectStorage, storage_api.h),
// which forwards the platform's calls here; commit, rollback, abandon_transactions and the
// operation gate are the object host's (object_host.h).
class ObjectStorage {
 public:
  // `sim` (optional) receives one trace record per operation (category "storage"); `label` names
  // the object in those records and seeds SQL random().
  ObjectStorage(StorageBackend backend, StorageOptions options = {}, Simulator* sim = nullptr,
                std::string label = "do");
  ~ObjectStorage();
  ObjectStorage(const ObjectStorage&) = delete;
  ObjectStorage& operator=(const ObjectStorage&) = delete;

  StorageBackend backend() const { return backend_; }
  const StorageOptions& options() const { return opts_; }
  const std::string& label() const { return label_; }
  const KvLimits& limits() const { return limits_; }

  // --- SQL (SQLite backend only) ----------------------------------------------------------------
  // Runs `sql` (one or more ';'-separated statements; bindings go to the last, and the cursor
  // covers the last). BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE and names starting with _cf_ are
  // rejected. On the KV backend: Error (workerd's getSqliteDb message, verbatim).
  SqlCursor exec(std::string_view sql, std::vector<SqlValue> bindings = {});
  // Bytes the database occupies: (page_count - freelist_count) * page_size, as workerd's
  // SqlStorage::getDatabaseSize computes it. KV backend: the same Error as exec().
  uint64_t database_size();

  // --- KV (both backends) -------------------------------------------------------------------------
  std::optional<StoredValue> get(std::string_view key);
  // Found keys only, in UTF-8 byte order.
  std::map<std::string, StoredValue> get(const std::vector<std::string>& keys);
  void put(std::string_view key, const StoredValue& value);
  void put(const KvEntries& entries);  // later duplicates win
  bool del(std::string_view key);                      // true if the key existed
  size_t del(const std::vector<std::string>& keys);    // how many existed
  KvEntries list(const ListOptions& options = {});
  // Deletes every SQL table, view, index and trigger and every KV entry, atomically, inside the
  // implicit transaction (so rollback() brings them back until the next commit). Inside
  // transaction()/transaction_sync(): Error "Cannot call deleteAll() within a transaction".
  // (KV-backed objects may fail midway on the platform [D5]; cfsim's is always atomic.)
  void delete_all();

  // --- transactions (platform-facts §4.4) -------------------------------------------------------
  // True once a write (KV put/delete/deleteAll, or a SQL statement that is not read-only, even a
  // failed one) happened since the last commit/rollback.
  bool has_pending_writes() const { return dirty_; }
  bool in_transaction() const { return !savepoints_.empty(); }  // inside transaction*/(...)
  // The fiber that opened the outermost transaction()/transaction_sync() still running; 0 if none,
  // or if it was opened outside any fiber. The DO layer lets only this fiber hold the input gate
  // for the transaction.
  uint32_t transaction_owner() const { return savepoints_.empty() ? 0 : txn_owner_; }
  // Ends every running transaction()/transaction_sync() now, rolling their changes back (not the
  // writes made before them, which stay pending in the implicit transaction). For a reset that
  // killed the fiber running them: its unwinding comes later and must not roll back anything
  // written meanwhile (its later steps are no-ops, as after rollback()). No-op outside one.
  void abandon_transactions();
  // Makes everything since the last commit durable. No-op if nothing is open, and deferred (a
  // no-op that leaves has_pending_writes() true) while a transaction()/transaction_sync() is
  // running: a commit must never split one. A SQL cursor of a write statement (INSERT ...
  // RETURNING) not yet read to the end is ended first (SQLite cannot commit under it); read
  // cursors carry on. Throws StorageError if SQLite refuses the COMMIT (a deferred foreign key
  // still violated); the transaction then stays open, as it would on the platform, whose object
  // is reset when a commit fails.
  void commit();
  // Discards everything since the last commit (the crash-before-durable case). Invalidates live
  // cursors and any running transaction()/transaction_sync() (their later steps are no-ops).
  void rollback();

  // Runs fn inside a savepoint; returns fn's value; if fn throws, fn's SQL and KV changes are
  // rolled back and the exception propagates. SQLite backend only (KV backend: Error "Durable
  // Object is not backed by SQL.", workerd verbatim). Nests.
  template <class F>
  auto transaction_sync(F&& fn) -> decltype(fn());
  // fn(Transaction&): its changes are discarded if fn calls txn.rollback() or throws (the
  // exception propagates). Both backends; nests. Unlike workerd, this does not commit the
  // implicit transaction first: committing is the DO layer's decision.
  template <class F>
  auto transaction(F&& fn) -> decltype(fn(std::declval<Transaction&>()));

  // --- the Durable Object layer's input gate ---------------------------------------------------
  // `gate` runs at the start of every KV and SQL call (get/put/del/list/delete_all/exec/
  // database_size) and of transaction()/transaction_sync() -- not of commit, rollback, stats or
  // cursor steps. It may block the calling fiber: the DO layer holds a request there while another
  // request's transaction(), open across a suspension, holds the input gate, so that the request
  // cannot read or write inside a transaction that may still roll back. Empty by default.
  void set_operation_gate(std::function<void()> gate) { gate_ = std::move(gate); }

  // --- stats -----------------------------------------------------------------------------------
  uint64_t kv_key_count();   // KV entries now (including uncommitted writes)
  uint64_t kv_bytes();       // sum of key + encoded value bytes of those entries
  uint64_t page_count();     // pages of the database, free ones included (max_page_count() caps it)
  uint64_t max_page_count() const { return max_pages_; }
  const StorageCounters& counters() const { return counters_; }
  // Implicit transactions SQLite aborted because the database was full (see the top of this file).
  uint64_t aborted_transactions() const { return counters_.aborted_transactions; }
  size_t statement_cache_size() const;

  // The wall-clock time SQL date functions see ('now'): options().wall_clock_epoch_unix_ms plus
  // the simulator's virtual time (0 without a simulator).
  int64_t wall_clock_unix_ms() const;

  struct Impl;  // internal: SQLite handles, prepared statements, statement cache (storage_impl.h)
  Impl* impl() { return impl_.get(); }  // internal

 private:
  friend class SqlCursor;
  friend class Transaction;
  friend int storage_authorizer(void*, int, const char*, const char*, const char*, const char*);
  struct TraceOp;

  // Savepoints opened by transaction()/transaction_sync().
  int begin_savepoint();
  void release_savepoint(int depth, uint64_t epoch);
  void rollback_savepoint(int depth, uint64_t epoch);
  void record_txn(const char* name, int depth, const char* result);
  void require_sqlite(const char* what);
  void pass_gate() {
    if (gate_) gate_();
  }

  // KV helpers (storage_kv.cpp).
  void check_batch(size_t n) const;
  void check_key(std::string_view key) const;
  void check_entry(std::string_view key, size_t value_bytes) const;
  void encode_value(const StoredValue& value, std::string& out) const;
  StoredValue decode_stored(std::string_view key, std::string_view bytes) const;
  std::optional<StoredValue> kv_get_one(std::string_view key, int64_t& bytes);
  void kv_put_one(std::string_view key, std::string_view encoded);
  bool kv_del_one(std::string_view key);
  template <class F>
  void atomically(F&& body);
  std::vector<std::string> schema_drop_statements();          // delete_all's DROPs, in order
  void drop_schema_and_kv(const std::vector<std::string>& drops);  // runs them atomically, then empties _cf_KV

  // SQLite helpers (storage.cpp).
  void run_internal(sqlite3_stmt* st);  // steps once (trusted) and resets; throws on error
  void ensure_txn();
  void on_sqlite_error(int rc);  // detects a transaction SQLite aborted (SQLITE_FULL)
  [[noreturn]] void throw_sqlite(int rc);
  void cancel_cursors(const char* why);
  void bump_schema_epoch() { ++schema_epoch_; }
  static std::string sql_digest(std::string_view sql);  // 16 hex digits of hash_string(sql)

  // SQL helpers (storage_sql.cpp).
  std::unique_ptr<SqlCompiled> compile(std::string_view sql, bool persistent);
  SqlCompiled& cached_compile(std::string_view sql, std::unique_ptr<SqlCompiled>& one_off);
  void run_preludes(SqlCompiled& c);
  int64_t index_entries_per_row(SqlCompiled& c);
  std::shared_ptr<const std::vector<std::string>> column_names_of(SqlCompiled& c, sqlite3_stmt* st);

  StorageBackend backend_;
  StorageOptions opts_;
  Simulator* sim_;
  std::string label_;
  KvLimits limits_;
  uint64_t max_pages_ = 0;
  std::unique_ptr<Impl> impl_;
  SqlCursor* cursors_ = nullptr;  // intrusive list of live cursors
  bool txn_open_ = false;         // BEGIN issued since the last commit/rollback
  bool dirty_ = false;            // a write happened since the last commit/rollback
  uint64_t txn_epoch_ = 1;        // bumped by commit/rollback/abort: stale savepoints are skipped
  uint64_t schema_epoch_ = 1;     // bumped by DDL and rollbacks: cached schema facts are stale
  std::vector<int> savepoints_;   // depths of open transaction()/transaction_sync() savepoints
  uint32_t txn_owner_ = 0;        // fiber that opened savepoints_[0] (see transaction_owner)
  StorageCounters counters_;
  std::function<void()> gate_;    // see set_operation_gate
};

// ---------------------------------------------------------------------------------------------
// Template implementations

template <class F>
auto ObjectStorage::transaction_sync(F&& fn) -> decltype(fn()) {
  pass_gate();
  require_sqlite("transaction_sync");
  int depth = begin_savepoint();
  uint64_t epoch = txn_epoch_;
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      release_savepoint(depth, epoch);
      record_txn("transaction_sync", depth, "ok");
    } else {
      auto result = fn();
      release_savepoint(depth, epoch);
      record_txn("transaction_sync", depth, "ok");
      return result;
    }
  } catch (...) {
    rollback_savepoint(depth, epoch);
    record_txn("transaction_sync", depth, "exception");
    throw;
  }
}

template <class F>
auto ObjectStorage::transaction(F&& fn) -> decltype(fn(std::declval<Transaction&>())) {
  pass_gate();
  int depth = begin_savepoint();
  Transaction txn(*this, depth, txn_epoch_);
  try {
    if constexpr (std::is_void_v<decltype(fn(txn))>) {
      fn(txn);
      txn.finished_ = true;
      if (!txn.rolled_back_) release_savepoint(depth, txn.epoch_);
      record_txn("transaction", depth, txn.rolled_back_ ? "rolled_back" : "ok");
    } else {
      auto result = fn(txn);
      txn.finished_ = true;
      if (!txn.rolled_back_) release_savepoint(depth, txn.epoch_);
      record_txn("transaction", depth, txn.rolled_back_ ? "rolled_back" : "ok");
      return result;
    }
  } catch (...) {
    txn.finished_ = true;
    if (!txn.rolled_back_) rollback_savepoint(depth, txn.epoch_);
    record_txn("transaction", depth, "exception");
    throw;
  }
}

}  // namespace cfsim
