#pragma once
// Internals of ObjectStorage shared by storage.cpp (the engine: SQLite handle, transactions),
// storage_kv.cpp (KV API) and storage_sql.cpp (SQL API: authorizer, statement cache, cursors).
// Not part of the public API.

#include <sqlite3.h>

#include <array>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/durable_objects/storage.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace cfsim {

// What the authorizer saw while one statement was compiled.
struct AuthFacts {
  bool ddl = false;  // creates/drops/alters schema objects
  bool inserts = false, deletes = false, updates = false;
  bool several_tables = false;
  std::string table;  // the table written (if exactly one)
  std::vector<std::string> updated_columns;
};

// A compiled exec(): the statements before the last (run again on every execution, as workerd's
// prepareMulti "prelude" is) and the last one, which the cursor steps.
struct SqlCompiled {
  SqlCompiled() = default;
  SqlCompiled(const SqlCompiled&) = delete;
  SqlCompiled& operator=(const SqlCompiled&) = delete;
  ~SqlCompiled() {
    for (sqlite3_stmt* s : prelude) sqlite3_finalize(s);
    if (last) sqlite3_finalize(last);
  }

  std::vector<sqlite3_stmt*> prelude;
  sqlite3_stmt* last = nullptr;
  bool ddl = false;       // some statement changes the schema: bump the schema epoch when run
  bool readonly = true;   // every statement is read-only
  AuthFacts last_facts;   // of the last statement
  size_t sql_bytes = 0;

  // Derived facts, valid for one schema epoch.
  uint64_t columns_epoch = 0;
  std::shared_ptr<const std::vector<std::string>> columns;
  uint64_t index_epoch = 0;
  int64_t index_count = 0;  // index entries written per changed row of last_facts.table

  // Cache bookkeeping.
  bool in_use = false;  // a live cursor is stepping `last`
  const std::string* key = nullptr;
  SqlCompiled* lru_prev = nullptr;  // least recently used at the head
  SqlCompiled* lru_next = nullptr;
};

struct ObjectStorage::Impl {
  // The SQLite VFS of this object: the default VFS with the clock and randomness replaced, so
  // 'now' in SQL is virtual time. `vfs` must stay the first member (callbacks cast back).
  struct Vfs {
    sqlite3_vfs vfs;
    ObjectStorage* owner;
    std::string name;
  };

  ObjectStorage* self = nullptr;
  sqlite3* db = nullptr;
  std::unique_ptr<Vfs> vfs;
  Random rng{1};

  // Authorizer state. Internal statements run trusted; user SQL is checked. `facts` collects what
  // the statement being compiled does; `auth_error` holds an error to throw instead of SQLite's
  // "not authorized" (the transaction-statement message).
  bool trusted = false;
  AuthFacts* facts = nullptr;
  std::optional<StorageError> auth_error;

  // Internal prepared statements (trusted).
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* kv_get = nullptr;
  sqlite3_stmt* kv_put = nullptr;
  sqlite3_stmt* kv_del = nullptr;
  sqlite3_stmt* kv_list[4] = {};  // [reverse * 2 + has_end]
  sqlite3_stmt* kv_stats = nullptr;
  sqlite3_stmt* page_count = nullptr;
  sqlite3_stmt* db_size_pages = nullptr;
  sqlite3_stmt* op_savepoint[3] = {};  // SAVEPOINT / RELEASE / ROLLBACK TO _cf_op
  std::vector<std::array<sqlite3_stmt*, 3>> savepoints;  // per depth: SAVEPOINT/RELEASE/ROLLBACK TO
  std::map<std::string, sqlite3_stmt*, std::less<>> misc;  // other internal statements by text

  // The statement cache of exec(), keyed by SQL text, least recently used first.
  std::map<std::string, std::unique_ptr<SqlCompiled>, std::less<>> cache;
  SqlCompiled* lru_head = nullptr;
  SqlCompiled* lru_tail = nullptr;
  size_t cache_sql_bytes = 0;

  std::string scratch;  // reused encode buffer

  ~Impl();

  // Prepares an internal statement (trusted); throws StorageError on failure.
  sqlite3_stmt* prepare_internal(std::string_view sql);
  sqlite3_stmt* misc_stmt(const std::string& sql);
  void lru_unlink(SqlCompiled* c);
  void lru_push_back(SqlCompiled* c);
};

// Steps an internal statement once with the authorizer in trusted mode.
inline int step_trusted(ObjectStorage::Impl& im, sqlite3_stmt* st);

// Runs internal SQL trusted for the lifetime of the guard.
class TrustedScope {
 public:
  explicit TrustedScope(ObjectStorage::Impl& impl) : impl_(impl), prev_(impl.trusted) { impl.trusted = true; }
  ~TrustedScope() { impl_.trusted = prev_; }
  TrustedScope(const TrustedScope&) = delete;
  TrustedScope& operator=(const TrustedScope&) = delete;

 private:
  ObjectStorage::Impl& impl_;
  bool prev_;
};

inline int step_trusted(ObjectStorage::Impl& im, sqlite3_stmt* st) {
  TrustedScope t(im);
  return sqlite3_step(st);
}

// "<sqlite3_errmsg>[ at offset N]: SQLITE_<CODE>", as workerd's dbErrorMessage() formats it.
std::string sqlite_error_message(sqlite3* db, int rc);
const char* sqlite_code_name(int rc);

// The SQLite authorizer callback (storage_sql.cpp).
int storage_authorizer(void* user, int action, const char* p1, const char* p2, const char* db_name,
                       const char* trigger);

// Trace: one record per operation, written when the operation ends (also when it throws).
struct ObjectStorage::TraceOp {
  ObjectStorage& s;
  const char* name;
  std::string_view key;
  int64_t keys = 1;
  int64_t bytes = 0;
  int64_t rows = 0;
  const char* result = nullptr;  // set on failure
  int uncaught = std::uncaught_exceptions();

  TraceOp(ObjectStorage& storage, const char* op) : s(storage), name(op) {}
  void fail(const StorageError& e) {
    result = to_string(e.kind());
    ++s.counters_.errors;
  }
  ~TraceOp() {
    if (!result && std::uncaught_exceptions() > uncaught) result = "exception";
    if (!s.sim_) return;
    s.sim_->record("storage", name,
                   {{"object", s.label_}, {"key", key}, {"keys", keys}, {"bytes", bytes}, {"rows", rows},
                    {"result", result ? result : "ok"}});
  }
};

}  // namespace cfsim
