// Durable Object model: alarm changes are storage writes (platform-facts §4.4, §4.6, §8 items 21,
// 22, 26), and the input gate of an open transaction() holds requests that were already running
// (§4.4). Times are exact: durability_latency is 5 ms unless a test says otherwise.
#include <gtest/gtest.h>

#include <chrono>

#include "model/durable_objects/durable_object.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

int64_t ms(int64_t n) { return Duration::millis(n).ns; }

// --- Gap 1: setAlarm()/deleteAlarm() ride in the write batch ------------------------------------

struct AlarmObj : DurableObject {
  static inline std::vector<std::pair<int64_t, AlarmInfo>> fired;
  static inline bool set_in_constructor = false;
  static inline int rearm_in_handler = 0;  // handler runs that set a new alarm, then sleep
  // How a re-arming handler ends: 0 sleeps 10 ms after setting; 1 returns at once; 2 also puts.
  static inline int rearm_mode = 0;
  explicit AlarmObj(DurableObjectState& c) : DurableObject(c) {
    if (set_in_constructor && !c.storage().get_alarm()) c.storage().set_alarm(c.sim().now() + 60s);
  }
  Response fetch(const Request& req) override {
    const std::string p = req.path();
    if (p == "/set") ctx().storage().set_alarm(ctx().sim().now() + 1s);
    if (p == "/set-later") ctx().storage().set_alarm(ctx().sim().now() + 2s);
    if (p == "/delete") ctx().storage().delete_alarm();
    if (p == "/bcw-set")
      ctx().block_concurrency_while([&] {
        ctx().storage().set_alarm(ctx().sim().now() + 1s);
        ctx().sim().sleep_for(1ms);
      });
    auto a = ctx().storage().get_alarm();  // read-your-writes: the change just made, durable or not
    return Response(200, a ? std::to_string(a->ns) : "none");
  }
  void alarm(const AlarmInfo& info) override {
    fired.emplace_back(ctx().sim().now().ns, info);
    if (rearm_in_handler > 0) {
      --rearm_in_handler;
      if (rearm_mode == 2) ctx().storage().put("handled", StoredValue(true));
      ctx().storage().set_alarm(ctx().sim().now() + 100s);
      if (rearm_mode == 0) ctx().sim().sleep_for(10ms);  // the new alarm's batch closes here; durable 5 ms later
    }
  }
};

struct AlarmWorld {
  Simulator sim;
  DurableObjectNamespace ns;
  explicit AlarmWorld(uint64_t seed = 1)
      : sim(SimOptions{.seed = seed}),
        ns(sim, "AL", [](DurableObjectState& c) { return std::make_unique<AlarmObj>(c); }, options()) {
    AlarmObj::fired.clear();
    AlarmObj::set_in_constructor = false;
    AlarmObj::rearm_in_handler = 0;
    AlarmObj::rearm_mode = 0;
  }
  static DurableObjectOptions options() {
    DurableObjectOptions o;
    o.durability_latency = 5ms;
    return o;
  }
  ObjectHost& host() { return ns.host(ns.id_from_name("a")); }
  // Calls `path` at `at`; records the body (or "error: ...") and the reply time.
  void call_at(Time at, std::string path, std::string* body, int64_t* replied = nullptr) {
    sim.spawn("client" + path, [this, at, path, body, replied] {
      sim.sleep_until(at);
      Request r;
      r.url = "https://do" + path;
      try {
        *body = ns.get_by_name("a").fetch(r).body;
      } catch (const DurableObjectError& e) {
        *body = std::string("error: ") + e.what();
      }
      if (replied) *replied = sim.now().ns;
    });
  }
  void crash_at(Time at) {
    sim.call_at(at, [this] { host().crash("machine failure"); });
  }
  std::vector<int64_t> fired_times() const {
    std::vector<int64_t> out;
    for (auto& [t, info] : AlarmObj::fired) out.push_back(t);
    return out;
  }
};

Time at_ms(int64_t n) { return Time::zero() + Duration::millis(n); }

TEST(DurableObjectAlarmBatch, ReplyWaitsUntilTheAlarmChangeIsDurable_S4_4_S4_6) {
  // setAlarm() is a storage write: the output gate holds the reply until it is durable (§4.4),
  // while the object reads its own pending change at once.
  AlarmWorld w;
  std::string body;
  int64_t replied = -1;
  w.call_at(at_ms(0), "/set", &body, &replied);
  w.sim.run();
  EXPECT_EQ(replied, ms(5)) << "the reply left only once the alarm write was durable";
  EXPECT_EQ(body, std::to_string(ms(1000))) << "get_alarm() sees the object's own pending change";
  EXPECT_EQ(w.fired_times(), (std::vector<int64_t>{ms(1000)}));
}

TEST(DurableObjectAlarmBatch, CrashBeforeDurableLosesTheAlarmWithItsReply_S8_item22) {
  AlarmWorld w;
  std::string set_body, get_body;
  w.call_at(at_ms(0), "/set", &set_body);
  w.crash_at(at_ms(3));
  w.call_at(at_ms(10), "/get", &get_body);
  w.sim.run();
  EXPECT_EQ(set_body, "error: machine failure");
  EXPECT_EQ(get_body, "none") << "the alarm change went with its batch";
  EXPECT_TRUE(AlarmObj::fired.empty()) << "a lost setAlarm() never fires";
}

TEST(DurableObjectAlarmBatch, CrashAfterDurableKeepsTheAlarm_S8_item22) {
  AlarmWorld w;
  std::string set_body, get_body;
  w.call_at(at_ms(0), "/set", &set_body);
  w.crash_at(at_ms(6));
  w.call_at(at_ms(10), "/get", &get_body);
  w.sim.run();
  EXPECT_EQ(set_body, std::to_string(ms(1000)));
  EXPECT_EQ(get_body, std::to_string(ms(1000)));
  EXPECT_EQ(w.fired_times(), (std::vector<int64_t>{ms(1000)}));
}

TEST(DurableObjectAlarmBatch, CrashRevertsAnUnconfirmedDeleteOrReplaceToTheDurableAlarm_S8_items22_26) {
  // A durable alarm at 1 s; at 100 ms a request deletes or replaces it and the machine dies 3 ms
  // later, before that change is durable: the alarm is back as it was, and fires at 1 s.
  for (std::string change : {"/delete", "/set-later"}) {
    AlarmWorld w;
    std::string set_body, change_body, get_body;
    w.call_at(at_ms(0), "/set", &set_body);
    w.call_at(at_ms(100), change, &change_body);
    w.crash_at(at_ms(103));
    w.call_at(at_ms(200), "/get", &get_body);
    w.sim.run();
    EXPECT_EQ(change_body, "error: machine failure") << change;
    EXPECT_EQ(get_body, std::to_string(ms(1000))) << change;
    EXPECT_EQ(w.fired_times(), (std::vector<int64_t>{ms(1000)})) << change;
  }
}

TEST(DurableObjectAlarmBatch, FailedCommitLosesTheAlarm_S4_4) {
  AlarmWorld w;
  std::string set_body, get_body;
  w.host().fail_next_commit();
  w.call_at(at_ms(0), "/set", &set_body);
  w.call_at(at_ms(10), "/get", &get_body);
  w.sim.run();
  EXPECT_NE(set_body.find("Internal error in Durable Object storage write"), std::string::npos) << set_body;
  EXPECT_EQ(get_body, "none");
  EXPECT_TRUE(AlarmObj::fired.empty());
}

TEST(DurableObjectAlarmBatch, AlarmSetByTheHandlerIsLostWithItsBatchAndTheHandlerRetries_D6_S8_item26) {
  // The handler starts at 1 s, sets an alarm 100 s ahead (durable at 1.005 s) and sleeps 10 ms.
  // A crash at 1.003 s loses that setting: the interrupted handler is retried 2 s later (D6:
  // at-least-once). A crash at 1.006 s keeps it: the new alarm stands and no retry is due.
  for (int64_t crash_ms : {1003, 1006}) {
    AlarmWorld w;
    AlarmObj::rearm_in_handler = 1;
    std::string set_body;
    w.call_at(at_ms(0), "/set", &set_body);
    w.crash_at(at_ms(crash_ms));
    w.sim.run();
    ASSERT_EQ(AlarmObj::fired.size(), 2u) << crash_ms;
    EXPECT_EQ(AlarmObj::fired[0].first, ms(1000));
    if (crash_ms == 1003) {
      EXPECT_EQ(AlarmObj::fired[1].first, ms(1003 + 2000)) << "retried after the 2 s backoff";
      EXPECT_TRUE(AlarmObj::fired[1].second.is_retry);
      EXPECT_EQ(AlarmObj::fired[1].second.retry_count, 1);
    } else {
      EXPECT_EQ(AlarmObj::fired[1].first, ms(1000 + 100'000)) << "the durable new alarm fired";
      EXPECT_FALSE(AlarmObj::fired[1].second.is_retry);
    }
  }
}

TEST(DurableObjectAlarmBatch, AHandlerReturningWithOnlyItsAlarmChangePendingKeepsIt_D6_S8_item26) {
  // Model assumption (docs/durable-objects.md): the alarm scheduler records a handler's outcome,
  // the alarm it set included, when the handler returns; only its storage writes wait for a round
  // trip. Handler at 1 s re-arms for 101 s and returns; crash at 1.003 s. Without a put the new
  // alarm stands; with a put (durable at 1.005 s) the handler had not completed: both are lost
  // and the handler is retried 2 s after the crash (D6).
  for (bool with_put : {false, true}) {
    AlarmWorld w;
    AlarmObj::rearm_in_handler = 1;
    AlarmObj::rearm_mode = with_put ? 2 : 1;
    std::string set_body;
    w.call_at(at_ms(0), "/set", &set_body);
    w.crash_at(at_ms(1003));
    w.sim.run();
    ASSERT_EQ(AlarmObj::fired.size(), 2u) << with_put;
    EXPECT_EQ(AlarmObj::fired[0].first, ms(1000));
    EXPECT_EQ(AlarmObj::fired[1].first, with_put ? ms(1003 + 2000) : ms(1000 + 100'000)) << with_put;
    EXPECT_EQ(AlarmObj::fired[1].second.retry_count, with_put ? 1 : 0);
    EXPECT_EQ(w.host().storage_engine().get("handled").has_value(), false) << "the put went with the crash, or was never made";
  }
}

TEST(DurableObjectAlarmBatch, AlarmSetInTheConstructorRidesInTheFirstRequestsBatch_S4_4_D7) {
  // The constructor sets an alarm when there is none. Its write is in the first request's batch:
  // that reply waits for it, and a crash before it is durable loses it, so the next construction
  // (at 10 ms) finds no alarm and sets its own.
  for (bool crash : {false, true}) {
    AlarmWorld w;
    AlarmObj::set_in_constructor = true;
    std::string first, second;
    int64_t first_replied = -1;
    w.call_at(at_ms(0), "/get", &first, &first_replied);
    if (crash) w.crash_at(at_ms(3));
    w.call_at(at_ms(10), "/get", &second);
    // Not to quiescence: the alarm handler's own construction (after eviction) sets the next one.
    w.sim.run(RunLimits{.until = at_ms(61'000)});
    if (crash) {
      EXPECT_EQ(first, "error: machine failure");
      EXPECT_EQ(second, std::to_string(ms(10 + 60'000)));
      EXPECT_EQ(w.fired_times(), (std::vector<int64_t>{ms(10 + 60'000)}));
    } else {
      EXPECT_EQ(first_replied, ms(5));
      EXPECT_EQ(first, std::to_string(ms(60'000)));
      EXPECT_EQ(second, std::to_string(ms(60'000)));
      EXPECT_EQ(w.fired_times(), (std::vector<int64_t>{ms(60'000)}));
    }
  }
}

TEST(DurableObjectAlarmBatch, AlarmSetInsideBlockConcurrencyWhileIsLostByACrashBeforeDurable_D8_S8_item22) {
  // Set at 0 inside blockConcurrencyWhile, which then sleeps 1 ms: the batch closes at 0 and is
  // durable at 5 ms. A crash at 3 ms loses it.
  for (bool crash : {false, true}) {
    AlarmWorld w;
    std::string body, get_body;
    int64_t replied = -1;
    w.call_at(at_ms(0), "/bcw-set", &body, &replied);
    if (crash) w.crash_at(at_ms(3));
    w.call_at(at_ms(10), "/get", &get_body);
    w.sim.run();
    if (crash) {
      EXPECT_EQ(body, "error: machine failure");
      EXPECT_EQ(get_body, "none");
      EXPECT_TRUE(AlarmObj::fired.empty());
    } else {
      EXPECT_EQ(replied, ms(5));
      EXPECT_EQ(get_body, std::to_string(ms(1000)));
      EXPECT_EQ(w.fired_times(), (std::vector<int64_t>{ms(1000)}));
    }
  }
}

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

TEST(DurableObjectGaps, SameSeedSameTraceHash) {
  auto alarm_run = [] {
    AlarmWorld w(7);
    AlarmObj::rearm_in_handler = 1;
    std::string a, b, c, d;
    w.call_at(at_ms(0), "/set", &a);
    w.call_at(at_ms(100), "/set-later", &b);
    w.crash_at(at_ms(103));
    w.call_at(at_ms(200), "/delete", &c);
    w.call_at(at_ms(300), "/set", &d);
    w.crash_at(at_ms(1303));
    w.sim.run();
    return std::make_pair(w.sim.trace_hash(), w.fired_times());
  };
  auto first = alarm_run(), second = alarm_run();
  EXPECT_EQ(first.first, second.first);
  EXPECT_EQ(first.second, second.second);
  EXPECT_FALSE(first.second.empty());
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
  ObjectStorage& engine() { return host().storage_engine(); }
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
  bool has(const char* key) { return engine().get(key).has_value(); }
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
  EXPECT_FALSE(w.engine().has_pending_writes());
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
    w.engine().put("outside", StoredValue(int64_t{5}));
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
  EXPECT_FALSE(w.engine().in_transaction());
  EXPECT_FALSE(w.engine().has_pending_writes());
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
