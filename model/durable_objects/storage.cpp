// The ObjectStorage engine: the SQLite database (its private VFS, limits and internal
// statements), the implicit transaction (commit, rollback), the savepoints of transaction() and
// transaction_sync(), and stats. The KV API is in storage_kv.cpp; the SQL API (authorizer,
// statement cache, cursors) in storage_sql.cpp.

#include "model/durable_objects/storage.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include "model/durable_objects/storage_impl.h"
#include "sim/assert.h"
#include "sim/hash.h"
#include "sim/scheduler.h"

namespace cfsim {

// ---------------------------------------------------------------------------------------------
// Small shared pieces

const char* to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::error: return "Error";
    case ErrorKind::type_error: return "TypeError";
    case ErrorKind::range_error: return "RangeError";
  }
  return "Error";
}

const char* to_string(StorageBackend b) { return b == StorageBackend::sqlite ? "sqlite" : "kv"; }

KvLimits kv_limits(StorageBackend b) {
  if (b == StorageBackend::kv)
    return KvLimits{kMaxBatchKeys, kKvMaxKeyBytes, kKvAdvertisedMaxValueBytes, kKvEnforcedMaxValueBytes, 0};
  return KvLimits{kMaxBatchKeys, 0, 0, 0, kSqliteMaxKeyPlusValueBytes};
}

const char* sqlite_code_name(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_OK: return "SQLITE_OK";
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_INTERNAL: return "SQLITE_INTERNAL";
    case SQLITE_PERM: return "SQLITE_PERM";
    case SQLITE_ABORT: return "SQLITE_ABORT";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_NOTFOUND: return "SQLITE_NOTFOUND";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_PROTOCOL: return "SQLITE_PROTOCOL";
    case SQLITE_EMPTY: return "SQLITE_EMPTY";
    case SQLITE_SCHEMA: return "SQLITE_SCHEMA";
    case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
    case SQLITE_MISUSE: return "SQLITE_MISUSE";
    case SQLITE_NOLFS: return "SQLITE_NOLFS";
    case SQLITE_AUTH: return "SQLITE_AUTH";
    case SQLITE_FORMAT: return "SQLITE_FORMAT";
    case SQLITE_RANGE: return "SQLITE_RANGE";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    case SQLITE_NOTICE: return "SQLITE_NOTICE";
    case SQLITE_WARNING: return "SQLITE_WARNING";
    case SQLITE_ROW: return "SQLITE_ROW";
    case SQLITE_DONE: return "SQLITE_DONE";
  }
  return "SQLITE_UNKNOWN_ERROR_CODE";
}

std::string sqlite_error_message(sqlite3* db, int rc) {
  std::string msg = sqlite3_errmsg(db);
  if (int offset = sqlite3_error_offset(db); offset != -1) msg += " at offset " + std::to_string(offset);
  msg += ": ";
  msg += sqlite_code_name(rc);
  return msg;
}

namespace {

// workerd src/workerd/api/actor-state.c++, DurableObjectStorage::getSqliteDb (production branch).
constexpr const char* kNoSqlMessage =
    "This Durable Object is not backed by SQLite storage, so the SQL API is not available. "
    "SQL can be enabled on a new Durable Object class by using the `new_sqlite_classes` "
    "instead of `new_classes` under `[[migrations]]` in your wrangler.toml, but an "
    "already-deployed class cannot be converted to SQLite (except by deleting the existing "
    "data).";

// Julian day number of the Unix epoch, in milliseconds (2440587.5 days).
constexpr int64_t kUnixEpochJulianMs = 210866760000000LL;

int vfs_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
  const ObjectStorage* self = reinterpret_cast<ObjectStorage::Impl::Vfs*>(v)->owner;
  *out = static_cast<sqlite3_int64>(kUnixEpochJulianMs + self->wall_clock_unix_ms());
  return SQLITE_OK;
}

int vfs_current_time(sqlite3_vfs* v, double* out) {
  sqlite3_int64 ms = 0;
  vfs_current_time_int64(v, &ms);
  *out = static_cast<double>(ms) / 86400000.0;
  return SQLITE_OK;
}

int vfs_randomness(sqlite3_vfs* v, int n, char* out) {
  auto* impl = reinterpret_cast<ObjectStorage::Impl::Vfs*>(v)->owner->impl();
  for (int i = 0; i < n; i += 8) {
    uint64_t r = impl->rng.next_u64();
    for (int b = 0; b < 8 && i + b < n; ++b) out[i + b] = static_cast<char>(r >> (8 * b));
  }
  return n;
}

int vfs_sleep(sqlite3_vfs*, int microseconds) { return microseconds; }  // never really sleeps

// random() and randomblob(N), drawn from the object's seeded stream instead of SQLite's global
// generator (which is seeded from the OS).
void sql_random(sqlite3_context* ctx, int, sqlite3_value**) {
  auto* impl = static_cast<ObjectStorage::Impl*>(sqlite3_user_data(ctx));
  sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(impl->rng.next_u64()));
}

void sql_randomblob(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* impl = static_cast<ObjectStorage::Impl*>(sqlite3_user_data(ctx));
  sqlite3_int64 n = sqlite3_value_int64(argv[0]);
  if (n < 1) n = 1;
  if (n > sqlite3_limit(impl->db, SQLITE_LIMIT_LENGTH, -1)) {
    sqlite3_result_error_toobig(ctx);
    return;
  }
  std::string buf(static_cast<size_t>(n), '\0');
  for (size_t i = 0; i < buf.size(); i += 8) {
    uint64_t r = impl->rng.next_u64();
    for (size_t b = 0; b < 8 && i + b < buf.size(); ++b) buf[i + b] = static_cast<char>(r >> (8 * b));
  }
  sqlite3_result_blob64(ctx, buf.data(), buf.size(), SQLITE_TRANSIENT);
}

void hex16(uint64_t v, char out[16]) {
  static const char* digits = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, v >>= 4) out[i] = digits[v & 0xF];
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Impl

ObjectStorage::Impl::~Impl() {
  cache.clear();
  for (sqlite3_stmt* s : {begin, commit, rollback, kv_get, kv_put, kv_del, kv_stats, page_count, db_size_pages})
    sqlite3_finalize(s);
  for (sqlite3_stmt* s : kv_list) sqlite3_finalize(s);
  for (sqlite3_stmt* s : op_savepoint) sqlite3_finalize(s);
  for (auto& sp : savepoints)
    for (sqlite3_stmt* s : sp) sqlite3_finalize(s);
  for (auto& [text, s] : misc) sqlite3_finalize(s);
  if (db) sqlite3_close_v2(db);
  if (vfs) sqlite3_vfs_unregister(&vfs->vfs);
}

sqlite3_stmt* ObjectStorage::Impl::prepare_internal(std::string_view sql) {
  TrustedScope trusted_scope(*this);
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &st, nullptr);
  if (rc != SQLITE_OK || st == nullptr) {
    std::string msg = sqlite_error_message(db, rc);
    sqlite3_finalize(st);
    throw StorageError(ErrorKind::error, "internal storage statement failed to compile: " + msg);
  }
  return st;
}

sqlite3_stmt* ObjectStorage::Impl::misc_stmt(const std::string& sql) {
  auto it = misc.find(sql);
  if (it != misc.end()) return it->second;
  sqlite3_stmt* st = prepare_internal(sql);
  misc.emplace(sql, st);
  return st;
}

void ObjectStorage::Impl::lru_unlink(SqlCompiled* c) {
  if (c->lru_prev) c->lru_prev->lru_next = c->lru_next; else lru_head = c->lru_next;
  if (c->lru_next) c->lru_next->lru_prev = c->lru_prev; else lru_tail = c->lru_prev;
  c->lru_prev = c->lru_next = nullptr;
}

void ObjectStorage::Impl::lru_push_back(SqlCompiled* c) {
  c->lru_prev = lru_tail;
  c->lru_next = nullptr;
  if (lru_tail) lru_tail->lru_next = c; else lru_head = c;
  lru_tail = c;
}

// ---------------------------------------------------------------------------------------------
// Construction

namespace {

// Pages the database may have (SQLite's max_page_count), from the options; throws
// std::invalid_argument for a page size or a limit SQLite cannot take.
uint64_t max_pages_for(const StorageOptions& opts) {
  uint32_t ps = opts.page_size_bytes;
  if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0)
    throw std::invalid_argument("StorageOptions.page_size_bytes = " + std::to_string(ps) +
                                ": must be a power of two between 512 and 65536");
  uint64_t max_pages = opts.max_database_bytes / ps;
  if (max_pages < 8 || max_pages > 0xFFFFFFFEull)
    throw std::invalid_argument("StorageOptions.max_database_bytes = " + std::to_string(opts.max_database_bytes) +
                                ": must allow between 8 and 4294967294 pages of " + std::to_string(ps) + " bytes");
  return max_pages;
}

// A private VFS: the default one with a virtual clock and seeded randomness.
void register_vfs(ObjectStorage::Impl& im, ObjectStorage* owner) {
  static uint64_t vfs_counter = 0;
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  if (!base) throw StorageError(ErrorKind::error, "SQLite has no default VFS");
  im.vfs = std::make_unique<ObjectStorage::Impl::Vfs>();
  im.vfs->vfs = *base;
  im.vfs->owner = owner;
  im.vfs->name = "cfsim-storage-" + std::to_string(++vfs_counter);
  im.vfs->vfs.pNext = nullptr;
  im.vfs->vfs.zName = im.vfs->name.c_str();
  im.vfs->vfs.xCurrentTime = vfs_current_time;
  if (im.vfs->vfs.iVersion >= 2) im.vfs->vfs.xCurrentTimeInt64 = vfs_current_time_int64;
  im.vfs->vfs.xRandomness = vfs_randomness;
  im.vfs->vfs.xSleep = vfs_sleep;
  if (sqlite3_vfs_register(&im.vfs->vfs, 0) != SQLITE_OK) {
    im.vfs.reset();
    throw StorageError(ErrorKind::error, "could not register the storage VFS");
  }
}

// Runs one statement of the storage's setup; throws StorageError naming it if SQLite refuses.
void run_setup(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int r = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (r != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(r);
    sqlite3_free(err);
    throw StorageError(ErrorKind::error, "storage setup \"" + sql + "\" failed: " + msg);
  }
}

// The platform's security setup (workerd SqliteDatabase::setupSecurity).
void apply_platform_limits(sqlite3* db, const SqlLimits& L) {
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, L.max_length_bytes);
  sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, L.max_statement_bytes);
  sqlite3_limit(db, SQLITE_LIMIT_COLUMN, L.max_columns);
  sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, L.max_expr_depth);
  sqlite3_limit(db, SQLITE_LIMIT_COMPOUND_SELECT, L.max_compound_select);
  sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, L.max_function_args);
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, L.max_like_pattern_bytes);
  sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, L.max_bound_parameters);
  sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, L.max_trigger_depth);
  sqlite3_limit(db, SQLITE_LIMIT_WORKER_THREADS, 0);
}

// The statements the engine runs itself (transactions, the KV table, stats), compiled once.
void prepare_internal_statements(ObjectStorage::Impl& im) {
  im.begin = im.prepare_internal("BEGIN");
  im.commit = im.prepare_internal("COMMIT");
  im.rollback = im.prepare_internal("ROLLBACK");
  im.kv_get = im.prepare_internal("SELECT value FROM _cf_KV WHERE key = ?1");
  im.kv_put = im.prepare_internal("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?1, ?2)");
  im.kv_del = im.prepare_internal("DELETE FROM _cf_KV WHERE key = ?1");
  im.kv_list[0] = im.prepare_internal("SELECT key, value FROM _cf_KV WHERE key >= ?1 ORDER BY key LIMIT ?3");
  im.kv_list[1] = im.prepare_internal("SELECT key, value FROM _cf_KV WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3");
  im.kv_list[2] = im.prepare_internal("SELECT key, value FROM _cf_KV WHERE key >= ?1 ORDER BY key DESC LIMIT ?3");
  im.kv_list[3] = im.prepare_internal("SELECT key, value FROM _cf_KV WHERE key >= ?1 AND key < ?2 ORDER BY key DESC LIMIT ?3");
  im.kv_stats = im.prepare_internal(
      "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0) FROM _cf_KV");
  im.page_count = im.prepare_internal("PRAGMA page_count");
  im.db_size_pages = im.prepare_internal(
      "SELECT (SELECT * FROM pragma_page_count) - (SELECT * FROM pragma_freelist_count)");
  im.op_savepoint[0] = im.prepare_internal("SAVEPOINT _cf_op");
  im.op_savepoint[1] = im.prepare_internal("RELEASE _cf_op");
  im.op_savepoint[2] = im.prepare_internal("ROLLBACK TO _cf_op");
}

}  // namespace

ObjectStorage::ObjectStorage(StorageBackend backend, StorageOptions options, Simulator* sim, std::string label)
    : backend_(backend), opts_(std::move(options)), sim_(sim), label_(std::move(label)),
      limits_(kv_limits(backend)), impl_(std::make_unique<Impl>()) {
  max_pages_ = max_pages_for(opts_);
  Impl& im = *impl_;
  im.self = this;
  std::string stream = "storage.sql_random:" + label_;
  im.rng = sim_ ? sim_->random(stream) : Random(opts_.random_seed, stream);
  register_vfs(im, this);

  int rc = sqlite3_open_v2(":memory:", &im.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, im.vfs->name.c_str());
  if (rc != SQLITE_OK) throw StorageError(ErrorKind::error, std::string("sqlite3_open_v2 failed: ") + sqlite3_errstr(rc));
  run_setup(im.db, "PRAGMA page_size = " + std::to_string(opts_.page_size_bytes));
  run_setup(im.db, "PRAGMA temp_store = MEMORY");
  run_setup(im.db, "CREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID");
  run_setup(im.db, "PRAGMA max_page_count = " + std::to_string(max_pages_));
  apply_platform_limits(im.db, opts_.sql_limits);

  sqlite3_create_function_v2(im.db, "random", 0, SQLITE_UTF8, &im, sql_random, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(im.db, "randomblob", 1, SQLITE_UTF8, &im, sql_randomblob, nullptr, nullptr, nullptr);
  sqlite3_set_authorizer(im.db, storage_authorizer, &im);
  prepare_internal_statements(im);
}

ObjectStorage::~ObjectStorage() {
  // Live cursors return their statements now; afterwards they only throw (never touch *this).
  cancel_cursors("its storage was destroyed");
}

int64_t ObjectStorage::wall_clock_unix_ms() const {
  int64_t virtual_ms = sim_ ? sim_->now().ns / 1'000'000 : 0;
  return opts_.wall_clock_epoch_unix_ms + virtual_ms;
}

// ---------------------------------------------------------------------------------------------
// Running internal statements

void ObjectStorage::run_internal(sqlite3_stmt* st) {
  int rc = step_trusted(*impl_, st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
    sqlite3_reset(st);
    return;
  }
  sqlite3_reset(st);
  throw_sqlite(rc);
}

void ObjectStorage::throw_sqlite(int rc) {
  std::string msg;
  if ((rc & 0xFF) == SQLITE_FULL) {
    // The platform's text for a full database, as D1 (built on SQLite-backed Durable Objects)
    // reports it: "Exceeded maximum DB size" (UNCONFIRMED for Durable Objects themselves).
    msg = "Exceeded maximum DB size: SQLITE_FULL (the limit is " + std::to_string(opts_.max_database_bytes) +
          " bytes = " + std::to_string(max_pages_) + " pages of " + std::to_string(opts_.page_size_bytes) + " bytes)";
  } else {
    msg = sqlite_error_message(impl_->db, rc);
  }
  on_sqlite_error(rc);
  throw StorageError(ErrorKind::error, std::move(msg));
}

void ObjectStorage::on_sqlite_error(int) {
  // SQLite aborts the whole transaction on some errors (SQLITE_FULL from max_page_count, for
  // most statements): everything since the last commit is gone. Keep our state in step.
  if (txn_open_ && sqlite3_get_autocommit(impl_->db)) {
    txn_open_ = false;
    dirty_ = false;
    savepoints_.clear();
    ++txn_epoch_;
    bump_schema_epoch();
    ++counters_.aborted_transactions;
    cancel_cursors("the transaction was aborted (the database is full)");
    if (sim_) sim_->record("storage", "aborted", {{"object", label_}, {"result", "Error"}});
  }
}

void ObjectStorage::ensure_txn() {
  if (txn_open_) return;
  run_internal(impl_->begin);
  txn_open_ = true;
}

void ObjectStorage::cancel_cursors(const char* why) {
  while (cursors_) {
    SqlCursor* c = cursors_;
    c->cancel(why);
    CFSIM_ASSERT(cursors_ != c);  // cancel() unlinks the cursor from the list
  }
}

void ObjectStorage::require_sqlite(const char* what) {
  if (backend_ == StorageBackend::sqlite) return;
  if (std::strcmp(what, "transaction_sync") == 0)
    throw StorageError(ErrorKind::error, "Durable Object is not backed by SQL.");  // workerd, verbatim
  throw StorageError(ErrorKind::error, kNoSqlMessage);
}

// ---------------------------------------------------------------------------------------------
// Implicit transaction

void ObjectStorage::commit() {
  if (!savepoints_.empty()) {  // never split a transaction()/transaction_sync()
    if (sim_) sim_->record("storage", "commit", {{"object", label_}, {"result", "deferred"}});
    return;
  }
  if (!txn_open_) return;
  // A write statement still being stepped (INSERT ... RETURNING half read) would make COMMIT fail.
  for (SqlCursor* c = cursors_; c;) {
    SqlCursor* next = c->next_cursor_;
    if (c->stmt_ && !sqlite3_stmt_readonly(c->stmt_)) c->cancel("the implicit transaction committed before it was read to the end");
    c = next;
  }
  try {
    run_internal(impl_->commit);
  } catch (const StorageError& e) {
    ++counters_.errors;
    if (sim_) sim_->record("storage", "commit", {{"object", label_}, {"result", to_string(e.kind())}});
    throw;
  }
  bool had_writes = dirty_;
  txn_open_ = false;
  dirty_ = false;
  ++txn_epoch_;
  ++counters_.commits;
  if (sim_) sim_->record("storage", "commit", {{"object", label_}, {"writes", had_writes}, {"result", "ok"}});
}

void ObjectStorage::rollback() {
  savepoints_.clear();
  ++txn_epoch_;
  if (!txn_open_) {
    dirty_ = false;
    return;
  }
  cancel_cursors("the storage was rolled back");
  int rc = step_trusted(*impl_, impl_->rollback);
  sqlite3_reset(impl_->rollback);
  bool had_writes = dirty_;
  txn_open_ = false;
  dirty_ = false;
  bump_schema_epoch();
  ++counters_.rollbacks;
  if (sim_)
    sim_->record("storage", "rollback",
                 {{"object", label_}, {"writes", had_writes}, {"result", rc == SQLITE_DONE ? "ok" : "Error"}});
}

// ---------------------------------------------------------------------------------------------
// Savepoints for transaction() / transaction_sync()

int ObjectStorage::begin_savepoint() {
  ensure_txn();
  int depth = static_cast<int>(savepoints_.size());
  Impl& im = *impl_;
  while (im.savepoints.size() <= static_cast<size_t>(depth)) {
    std::string n = "_cf_savepoint_" + std::to_string(im.savepoints.size());
    im.savepoints.push_back({im.prepare_internal("SAVEPOINT " + n), im.prepare_internal("RELEASE " + n),
                             im.prepare_internal("ROLLBACK TO " + n)});
  }
  run_internal(im.savepoints[depth][0]);
  if (depth == 0) txn_owner_ = sim_ && sim_->in_fiber() ? sim_->current().id() : 0;
  savepoints_.push_back(depth);
  return depth;
}

void ObjectStorage::abandon_transactions() {
  if (savepoints_.empty()) return;
  const int open = static_cast<int>(savepoints_.size());
  savepoints_.clear();
  ++txn_epoch_;  // the Transaction objects and savepoint depths still held by the dead fiber go stale
  // A write statement still being stepped (INSERT ... RETURNING half read) would make the rollback fail.
  for (SqlCursor* c = cursors_; c;) {
    SqlCursor* next = c->next_cursor_;
    if (c->stmt_ && !sqlite3_stmt_readonly(c->stmt_)) c->cancel("its transaction was abandoned by a reset");
    c = next;
  }
  run_internal(impl_->savepoints[0][2]);
  run_internal(impl_->savepoints[0][1]);
  bump_schema_epoch();  // the rolled-back part may have changed the schema
  if (sim_) sim_->record("storage", "transaction", {{"object", label_}, {"depth", 0}, {"open", open}, {"result", "abandoned"}});
}

void ObjectStorage::release_savepoint(int depth, uint64_t epoch) {
  if (epoch != txn_epoch_ || savepoints_.empty() || savepoints_.back() != depth) return;  // stale
  savepoints_.pop_back();
  run_internal(impl_->savepoints[depth][1]);
}

void ObjectStorage::rollback_savepoint(int depth, uint64_t epoch) {
  if (epoch != txn_epoch_ || savepoints_.empty() || savepoints_.back() != depth) return;  // stale
  savepoints_.pop_back();
  run_internal(impl_->savepoints[depth][2]);
  run_internal(impl_->savepoints[depth][1]);
  bump_schema_epoch();  // the rolled-back part may have changed the schema
}

void ObjectStorage::record_txn(const char* name, int depth, const char* result) {
  if (sim_) sim_->record("storage", name, {{"object", label_}, {"depth", depth}, {"result", result}});
}

// ---------------------------------------------------------------------------------------------
// Transaction (the txn object of transaction())

void Transaction::check(const char* op) const {
  if (rolled_back_ || epoch_ != s_.txn_epoch_)
    throw StorageError(ErrorKind::error, std::string("Cannot ") + op + " on rolled back transaction");
  if (finished_)
    throw StorageError(ErrorKind::error, std::string("Cannot call ") + op +
                                             " on transaction that has already committed: did you move "
                                             "`txn` outside of the closure?");
}

std::optional<StoredValue> Transaction::get(std::string_view key) { check("get()"); return s_.get(key); }
std::map<std::string, StoredValue> Transaction::get(const std::vector<std::string>& keys) { check("get()"); return s_.get(keys); }
void Transaction::put(std::string_view key, const StoredValue& value) { check("put()"); s_.put(key, value); }
void Transaction::put(const KvEntries& entries) { check("put()"); s_.put(entries); }
bool Transaction::del(std::string_view key) { check("delete()"); return s_.del(key); }
size_t Transaction::del(const std::vector<std::string>& keys) { check("delete()"); return s_.del(keys); }
KvEntries Transaction::list(const ListOptions& options) { check("list()"); return s_.list(options); }

void Transaction::delete_all() {
  throw StorageError(ErrorKind::error, "Cannot call deleteAll() within a transaction");  // workerd, verbatim
}

void Transaction::rollback() {
  if (rolled_back_) return;  // workerd allows repeated rollback()
  check("rollback()");
  if (s_.savepoints_.empty() || s_.savepoints_.back() != depth_)
    throw StorageError(ErrorKind::error,  // workerd ActorSqlite::ExplicitTxn::rollback, verbatim
                       "Cannot roll back an outer transaction while a nested transaction is still running.");
  s_.rollback_savepoint(depth_, epoch_);
  rolled_back_ = true;
}

// ---------------------------------------------------------------------------------------------
// Stats

namespace {

int64_t query_int(ObjectStorage::Impl& im, sqlite3_stmt* st, int col) {
  int rc = step_trusted(im, st);
  int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, col) : 0;
  sqlite3_reset(st);
  return v;
}

}  // namespace

uint64_t ObjectStorage::kv_key_count() { return static_cast<uint64_t>(query_int(*impl_, impl_->kv_stats, 0)); }
uint64_t ObjectStorage::kv_bytes() { return static_cast<uint64_t>(query_int(*impl_, impl_->kv_stats, 1)); }
uint64_t ObjectStorage::page_count() { return static_cast<uint64_t>(query_int(*impl_, impl_->page_count, 0)); }
size_t ObjectStorage::statement_cache_size() const { return impl_->cache.size(); }

uint64_t ObjectStorage::database_size() {
  pass_gate();
  require_sqlite("databaseSize");
  return static_cast<uint64_t>(query_int(*impl_, impl_->db_size_pages, 0)) * opts_.page_size_bytes;
}

std::string ObjectStorage::sql_digest(std::string_view sql) {
  char buf[16];
  hex16(hash_string(sql), buf);
  return std::string(buf, 16);
}

}  // namespace cfsim
