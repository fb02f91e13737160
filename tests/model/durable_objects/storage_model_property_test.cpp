// Model-based property test of the Durable Object KV API (platform-facts §4.3-4.5, §8 items 19-21
// and 27): random sequences of get/put/delete (single and batch), list with random options,
// deleteAll, commit and rollback run against ObjectStorage and against a plain std::map model that
// keeps a committed snapshot. After rollback the storage equals the last committed model state;
// after commit it equals the current model; every read matches the model throughout.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §4.3 and §8 items 19-20: /durable-objects/api/storage-api/ (D3); the 128-key batches also
//     /durable-objects/platform/limits/ (D1)
//   §4.4 and §8 items 21 and 23: /durable-objects/api/storage-api/ (D3); cloudflare/cloudflare-docs
//     src/content/partials/durable-objects/api-storage-other-methods.mdx (D5, rendered on
//     /durable-objects/api/sqlite-storage-api/); /durable-objects/api/sqlite-storage-api/ (D2)
//   §4.5 and §8 item 27: the same partial, api-storage-other-methods.mdx (D5)

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/durable_objects/storage.h"

using namespace cfsim;

namespace {

using Model = std::map<std::string, StoredValue>;

// Keys from a small alphabet (so operations collide), including multi-byte UTF-8 and 0xFF bytes
// whose byte order differs from UTF-16 order.
rc::Gen<std::string> gen_key() {
  return rc::gen::map(rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 6)), [](const std::vector<int>& parts) {
    static const char* atoms[] = {"a", "b", "\xC3\xA9", "\xEF\xBC\xA1", "\xF0\x9F\x98\x80", "\xFF"};
    std::string k;
    for (size_t i = 0; i < parts.size() && i < 3; ++i) k += atoms[parts[i]];
    return k;
  });
}

rc::Gen<StoredValue> gen_value() {
  return rc::gen::oneOf(rc::gen::map(rc::gen::arbitrary<int64_t>(), [](int64_t i) { return StoredValue(i); }),
                        rc::gen::map(rc::gen::arbitrary<std::string>(), [](std::string s) { return StoredValue(std::move(s)); }),
                        rc::gen::map(rc::gen::arbitrary<bool>(), [](bool b) {
                          return StoredValue(StoredValue::Array{StoredValue(b), StoredValue()});
                        }));
}

enum class OpKind { put, put_batch, get, get_batch, del, del_batch, list, delete_all, commit, rollback };

struct Op {
  OpKind kind;
  std::string key;
  StoredValue value;
  KvEntries entries;
  std::vector<std::string> keys;
  ListOptions list;
};

rc::Gen<ListOptions> gen_list_options() {
  return rc::gen::exec([] {
    ListOptions o;
    int bound = *rc::gen::inRange(0, 3);  // none, start, startAfter
    if (bound == 1) o.start = *gen_key();
    if (bound == 2) o.start_after = *gen_key();
    if (*rc::gen::arbitrary<bool>()) o.end = *gen_key();
    if (*rc::gen::inRange(0, 3) == 0) o.prefix = *gen_key();
    o.reverse = *rc::gen::arbitrary<bool>();
    if (*rc::gen::arbitrary<bool>()) o.limit = *rc::gen::inRange<int64_t>(1, 6);
    return o;
  });
}

rc::Gen<Op> gen_op() {
  return rc::gen::exec([] {
    Op op;
    // Weights: mostly writes and reads, some lists, occasional commit/rollback/deleteAll.
    int w = *rc::gen::inRange(0, 100);
    op.kind = w < 25 ? OpKind::put : w < 33 ? OpKind::put_batch : w < 45 ? OpKind::get : w < 50 ? OpKind::get_batch
            : w < 60 ? OpKind::del : w < 65 ? OpKind::del_batch : w < 78 ? OpKind::list : w < 80 ? OpKind::delete_all
            : w < 91 ? OpKind::commit : OpKind::rollback;
    switch (op.kind) {
      case OpKind::put: op.key = *gen_key(); op.value = *gen_value(); break;
      case OpKind::put_batch: {
        int n = *rc::gen::inRange(0, 5);
        for (int i = 0; i < n; ++i) op.entries.emplace_back(*gen_key(), *gen_value());
        break;
      }
      case OpKind::get: case OpKind::del: op.key = *gen_key(); break;
      case OpKind::get_batch: case OpKind::del_batch: {
        int n = *rc::gen::inRange(0, 5);
        for (int i = 0; i < n; ++i) op.keys.push_back(*gen_key());
        break;
      }
      case OpKind::list: op.list = *gen_list_options(); break;
      default: break;
    }
    return op;
  });
}

// The list() semantics written directly from the platform's description (§4.3): keys in
// [start, end) (startAfter exclusive) with the prefix, ascending byte order, reversed on request
// (bounds keep their meaning), then the first `limit` of that order.
KvEntries model_list(const Model& m, const ListOptions& o) {
  KvEntries out;
  for (const auto& [k, v] : m) {
    if (o.start && k < *o.start) continue;
    if (o.start_after && k <= *o.start_after) continue;
    if (o.end && !(k < *o.end)) continue;
    if (o.prefix && k.compare(0, o.prefix->size(), *o.prefix) != 0) continue;
    out.emplace_back(k, v);
  }
  if (o.reverse) std::reverse(out.begin(), out.end());
  if (o.limit && out.size() > static_cast<size_t>(*o.limit)) out.resize(static_cast<size_t>(*o.limit));
  return out;
}

KvEntries everything(const Model& m) { return KvEntries(m.begin(), m.end()); }

void run_sequence(StorageBackend backend) {
  auto ops = *rc::gen::container<std::vector<Op>>(gen_op());
  ObjectStorage s(backend);
  Model current, committed;
  for (const Op& op : ops) {
    switch (op.kind) {
      case OpKind::put:
        s.put(op.key, op.value);
        current[op.key] = op.value;
        break;
      case OpKind::put_batch:
        s.put(op.entries);
        for (const auto& [k, v] : op.entries) current[k] = v;
        break;
      case OpKind::get: {
        auto got = s.get(op.key);
        auto it = current.find(op.key);
        RC_ASSERT(got.has_value() == (it != current.end()));
        if (got) RC_ASSERT(*got == it->second);
        break;
      }
      case OpKind::get_batch: {
        auto got = s.get(op.keys);
        Model expect;
        for (const auto& k : op.keys)
          if (auto it = current.find(k); it != current.end()) expect.emplace(k, it->second);
        RC_ASSERT(got == expect);
        break;
      }
      case OpKind::del: {
        bool existed = s.del(op.key);
        RC_ASSERT(existed == (current.erase(op.key) == 1));
        break;
      }
      case OpKind::del_batch: {
        size_t n = s.del(op.keys);
        size_t expect = 0;
        for (const auto& k : op.keys) expect += current.erase(k);
        RC_ASSERT(n == expect);
        break;
      }
      case OpKind::list:
        RC_ASSERT(s.list(op.list) == model_list(current, op.list));
        break;
      case OpKind::delete_all:
        s.delete_all();
        current.clear();
        break;
      case OpKind::commit:
        s.commit();
        committed = current;
        RC_ASSERT(!s.has_pending_writes());
        RC_ASSERT(s.list() == everything(current));
        break;
      case OpKind::rollback:
        s.rollback();
        current = committed;
        RC_ASSERT(s.list() == everything(committed));  // everything since the last commit is gone
        break;
    }
  }
  RC_ASSERT(s.list() == everything(current));
  RC_ASSERT(s.kv_key_count() == current.size());
  s.rollback();
  RC_ASSERT(s.list() == everything(committed));
}

RC_GTEST_PROP(StorageModelProperty, KvApiMatchesAMapWithACommittedSnapshotOnSqliteBackend, ()) {
  run_sequence(StorageBackend::sqlite);
}

RC_GTEST_PROP(StorageModelProperty, KvApiMatchesAMapWithACommittedSnapshotOnKvBackend, ()) {
  run_sequence(StorageBackend::kv);
}

// transaction()/transaction_sync() inside the sequence: a rolled-back transaction leaves the
// model untouched, a completed one applies its writes (§4.4, §8 item 23).
RC_GTEST_PROP(StorageModelProperty, TransactionsApplyAllOrNothing, ()) {
  ObjectStorage s(StorageBackend::sqlite);
  Model current;
  auto rounds = *rc::gen::inRange(1, 8);
  for (int r = 0; r < rounds; ++r) {
    auto writes = *rc::gen::container<std::vector<std::pair<std::string, StoredValue>>>(
        rc::gen::pair(gen_key(), gen_value()));
    int how = *rc::gen::inRange(0, 4);  // 0 commit via sync, 1 throw via sync, 2 txn ok, 3 txn.rollback()
    Model after = current;
    for (const auto& [k, v] : writes) after[k] = v;
    auto body = [&] {
      for (const auto& [k, v] : writes) s.put(k, v);
    };
    if (how == 0) {
      s.transaction_sync(body);
      current = after;
    } else if (how == 1) {
      try {
        s.transaction_sync([&] {
          body();
          throw std::runtime_error("abort");
        });
      } catch (const std::runtime_error&) {
      }
    } else {
      s.transaction([&](Transaction& txn) {
        for (const auto& [k, v] : writes) txn.put(k, v);
        if (how == 3) txn.rollback();
      });
      if (how == 2) current = after;
    }
    RC_ASSERT(s.list() == everything(current));
  }
}

}  // namespace
