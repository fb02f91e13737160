// Durable Object alarms in the write batch: setAlarm()/deleteAlarm() are storage writes that ride
// in the batch with the request's other writes, so a reply waits until the alarm change is durable
// and a crash or failed commit before then loses it with its reply (platform-facts §4.4, §4.6,
// §8 items 21, 22, 26). Times are exact: durability_latency is 5 ms.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §4.4 and §8 items 21-22: /durable-objects/api/storage-api/ (D3), /durable-objects/reference/glossary/
//     (D11)
//   §4.6 and §8 item 26: /durable-objects/api/alarms/ (D6), cloudflare/cloudflare-docs
//     src/content/partials/durable-objects/api-storage-alarms.mdx (D5a)
//   D6, D7, D8: /durable-objects/api/alarms/, /durable-objects/concepts/durable-object-lifecycle/,
//     /durable-objects/api/state/
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
}

}  // namespace
