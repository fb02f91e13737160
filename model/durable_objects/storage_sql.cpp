// The SQL API of ObjectStorage (platform-facts §4.2): the authorizer that keeps user SQL to what
// the platform allows, exec() with its statement cache, and SqlCursor.

#include <algorithm>
#include <cctype>
#include <cstring>

#include "model/durable_objects/storage.h"
#include "model/durable_objects/storage_impl.h"
#include "sim/scheduler.h"

namespace cfsim {

namespace {

// workerd src/workerd/api/sql.c++, SqlStorage::allowTransactions, verbatim.
constexpr const char* kTransactionMessage =
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing.";

// The SQL functions user SQL may call: workerd's ALLOWED_SQLITE_FUNCTIONS (src/workerd/util/
// sqlite.c++). Sorted, for binary search.
constexpr const char* kAllowedFunctions[] = {
    "->", "->>", "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "avg", "bm25",
    "ceil", "changes", "char", "coalesce", "concat", "concat_ws", "cos", "cosh", "count", "cume_dist",
    "current_date", "current_time", "current_timestamp", "date", "datetime", "degrees", "dense_rank",
    "exp", "first_value", "floor", "format", "glob", "group_concat", "hex", "highlight", "ifnull", "iif",
    "instr", "json", "json_array", "json_array_length", "json_each", "json_extract", "json_group_array",
    "json_group_object", "json_insert", "json_object", "json_patch", "json_quote", "json_remove",
    "json_replace", "json_set", "json_tree", "json_type", "json_valid", "julianday", "lag",
    "last_insert_rowid", "last_value", "lead", "length", "like", "likelihood", "likely", "ln",
    "load_extension", "log", "log2", "lower", "ltrim", "match", "max", "max_scalar", "min", "min_scalar",
    "mod", "nth_value", "ntile", "nullif", "octet_length", "percent_rank", "pi", "pow", "printf", "quote",
    "radians", "random", "randomblob", "rank", "replace", "round", "row_number", "rtrim", "sign", "sin",
    "sinh", "snippet", "soundex", "sqlite_drop_column", "sqlite_rename_column", "sqlite_rename_quotefix",
    "sqlite_rename_table", "sqlite_rename_test", "sqrt", "strftime", "string_agg", "substr", "substring",
    "sum", "tan", "tanh", "time", "timediff", "total", "total_changes", "trim", "trunc", "typeof", "unhex",
    "unicode", "unixepoch", "unlikely", "upper", "zeroblob",
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool function_allowed(const char* name) {
  if (!name) return false;
  std::string lower(name);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return std::binary_search(std::begin(kAllowedFunctions), std::end(kAllowedFunctions), lower,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

// The reserved prefix (workerd SqlStorage::isAllowedName): _cf_ tables are the platform's.
bool name_allowed(const char* name) { return !name || std::strncmp(name, "_cf_", 4) != 0; }

bool is_boolean_literal(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
  for (const char* b : {"true", "false", "yes", "no", "on", "off", "1", "0"})
    if (iequals(v, b)) return true;
  return false;
}

bool is_number(std::string_view v) {
  if (v.empty()) return false;
  size_t i = v[0] == '-' || v[0] == '+' ? 1 : 0;
  if (i == v.size()) return false;
  for (; i < v.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) return false;
  return true;
}

// workerd's ALLOWED_PRAGMAS, with the argument each one accepts.
bool pragma_allowed(const char* name, const char* arg) {
  if (!name) return false;
  std::string_view n(name);
  if (iequals(n, "table_list")) return true;
  if (iequals(n, "table_info")) return arg && name_allowed(arg);
  if (iequals(n, "data_version")) return arg == nullptr;
  for (const char* b : {"case_sensitive_like", "foreign_keys", "defer_foreign_keys", "ignore_check_constraints",
                        "legacy_alter_table", "recursive_triggers", "reverse_unordered_selects"})
    if (iequals(n, b)) return arg == nullptr || is_boolean_literal(arg);
  for (const char* o : {"foreign_key_list", "index_info", "index_list", "index_xinfo"})
    if (iequals(n, o)) return arg && name_allowed(arg);
  if (iequals(n, "foreign_key_check")) return arg == nullptr || name_allowed(arg);
  if (iequals(n, "quick_check")) return arg == nullptr || is_number(arg) || name_allowed(arg);
  if (iequals(n, "optimize")) return arg == nullptr || is_number(arg);
  return false;
}

void collect_facts(AuthFacts& f, int action, const char* p1, const char* p2) {
  switch (action) {
    case SQLITE_CREATE_INDEX: case SQLITE_CREATE_TABLE: case SQLITE_CREATE_TRIGGER: case SQLITE_CREATE_VIEW:
    case SQLITE_DROP_INDEX: case SQLITE_DROP_TABLE: case SQLITE_DROP_TRIGGER: case SQLITE_DROP_VIEW:
    case SQLITE_ALTER_TABLE: case SQLITE_CREATE_VTABLE: case SQLITE_DROP_VTABLE:
      f.ddl = true;
      return;
    case SQLITE_INSERT: case SQLITE_DELETE: case SQLITE_UPDATE: {
      if (!p1 || std::strncmp(p1, "sqlite_", 7) == 0) return;  // the schema table itself
      if (f.table.empty()) f.table = p1;
      else if (f.table != p1) f.several_tables = true;
      if (action == SQLITE_INSERT) f.inserts = true;
      if (action == SQLITE_DELETE) f.deletes = true;
      if (action == SQLITE_UPDATE) {
        f.updates = true;
        if (p2) f.updated_columns.emplace_back(p2);
      }
      return;
    }
    default: return;
  }
}

// True if [p, end) holds only whitespace, semicolons and comments: the statement before it is
// the last one.
bool only_trivia(const char* p, const char* end) {
  while (p < end) {
    char c = *p;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == ';') {
      ++p;
    } else if (c == '-' && p + 1 < end && p[1] == '-') {
      while (p < end && *p != '\n') ++p;
    } else if (c == '/' && p + 1 < end && p[1] == '*') {
      p += 2;
      while (p + 1 < end && !(p[0] == '*' && p[1] == '/')) ++p;
      p = p + 1 < end ? p + 2 : end;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Authorizer (workerd SqliteDatabase::isAuthorized with SqlStorage as the regulator)

int storage_authorizer(void* user, int action, const char* p1, const char* p2, const char* db_name,
                       const char* trigger) {
  auto& im = *static_cast<ObjectStorage::Impl*>(user);
  if (im.facts && !trigger) collect_facts(*im.facts, action, p1, p2);
  if (im.trusted) return SQLITE_OK;

  if (db_name && std::strcmp(db_name, "main") != 0) {
    // Only the main database; the temp schema may be read (e.g. sqlite_temp_schema), not written.
    if (std::strcmp(db_name, "temp") == 0 && (action == SQLITE_READ || action == SQLITE_UPDATE))
      return name_allowed(p1) ? SQLITE_OK : SQLITE_DENY;
    return SQLITE_DENY;
  }

  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_CREATE_TABLE: case SQLITE_DELETE: case SQLITE_DROP_TABLE: case SQLITE_INSERT:
    case SQLITE_ANALYZE: case SQLITE_CREATE_VIEW: case SQLITE_DROP_VIEW: case SQLITE_REINDEX:
    case SQLITE_READ: case SQLITE_UPDATE:
      return name_allowed(p1) ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_ALTER_TABLE:
      return name_allowed(p2) ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_CREATE_INDEX: case SQLITE_DROP_INDEX: case SQLITE_CREATE_TRIGGER: case SQLITE_DROP_TRIGGER:
      return name_allowed(p1) && name_allowed(p2) ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
      if (!im.auth_error) im.auth_error.emplace(ErrorKind::error, kTransactionMessage);
      return SQLITE_DENY;
    case SQLITE_PRAGMA:
      return pragma_allowed(p1, p2) ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_FUNCTION:
      return function_allowed(p2) ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_VTABLE:  // virtual tables only for full-text search
      return p2 && (iequals(p2, "fts5") || iequals(p2, "fts5vocab")) && name_allowed(p1) ? SQLITE_OK : SQLITE_DENY;
    default:  // ATTACH, DETACH, temporary objects, and anything unknown
      return SQLITE_DENY;
  }
}

// ---------------------------------------------------------------------------------------------
// Compiling and caching

std::unique_ptr<SqlCompiled> ObjectStorage::compile(std::string_view sql, bool persistent) {
  Impl& im = *impl_;
  auto c = std::make_unique<SqlCompiled>();
  c->sql_bytes = sql.size();
  const char* p = sql.data();
  const char* end = p + sql.size();
  for (;;) {
    AuthFacts facts;
    im.facts = &facts;
    im.auth_error.reset();
    sqlite3_stmt* st = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(im.db, p, static_cast<int>(end - p), persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                                &tail);
    im.facts = nullptr;
    if (rc != SQLITE_OK) {
      sqlite3_finalize(st);
      if (im.auth_error) {
        StorageError e = std::move(*im.auth_error);
        im.auth_error.reset();
        throw e;
      }
      throw_sqlite(rc);
    }
    if (!tail || tail <= p) tail = end;
    if (!st) {
      if (only_trivia(tail, end)) {
        // workerd SqliteDatabase::prepareSql, verbatim.
        throw StorageError(ErrorKind::error, "SQL code did not contain a statement.");
      }
      p = tail;
      continue;
    }
    c->ddl |= facts.ddl;
    c->readonly &= sqlite3_stmt_readonly(st) != 0;
    if (only_trivia(tail, end)) {
      c->last = st;
      c->last_facts = std::move(facts);
      return c;
    }
    // An earlier statement: run it now, since the ones after it may depend on it (a CREATE TABLE
    // before an INSERT), and keep it to run again on the next execution.
    c->prelude.push_back(st);
    if (sqlite3_bind_parameter_count(st) != 0)
      // workerd SqliteDatabase::prepareSql, verbatim.
      throw StorageError(ErrorKind::error,
                         "When executing multiple SQL statements in a single call, only the last statement can "
                         "have parameters.");
    if (!sqlite3_stmt_readonly(st)) {
      ensure_txn();
      dirty_ = true;
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (facts.ddl) bump_schema_epoch();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) throw_sqlite(rc);
    p = tail;
  }
}

void ObjectStorage::run_preludes(SqlCompiled& c) {
  for (sqlite3_stmt* st : c.prelude) {
    if (!sqlite3_stmt_readonly(st)) {
      ensure_txn();
      dirty_ = true;
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) throw_sqlite(rc);
  }
  if (c.ddl && !c.prelude.empty()) bump_schema_epoch();
}

SqlCompiled& ObjectStorage::cached_compile(std::string_view sql, std::unique_ptr<SqlCompiled>& one_off) {
  Impl& im = *impl_;
  auto it = im.cache.find(sql);
  if (it != im.cache.end()) {
    SqlCompiled& c = *it->second;
    if (c.in_use) {
      // A live cursor is stepping the cached statement; SQLite runs one instance at a time, so
      // compile a one-off copy (as workerd's SqlStorage::exec does).
      ++counters_.statement_cache_misses;
      one_off = compile(sql, false);
      return *one_off;
    }
    ++counters_.statement_cache_hits;
    im.lru_unlink(&c);
    im.lru_push_back(&c);
    run_preludes(c);
    return c;
  }
  ++counters_.statement_cache_misses;
  auto compiled = compile(sql, true);
  auto [pos, inserted] = im.cache.emplace(std::string(sql), std::move(compiled));
  SqlCompiled& c = *pos->second;
  c.key = &pos->first;
  im.lru_push_back(&c);
  im.cache_sql_bytes += c.sql_bytes;
  // Evict least recently used entries beyond the byte budget (never the new one or one in use).
  for (SqlCompiled* v = im.lru_head; v && im.cache_sql_bytes > opts_.statement_cache_max_sql_bytes;) {
    SqlCompiled* next = v->lru_next;
    if (v != &c && !v->in_use) {
      im.cache_sql_bytes -= v->sql_bytes;
      im.lru_unlink(v);
      im.cache.erase(im.cache.find(*v->key));
    }
    v = next;
  }
  return c;
}

int64_t ObjectStorage::index_entries_per_row(SqlCompiled& c) {
  if (c.index_epoch == schema_epoch_) return c.index_count;
  const AuthFacts& f = c.last_facts;
  int64_t n = 0;
  if (!f.table.empty() && !f.several_tables) {
    Impl& im = *impl_;
    sqlite3_stmt* st = im.misc_stmt(
        "SELECT s.name, ii.name FROM sqlite_schema AS s LEFT JOIN pragma_index_info(s.name) AS ii "
        "WHERE s.type = 'index' AND s.tbl_name = ?1 ORDER BY s.name");
    sqlite3_bind_text64(st, 1, f.table.data(), f.table.size(), SQLITE_STATIC, SQLITE_UTF8);
    bool all = f.inserts || f.deletes;  // every index gets an entry added or removed
    std::string current;
    bool counted = false;
    while (step_trusted(im, st) == SQLITE_ROW) {
      std::string index(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
      if (index != current) {
        current = index;
        counted = false;
      }
      if (counted) continue;
      const char* col = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      bool touched = all || col == nullptr;  // an expression column may depend on anything
      for (const auto& u : f.updated_columns)
        if (col && iequals(u, col)) touched = true;
      if (touched) {
        ++n;
        counted = true;
      }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
  c.index_epoch = schema_epoch_;
  c.index_count = n;
  return n;
}

std::shared_ptr<const std::vector<std::string>> ObjectStorage::column_names_of(SqlCompiled& c, sqlite3_stmt* st) {
  size_t n = static_cast<size_t>(sqlite3_column_count(st));
  if (c.columns && c.columns_epoch == schema_epoch_ && c.columns->size() == n) return c.columns;
  auto names = std::make_shared<std::vector<std::string>>();
  names->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const char* name = sqlite3_column_name(st, static_cast<int>(i));
    names->emplace_back(name ? name : "");
  }
  c.columns = names;
  c.columns_epoch = schema_epoch_;
  return names;
}

// ---------------------------------------------------------------------------------------------
// exec

namespace {

// Binds one value with SQLITE_STATIC (it must outlive the statement: the cursor keeps it).
int bind_value(sqlite3_stmt* st, int idx, const SqlValue& v) {
  switch (v.index()) {
    case 0: return sqlite3_bind_null(st, idx);
    case 1: return sqlite3_bind_int64(st, idx, std::get<int64_t>(v));
    case 2: return sqlite3_bind_double(st, idx, std::get<double>(v));
    case 3: {
      const auto& s = std::get<std::string>(v);
      return sqlite3_bind_text64(st, idx, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
    }
    case 4: {
      const auto& b = std::get<SqlBytes>(v);
      static const uint8_t kEmpty = 0;  // a null pointer would bind NULL, not an empty blob
      return sqlite3_bind_blob64(st, idx, b.empty() ? &kEmpty : b.data(), b.size(), SQLITE_STATIC);
    }
  }
  return SQLITE_OK;
}

}  // namespace

SqlCursor ObjectStorage::exec(std::string_view sql, std::vector<SqlValue> bindings) {
  pass_gate();
  ++counters_.execs;
  SqlCursor cur;
  const char* result = nullptr;
  int uncaught = std::uncaught_exceptions();
  size_t nbindings = bindings.size();
  auto record = [&] {
    if (!sim_) return;
    if (!result && std::uncaught_exceptions() > uncaught) result = "exception";
    std::string digest = sql_digest(sql);
    sim_->record("storage", "exec",
                 {{"object", label_}, {"key", digest}, {"bytes", sql.size()}, {"bindings", nbindings},
                  {"rows_read", cur.rows_read_}, {"rows_written", cur.rows_written_},
                  {"result", result ? result : "ok"}});
  };
  try {
    require_sqlite("exec");
    std::unique_ptr<SqlCompiled> one_off;
    SqlCompiled& c = cached_compile(sql, one_off);
    sqlite3_stmt* st = c.last;
    if (static_cast<size_t>(sqlite3_bind_parameter_count(st)) != bindings.size())
      // workerd SqliteDatabase::Query::checkRequirements, verbatim.
      throw StorageError(ErrorKind::error, "Wrong number of parameter bindings for SQL query.");

    // From here the cursor owns the statement: its destructor returns it on any error.
    cur.bindings_ = std::move(bindings);
    cur.link(this);
    cur.stmt_ = st;
    cur.compiled_ = &c;
    if (one_off) cur.one_off_ = std::move(one_off);
    else c.in_use = true;
    for (size_t i = 0; i < cur.bindings_.size(); ++i)
      if (int rc = bind_value(st, static_cast<int>(i) + 1, cur.bindings_[i]); rc != SQLITE_OK) throw_sqlite(rc);
    cur.columns_ = column_names_of(c, st);
    cur.counts_changes_as_reads_ = c.last_facts.updates || c.last_facts.deletes;
    if (!sqlite3_stmt_readonly(st)) {
      ensure_txn();
      dirty_ = true;
    }

    // The first step runs now, as on the platform: a write happens even if the cursor is never read.
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
    sqlite3_int64 before = sqlite3_total_changes64(impl_->db);
    bool ddl = c.last_facts.ddl;
    int rc = sqlite3_step(st);
    cur.rows_changed_ = sqlite3_total_changes64(impl_->db) - before;
    if (ddl) bump_schema_epoch();
    if (cur.rows_changed_ > 0) cur.rows_written_ = cur.rows_changed_ * (1 + index_entries_per_row(c));
    if (rc == SQLITE_ROW) {
      ++cur.rows_stepped_;
      cur.update_rows_read();
    } else {
      cur.update_rows_read();
      cur.finish();  // `c` may be gone now (a one-off)
      if (rc != SQLITE_DONE) throw_sqlite(rc);
    }
  } catch (const StorageError& e) {
    result = to_string(e.kind());
    ++counters_.errors;
    record();
    throw;
  } catch (...) {
    record();
    throw;
  }
  record();
  return cur;
}

// ---------------------------------------------------------------------------------------------
// SqlRow, SqlCursor

const SqlValue& SqlRow::operator[](std::string_view column) const {
  for (size_t i = columns_->size(); i-- > 0;)
    if ((*columns_)[i] == column) return values_.at(i);
  throw std::out_of_range("SqlRow: no column named \"" + std::string(column) + "\"");
}

SqlCursor::SqlCursor(SqlCursor&& o) noexcept { *this = std::move(o); }

SqlCursor& SqlCursor::operator=(SqlCursor&& o) noexcept {
  if (this == &o) return *this;
  finish();
  unlink();
  owner_ = o.owner_;
  stmt_ = o.stmt_;
  compiled_ = o.compiled_;
  one_off_ = std::move(o.one_off_);
  bindings_ = std::move(o.bindings_);  // the buffer moves with its address: SQLITE_STATIC holds
  columns_ = std::move(o.columns_);
  canceled_ = o.canceled_;
  rows_stepped_ = o.rows_stepped_;
  rows_changed_ = o.rows_changed_;
  rows_read_ = o.rows_read_;
  rows_written_ = o.rows_written_;
  counts_changes_as_reads_ = o.counts_changes_as_reads_;
  // Take o's place in the owner's list.
  linked_ = o.linked_;
  prev_ = o.prev_;
  next_cursor_ = o.next_cursor_;
  if (linked_) {
    if (prev_) prev_->next_cursor_ = this;
    else owner_->cursors_ = this;
    if (next_cursor_) next_cursor_->prev_ = this;
  }
  o.linked_ = false;
  o.prev_ = o.next_cursor_ = nullptr;
  o.stmt_ = nullptr;
  o.compiled_ = nullptr;
  return *this;
}

SqlCursor::~SqlCursor() {
  finish();
  unlink();
}

void SqlCursor::link(ObjectStorage* owner) {
  owner_ = owner;
  prev_ = nullptr;
  next_cursor_ = owner->cursors_;
  if (next_cursor_) next_cursor_->prev_ = this;
  owner->cursors_ = this;
  linked_ = true;
}

void SqlCursor::unlink() {
  if (!linked_) return;
  if (prev_) prev_->next_cursor_ = next_cursor_;
  else owner_->cursors_ = next_cursor_;
  if (next_cursor_) next_cursor_->prev_ = prev_;
  prev_ = next_cursor_ = nullptr;
  linked_ = false;
}

void SqlCursor::finish() {
  if (stmt_) {
    if (one_off_) {
      one_off_.reset();  // finalizes
    } else {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
      if (compiled_) compiled_->in_use = false;
    }
    stmt_ = nullptr;
  }
  compiled_ = nullptr;
  unlink();
}

void SqlCursor::cancel(const char* why) {
  finish();
  canceled_ = why;
}

void SqlCursor::check_usable() const {
  if (canceled_) throw StorageError(ErrorKind::error, std::string("SQL cursor can no longer be used: ") + canceled_);
}

void SqlCursor::update_rows_read() {
  int64_t fullscan = stmt_ ? sqlite3_stmt_status(stmt_, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) : 0;
  // FULLSCAN_STEP counts the steps *forward*; the scan's first row is one more.
  int64_t r = std::max(rows_stepped_, fullscan > 0 ? fullscan + 1 : 0);
  if (counts_changes_as_reads_) r = std::max(r, rows_changed_);
  rows_read_ = std::max(rows_read_, r);
}

std::vector<SqlValue> SqlCursor::row_values() const {
  int n = sqlite3_column_count(stmt_);
  std::vector<SqlValue> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    switch (sqlite3_column_type(stmt_, i)) {
      case SQLITE_INTEGER: out.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt_, i))); break;
      case SQLITE_FLOAT: out.emplace_back(sqlite3_column_double(stmt_, i)); break;
      case SQLITE_TEXT: {
        const char* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
        out.emplace_back(std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, i))));
        break;
      }
      case SQLITE_BLOB: {
        const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, i));
        int len = sqlite3_column_bytes(stmt_, i);
        out.emplace_back(p ? SqlBytes(p, p + len) : SqlBytes());
        break;
      }
      default: out.emplace_back(std::monostate{}); break;
    }
  }
  return out;
}

void SqlCursor::step() {
  ObjectStorage* owner = owner_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    ++rows_stepped_;
    update_rows_read();
    return;
  }
  update_rows_read();
  finish();
  if (rc != SQLITE_DONE) owner->throw_sqlite(rc);
}

std::optional<SqlRow> SqlCursor::next() {
  check_usable();
  if (!stmt_) return std::nullopt;
  SqlRow row(columns_, row_values());
  step();  // one row ahead, so the statement finishes as soon as its last row is read
  return row;
}

std::vector<SqlRow> SqlCursor::to_array() {
  std::vector<SqlRow> out;
  while (auto r = next()) out.push_back(std::move(*r));
  return out;
}

SqlRow SqlCursor::one() {
  auto first = next();
  // workerd SqlStorage::Cursor::one, messages verbatim.
  if (!first) throw StorageError(ErrorKind::error, "Expected exactly one result from SQL query, but got no results.");
  if (stmt_) {
    finish();
    throw StorageError(ErrorKind::error, "Expected exactly one result from SQL query, but got multiple results.");
  }
  return std::move(*first);
}

std::optional<std::vector<SqlValue>> SqlCursor::Raw::next() {
  c_->check_usable();
  if (!c_->stmt_) return std::nullopt;
  std::vector<SqlValue> values = c_->row_values();
  c_->step();
  return values;
}

std::vector<std::vector<SqlValue>> SqlCursor::Raw::to_array() {
  std::vector<std::vector<SqlValue>> out;
  while (auto r = next()) out.push_back(std::move(*r));
  return out;
}

const std::vector<std::string>& SqlCursor::column_names() {
  static const std::vector<std::string> kNone;
  return columns_ ? *columns_ : kNone;
}

}  // namespace cfsim
