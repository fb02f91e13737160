// Unit tests for model/storage.h: the Durable Object storage (platform-facts §4.1-4.5, §8 items
// 19-24 and 27). Every limit is tested at its boundary: exactly at the limit passes, one byte past
// fails with the platform's error kind and text.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §4.1 and §8 item 19: /durable-objects/platform/limits/ (D1); 128-key batches:
//     /durable-objects/api/storage-api/ (D3); the enforced value size (advertised + 34): workerd
//     src/workerd/io/actor-storage.h ADVERTISED_MAX_VALUE_SIZE; SQL limits as workerd sets them: workerd
//     src/workerd/util/sqlite.c++ SqliteDatabase::setupSecurity. "2 MB" read as 2,000,000 bytes is
//     cfsim's reading (the docs give no byte figure; see model/durable_objects/storage.h)
//   §4.2 and §8 items 23-24: /durable-objects/api/sqlite-storage-api/ (D2);
//     @cloudflare/workers-types@5.20261117.1 index.d.ts SqlStorageCursor (WT); the _cf_KV table:
//     workerd src/workerd/util/sqlite-kv.h (W3); error texts: workerd src/workerd/api/sql.c++
//   §4.3 and §8 item 20: /durable-objects/api/storage-api/ (D3)
//   §4.4 and §8 items 21-23: /durable-objects/api/storage-api/ (D3); transactionSync, transaction and
//     rollback: cloudflare/cloudflare-docs src/content/partials/durable-objects/api-storage-other-methods.mdx
//     (D5, rendered on /durable-objects/api/sqlite-storage-api/); output gate:
//     /durable-objects/reference/glossary/ (D11)
//   §4.5 and §8 item 27: the same partial, api-storage-other-methods.mdx (D5)

#include "model/durable_objects/storage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/scheduler.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

// The platform's message for BEGIN/SAVEPOINT in exec() (workerd sql.c++).
const std::string kTxnMessage =
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing.";

// Runs fn, expects a StorageError of `kind` whose message equals `message` (or, with
// prefix_only, starts with it). Returns the message.
template <class F>
std::string expect_error(F&& fn, ErrorKind kind, const std::string& message, bool prefix_only = false) {
  try {
    fn();
  } catch (const StorageError& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    if (prefix_only) EXPECT_EQ(std::string(e.what()).substr(0, message.size()), message);
    else EXPECT_EQ(std::string(e.what()), message);
    return e.what();
  }
  ADD_FAILURE() << "expected " << to_string(kind) << ": " << message;
  return "";
}

// A string value whose StoredValue encoding is exactly `n` bytes (n >= 8).
StoredValue value_of_encoded_size(size_t n) {
  for (size_t len = n; len-- > 0;) {
    StoredValue v(std::string(len, 'v'));
    if (v.encode().size() == n) return v;
  }
  throw std::logic_error("no such size");
}

std::vector<std::string> keys_of(const KvEntries& entries) {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries) out.push_back(k);
  return out;
}

int64_t count_rows(ObjectStorage& s, const std::string& table) {
  return s.exec("SELECT count(*) AS n FROM " + table).one().get_int("n");
}

// ---------------------------------------------------------------------------------------------
// KV API basics (platform-facts §4.3)

TEST(StorageKv, PutGetDeleteRoundTripValuesWithTheirTypes) {
  for (auto backend : {StorageBackend::sqlite, StorageBackend::kv}) {
    ObjectStorage s(backend);
    StoredValue m(StoredValue::Map{{"n", StoredValue(1)}, {"list", StoredValue(StoredValue::Array{StoredValue("x"), StoredValue(2.5)})}});
    s.put("int", StoredValue(42));
    s.put("map", m);
    s.put("bytes", StoredValue::bytes(std::string("\0\1\2", 3)));
    EXPECT_EQ(s.get("int"), StoredValue(42));
    EXPECT_EQ(s.get("map"), m);
    EXPECT_EQ(s.get("bytes")->as_bytes().size(), 3u);
    EXPECT_FALSE(s.get("missing").has_value());
    s.put("int", StoredValue("now a string"));  // overwrite, new type
    EXPECT_EQ(s.get("int"), StoredValue("now a string"));
    EXPECT_TRUE(s.del("int"));   // delete => existed
    EXPECT_FALSE(s.del("int"));
    EXPECT_FALSE(s.get("int").has_value());
    EXPECT_EQ(s.kv_key_count(), 2u);
  }
}

TEST(StorageKv, BatchGetReturnsFoundKeysInByteOrderAndBatchDeleteCounts) {
  // §4.3: get(keys[]) => Map sorted by UTF-8 bytes, missing keys omitted; delete(keys[]) => count.
  ObjectStorage s(StorageBackend::sqlite);
  s.put({{"\xF0\x9F\x98\x80", StoredValue(1)}, {"b", StoredValue(2)}, {"\xC3\xA9", StoredValue(3)}, {"a", StoredValue(4)}});
  auto got = s.get(std::vector<std::string>{"\xF0\x9F\x98\x80", "zz-missing", "a", "\xC3\xA9", "b", "a"});
  std::vector<std::string> keys;
  for (const auto& [k, v] : got) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "\xC3\xA9", "\xF0\x9F\x98\x80"}));
  EXPECT_EQ(got.at("a"), StoredValue(4));
  EXPECT_EQ(s.del(std::vector<std::string>{"a", "missing", "b", "a"}), 2u);
  EXPECT_EQ(s.kv_key_count(), 2u);
}

TEST(StorageKv, BatchPutLaterDuplicatesWin) {
  ObjectStorage s(StorageBackend::kv);
  s.put({{"k", StoredValue(1)}, {"k", StoredValue(2)}});
  EXPECT_EQ(s.get("k"), StoredValue(2));
}

// ---------------------------------------------------------------------------------------------
// KV limits (platform-facts §4.1, §8 item 19)

TEST(StorageKvLimits, KvBackendKeyOf2048BytesPassesAnd2049FailsWithRangeError) {
  ObjectStorage s(StorageBackend::kv);
  std::string ok(2048, 'k'), big(2049, 'k');
  s.put(ok, StoredValue(1));
  EXPECT_EQ(s.get(ok), StoredValue(1));
  const std::string msg = "Keys cannot be larger than 2048 bytes. A key of size 2049 was provided.";
  expect_error([&] { s.put(big, StoredValue(1)); }, ErrorKind::range_error, msg);
  expect_error([&] { s.get(big); }, ErrorKind::range_error, msg);
  expect_error([&] { s.del(big); }, ErrorKind::range_error, msg);
  expect_error([&] { s.put({{"fine", StoredValue(1)}, {big, StoredValue(1)}}); }, ErrorKind::range_error, msg);
  expect_error([&] { s.get(std::vector<std::string>{"fine", big}); }, ErrorKind::range_error, msg);
  expect_error([&] { s.del(std::vector<std::string>{ok, big}); }, ErrorKind::range_error, msg);
  // Nothing of the failed batches happened.
  EXPECT_FALSE(s.get("fine").has_value());
  EXPECT_TRUE(s.get(ok).has_value());
}

TEST(StorageKvLimits, KvBackendValueLimitIs131072PlusWorkerdsCushionOf34) {
  // §4.1: 128 KiB (131072 B); workerd enforces ADVERTISED + 34 and names the advertised size.
  ObjectStorage s(StorageBackend::kv);
  StoredValue at = value_of_encoded_size(kKvEnforcedMaxValueBytes);
  StoredValue over = value_of_encoded_size(kKvEnforcedMaxValueBytes + 1);
  ASSERT_EQ(kKvEnforcedMaxValueBytes, 131106u);
  s.put("at", at);
  EXPECT_EQ(s.get("at"), at);
  expect_error([&] { s.put("over", over); }, ErrorKind::range_error,
               "Values cannot be larger than 131072 bytes. A value of size 131107 was provided.");
  expect_error([&] { s.put({{"x", StoredValue(1)}, {"over", over}}); }, ErrorKind::range_error,
               "Values cannot be larger than 131072 bytes. A value of size 131107 was provided.");
  EXPECT_FALSE(s.get("over").has_value());
  EXPECT_FALSE(s.get("x").has_value());
}

TEST(StorageKvLimits, BatchesOf128KeysPassAnd129FailWithRangeError) {
  // §4.1 / §8 item 19: get/put/delete with a list take at most 128 keys.
  for (auto backend : {StorageBackend::sqlite, StorageBackend::kv}) {
    ObjectStorage s(backend);
    KvEntries entries;
    std::vector<std::string> keys;
    for (int i = 0; i < 129; ++i) {
      entries.emplace_back("k" + std::to_string(i), StoredValue(i));
      keys.push_back("k" + std::to_string(i));
    }
    const std::string msg = "Maximum number of key value pairs is 128. 129 pairs were provided.";
    expect_error([&] { s.put(entries); }, ErrorKind::range_error, msg);
    EXPECT_EQ(s.kv_key_count(), 0u);  // the failed call wrote nothing
    entries.pop_back();
    s.put(entries);
    EXPECT_EQ(s.kv_key_count(), 128u);
    expect_error([&] { s.get(keys); }, ErrorKind::range_error, msg);
    expect_error([&] { s.del(keys); }, ErrorKind::range_error, msg);
    EXPECT_EQ(s.kv_key_count(), 128u);
    keys.pop_back();
    EXPECT_EQ(s.get(keys).size(), 128u);
    EXPECT_EQ(s.del(keys), 128u);
  }
}

TEST(StorageKvLimits, SqliteBackendKeyPlusValueOf2MBPassesAndOneByteMoreFails) {
  // §4.1: SQLite-backed: key + value <= 2 MB combined (2,000,000 bytes, see storage.h).
  ObjectStorage s(StorageBackend::sqlite);
  std::string key(5000, 'k');  // no separate 2 KiB key limit on this backend
  StoredValue at = value_of_encoded_size(kSqliteMaxKeyPlusValueBytes - key.size());
  StoredValue over = value_of_encoded_size(kSqliteMaxKeyPlusValueBytes - key.size() + 1);
  s.put(key, at);
  EXPECT_EQ(s.get(key), at);
  std::string msg = expect_error([&] { s.put(key, over); }, ErrorKind::error, "string or blob too big: SQLITE_TOOBIG", true);
  EXPECT_NE(msg.find("2000001"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2000000"), std::string::npos) << msg;
  EXPECT_EQ(s.get(key), at);  // unchanged
}

// ---------------------------------------------------------------------------------------------
// list() (platform-facts §4.3, §8 item 20)

struct ListFixture : ::testing::Test {
  ObjectStorage s{StorageBackend::sqlite};
  // U+FF21 (EF BC A1) comes before U+1F600 (F0 ..) in UTF-8 byte order but after it in UTF-16
  // code-unit order (FF21 > D83D): only byte order passes.
  std::vector<std::string> all{"a", "ab", "abc", "b", "z", "\xC3\xA9", "\xEF\xBC\xA1", "\xF0\x9F\x98\x80"};
  void SetUp() override {
    KvEntries e;
    for (size_t i = 0; i < all.size(); ++i) e.emplace_back(all[all.size() - 1 - i], StoredValue(static_cast<int64_t>(i)));
    s.put(e);
  }
  std::vector<std::string> list(ListOptions o) { return keys_of(s.list(o)); }
};

TEST_F(ListFixture, NoOptionsListsEverythingInUtf8ByteOrder) {
  EXPECT_EQ(list({}), all);
  auto entries = s.list();
  EXPECT_EQ(entries.front().second, StoredValue(static_cast<int64_t>(all.size() - 1)));  // values come along
}

TEST_F(ListFixture, StartIsInclusiveStartAfterExclusiveEndExclusive) {
  EXPECT_EQ(list({.start = "ab"}), (std::vector<std::string>(all.begin() + 1, all.end())));
  EXPECT_EQ(list({.start_after = "ab"}), (std::vector<std::string>(all.begin() + 2, all.end())));
  EXPECT_EQ(list({.start = "ab", .end = "z"}), (std::vector<std::string>{"ab", "abc", "b"}));
  EXPECT_EQ(list({.start_after = "a", .end = "b"}), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(list({.end = "a"}), std::vector<std::string>{});
  EXPECT_EQ(list({.start = "b", .end = "b"}), std::vector<std::string>{});
  EXPECT_EQ(list({.start = "z", .end = "b"}), std::vector<std::string>{});
  // Bounds that are not keys.
  EXPECT_EQ(list({.start = "aa", .end = "ac"}), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(list({.start = "\xC3"}), (std::vector<std::string>{"\xC3\xA9", "\xEF\xBC\xA1", "\xF0\x9F\x98\x80"}));
}

TEST_F(ListFixture, ReverseFlipsOrderButBoundsKeepTheirMeaning) {
  std::vector<std::string> rev(all.rbegin(), all.rend());
  EXPECT_EQ(list({.reverse = true}), rev);
  EXPECT_EQ(list({.start = "ab", .end = "z", .reverse = true}), (std::vector<std::string>{"b", "abc", "ab"}));
  // limit with reverse: the *last* keys of the range, descending.
  EXPECT_EQ(list({.end = "z", .reverse = true, .limit = 2}), (std::vector<std::string>{"b", "abc"}));
  EXPECT_EQ(list({.start_after = "abc", .reverse = true, .limit = 3}),
            (std::vector<std::string>{"\xF0\x9F\x98\x80", "\xEF\xBC\xA1", "\xC3\xA9"}));
}

TEST_F(ListFixture, LimitAndPrefix) {
  EXPECT_EQ(list({.limit = 3}), (std::vector<std::string>{"a", "ab", "abc"}));
  EXPECT_EQ(list({.limit = 100}), all);
  EXPECT_EQ(list({.prefix = "a"}), (std::vector<std::string>{"a", "ab", "abc"}));
  EXPECT_EQ(list({.prefix = "ab"}), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(list({.prefix = "ab", .reverse = true, .limit = 1}), (std::vector<std::string>{"abc"}));
  EXPECT_EQ(list({.prefix = "\xC3"}), (std::vector<std::string>{"\xC3\xA9"}));
  EXPECT_EQ(list({.prefix = "q"}), std::vector<std::string>{});
  EXPECT_EQ(list({.prefix = ""}), all);
  // start inside the prefix narrows it; start before it is clamped to it; start after it is empty.
  EXPECT_EQ(list({.start = "abb", .prefix = "ab"}), (std::vector<std::string>{"abc"}));
  EXPECT_EQ(list({.start = "0", .prefix = "ab"}), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(list({.start = "b", .prefix = "ab"}), std::vector<std::string>{});
  EXPECT_EQ(list({.start_after = "ab", .prefix = "ab"}), (std::vector<std::string>{"abc"}));
  // end inside the prefix, before it, after it.
  EXPECT_EQ(list({.end = "abc", .prefix = "a"}), (std::vector<std::string>{"a", "ab"}));
  EXPECT_EQ(list({.end = "a", .prefix = "ab"}), std::vector<std::string>{});
  EXPECT_EQ(list({.end = "zzz", .prefix = "a"}), (std::vector<std::string>{"a", "ab", "abc"}));
}

TEST(StorageList, PrefixOfFFBytesHasNoUpperBound) {
  ObjectStorage s(StorageBackend::kv);
  s.put({{"\xFF", StoredValue(1)}, {"\xFF\xFF", StoredValue(2)}, {"\xFF\xFF\x01", StoredValue(3)}, {"\xFE", StoredValue(4)}});
  EXPECT_EQ(keys_of(s.list({.prefix = "\xFF\xFF"})), (std::vector<std::string>{"\xFF\xFF", "\xFF\xFF\x01"}));
  EXPECT_EQ(keys_of(s.list({.prefix = "\xFE"})), (std::vector<std::string>{"\xFE"}));
}

TEST(StorageList, StartAfterSkipsOnlyThatKey) {
  // startAfter k means keys > k: "k\0..." still follows k.
  ObjectStorage s(StorageBackend::sqlite);
  s.put({{"k", StoredValue(1)}, {std::string("k\0", 2), StoredValue(2)}, {"k0", StoredValue(3)}});
  EXPECT_EQ(keys_of(s.list({.start_after = "k"})), (std::vector<std::string>{std::string("k\0", 2), "k0"}));
}

TEST(StorageList, BadOptionsAreTypeErrors) {
  ObjectStorage s(StorageBackend::sqlite);
  expect_error([&] { s.list({.start = "a", .start_after = "b"}); }, ErrorKind::type_error,
               "list() cannot be called with both start and startAfter values.");
  expect_error([&] { s.list({.limit = 0}); }, ErrorKind::type_error, "List limit must be positive.");
  expect_error([&] { s.list({.limit = -5}); }, ErrorKind::type_error, "List limit must be positive.");
  s.put("a", StoredValue(1));
  EXPECT_EQ(s.list({.limit = 1}).size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// SQL API (platform-facts §4.2, §8 items 23-24)

TEST(StorageSql, ValuesRoundTripWithTheirTypes) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)");
  s.exec("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
         {int64_t{1} << 60, 2.5, std::string("h\xC3\xA9"), SqlBytes{0, 255}, std::monostate{}});
  s.exec("INSERT INTO t VALUES (?, ?, ?, ?, ?)", {int64_t{-1}, 0.0, std::string(), SqlBytes{}, std::monostate{}});
  auto rows = s.exec("SELECT * FROM t").to_array();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].get_int("i"), int64_t{1} << 60);
  EXPECT_EQ(rows[0].get_double("r"), 2.5);
  EXPECT_EQ(rows[0].get_string("s"), "h\xC3\xA9");
  EXPECT_EQ(std::get<SqlBytes>(rows[0]["b"]), (SqlBytes{0, 255}));
  EXPECT_TRUE(rows[0].is_null("n"));
  EXPECT_EQ(std::get<SqlBytes>(rows[1]["b"]), SqlBytes{});  // an empty blob stays a blob, not NULL
  EXPECT_EQ(rows[1].get_string("s"), "");
  EXPECT_THROW(rows[0]["nope"], std::out_of_range);
}

TEST(StorageSql, MultipleStatementsCursorCoversTheLastAndBindingsGoToIt) {
  // §8 item 24 / §4.2.
  ObjectStorage s(StorageBackend::sqlite);
  auto c = s.exec("CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'); INSERT INTO t VALUES (2, 'y');"
                  " SELECT b FROM t WHERE a = ?",
                  {int64_t{2}});
  EXPECT_EQ(c.column_names(), std::vector<std::string>{"b"});
  auto rows = c.to_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].get_string("b"), "y");
  EXPECT_EQ(count_rows(s, "t"), 2);
  // Parameters in an earlier statement are rejected (after the statements before it ran).
  expect_error([&] { s.exec("INSERT INTO t VALUES (3, 'z'); INSERT INTO t VALUES (?, 'w'); SELECT 1", {int64_t{4}}); },
               ErrorKind::error,
               "When executing multiple SQL statements in a single call, only the last statement can have parameters.");
  EXPECT_EQ(count_rows(s, "t"), 3);
  expect_error([&] { s.exec("SELECT ?, ?", {int64_t{1}}); }, ErrorKind::error,
               "Wrong number of parameter bindings for SQL query.");
  // Trailing semicolons and comments after the last statement are fine; no statement is not.
  EXPECT_EQ(s.exec("SELECT 7 AS x; -- done\n").one().get_int("x"), 7);
  expect_error([&] { s.exec("  -- nothing\n ;"); }, ErrorKind::error, "SQL code did not contain a statement.");
}

TEST(StorageSql, OneThrowsUnlessExactlyOneRow) {
  // §8 item 24: one() on 0 or >= 2 rows throws (workerd's messages).
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (a)");
  s.exec("INSERT INTO t VALUES (1), (2)");
  expect_error([&] { s.exec("SELECT a FROM t WHERE a > 5").one(); }, ErrorKind::error,
               "Expected exactly one result from SQL query, but got no results.");
  expect_error([&] { s.exec("SELECT a FROM t").one(); }, ErrorKind::error,
               "Expected exactly one result from SQL query, but got multiple results.");
  expect_error([&] { s.exec("INSERT INTO t VALUES (3)").one(); }, ErrorKind::error,
               "Expected exactly one result from SQL query, but got no results.");
  EXPECT_EQ(s.exec("SELECT a FROM t WHERE a = 2").one().get_int("a"), 2);
  EXPECT_EQ(count_rows(s, "t"), 3);  // the INSERT ran although one() threw
}

TEST(StorageSql, RawAndNextShareOnePosition) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (a INTEGER)");
  s.exec("INSERT INTO t VALUES (1), (2), (3), (4)");
  auto c = s.exec("SELECT a FROM t ORDER BY a");
  EXPECT_EQ(c.next()->get_int("a"), 1);
  auto raw = c.raw();
  auto r2 = raw.next();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(std::get<int64_t>((*r2)[0]), 2);
  EXPECT_EQ(c.next()->get_int("a"), 3);
  auto rest = raw.to_array();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(rest[0][0]), 4);
  EXPECT_FALSE(c.next().has_value());
  EXPECT_TRUE(c.done());
}

TEST(StorageSql, RowsReadAndWrittenGrowAsTheCursorIsStepped) {
  // §4.2: rowsRead/rowsWritten grow as you iterate; each index row update counts as a written row.
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, w INTEGER)");
  auto ins = s.exec("INSERT INTO t (v, w) VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)");
  EXPECT_EQ(ins.rows_written(), 5);  // no index yet
  EXPECT_EQ(ins.rows_read(), 0);
  s.exec("CREATE INDEX t_v ON t (v)");
  auto c = s.exec("SELECT v FROM t ORDER BY id");
  EXPECT_EQ(c.rows_read(), 1);  // exec ran the first step
  c.next();
  EXPECT_EQ(c.rows_read(), 2);  // one row ahead
  c.next();
  EXPECT_EQ(c.rows_read(), 3);
  c.to_array();
  EXPECT_EQ(c.rows_read(), 5);
  EXPECT_EQ(c.rows_written(), 0);
  // A full scan that returns one row still reads every row.
  EXPECT_EQ(s.exec("SELECT count(*) FROM t WHERE w >= 0").rows_read(), 5);
  // Writes with one secondary index: table row + index row.
  EXPECT_EQ(s.exec("INSERT INTO t (v, w) VALUES (6, 6), (7, 7)").rows_written(), 4);
  EXPECT_EQ(s.exec("UPDATE t SET w = w + 1 WHERE id <= 3").rows_written(), 3);  // w has no index
  auto upd = s.exec("UPDATE t SET v = v + 10 WHERE id <= 3");
  EXPECT_EQ(upd.rows_written(), 6);  // v is indexed
  EXPECT_GE(upd.rows_read(), 3);
  EXPECT_EQ(s.exec("DELETE FROM t WHERE id = 7").rows_written(), 2);
}

TEST(StorageSql, CursorsStepLazily) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (a INTEGER)");
  s.exec("INSERT INTO t VALUES (1), (2)");
  auto c = s.exec("SELECT a FROM t");
  // A write after the cursor was opened is visible to its later rows: not a snapshot (§4.2).
  s.exec("INSERT INTO t VALUES (3)");
  EXPECT_EQ(c.to_array().size(), 3u);
}

TEST(StorageSql, CachedMultiStatementSqlRunsEveryStatementAgain) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (a INTEGER)");
  const std::string sql = "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); SELECT count(*) AS n FROM t";
  EXPECT_EQ(s.exec(sql).one().get_int("n"), 2);
  EXPECT_EQ(s.exec(sql).one().get_int("n"), 4);  // a cache hit re-runs the earlier statements
  EXPECT_GE(s.counters().statement_cache_hits, 1u);
}

TEST(StorageSql, CommitKeepsReadCursorsAndEndsUnfinishedWriteCursors) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (a INTEGER)");
  s.exec("INSERT INTO t VALUES (1), (2), (3)");
  auto reader = s.exec("SELECT a FROM t");
  auto writer = s.exec("INSERT INTO t VALUES (4), (5) RETURNING a");
  EXPECT_EQ(std::get<int64_t>((*writer.next())[0]), 4);
  s.commit();
  EXPECT_FALSE(s.has_pending_writes());
  EXPECT_THROW(writer.next(), StorageError);  // a write still being stepped would block COMMIT
  EXPECT_EQ(reader.to_array().size(), 5u);     // reads carry on
  s.rollback();
  EXPECT_EQ(count_rows(s, "t"), 5);            // the RETURNING insert was committed whole
}

TEST(StorageSql, RepeatedStatementsHitTheCacheAndConcurrentCopiesWork) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (a INTEGER)");
  s.exec("INSERT INTO t VALUES (1), (2)");
  uint64_t hits = s.counters().statement_cache_hits;
  for (int i = 0; i < 5; ++i) s.exec("SELECT a FROM t WHERE a = ?", {int64_t{1}}).one();
  EXPECT_EQ(s.counters().statement_cache_hits, hits + 4);
  // Two live cursors of the same SQL: the second is a one-off copy.
  auto c1 = s.exec("SELECT a FROM t ORDER BY a");
  auto c2 = s.exec("SELECT a FROM t ORDER BY a");
  EXPECT_EQ(c1.next()->get_int("a"), 1);
  EXPECT_EQ(c2.to_array().size(), 2u);
  EXPECT_EQ(c1.next()->get_int("a"), 2);
  auto moved = std::move(c1);  // cursors move
  EXPECT_FALSE(moved.next().has_value());
}

TEST(StorageSql, StatementCacheEvictsLeastRecentlyUsedBeyondItsByteBudget) {
  StorageOptions o;
  o.statement_cache_max_sql_bytes = 100;
  ObjectStorage s(StorageBackend::sqlite, o);
  for (int i = 0; i < 50; ++i) s.exec("SELECT " + std::to_string(i) + " AS value_of_the_query").one();
  EXPECT_LE(s.statement_cache_size(), 5u);
  EXPECT_GE(s.statement_cache_size(), 1u);
  EXPECT_EQ(s.exec("SELECT 49 AS value_of_the_query").one().get_int("value_of_the_query"), 49);
}

TEST(StorageSql, ErrorsCarrySqlitesTextAndCode) {
  ObjectStorage s(StorageBackend::sqlite);
  expect_error([&] { s.exec("SELEC 1"); }, ErrorKind::error, "near \"SELEC\": syntax error at offset 0: SQLITE_ERROR");
  expect_error([&] { s.exec("SELECT * FROM nope"); }, ErrorKind::error, "no such table: nope: SQLITE_ERROR");
  s.exec("CREATE TABLE u (a PRIMARY KEY)");
  s.exec("INSERT INTO u VALUES (1)");
  expect_error([&] { s.exec("INSERT INTO u VALUES (1)"); }, ErrorKind::error,
               "UNIQUE constraint failed: u.a: SQLITE_CONSTRAINT");
}

TEST(StorageSql, TransactionStatementsAreRejected) {
  // §4.2 / §8 item 23: BEGIN/SAVEPOINT are rejected in exec.
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (a)");
  for (const char* sql : {"BEGIN", "BEGIN TRANSACTION", "BEGIN IMMEDIATE", "COMMIT", "END", "ROLLBACK",
                          "SAVEPOINT sp", "RELEASE sp", "ROLLBACK TO sp"})
    expect_error([&] { s.exec(sql); }, ErrorKind::error, kTxnMessage);
  expect_error([&] { s.exec("INSERT INTO t VALUES (1); BEGIN; INSERT INTO t VALUES (2)"); }, ErrorKind::error, kTxnMessage);
  EXPECT_EQ(count_rows(s, "t"), 1);  // only the statement before BEGIN ran
}

TEST(StorageSql, ReservedCfTablesAreUnreachable) {
  // §4.2: the KV data lives in _cf_KV; the _cf_ prefix is reserved for the platform.
  ObjectStorage s(StorageBackend::sqlite);
  s.put("secret", StoredValue(1));
  s.exec("CREATE TABLE t (a)");
  // The authorizer sees only the old name of a renamed table (as workerd's does), so a rename into
  // the reserved prefix goes through, and the table becomes unreachable.
  s.exec("CREATE TABLE t2 (a)");
  s.exec("ALTER TABLE t2 RENAME TO _cf_t");
  for (const char* sql : {"SELECT * FROM _cf_KV", "SELECT count(*) FROM _cf_KV", "INSERT INTO _cf_KV VALUES ('k', x'00')",
                          "DELETE FROM _cf_KV", "UPDATE _cf_KV SET value = NULL", "DROP TABLE _cf_KV",
                          "CREATE TABLE _cf_mine (a)", "CREATE INDEX _cf_idx ON t (a)", "CREATE INDEX i ON _cf_KV (value)",
                          "PRAGMA table_info(_cf_KV)", "CREATE VIEW _cf_v AS SELECT 1", "SELECT * FROM _cf_t"}) {
    try {
      s.exec(sql);
      ADD_FAILURE() << "not rejected: " << sql;
    } catch (const StorageError& e) {
      EXPECT_EQ(e.kind(), ErrorKind::error);
      std::string what = e.what();
      EXPECT_EQ(what.substr(what.size() - 13), ": SQLITE_AUTH") << sql << " -> " << what;
    }
  }
  EXPECT_EQ(s.get("secret"), StoredValue(1));
  EXPECT_EQ(s.exec("SELECT name FROM sqlite_schema WHERE name = '_cf_KV'").to_array().size(), 1u);  // visible, not reachable
}

TEST(StorageSql, PlatformForbiddenFeaturesAreRejected) {
  ObjectStorage s(StorageBackend::sqlite);
  for (const char* sql : {"PRAGMA max_page_count = 1", "PRAGMA writable_schema = ON", "PRAGMA journal_mode",
                          "ATTACH DATABASE ':memory:' AS other", "CREATE TEMP TABLE tmp (a)", "SELECT sqlite_version()"})
    expect_error([&] { s.exec(sql); }, ErrorKind::error, "", true);
  // ... and allowed ones work.
  s.exec("PRAGMA foreign_keys = ON");
  s.exec("CREATE TABLE t (a)");
  EXPECT_EQ(s.exec("PRAGMA table_info(t)").to_array().size(), 1u);
}

TEST(StorageSql, SqlOnlyOnTheSqliteBackend) {
  // §4.2: SQL only on SQLite-backed classes (workerd's production message).
  ObjectStorage s(StorageBackend::kv);
  const std::string msg =
      "This Durable Object is not backed by SQLite storage, so the SQL API is not available. SQL can be enabled on "
      "a new Durable Object class by using the `new_sqlite_classes` instead of `new_classes` under `[[migrations]]` "
      "in your wrangler.toml, but an already-deployed class cannot be converted to SQLite (except by deleting the "
      "existing data).";
  expect_error([&] { s.exec("SELECT 1"); }, ErrorKind::error, msg);
  expect_error([&] { s.database_size(); }, ErrorKind::error, msg);
  expect_error([&] { s.transaction_sync([] { return 1; }); }, ErrorKind::error, "Durable Object is not backed by SQL.");
  // transaction() works on both backends.
  EXPECT_EQ(s.transaction([](Transaction& t) {
    t.put("k", StoredValue(1));
    return 5;
  }), 5);
  EXPECT_EQ(s.get("k"), StoredValue(1));
}

// ---------------------------------------------------------------------------------------------
// SQL limits (platform-facts §4.1), each at its boundary

std::string repeat_join(int n, const std::string& item, const std::string& sep) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? sep : "") + item + std::to_string(i);
  return out;
}

TEST(StorageSqlLimits, HundredColumnsPassAndOneMoreFails) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE ok (" + repeat_join(100, "c", ", ") + ")");
  expect_error([&] { s.exec("CREATE TABLE bad (" + repeat_join(101, "c", ", ") + ")"); }, ErrorKind::error,
               "too many columns on bad", true);
}

TEST(StorageSqlLimits, HundredBoundParametersPassAndOneMoreFails) {
  ObjectStorage s(StorageBackend::sqlite);
  std::vector<SqlValue> b100(100, int64_t{1}), b101(101, int64_t{1});
  std::string q100 = "SELECT " + repeat_join(100, "?+", ", ");
  std::string q101 = "SELECT " + repeat_join(101, "?+", ", ");
  EXPECT_EQ(s.exec(q100, b100).one().size(), 100u);
  expect_error([&] { s.exec(q101, b101); }, ErrorKind::error, "too many SQL variables", true);
}

TEST(StorageSqlLimits, StatementOf100000BytesPassesAndOneByteMoreFails) {
  ObjectStorage s(StorageBackend::sqlite);
  std::string base = "SELECT 1 -- ";
  std::string at = base + std::string(100'000 - base.size(), 'x');
  ASSERT_EQ(at.size(), 100'000u);
  EXPECT_EQ(s.exec(at).one().size(), 1u);
  expect_error([&] { s.exec(at + "x"); }, ErrorKind::error, "statement too long: SQLITE_TOOBIG");
}

TEST(StorageSqlLimits, StringOrBlobOf2200000BytesPassesAndOneByteMoreFails) {
  // "2 MB" per the docs; workerd's SQLITE_LIMIT_LENGTH is 2,200,000 (see storage.h).
  ObjectStorage s(StorageBackend::sqlite);
  EXPECT_EQ(s.exec("SELECT length(?) AS n", {SqlBytes(2'200'000, 7)}).one().get_int("n"), 2'200'000);
  expect_error([&] { s.exec("SELECT length(?) AS n", {SqlBytes(2'200'001, 7)}); }, ErrorKind::error,
               "string or blob too big: SQLITE_TOOBIG");
  expect_error([&] { s.exec("SELECT length(?) AS n", {std::string(2'200'001, 'x')}); }, ErrorKind::error,
               "string or blob too big: SQLITE_TOOBIG");
  expect_error([&] { s.exec("SELECT zeroblob(2200001)"); }, ErrorKind::error, "string or blob too big: SQLITE_TOOBIG");
}

TEST(StorageSqlLimits, ThirtyTwoFunctionArgumentsPassAndOneMoreFails) {
  ObjectStorage s(StorageBackend::sqlite);
  EXPECT_EQ(s.exec("SELECT json_array(" + repeat_join(32, "", ", ") + ") AS j").one().get_string("j").front(), '[');
  expect_error([&] { s.exec("SELECT json_array(" + repeat_join(33, "", ", ") + ")"); }, ErrorKind::error,
               "too many arguments on function json_array", true);
}

TEST(StorageSqlLimits, LikePatternOf50BytesPassesAndOneByteMoreFails) {
  ObjectStorage s(StorageBackend::sqlite);
  std::string p50(50, '%'), p51(51, '%');
  EXPECT_EQ(s.exec("SELECT 'abc' LIKE ? AS m", {p50}).one().get_int("m"), 1);
  expect_error([&] { s.exec("SELECT 'abc' LIKE ? AS m", {p51}); }, ErrorKind::error,
               "LIKE or GLOB pattern too complex: SQLITE_ERROR");
  expect_error([&] { s.exec("SELECT 'abc' GLOB ? AS m", {p51}); }, ErrorKind::error,
               "LIKE or GLOB pattern too complex: SQLITE_ERROR");
}

TEST(StorageSqlLimits, DatabaseOfExactlyMaxPagesWorksAndOnePageMoreFails) {
  // §4.1: 10 GB per object, enforced through max_page_count; here a budget of 16 pages.
  StorageOptions o;
  o.max_database_bytes = 16 * 4096 + 100;  // the remainder is not a whole page
  ObjectStorage s(StorageBackend::sqlite, o);
  EXPECT_EQ(s.max_page_count(), 16u);
  ObjectStorage big(StorageBackend::sqlite);
  EXPECT_EQ(big.max_page_count(), 2'441'406u);  // 10^10 / 4096

  // Appending small rows takes one page at a time, so the last page gets used.
  s.exec("CREATE TABLE r (v BLOB)");
  s.commit();
  uint64_t max_ok = 0;
  int rows = 0;
  for (;; ++rows) {
    ASSERT_LT(rows, 5000);
    try {
      s.exec("INSERT INTO r VALUES (zeroblob(8))");
      max_ok = std::max(max_ok, s.page_count());
      s.commit();
    } catch (const StorageError& e) {
      EXPECT_EQ(e.kind(), ErrorKind::error);
      EXPECT_EQ(std::string(e.what()),
                "Exceeded maximum DB size: SQLITE_FULL (the limit is 65636 bytes = 16 pages of 4096 bytes)");
      break;
    }
  }
  EXPECT_EQ(max_ok, 16u);  // exactly at the limit: fine
  EXPECT_EQ(s.page_count(), 16u);
  EXPECT_EQ(count_rows(s, "r"), rows);  // everything committed is there; the failed row is not
  EXPECT_LE(s.database_size(), 16u * 4096);
}

TEST(StorageSqlLimits, AFullDatabaseAbortsTheImplicitTransactionButKeepsCommittedData) {
  StorageOptions o;
  o.max_database_bytes = 16 * 4096;
  ObjectStorage s(StorageBackend::sqlite, o);
  s.put("committed", StoredValue(1));
  s.commit();
  // Fill with entries, committing each, until a write does not fit.
  int i = 0;
  for (;; ++i) {
    ASSERT_LT(i, 2000);
    try {
      s.put("k" + std::to_string(i), StoredValue(std::string(300, 'x')));
      s.commit();
    } catch (const StorageError& e) {
      EXPECT_EQ(std::string(e.what()).substr(0, 37), "Exceeded maximum DB size: SQLITE_FULL");
      break;
    }
  }
  EXPECT_EQ(s.aborted_transactions(), 1u);
  EXPECT_FALSE(s.has_pending_writes());
  EXPECT_EQ(s.get("committed"), StoredValue(1));
  EXPECT_FALSE(s.get("k" + std::to_string(i)).has_value());
  EXPECT_TRUE(s.get("k" + std::to_string(i - 1)).has_value());

  // As on the platform, SQLite aborts the whole transaction: a write made since the last commit
  // is lost with it.
  s.del("k0");
  s.put("uncommitted", StoredValue(2));
  EXPECT_TRUE(s.has_pending_writes());
  EXPECT_THROW(s.exec("CREATE TABLE big (b BLOB); INSERT INTO big VALUES (zeroblob(100000))"), StorageError);
  EXPECT_EQ(s.aborted_transactions(), 2u);
  EXPECT_FALSE(s.has_pending_writes());
  EXPECT_TRUE(s.get("k0").has_value());
  EXPECT_FALSE(s.get("uncommitted").has_value());
  // Deleting makes room again.
  std::vector<std::string> keys;
  for (int j = 0; j < i && j < 128; ++j) keys.push_back("k" + std::to_string(j));
  s.del(keys);
  s.put("again", StoredValue(std::string(300, 'y')));
  s.commit();
  EXPECT_EQ(s.get("again")->as_string().size(), 300u);
}

// ---------------------------------------------------------------------------------------------
// Transactions (platform-facts §4.4, §8 items 21 and 23)

struct TxnFixture : ::testing::Test {
  ObjectStorage s{StorageBackend::sqlite};
  void SetUp() override {
    s.exec("CREATE TABLE t (a INTEGER)");
    s.exec("INSERT INTO t VALUES (1)");
    s.put("k1", StoredValue(1));
    s.commit();
  }
  void expect_initial_state() {
    EXPECT_EQ(count_rows(s, "t"), 1);
    EXPECT_EQ(s.get("k1"), StoredValue(1));
    EXPECT_EQ(s.kv_key_count(), 1u);
    EXPECT_EQ(s.exec("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'extra'").one().get_int("n"), 0);
  }
};

TEST_F(TxnFixture, TransactionSyncRollsBackSqlAndKvWhenTheCallbackThrows) {
  // §8 item 23: transactionSync with a throwing callback leaves no SQL or KV change behind.
  EXPECT_THROW(s.transaction_sync([&] {
    s.exec("INSERT INTO t VALUES (2)");
    s.exec("CREATE TABLE extra (x)");
    s.put("k2", StoredValue(2));
    s.del("k1");
    throw std::runtime_error("boom");
  }), std::runtime_error);
  expect_initial_state();
  EXPECT_FALSE(s.in_transaction());
}

TEST_F(TxnFixture, TransactionSyncReturnsTheValueAndKeepsChanges) {
  int r = s.transaction_sync([&] {
    s.put("k2", StoredValue(2));
    return 7;
  });
  EXPECT_EQ(r, 7);
  EXPECT_EQ(s.get("k2"), StoredValue(2));
  s.transaction_sync([&] { s.exec("INSERT INTO t VALUES (2)"); });  // void callbacks too
  EXPECT_EQ(count_rows(s, "t"), 2);
}

TEST_F(TxnFixture, NestedTransactionSyncUndoesOnlyTheInnerPart) {
  s.transaction_sync([&] {
    s.put("outer", StoredValue(1));
    try {
      s.transaction_sync([&] {
        s.put("inner", StoredValue(1));
        s.exec("INSERT INTO t VALUES (9)");
        throw std::runtime_error("inner");
      });
    } catch (const std::runtime_error&) {
    }
    EXPECT_TRUE(s.in_transaction());
  });
  EXPECT_EQ(s.get("outer"), StoredValue(1));
  EXPECT_FALSE(s.get("inner").has_value());
  EXPECT_EQ(count_rows(s, "t"), 1);
}

TEST_F(TxnFixture, ExplicitRollbackDiscardsChangesAndLaterOpsThrow) {
  // §4.4: txn.rollback(), then any further txn op throws.
  int r = s.transaction([&](Transaction& txn) {
    txn.put("k2", StoredValue(2));
    s.exec("INSERT INTO t VALUES (2)");  // on SQLite, storage ops in the closure are part of it
    txn.rollback();
    txn.rollback();  // allowed again
    EXPECT_TRUE(txn.rolled_back());
    expect_error([&] { txn.put("k3", StoredValue(3)); }, ErrorKind::error, "Cannot put() on rolled back transaction");
    expect_error([&] { txn.get("k1"); }, ErrorKind::error, "Cannot get() on rolled back transaction");
    expect_error([&] { txn.del("k1"); }, ErrorKind::error, "Cannot delete() on rolled back transaction");
    expect_error([&] { txn.list(); }, ErrorKind::error, "Cannot list() on rolled back transaction");
    return 3;
  });
  EXPECT_EQ(r, 3);
  expect_initial_state();
}

TEST_F(TxnFixture, TransactionCommitsOnReturnAndRollsBackOnThrow) {
  s.transaction([&](Transaction& txn) {
    txn.put("k2", StoredValue(2));
    EXPECT_EQ(txn.get("k2"), StoredValue(2));
    EXPECT_EQ(txn.list().size(), 2u);
  });
  EXPECT_EQ(s.get("k2"), StoredValue(2));
  EXPECT_THROW(s.transaction([&](Transaction& txn) {
    txn.put("k3", StoredValue(3));
    txn.del("k1");
    throw std::logic_error("x");
  }), std::logic_error);
  EXPECT_EQ(s.get("k1"), StoredValue(1));
  EXPECT_FALSE(s.get("k3").has_value());
}

TEST_F(TxnFixture, NestedTransactionsRollBackIndependently) {
  s.transaction([&](Transaction& outer) {
    outer.put("a", StoredValue(1));
    s.transaction([&](Transaction& inner) {
      inner.put("b", StoredValue(1));
      expect_error([&] { outer.rollback(); }, ErrorKind::error,
                   "Cannot roll back an outer transaction while a nested transaction is still running.");
      inner.rollback();
    });
    EXPECT_FALSE(outer.get("b").has_value());
  });
  EXPECT_EQ(s.get("a"), StoredValue(1));
  EXPECT_FALSE(s.get("b").has_value());
}

TEST_F(TxnFixture, DeleteAllIsRefusedInsideTransactions) {
  const std::string msg = "Cannot call deleteAll() within a transaction";
  s.transaction([&](Transaction& txn) {
    expect_error([&] { txn.delete_all(); }, ErrorKind::error, msg);
    expect_error([&] { s.delete_all(); }, ErrorKind::error, msg);
  });
  s.transaction_sync([&] { expect_error([&] { s.delete_all(); }, ErrorKind::error, msg); });
  expect_initial_state();
}

TEST_F(TxnFixture, ImplicitRollbackDiscardsEverythingSinceTheLastCommit) {
  // §4.4 / §8 items 21-22: writes between commits are one batch; a crash before it is durable
  // (rollback) loses all of it; data committed earlier is intact.
  EXPECT_FALSE(s.has_pending_writes());
  s.put("k2", StoredValue(2));
  EXPECT_TRUE(s.has_pending_writes());
  s.exec("INSERT INTO t VALUES (2)");
  s.exec("CREATE TABLE extra (x)");
  s.del("k1");
  s.rollback();
  EXPECT_FALSE(s.has_pending_writes());
  expect_initial_state();
  EXPECT_FALSE(s.get("k2").has_value());
  EXPECT_EQ(s.counters().rollbacks, 1u);
  // Commit makes a batch durable: a later rollback keeps it.
  s.put("k3", StoredValue(3));
  s.commit();
  EXPECT_FALSE(s.has_pending_writes());
  s.put("k4", StoredValue(4));
  s.rollback();
  EXPECT_EQ(s.get("k3"), StoredValue(3));
  EXPECT_FALSE(s.get("k4").has_value());
  // Reads alone are not pending writes; commit/rollback with nothing open are no-ops.
  s.get("k3");
  s.exec("SELECT * FROM t").to_array();
  EXPECT_FALSE(s.has_pending_writes());
  s.commit();
  s.rollback();
  EXPECT_EQ(s.get("k3"), StoredValue(3));
}

TEST_F(TxnFixture, CommitIsDeferredInsideATransaction) {
  s.transaction_sync([&] {
    s.put("k2", StoredValue(2));
    s.commit();  // must not split the transaction
    EXPECT_TRUE(s.has_pending_writes());
    EXPECT_TRUE(s.in_transaction());
  });
  s.rollback();
  EXPECT_FALSE(s.get("k2").has_value());
}

TEST_F(TxnFixture, RollbackInvalidatesLiveCursors) {
  s.exec("INSERT INTO t VALUES (2), (3)");
  auto c = s.exec("SELECT a FROM t");
  s.rollback();
  try {
    c.next();
    FAIL() << "cursor survived a rollback";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("rolled back"), std::string::npos) << e.what();
  }
  expect_initial_state();
}

// ---------------------------------------------------------------------------------------------
// deleteAll (platform-facts §4.5, §8 item 27)

TEST(StorageDeleteAll, WipesSqlAndKvAtomically) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("PRAGMA foreign_keys = ON");
  s.exec("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
  s.exec("CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent (id))");
  s.exec("CREATE INDEX child_p ON child (p)");
  s.exec("CREATE VIEW v AS SELECT * FROM child");
  s.exec("CREATE TRIGGER tr AFTER INSERT ON parent BEGIN SELECT 1; END");
  s.exec("CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, x)");
  s.exec("INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1); INSERT INTO seq (x) VALUES (1)");
  s.put({{"a", StoredValue(1)}, {"b", StoredValue(2)}});
  s.commit();
  expect_error([&] { s.exec("INSERT INTO child VALUES (2, 99)"); }, ErrorKind::error,
               "FOREIGN KEY constraint failed: SQLITE_CONSTRAINT");  // foreign keys are enforced
  s.commit();
  uint64_t full_size = s.database_size();

  auto schema = [&] {
    std::vector<std::string> names;
    for (auto& r : s.exec("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite%' ORDER BY name").to_array())
      names.push_back(r.get_string("name"));
    return names;
  };
  auto before = schema();
  EXPECT_EQ(before.size(), 7u);

  s.delete_all();
  EXPECT_EQ(schema(), std::vector<std::string>{"_cf_KV"});
  EXPECT_EQ(s.kv_key_count(), 0u);
  EXPECT_LT(s.database_size(), full_size);
  // It is part of the implicit transaction: a crash before it is durable brings everything back.
  s.rollback();
  EXPECT_EQ(schema(), before);
  EXPECT_EQ(s.kv_key_count(), 2u);
  EXPECT_EQ(count_rows(s, "child"), 1);
  // Committed, it sticks; and the object is usable afterwards.
  s.delete_all();
  s.commit();
  s.rollback();
  EXPECT_EQ(schema(), std::vector<std::string>{"_cf_KV"});
  s.exec("CREATE TABLE parent (id)");
  s.put("a", StoredValue(3));
  EXPECT_EQ(s.get("a"), StoredValue(3));
}

TEST(StorageDeleteAll, KvBackendDeletesEveryKey) {
  ObjectStorage s(StorageBackend::kv);
  s.put({{"a", StoredValue(1)}, {"b", StoredValue(2)}});
  s.delete_all();
  EXPECT_EQ(s.list().size(), 0u);
}

TEST(StorageDeleteAll, InvalidatesLiveCursors) {
  ObjectStorage s(StorageBackend::sqlite);
  s.exec("CREATE TABLE t (a)");
  s.exec("INSERT INTO t VALUES (1), (2)");
  auto c = s.exec("SELECT a FROM t");
  s.delete_all();
  EXPECT_THROW(c.next(), StorageError);
}

// ---------------------------------------------------------------------------------------------
// Size, trace, determinism

TEST(StorageStats, DatabaseSizeCountsUsedPages) {
  ObjectStorage s(StorageBackend::sqlite);
  uint64_t empty = s.database_size();
  EXPECT_EQ(empty % 4096, 0u);
  EXPECT_EQ(empty, 2u * 4096);  // the schema page and _cf_KV's root
  s.exec("CREATE TABLE t (b BLOB)");
  s.exec("INSERT INTO t VALUES (zeroblob(100000))");
  EXPECT_GE(s.database_size(), empty + 100000);
  s.exec("DELETE FROM t");
  EXPECT_LT(s.database_size(), empty + 100000);  // freed pages are not counted (workerd)
  s.put("key", StoredValue("value"));
  EXPECT_EQ(s.kv_bytes(), 3u + StoredValue("value").encode().size());
}

TEST(StorageTrace, EveryOperationRecordsOneStorageRecord) {
  auto sink = std::make_shared<MemorySink>();
  Simulator sim({}, {sink});
  ObjectStorage s(StorageBackend::kv, {}, &sim, "obj-1");
  size_t start = sink->records.size();
  s.put("k", StoredValue(5));
  s.get("k");
  EXPECT_THROW(s.put(std::string(3000, 'x'), StoredValue(1)), StorageError);
  s.commit();
  std::vector<Record> recs(sink->records.begin() + static_cast<long>(start), sink->records.end());
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].category, "storage");
  EXPECT_EQ(recs[0].name, "put");
  EXPECT_EQ(recs[0].field_text("object"), "obj-1");
  EXPECT_EQ(recs[0].field_text("key"), "k");
  EXPECT_EQ(recs[0].field_text("bytes"), std::to_string(1 + StoredValue(5).encode().size()));
  EXPECT_EQ(recs[0].field_text("result"), "ok");
  EXPECT_EQ(recs[1].name, "get");
  EXPECT_EQ(recs[1].field_text("rows"), "1");
  EXPECT_EQ(recs[2].field_text("result"), "RangeError");
  EXPECT_EQ(recs[3].name, "commit");

  ObjectStorage q(StorageBackend::sqlite, {}, &sim, "obj-2");
  start = sink->records.size();
  q.exec("SELECT 1");
  ASSERT_EQ(sink->records.size(), start + 1);
  const Record& r = sink->records.back();
  EXPECT_EQ(r.name, "exec");
  EXPECT_EQ(r.field_text("key").size(), 16u);  // the digest of the statement text
  EXPECT_EQ(r.field_text("key").find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(r.field_text("rows_read"), "1");
  EXPECT_EQ(r.field_text("result"), "ok");
  EXPECT_THROW(q.exec("BEGIN"), StorageError);
  EXPECT_EQ(sink->records.back().field_text("result"), "Error");
  EXPECT_NE(sink->records.back().field_text("key"), r.field_text("key"));
}

TEST(StorageDeterminism, SqlRandomIsSeededAndNowIsVirtualTime) {
  StorageOptions o;
  o.random_seed = 42;
  ObjectStorage a(StorageBackend::sqlite, o, nullptr, "x"), b(StorageBackend::sqlite, o, nullptr, "x");
  auto draw = [](ObjectStorage& s) {
    auto row = s.exec("SELECT random() AS r, hex(randomblob(16)) AS h").one();
    return std::make_pair(row.get_int("r"), row.get_string("h"));
  };
  EXPECT_EQ(draw(a), draw(b));
  EXPECT_NE(draw(a), draw(a));  // a stream, not a constant

  Simulator sim;
  o.wall_clock_epoch_unix_ms = 1'700'000'000'000;
  ObjectStorage s(StorageBackend::sqlite, o, &sim, "clock");
  std::string at0, at2;
  sim.spawn("t", [&] {
    at0 = s.exec("SELECT strftime('%s', 'now') AS t").one().get_string("t");
    sim.sleep_for(2500ms);
    at2 = s.exec("SELECT datetime('now') AS t").one().get_string("t");
  });
  sim.run();
  EXPECT_EQ(at0, "1700000000");
  EXPECT_EQ(at2, "2023-11-14 22:13:22");  // 1700000002.5 s after the Unix epoch
}

TEST(StorageCursor, OutlivingItsStorageThrowsInsteadOfCrashing) {
  auto s = std::make_unique<ObjectStorage>(StorageBackend::sqlite);
  s->exec("CREATE TABLE t (a)");
  s->exec("INSERT INTO t VALUES (1), (2)");
  SqlCursor c = s->exec("SELECT a FROM t");
  s.reset();
  EXPECT_THROW(c.next(), StorageError);
  EXPECT_EQ(c.column_names(), std::vector<std::string>{"a"});
}

TEST(StorageOptionsCheck, BadOptionsNameTheValue) {
  StorageOptions o;
  o.page_size_bytes = 1000;
  try {
    ObjectStorage s(StorageBackend::sqlite, o);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("page_size_bytes = 1000"), std::string::npos);
  }
  o = {};
  o.max_database_bytes = 4096;
  EXPECT_THROW(ObjectStorage(StorageBackend::sqlite, o), std::invalid_argument);
}

}  // namespace
