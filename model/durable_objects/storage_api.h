#pragma once
// ctx.storage: what a Durable Object's code sees of its storage, shaped like the platform's
// DurableObjectStorage (platform-facts §4.2-4.6): ctx.storage.sql (exec, databaseSize), the KV API
// (get, put, delete, list, deleteAll), transactionSync and transaction, and the alarm
// (getAlarm, setAlarm, deleteAlarm). Nothing else: committing, rolling back, abandoning a
// transaction and the operation gate are the platform's, done by the object host on the storage
// engine (storage.h, ObjectHost::storage_engine()), out of the app's reach.
//
// Every call goes straight to the engine (the same call, the same trace record); the limits,
// errors and semantics are the engine's, documented in storage.h. The alarm calls and
// delete_all() also go through the host, since the alarm lives there (a write of the current
// batch, reverted by a crash, object_host.h).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/durable_objects/storage.h"
#include "sim/time.h"

namespace cfsim {

class ObjectHost;

// ctx.storage.sql (SQLite-backed objects; on a KV-backed one every call throws the platform's
// Error, see ObjectStorage::exec).
class SqlStorage {
 public:
  // sql.exec(query, ...bindings): one or more ';'-separated statements; bindings go to the last,
  // and the cursor covers the last.
  SqlCursor exec(std::string_view sql, std::vector<SqlValue> bindings = {}) { return engine_.exec(sql, std::move(bindings)); }
  // sql.databaseSize, in bytes.
  uint64_t database_size() { return engine_.database_size(); }

 private:
  friend class DurableObjectStorage;
  explicit SqlStorage(ObjectStorage& engine) : engine_(engine) {}
  ObjectStorage& engine_;
};

class DurableObjectStorage {
 public:
  DurableObjectStorage(const DurableObjectStorage&) = delete;
  DurableObjectStorage& operator=(const DurableObjectStorage&) = delete;

  // Which storage the class was deployed with (wrangler's new_sqlite_classes or new_classes): the
  // app knows it from its own configuration; only SQLite-backed objects have sql().
  StorageBackend backend() const { return engine_.backend(); }

  SqlStorage& sql() { return sql_; }

  // KV API (both backends).
  std::optional<StoredValue> get(std::string_view key) { return engine_.get(key); }
  // Found keys only, in UTF-8 byte order.
  std::map<std::string, StoredValue> get(const std::vector<std::string>& keys) { return engine_.get(keys); }
  void put(std::string_view key, const StoredValue& value) { engine_.put(key, value); }
  void put(const KvEntries& entries) { engine_.put(entries); }                          // later duplicates win
  bool del(std::string_view key) { return engine_.del(key); }                           // true if the key existed
  size_t del(const std::vector<std::string>& keys) { return engine_.del(keys); }        // how many existed
  KvEntries list(const ListOptions& options = {}) { return engine_.list(options); }
  // deleteAll(): every SQL table and KV entry, atomically, and the alarm too unless the namespace's
  // delete_all_deletes_alarm is off (compatibility dates before 2026-02-24, D5).
  void delete_all();

  // transactionSync(fn) (SQLite backend only) and transaction(fn(txn)); see ObjectStorage.
  template <class F>
  auto transaction_sync(F&& fn) -> decltype(fn()) {
    return engine_.transaction_sync(std::forward<F>(fn));
  }
  template <class F>
  auto transaction(F&& fn) -> decltype(fn(std::declval<Transaction&>())) {
    return engine_.transaction(std::forward<F>(fn));
  }

  // Alarms (D5a, D6): one per object; setting replaces; a time not after now fires as soon as
  // possible. getAlarm() reads the object's own pending change (read-your-writes).
  std::optional<Time> get_alarm() const;
  void set_alarm(Time t);
  void delete_alarm();

 private:
  friend class ObjectHost;
  DurableObjectStorage(ObjectHost& host, ObjectStorage& engine) : host_(host), engine_(engine), sql_(engine) {}
  ObjectHost& host_;
  ObjectStorage& engine_;
  SqlStorage sql_;
};

}  // namespace cfsim
