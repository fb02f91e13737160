// Durable Object model tests. Each cites the platform fact it checks (platform-facts.md).
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   D10 (ids): /durable-objects/api/namespace/; 64 hex digits also in @cloudflare/containers@0.3.7
//     dist/lib/utils.js getRandom (its comment)
//   §3 (a stub creates nothing): /durable-objects/concepts/durable-object-lifecycle/ (D7),
//     /durable-objects/api/namespace/ (D10); one live instance per id:
//     /durable-objects/platform/known-issues/ (D9)
//   §4.1 (10 GB per object): /durable-objects/platform/limits/ (D1)
//   §4.4 (output gate, interleaving across outbound waits): /durable-objects/api/storage-api/ (D3),
//     /durable-objects/reference/glossary/ (D11), /durable-objects/api/state/ (D8),
//     https://blog.cloudflare.com/durable-objects-easy-fast-correct-choose-three/ (D12),
//     https://blog.cloudflare.com/sqlite-in-durable-objects/ (D13)
//   §8 items 21-22: /durable-objects/api/storage-api/ (D3), /durable-objects/reference/glossary/ (D11)
//   D11 (output gate): /durable-objects/reference/glossary/
//   D8 and §8 item 25 (blockConcurrencyWhile): /durable-objects/api/state/
//   D7 (idle objects evicted after 70-140 s): /durable-objects/concepts/durable-object-lifecycle/
//   D5a, D6 and §8 item 26 (alarms): cloudflare/cloudflare-docs
//     src/content/partials/durable-objects/api-storage-alarms.mdx (D5a, rendered on
//     /durable-objects/api/sqlite-storage-api/); /durable-objects/api/alarms/ (D6)
//   D5 and §8 item 27 (deleteAll and the alarm): cloudflare/cloudflare-docs
//     src/content/partials/durable-objects/api-storage-other-methods.mdx (rendered on
//     /durable-objects/api/sqlite-storage-api/)
#include "model/durable_objects/durable_object.h"

#include <gtest/gtest.h>

#include <chrono>

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

// The app's ctx.storage is the platform's surface (ctx.storage.sql.exec, get/put/delete/list,
// transactions, alarms: developers.cloudflare.com/durable-objects/api/storage-api/); the engine's
// commit, rollback and operation gate are out of its reach.
template <class S> concept HasSqlSurface = requires(S& s) { s.sql().exec("SELECT 1"); s.sql().database_size(); s.get_alarm(); };
template <class S> concept HasCommit = requires(S& s) { s.commit(); };
template <class S> concept HasRollback = requires(S& s) { s.rollback(); };
template <class S> concept HasAbandon = requires(S& s) { s.abandon_transactions(); };
template <class S> concept HasOperationGate = requires(S& s) { s.set_operation_gate([] {}); };
template <class S> concept HasBareExec = requires(S& s) { s.exec("SELECT 1"); };
template <class C> concept HasCtxAlarm = requires(C& c) { c.set_alarm(Time::zero()); };
static_assert(HasSqlSurface<DurableObjectStorage>);
static_assert(!HasCommit<DurableObjectStorage> && !HasRollback<DurableObjectStorage>);
static_assert(!HasAbandon<DurableObjectStorage> && !HasOperationGate<DurableObjectStorage>);
static_assert(!HasBareExec<DurableObjectStorage>, "SQL is ctx.storage.sql.exec");
static_assert(!HasCtxAlarm<DurableObjectState>, "alarms are ctx.storage.setAlarm");
static_assert(HasCommit<ObjectStorage>, "the engine, the host's, still commits");

// A counter object: an in-memory count (lost on reset/eviction) and a stored count (kept).
struct Counter : DurableObject {
  int memory = 0;
  static inline int constructed = 0;
  explicit Counter(DurableObjectState& c) : DurableObject(c) { ++constructed; }
  Response fetch(const Request& req) override {
    std::string p = req.path();
    if (p == "/inc") {
      ++memory;
      int64_t stored = 0;
      if (auto v = ctx().storage().get("n")) stored = v->as_int();
      ctx().storage().put("n", StoredValue(stored + 1));
      return Response(200, std::to_string(stored + 1));
    }
    if (p == "/memory") return Response(200, std::to_string(memory));
    if (p == "/stored") {
      auto v = ctx().storage().get("n");
      return Response(200, v ? std::to_string(v->as_int()) : "none");
    }
    if (p == "/sleep") {  // stands in for an outbound fetch: opens the input gate
      ctx().sim().sleep_for(1s);
      return Response(200, "slept");
    }
    if (p == "/bcw-sleep") {
      ctx().block_concurrency_while([&] { ctx().sim().sleep_for(1s); });
      return Response(200, "bcw");
    }
    if (p == "/bcw-throw") {
      ctx().block_concurrency_while([&] { throw std::runtime_error("nope"); });
      return Response(200, "unreachable");
    }
    if (p == "/bcw-forever") {
      ctx().block_concurrency_while([&] { ctx().sim().sleep_for(1h); });
      return Response(200, "unreachable");
    }
    if (p == "/throw") throw std::runtime_error("app error");
    if (p == "/two-puts") {
      ctx().storage().put("a", StoredValue(int64_t{1}));
      ctx().storage().put("b", StoredValue(int64_t{1}));
      return Response(200, "ok");
    }
    return Response(404, "no route");
  }
};

struct Fixture {
  Simulator sim;
  DurableObjectNamespace ns;
  explicit Fixture(DurableObjectOptions o = {})
      : sim(SimOptions{}), ns(sim, "COUNTER", [](DurableObjectState& c) { return std::make_unique<Counter>(c); }, o) {
    Counter::constructed = 0;
  }
  Request req(std::string path) {
    Request r;
    r.url = "https://do" + path;
    return r;
  }
};

TEST(DurableObjectId, FromNameIsDeterministicAnd64HexDigits_D10) {
  Fixture f;
  auto a = f.ns.id_from_name("main"), b = f.ns.id_from_name("main"), c = f.ns.id_from_name("other");
  EXPECT_EQ(a.hex(), b.hex());
  EXPECT_NE(a.hex(), c.hex());
  EXPECT_EQ(a.hex().size(), 64u);
  EXPECT_EQ(a.hex().find_first_not_of("0123456789abcdef"), std::string::npos);
  Simulator sim2;
  DurableObjectNamespace other(sim2, "OTHER", [](DurableObjectState& st) { return std::make_unique<Counter>(st); }, {});
  EXPECT_NE(other.id_from_name("main").hex(), a.hex()) << "ids are per namespace";
}

TEST(DurableObjectId, FromStringRejectsMalformedAndForeignIds_D10) {
  Fixture f;
  auto a = f.ns.id_from_name("main");
  EXPECT_EQ(f.ns.id_from_string(a.hex()).hex(), a.hex());
  EXPECT_THROW(f.ns.id_from_string(a.hex().substr(1)), std::invalid_argument);
  std::string upper = a.hex();
  upper[0] = 'A';
  EXPECT_THROW(f.ns.id_from_string(upper), std::invalid_argument);
  EXPECT_THROW(f.ns.id_from_string(std::string(64, 'g')), std::invalid_argument);
  Simulator sim2;
  DurableObjectNamespace other(sim2, "OTHER", [](DurableObjectState& st) { return std::make_unique<Counter>(st); }, {});
  try {
    f.ns.id_from_string(other.id_from_name("main").hex());
    FAIL() << "a foreign id was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("another namespace"), std::string::npos) << e.what();
  }
}

TEST(DurableObjectId, UniqueIdsDifferAndFollowTheSeed) {
  Fixture f1, f2;
  auto a = f1.ns.new_unique_id(), b = f1.ns.new_unique_id();
  EXPECT_NE(a.hex(), b.hex());
  EXPECT_EQ(f2.ns.new_unique_id().hex(), a.hex());
  EXPECT_EQ(f1.ns.id_from_string(a.hex()).hex(), a.hex());
}

TEST(DurableObject, StubCreatesNothingUntilTheFirstRequest_S3) {
  Fixture f;
  auto stub = f.ns.get_by_name("main");
  EXPECT_EQ(f.ns.find_host(stub.id()), nullptr);
  EXPECT_EQ(Counter::constructed, 0);
  std::string body;
  f.sim.spawn("client", [&] { body = stub.fetch(f.req("/inc")).body; });
  f.sim.run();
  EXPECT_EQ(body, "1");
  EXPECT_EQ(Counter::constructed, 1);
}

TEST(DurableObject, OneLiveInstancePerId_S3) {
  Fixture f;
  std::string mem;
  f.sim.spawn("client", [&] {
    f.ns.get_by_name("main").fetch(f.req("/inc"));
    f.ns.get(f.ns.id_from_name("main")).fetch(f.req("/inc"));
    mem = f.ns.get_by_name("main").fetch(f.req("/memory")).body;
  });
  f.sim.run();
  EXPECT_EQ(mem, "2");
  EXPECT_EQ(Counter::constructed, 1);
}

TEST(DurableObject, ReplyWaitsForTheWriteToBeDurable_OutputGate_S4_4) {
  DurableObjectOptions o;
  o.durability_latency = 5ms;
  Fixture f(o);
  Time write_reply, read_reply;
  f.sim.spawn("client", [&] {
    f.ns.get_by_name("main").fetch(f.req("/inc"));
    write_reply = f.sim.now();
    f.ns.get_by_name("main").fetch(f.req("/stored"));
    read_reply = f.sim.now();
  });
  f.sim.run();
  EXPECT_EQ(write_reply.ns, Duration(5ms).ns);
  EXPECT_EQ(read_reply.ns, Duration(5ms).ns) << "a read-only reply is not held";
}

TEST(DurableObject, CrashBeforeDurableLosesWriteAndReply_S8_item22) {
  DurableObjectOptions o;
  o.durability_latency = 5ms;
  Fixture f(o);
  std::string error;
  bool replied = false;
  f.sim.spawn("client", [&] {
    try {
      f.ns.get_by_name("main").fetch(f.req("/inc"));
      replied = true;
    } catch (const DurableObjectError& e) {
      error = e.what();
    }
  });
  f.sim.call_at(Time::zero() + 3ms, [&] { f.ns.host(f.ns.id_from_name("main")).crash("machine failure"); });
  std::string stored;
  f.sim.spawn("checker", [&] {
    f.sim.sleep_for(10ms);
    stored = f.ns.get_by_name("main").fetch(f.req("/stored")).body;
  });
  f.sim.run();
  EXPECT_FALSE(replied);
  EXPECT_EQ(error, "machine failure");
  EXPECT_EQ(stored, "none") << "the unconfirmed write is gone with its reply";
}

TEST(DurableObject, CrashAfterDurableKeepsWriteAndReply_S8_item22) {
  DurableObjectOptions o;
  o.durability_latency = 5ms;
  Fixture f(o);
  bool replied = false;
  f.sim.spawn("client", [&] {
    f.ns.get_by_name("main").fetch(f.req("/inc"));
    replied = true;
  });
  f.sim.call_at(Time::zero() + 6ms, [&] { f.ns.host(f.ns.id_from_name("main")).crash("machine failure"); });
  std::string stored;
  f.sim.spawn("checker", [&] {
    f.sim.sleep_for(10ms);
    stored = f.ns.get_by_name("main").fetch(f.req("/stored")).body;
  });
  f.sim.run();
  EXPECT_TRUE(replied);
  EXPECT_EQ(stored, "1");
}

TEST(DurableObject, CoalescedWritesAreAllOrNothing_S8_item21) {
  for (int64_t crash_ms : {1, 3}) {
    DurableObjectOptions o;
    o.durability_latency = 2ms;
    Fixture f(o);
    f.sim.spawn("client", [&] {
      try {
        f.ns.get_by_name("main").fetch(f.req("/two-puts"));
      } catch (const DurableObjectError&) {
      }
    });
    f.sim.call_at(Time::zero() + Duration::millis(crash_ms), [&] { f.ns.host(f.ns.id_from_name("main")).crash("crash"); });
    f.sim.run();
    ObjectStorage& s = f.ns.host(f.ns.id_from_name("main")).storage_engine();
    EXPECT_EQ(s.get("a").has_value(), s.get("b").has_value()) << "crash at " << crash_ms << "ms";
    EXPECT_EQ(s.get("a").has_value(), crash_ms == 3);
  }
}

TEST(DurableObject, RequestsInterleaveAcrossOutboundWaits_S4_4) {
  Fixture f;
  std::vector<std::pair<std::string, int64_t>> done;
  f.sim.spawn("slow", [&] {
    f.ns.get_by_name("main").fetch(f.req("/sleep"));
    done.emplace_back("slow", f.sim.now().ns);
  });
  f.sim.spawn("fast", [&] {
    f.sim.sleep_for(100ms);
    f.ns.get_by_name("main").fetch(f.req("/memory"));
    done.emplace_back("fast", f.sim.now().ns);
  });
  f.sim.run();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], std::make_pair(std::string("fast"), Duration(100ms).ns));
  EXPECT_EQ(done[1], std::make_pair(std::string("slow"), Duration(1s).ns));
}

TEST(DurableObject, BlockConcurrencyWhileHoldsOtherRequests_D8) {
  Fixture f;
  int64_t fast_done = -1;
  f.sim.spawn("slow", [&] { f.ns.get_by_name("main").fetch(f.req("/bcw-sleep")); });
  f.sim.spawn("fast", [&] {
    f.sim.sleep_for(100ms);
    f.ns.get_by_name("main").fetch(f.req("/memory"));
    fast_done = f.sim.now().ns;
  });
  f.sim.run();
  EXPECT_EQ(fast_done, Duration(1s).ns);
}

TEST(DurableObject, BlockConcurrencyWhileThrowResetsTheObject_D8_S8_item25) {
  Fixture f;
  std::string error, memory, stored;
  f.sim.spawn("client", [&] {
    auto stub = f.ns.get_by_name("main");
    stub.fetch(f.req("/inc"));
    try {
      stub.fetch(f.req("/bcw-throw"));
    } catch (const DurableObjectError& e) {
      error = e.what();
    }
    memory = stub.fetch(f.req("/memory")).body;
    stored = stub.fetch(f.req("/stored")).body;
  });
  f.sim.run();
  EXPECT_NE(error.find("blockConcurrencyWhile"), std::string::npos) << error;
  EXPECT_EQ(memory, "0") << "in-memory state is gone";
  EXPECT_EQ(stored, "1") << "storage survives a reset";
  EXPECT_EQ(Counter::constructed, 2);
}

TEST(DurableObject, BlockConcurrencyWhileOverrunResetsAt30s_D8) {
  Fixture f;
  int64_t failed_at = -1;
  f.sim.spawn("client", [&] {
    try {
      f.ns.get_by_name("main").fetch(f.req("/bcw-forever"));
    } catch (const DurableObjectError&) {
      failed_at = f.sim.now().ns;
    }
  });
  f.sim.run();
  EXPECT_EQ(failed_at, Duration(30s).ns);
}

TEST(DurableObject, AppExceptionReachesCallerWithoutReset) {
  Fixture f;
  std::string error;
  f.sim.spawn("client", [&] {
    auto stub = f.ns.get_by_name("main");
    stub.fetch(f.req("/inc"));
    try {
      stub.fetch(f.req("/throw"));
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    EXPECT_EQ(stub.fetch(f.req("/memory")).body, "1");
  });
  f.sim.run();
  EXPECT_EQ(error, "app error");
  EXPECT_EQ(Counter::constructed, 1);
}

TEST(DurableObject, IdleObjectIsEvictedAndReconstructed_D7) {
  Fixture f;
  std::string before, after;
  f.sim.spawn("client", [&] {
    auto stub = f.ns.get_by_name("main");
    stub.fetch(f.req("/inc"));
    f.sim.sleep_for(5s);
    before = stub.fetch(f.req("/memory")).body;
    f.sim.sleep_for(11s);
    after = stub.fetch(f.req("/memory")).body;
    EXPECT_EQ(stub.fetch(f.req("/stored")).body, "1");
  });
  f.sim.run();
  EXPECT_EQ(before, "1");
  EXPECT_EQ(after, "0");
  EXPECT_EQ(Counter::constructed, 2);
}

TEST(DurableObject, FailedCommitResetsAndLosesTheWrite) {
  Fixture f;
  std::string error;
  f.sim.spawn("client", [&] {
    auto stub = f.ns.get_by_name("main");
    f.ns.host(stub.id()).fail_next_commit();
    try {
      stub.fetch(f.req("/inc"));
    } catch (const DurableObjectError& e) {
      error = e.what();
    }
    EXPECT_EQ(stub.fetch(f.req("/stored")).body, "none");
  });
  f.sim.run();
  EXPECT_NE(error.find("Internal error in Durable Object storage write"), std::string::npos);
}

TEST(DurableObject, RpcCallReturnsValue) {
  Fixture f;
  int got = 0;
  f.sim.spawn("client", [&] {
    auto stub = f.ns.get_by_name("main");
    stub.fetch(f.req("/inc"));
    got = stub.call<Counter>([](Counter& c) { return c.memory * 10; });
  });
  f.sim.run();
  EXPECT_EQ(got, 10);
}

// --- alarms -----------------------------------------------------------------------------------------

struct Alarmed : DurableObject {
  static inline std::vector<std::pair<int64_t, AlarmInfo>> fired;
  static inline int fail_times = 0;
  explicit Alarmed(DurableObjectState& c) : DurableObject(c) {}
  Response fetch(const Request& req) override {
    if (req.path() == "/set") ctx().storage().set_alarm(ctx().sim().now() + 5s);
    if (req.path() == "/set-past") ctx().storage().set_alarm(Time::zero());
    if (req.path() == "/set-twice") {
      ctx().storage().set_alarm(ctx().sim().now() + 5s);
      ctx().storage().set_alarm(ctx().sim().now() + 7s);
    }
    if (req.path() == "/delete") ctx().storage().delete_alarm();
    if (req.path() == "/delete-all") ctx().storage().delete_all();
    auto a = ctx().storage().get_alarm();
    return Response(200, a ? std::to_string(a->ns) : "none");
  }
  void alarm(const AlarmInfo& info) override {
    fired.emplace_back(ctx().sim().now().ns, info);
    if (fail_times > 0) {
      --fail_times;
      throw std::runtime_error("alarm failed");
    }
  }
};

struct AlarmFixture {
  Simulator sim;
  DurableObjectNamespace ns;
  explicit AlarmFixture(DurableObjectOptions o = {})
      : ns(sim, "ALARMED", [](DurableObjectState& c) { return std::make_unique<Alarmed>(c); }, o) {
    Alarmed::fired.clear();
    Alarmed::fail_times = 0;
  }
  std::string call(std::string path) {
    Request r;
    r.url = "https://do" + path;
    return ns.get_by_name("a").fetch(r).body;
  }
};

TEST(DurableObjectAlarm, FiresAtItsTimeAndCountsAsSetUntilThen_D5a) {
  AlarmFixture f;
  std::string before, after;
  f.sim.spawn("client", [&] {
    f.call("/set");
    before = f.call("/get");
    f.sim.sleep_for(6s);
    after = f.call("/get");
  });
  f.sim.run();
  ASSERT_EQ(Alarmed::fired.size(), 1u);
  EXPECT_EQ(Alarmed::fired[0].first, Duration(5s).ns);
  EXPECT_FALSE(Alarmed::fired[0].second.is_retry);
  EXPECT_EQ(before, std::to_string(Duration(5s).ns));
  EXPECT_EQ(after, "none");
}

TEST(DurableObjectAlarm, SetReplacesAndPastFiresAsap_S8_item26) {
  AlarmFixture f;
  f.sim.spawn("client", [&] { f.call("/set-twice"); });
  f.sim.run();
  ASSERT_EQ(Alarmed::fired.size(), 1u);
  EXPECT_EQ(Alarmed::fired[0].first, Duration(7s).ns);
  AlarmFixture g;
  g.sim.spawn("client", [&] {
    g.sim.sleep_for(1s);
    g.call("/set-past");
  });
  g.sim.run();
  ASSERT_EQ(Alarmed::fired.size(), 1u);
  EXPECT_EQ(Alarmed::fired[0].first, Duration(1s).ns);
}

TEST(DurableObjectAlarm, DeleteCancels) {
  AlarmFixture f;
  f.sim.spawn("client", [&] {
    f.call("/set");
    f.call("/delete");
  });
  f.sim.run();
  EXPECT_TRUE(Alarmed::fired.empty());
}

TEST(DurableObjectAlarm, RetriesWithDoublingBackoffThenGivesUp_D6) {
  AlarmFixture f;
  Alarmed::fail_times = 100;
  f.sim.spawn("client", [&] { f.call("/set"); });
  f.sim.run();
  // First attempt at 5 s, then 6 retries after 2, 4, 8, 16, 32, 64 s (D6).
  std::vector<int64_t> want_s = {5, 7, 11, 19, 35, 67, 131};
  ASSERT_EQ(Alarmed::fired.size(), want_s.size());
  for (size_t i = 0; i < want_s.size(); ++i) {
    EXPECT_EQ(Alarmed::fired[i].first, Duration::seconds(want_s[i]).ns) << i;
    EXPECT_EQ(Alarmed::fired[i].second.retry_count, static_cast<int>(i));
    EXPECT_EQ(Alarmed::fired[i].second.is_retry, i > 0);
  }
}

TEST(DurableObjectAlarm, RetryStopsOnSuccess_D6) {
  AlarmFixture f;
  Alarmed::fail_times = 2;
  f.sim.spawn("client", [&] { f.call("/set"); });
  f.sim.run();
  ASSERT_EQ(Alarmed::fired.size(), 3u);
  EXPECT_EQ(Alarmed::fired[2].first, Duration(11s).ns);
}

TEST(DurableObjectAlarm, DeleteAllDeletesAlarmPerCompatibilityDate_D5_S8_item27) {
  for (bool deletes : {true, false}) {
    DurableObjectOptions o;
    o.delete_all_deletes_alarm = deletes;
    AlarmFixture f(o);
    f.sim.spawn("client", [&] {
      f.call("/set");
      f.call("/delete-all");
    });
    f.sim.run();
    EXPECT_EQ(Alarmed::fired.size(), deletes ? 0u : 1u);
  }
}

TEST(DurableObject, SameSeedSameTraceHash) {
  auto run = [] {
    DurableObjectOptions o;
    Fixture f(o);
    for (int c = 0; c < 5; ++c)
      f.sim.spawn("client", [&, c] {
        Random r = f.sim.random("client" + std::to_string(c));
        for (int i = 0; i < 20; ++i) {
          f.sim.sleep_for(Duration::millis(r.uniform_int(0, 3)));
          f.ns.get_by_name(c % 2 ? "a" : "b").fetch(f.req(i % 3 ? "/inc" : "/sleep"));
        }
      });
    f.sim.call_at(Time::zero() + 7ms, [&] { f.ns.host(f.ns.id_from_name("a")).crash("crash"); });
    f.sim.run();
    return f.sim.trace_hash();
  };
  EXPECT_EQ(run(), run());
}

}  // namespace

namespace {

struct TxnObject : DurableObject {
  using DurableObject::DurableObject;
  Response fetch(const Request& req) override {
    DurableObjectStorage& s = ctx().storage();
    if (req.path() == "/txn-across-wait") {
      s.transaction([&](Transaction& t) {
        t.put("x", StoredValue(int64_t{1}));
        ctx().sim().sleep_for(10ms);  // the transaction stays open across a suspension
        t.put("y", StoredValue(int64_t{2}));
      });
      return Response(200, "ok");
    }
    if (req.path() == "/fill") {
      s.sql().exec("CREATE TABLE IF NOT EXISTS blobs (b BLOB)");
      try {
        for (int i = 0; i < 1000; ++i) s.sql().exec("INSERT INTO blobs VALUES (zeroblob(4000))");
      } catch (const StorageError&) {
        return Response(507, "full");  // the app handles the error and replies
      }
      return Response(200, "fit");
    }
    if (req.path() == "/put") {
      s.put("kept", StoredValue(int64_t{7}));
      return Response(200, "ok");
    }
    auto v = s.get("kept");
    return Response(200, v ? std::to_string(v->as_int()) : "none");
  }
};

TEST(DurableObject, ReplyAfterATransactionOpenAcrossAWaitWaitsForItsCommit_S4_4) {
  Simulator sim;
  DurableObjectOptions o;
  o.durability_latency = 2ms;
  DurableObjectNamespace ns(sim, "TXN", [](DurableObjectState& c) { return std::make_unique<TxnObject>(c); }, o);
  int64_t replied = -1;
  sim.spawn("client", [&] {
    Request r;
    r.url = "https://do/txn-across-wait";
    ns.get_by_name("t").fetch(r);
    replied = sim.now().ns;
  });
  sim.run();
  // Written at 0 and 10 ms in one transaction: the round trips during the transaction commit
  // nothing (a commit never splits it), so the reply cannot leave before the transaction ends.
  EXPECT_GE(replied, Duration(10ms).ns);
  EXPECT_LE(replied, Duration(12ms).ns);
  ObjectStorage& s = ns.host(ns.id_from_name("t")).storage_engine();
  EXPECT_FALSE(s.has_pending_writes());
  EXPECT_TRUE(s.get("x").has_value());
  EXPECT_TRUE(s.get("y").has_value());
}

TEST(DurableObject, StorageFullLosesUnconfirmedWritesAndTheirReplies_S4_1) {
  Simulator sim;
  DurableObjectOptions o;
  o.storage.max_database_bytes = 64 * 4096;  // a tiny per-object limit
  DurableObjectNamespace ns(sim, "TXN", [](DurableObjectState& c) { return std::make_unique<TxnObject>(c); }, o);
  std::string fill_error, kept;
  sim.spawn("client", [&] {
    auto stub = ns.get_by_name("t");
    Request r;
    r.url = "https://do/put";
    stub.fetch(r);  // durable before the storage fills
    r.url = "https://do/fill";
    try {
      stub.fetch(r);
    } catch (const DurableObjectError& e) {
      fill_error = e.what();
    }
    r.url = "https://do/get";
    kept = stub.fetch(r).body;
  });
  sim.run();
  EXPECT_NE(fill_error.find("size limit"), std::string::npos) << "the app's 507 reply must not escape: " << fill_error;
  EXPECT_EQ(kept, "7") << "committed data survives";
}

}  // namespace

namespace {

struct Sender : DurableObject {
  static inline int64_t received_at = -1;
  using DurableObject::DurableObject;
  Response fetch(const Request& req) override {
    if (req.path() == "/receive") {
      received_at = ctx().sim().now().ns;
      return Response(200, "got it");
    }
    ctx().storage().put("sent", StoredValue(true));
    Request out;
    out.url = "https://do/receive";
    DurableObjectNamespace& self_ns = *ns;
    return self_ns.get_by_name("receiver").fetch(out);
  }
  static inline DurableObjectNamespace* ns = nullptr;
};

TEST(DurableObject, OutgoingMessagesWaitForEarlierWrites_OutputGate_D11) {
  Simulator sim;
  DurableObjectOptions o;
  o.durability_latency = 4ms;
  DurableObjectNamespace ns(sim, "SEND", [](DurableObjectState& c) { return std::make_unique<Sender>(c); }, o);
  Sender::ns = &ns;
  Sender::received_at = -1;
  sim.spawn("client", [&] {
    Request r;
    r.url = "https://do/send";
    ns.get_by_name("sender").fetch(r);
  });
  sim.run();
  EXPECT_EQ(Sender::received_at, Duration(4ms).ns) << "the subrequest left only once the put was durable";
}

}  // namespace

namespace {

struct SelfRearming : DurableObject {
  static inline std::vector<int64_t> fired;
  using DurableObject::DurableObject;
  Response fetch(const Request&) override {
    ctx().storage().set_alarm(ctx().sim().now());
    return Response(200, "set");
  }
  void alarm(const AlarmInfo&) override {
    fired.push_back(ctx().sim().now().ns);
    if (fired.size() < 3) ctx().storage().set_alarm(ctx().sim().now());  // due at once, while this handler still runs
    ctx().sim().sleep_for(10s);
  }
};

TEST(DurableObjectAlarm, AnAlarmDueWhileItsHandlerRunsFiresOnceTheHandlerEnds_D6) {
  Simulator sim;
  DurableObjectNamespace ns(sim, "RE", [](DurableObjectState& c) { return std::make_unique<SelfRearming>(c); }, {});
  SelfRearming::fired.clear();
  sim.spawn("client", [&] { ns.get_by_name("x").fetch({}); });
  RunResult r = sim.run();
  EXPECT_EQ(SelfRearming::fired, (std::vector<int64_t>{0, Duration(10s).ns, Duration(20s).ns}));
  EXPECT_LT(r.events, 200u) << "no busy loop while a handler sleeps";
}

}  // namespace

namespace {

struct OddThrower : DurableObject {
  static inline int alarms = 0;
  using DurableObject::DurableObject;
  Response fetch(const Request& req) override {
    if (req.path() == "/alarm") ctx().storage().set_alarm(ctx().sim().now() + 1s);
    if (req.path() == "/throw-int") throw 42;
    return Response(200, "ok");
  }
  void alarm(const AlarmInfo&) override {
    if (++alarms == 1) throw 7;  // not a std::exception: still a failure to retry
  }
};

TEST(DurableObject, AnythingThrownReachesTheCallerAndTheObjectGoesOn) {
  Simulator sim;
  DurableObjectNamespace ns(sim, "ODD", [](DurableObjectState& c) { return std::make_unique<OddThrower>(c); }, {});
  OddThrower::alarms = 0;
  int caught = 0;
  std::string after;
  sim.spawn("client", [&] {
    auto stub = ns.get_by_name("x");
    Request r;
    r.url = "https://do/throw-int";
    try {
      stub.fetch(r);
    } catch (int v) {
      caught = v;
    }
    r.url = "https://do/alarm";
    after = stub.fetch(r).body;
  });
  sim.run();
  EXPECT_EQ(caught, 42);
  EXPECT_EQ(after, "ok") << "the object still serves requests";
  EXPECT_EQ(OddThrower::alarms, 2) << "the failed alarm was retried";
  EXPECT_EQ(ns.host(ns.id_from_name("x")).requests_in_flight(), 0u);
}

}  // namespace

namespace {

struct TxnRollback : DurableObject {
  using DurableObject::DurableObject;
  Response fetch(const Request& req) override {
    DurableObjectStorage& s = ctx().storage();
    if (req.path() == "/txn-then-rollback") {
      try {
        s.transaction([&](Transaction& t) {
          t.put("mine", StoredValue(int64_t{1}));
          ctx().sim().sleep_for(10ms);  // suspends inside the transaction
          throw std::runtime_error("changed my mind");
        });
      } catch (const std::runtime_error&) {
      }
      return Response(200, "rolled back");
    }
    s.put("other", StoredValue(int64_t{2}));
    return Response(200, "wrote other");
  }
};

TEST(DurableObject, ARequestArrivingDuringAnOpenTransactionIsNotRolledBackWithIt_S4_4) {
  Simulator sim;
  DurableObjectNamespace ns(sim, "TXR", [](DurableObjectState& c) { return std::make_unique<TxnRollback>(c); }, {});
  int64_t other_replied = -1;
  sim.spawn("first", [&] {
    Request r;
    r.url = "https://do/txn-then-rollback";
    ns.get_by_name("x").fetch(r);
  });
  sim.spawn("second", [&] {
    sim.sleep_for(1ms);  // arrives while the transaction is open
    Request r;
    r.url = "https://do/put";
    EXPECT_EQ(ns.get_by_name("x").fetch(r).status, 200);
    other_replied = sim.now().ns;
  });
  sim.run();
  ObjectStorage& s = ns.host(ns.id_from_name("x")).storage_engine();
  EXPECT_FALSE(s.get("mine").has_value());
  EXPECT_TRUE(s.get("other").has_value()) << "an acknowledged write must not vanish with another request's rollback";
  EXPECT_GE(other_replied, Duration(10ms).ns) << "it waited for the transaction to end";
}

}  // namespace
