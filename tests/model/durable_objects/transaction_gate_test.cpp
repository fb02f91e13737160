// The input gate of an open transaction() (platform-facts §4.4, D8): a request that was already
// running waits for the gate while another request's transaction holds it, also next to
// block_concurrency_while; a reset while the transaction holds the gate ends it and the object
// goes on; abandoning a transaction rolls back only it. Times are exact: durability_latency is 5 ms
// unless a test says otherwise.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §4.4: /durable-objects/api/storage-api/ (D3), /durable-objects/reference/glossary/ (D11),
//     https://blog.cloudflare.com/durable-objects-easy-fast-correct-choose-three/ (D12)
//   D8 (blockConcurrencyWhile): /durable-objects/api/state/
#include <gtest/gtest.h>

#include <chrono>

#include "model/durable_objects/durable_object.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

int64_t ms(int64_t n) { return Duration::millis(n).ns; }

// --- Gap 2: a request already running is held while another's transaction holds the gate ----------

struct Interleaver : DurableObject {
  static inline int64_t wrote_at = -1;
  using DurableObject::DurableObject;
  Response fetch(const Request& req) override {
    DurableObjectStorage& s = ctx().storage();
    if (req.path() == "/sleep-then-put") {
      ctx().sim().sleep_for(5ms);  // stands in for an outgoing fetch: its completion is an event
      s.put("late", StoredValue(int64_t{1}));
      wrote_at = ctx().sim().now().ns;
      return Response(200, "wrote late");
    }
    try {
      s.transaction([&](Transaction& t) {
        t.put("mine", StoredValue(int64_t{1}));
        ctx().sim().sleep_for(10ms);  // suspends with the transaction open
        throw std::runtime_error("changed my mind");
      });
    } catch (const std::runtime_error&) {
    }
    return Response(200, "rolled back");
  }
};

struct InterleaveRun {
  int64_t late_replied = -1, txn_replied = -1, wrote_at = -1;
  bool late_kept = false, mine_kept = true;
  uint64_t trace_hash = 0;
};

InterleaveRun run_interleave(uint64_t seed) {
  Simulator sim(SimOptions{.seed = seed});
  DurableObjectOptions o;
  o.durability_latency = 2ms;
  DurableObjectNamespace ns(sim, "IL", [](DurableObjectState& c) { return std::make_unique<Interleaver>(c); }, o);
  Interleaver::wrote_at = -1;
  InterleaveRun out;
  sim.spawn("first", [&] {
    Request r;
    r.url = "https://do/sleep-then-put";
    EXPECT_EQ(ns.get_by_name("x").fetch(r).status, 200);
    out.late_replied = sim.now().ns;
  });
  sim.spawn("second", [&] {
    sim.sleep_for(1ms);  // the first request is already asleep when this transaction begins
    Request r;
    r.url = "https://do/txn";
    EXPECT_EQ(ns.get_by_name("x").fetch(r).status, 200);
    out.txn_replied = sim.now().ns;
  });
  sim.run();
  ObjectStorage& s = ns.host(ns.id_from_name("x")).storage_engine();
  out.late_kept = s.get("late").has_value();
  out.mine_kept = s.get("mine").has_value();
  out.wrote_at = Interleaver::wrote_at;
  out.trace_hash = sim.trace_hash();
  return out;
}

TEST(DurableObjectTxnGate, ARequestResumingDuringAnotherRequestsOpenTransactionWaitsForTheGate_S4_4) {
  // 0 ms: the first request sleeps 5 ms. 1 ms: the second opens a transaction, writes, sleeps
  // 10 ms with it open (it holds the input gate from here), then throws at 11 ms: rollback. The
  // first request's sleep ends at 5 ms, but the closed gate holds it: it writes at 11 ms, once the
  // transaction is gone, so the rollback cannot take its write. Its reply leaves after its own
  // round trip (11 + 2 ms); the second's batch was durable at 11 ms.
  InterleaveRun r = run_interleave(1);
  EXPECT_FALSE(r.mine_kept) << "the transaction rolled back";
  EXPECT_TRUE(r.late_kept) << "an acknowledged write must not vanish with another request's rollback";
  EXPECT_EQ(r.wrote_at, ms(11)) << "it waited for the gate";
  EXPECT_EQ(r.txn_replied, ms(11));
  EXPECT_EQ(r.late_replied, ms(13));
}

TEST(DurableObjectTxnGate, SameSeedSameTraceHash) {
  EXPECT_EQ(run_interleave(7).trace_hash, run_interleave(7).trace_hash);
}

}  // namespace

namespace {

// --- The transaction gate next to block_concurrency_while (§4.4, D8) -----------------------------
// A request already running (A) opens a transaction() and suspends inside it while another request
// (C) holds the input gate in block_concurrency_while. Only the fiber that opened the transaction
// may hold the gate for it: C must not inherit it (that deadlocked the object: A held at its next
// storage call, every new request at the input gate).

struct GateMix : DurableObject {
  static inline int64_t c_wrote_at = -1;
  using DurableObject::DurableObject;
  Response fetch(const Request& req) override {
    DurableObjectStorage& s = ctx().storage();
    Simulator& sim = ctx().sim();
    const std::string p = req.path();
    if (p == "/txn" || p == "/txn-throw") {
      sim.sleep_for(2ms);  // already running when C closes the gate at 1 ms; wakes inside C's bcw
      s.transaction([&](Transaction& t) {
        t.put("a", StoredValue(int64_t{1}));
        sim.sleep_for(10ms);  // stands in for an outgoing call: suspends with the transaction open
        t.put("a2", StoredValue(int64_t{2}));
        if (p == "/txn-throw") throw std::runtime_error("txn failed");
      });
      return Response(200, "txn");
    }
    if (p == "/bcw") {
      ctx().block_concurrency_while([&] {
        sim.sleep_for(4ms);
        s.put("c", StoredValue(int64_t{3}));  // inside A's open transaction: held until it is over
        c_wrote_at = sim.now().ns;
      });
      return Response(200, "bcw");
    }
    s.put(p.substr(1), StoredValue(int64_t{4}));
    return Response(200, "put " + p.substr(1));
  }
};

struct GateMixWorld {
  struct Reply {
    std::string body;
    int64_t at = -1;
  };
  Simulator sim;
  DurableObjectNamespace ns;
  explicit GateMixWorld(uint64_t seed = 1)
      : sim(SimOptions{.seed = seed}),
        ns(sim, "GM", [](DurableObjectState& c) { return std::make_unique<GateMix>(c); }, options()) {
    GateMix::c_wrote_at = -1;
  }
  static DurableObjectOptions options() {
    DurableObjectOptions o;
    o.durability_latency = 2ms;
    return o;
  }
  ObjectHost& host() { return ns.host(ns.id_from_name("g")); }
  ObjectStorage& storage() { return host().storage_engine(); }
  void call_at(int64_t at_ms_, std::string path, Reply* out) {
    sim.spawn("client" + path, [this, at_ms_, path, out] {
      sim.sleep_until(Time::zero() + Duration::millis(at_ms_));
      Request r;
      r.url = "https://do" + path;
      try {
        Response resp = ns.get_by_name("g").fetch(r);
        out->body = std::to_string(resp.status) + " " + resp.body;
      } catch (const DurableObjectError& e) {
        out->body = std::string("reset: ") + e.what();
      } catch (const std::exception& e) {
        out->body = std::string("error: ") + e.what();
      }
      out->at = sim.now().ns;
    });
  }
  // Runs to quiescence, but never forever: a deadlocked object keeps its round trips going (the
  // open transaction defers every commit), so a bug shows up as a time limit, not a hang.
  RunResult run() { return sim.run(RunLimits{.until = Time::zero() + 60s}); }  // idle eviction is at ~10 s
  bool has(const char* key) { return storage().get(key).has_value(); }
};

TEST(DurableObjectTxnGate, ATransactionOpenedDuringAnotherRequestsBlockConcurrencyWhileDoesNotDeadlock_S4_4_D8) {
  // 0 ms: A sleeps 2 ms. 1 ms: C closes the input gate (bcw) and sleeps 4 ms. 2 ms: A wakes (a
  // request already running is not held by bcw), opens a transaction, writes, sleeps 10 ms with it
  // open: from here A holds the gate for its transaction. 5 ms: C's put is held (it would write
  // inside A's transaction). 7 ms: E arrives and waits at the input gate. 12 ms: A writes again and
  // ends its transaction; the round trip due at 12 ms (they run every 2 ms from 2 ms, each
  // deferred while the transaction is open) makes it durable: A replies at 12 ms. Then C writes at
  // 12 ms, its bcw ends, E starts; C's and E's writes go in the next round trip, 12 -> 14 ms.
  // D, at 30 ms, is served as usual (durable at 32 ms).
  GateMixWorld w;
  GateMixWorld::Reply a, c, e, d;
  w.call_at(0, "/txn", &a);
  w.call_at(1, "/bcw", &c);
  w.call_at(7, "/e", &e);
  w.call_at(30, "/d", &d);
  RunResult r = w.run();
  EXPECT_EQ(r.reason, StopReason::quiescent) << r.describe();
  EXPECT_EQ(a.body, "200 txn");
  EXPECT_EQ(c.body, "200 bcw");
  EXPECT_EQ(e.body, "200 put e");
  EXPECT_EQ(d.body, "200 put d");
  EXPECT_EQ(GateMix::c_wrote_at, ms(12)) << "C's write waited until A's transaction was over";
  EXPECT_EQ(a.at, ms(12));
  EXPECT_EQ(c.at, ms(14));
  EXPECT_EQ(e.at, ms(14));
  EXPECT_EQ(d.at, ms(32)) << "new requests are served afterwards";
  for (const char* k : {"a", "a2", "c", "e", "d"}) EXPECT_TRUE(w.has(k)) << k;
  EXPECT_FALSE(w.storage().has_pending_writes());
  EXPECT_EQ(w.host().requests_in_flight(), 0u);
}

TEST(DurableObjectTxnGate, ATransactionThatThrowsDuringAnotherRequestsBlockConcurrencyWhileReleasesTheGate_S4_4_D8) {
  // As above, but A's transaction throws at 12 ms: its writes roll back and the error reaches A's
  // caller at 12 ms (with the round trip due then: an error reply waits for the output gate too);
  // C, E and D go on as before.
  GateMixWorld w;
  GateMixWorld::Reply a, c, e, d;
  w.call_at(0, "/txn-throw", &a);
  w.call_at(1, "/bcw", &c);
  w.call_at(7, "/e", &e);
  w.call_at(30, "/d", &d);
  RunResult r = w.run();
  EXPECT_EQ(r.reason, StopReason::quiescent) << r.describe();
  EXPECT_EQ(a.body, "error: txn failed");
  EXPECT_EQ(c.body, "200 bcw");
  EXPECT_EQ(e.body, "200 put e");
  EXPECT_EQ(d.body, "200 put d");
  EXPECT_EQ(GateMix::c_wrote_at, ms(12));
  EXPECT_EQ(a.at, ms(12));
  EXPECT_EQ(c.at, ms(14));
  EXPECT_EQ(e.at, ms(14));
  EXPECT_EQ(d.at, ms(32));
  EXPECT_FALSE(w.has("a"));
  EXPECT_FALSE(w.has("a2"));
  for (const char* k : {"c", "e", "d"}) EXPECT_TRUE(w.has(k)) << k;
  EXPECT_EQ(w.host().requests_in_flight(), 0u);
}

TEST(DurableObjectTxnGate, AResetWhileTheTransactionHoldsTheGateEndsItAndTheObjectGoesOn_S4_4_D8) {
  // The same start; at 8 ms the object resets (A asleep in its transaction, C held at its put, E
  // at the input gate): all three fail. The dead isolate's transaction is over at once: its write
  // is rolled back, and a write made right after the reset by a platform layer (outside any
  // request, before the killed fibers have unwound) is not part of it and stays. D, at 20 ms, is
  // served on a fresh instance, durable at 22 ms.
  GateMixWorld w;
  GateMixWorld::Reply a, c, e, d;
  w.call_at(0, "/txn", &a);
  w.call_at(1, "/bcw", &c);
  w.call_at(7, "/e", &e);
  w.call_at(20, "/d", &d);
  bool outside_written = false;
  w.sim.spawn("platform", [&] {
    w.sim.sleep_until(Time::zero() + 8ms);
    w.host().reset("isolate restarted");
    w.storage().put("outside", StoredValue(int64_t{5}));
    outside_written = true;
  });
  RunResult r = w.run();
  EXPECT_EQ(r.reason, StopReason::quiescent) << r.describe();
  EXPECT_TRUE(outside_written);
  EXPECT_EQ(a.body, "reset: isolate restarted");
  EXPECT_EQ(c.body, "reset: isolate restarted");
  EXPECT_EQ(e.body, "reset: isolate restarted");
  EXPECT_EQ(a.at, ms(8));
  EXPECT_EQ(c.at, ms(8));
  EXPECT_EQ(e.at, ms(8));
  EXPECT_EQ(d.body, "200 put d");
  EXPECT_EQ(d.at, ms(22));
  EXPECT_EQ(GateMix::c_wrote_at, -1) << "C was still held when the reset came";
  EXPECT_FALSE(w.has("a")) << "the unfinished transaction's write is rolled back";
  EXPECT_FALSE(w.has("c"));
  EXPECT_TRUE(w.has("outside")) << "a write after the reset is not rolled back with the dead transaction";
  EXPECT_TRUE(w.has("d"));
  EXPECT_FALSE(w.storage().in_transaction());
  EXPECT_FALSE(w.storage().has_pending_writes());
  EXPECT_EQ(w.host().requests_in_flight(), 0u);
  EXPECT_EQ(w.host().constructions(), 2u);
}

TEST(StorageTransactionOwner, AbandonRollsBackOnlyTheTransactionAndItsLaterStepsAreNoOps) {
  // What a reset uses: the transaction's changes go, the writes before it stay pending, and the
  // dead transaction's own end (here: a throw, whose rollback would otherwise undo "after") is a
  // no-op. The owner is the fiber that opened the outermost transaction.
  Simulator sim;
  ObjectStorage s(StorageBackend::sqlite, StorageOptions{}, &sim, "t");
  uint32_t owner_inside = 0, nested_owner = 0, fiber = 0;
  sim.spawn("owner", [&] {
    fiber = sim.current().id();
    s.put("pre", StoredValue(int64_t{1}));
    EXPECT_EQ(s.transaction_owner(), 0u);
    try {
      s.transaction([&](Transaction& t) {
        t.put("in", StoredValue(int64_t{2}));
        owner_inside = s.transaction_owner();
        s.transaction_sync([&] { nested_owner = s.transaction_owner(); });
        s.abandon_transactions();
        EXPECT_FALSE(s.in_transaction());
        s.put("after", StoredValue(int64_t{3}));
        throw std::runtime_error("the dead fiber unwinds");
      });
    } catch (const std::runtime_error&) {
    }
  });
  sim.run();
  EXPECT_EQ(owner_inside, fiber);
  EXPECT_EQ(nested_owner, fiber) << "a nested transaction keeps the outermost owner";
  EXPECT_EQ(s.transaction_owner(), 0u);
  EXPECT_TRUE(s.get("pre").has_value());
  EXPECT_FALSE(s.get("in").has_value());
  EXPECT_TRUE(s.get("after").has_value()) << "the stale transaction's rollback must not undo it";
  EXPECT_TRUE(s.has_pending_writes());
  s.commit();
  EXPECT_FALSE(s.has_pending_writes());
}

TEST(DurableObjectTxnGate, BlockConcurrencyWhileAndTransactionRunIsDeterministic) {
  auto run = [] {
    GateMixWorld w(3);
    GateMixWorld::Reply a, c, e, d;
    w.call_at(0, "/txn", &a);
    w.call_at(1, "/bcw", &c);
    w.call_at(7, "/e", &e);
    w.call_at(30, "/d", &d);
    w.run();
    return w.sim.trace_hash();
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
