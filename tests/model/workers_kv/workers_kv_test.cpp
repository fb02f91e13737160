// Workers KV: edge caches and staleness, limits and their errors, expiration, list paging — after
// platform-facts §6, §8 items 34-36, §9 "KV read-your-write across regions". Source tags [K1]..[K6]
// are the facts' legend (K1 limits, K2 how KV works, K3 reads, K4 writes, K5 list, K6 bulk reads).
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §6 and §9 "KV read-your-write across regions": /kv/concepts/how-kv-works/ (K2),
//     /kv/api/read-key-value-pairs/ (K3); limits and one write per second per key: /kv/platform/limits/
//     (K1); writes, expiration, last write wins: /kv/api/write-key-value-pairs/ (K4); list:
//     /kv/api/list-keys/ (K5); bulk reads: /changelog/2025-04-10-kv-bulk-reads/ (K6)
//   the error for a second write within 1 s (429 here) is UNCONFIRMED (platform-facts §6, §10); its
//     text follows workerd's error form, an assumption (see model/workers_kv/workers_kv.h)
//   §8 item 34: /kv/concepts/how-kv-works/ (K2), /kv/api/read-key-value-pairs/ (K3)
//   §8 item 35: /kv/api/write-key-value-pairs/ (K4), /kv/platform/limits/ (K1),
//     /kv/api/read-key-value-pairs/ (K3); "Invalid expiration_ttl of N" as observed in
//     https://github.com/DIYgod/RSSHub/commit/17b9b9ff. The cacheTtl minimum is 60 s (older K3) or
//     30 s (K1); how a smaller one is rejected (400 here) is UNCONFIRMED. Capping a cacheTtl at
//     100 years is cfsim's bound, not a platform fact
//   §8 item 36: /kv/api/list-keys/ (K5)
#include "model/workers_kv/workers_kv.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "model/worker/worker.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

// No latency: operations called outside a fiber take no time anyway, this makes fibers exact too.
KvOptions exact() {
  KvOptions o;
  o.read_hit_latency.median = Duration::zero();
  o.central_latency.median = Duration::zero();
  o.read_hit_latency.sigma = 0.0;
  o.central_latency.sigma = 0.0;
  return o;
}

// Moves virtual time to `t` (outside any fiber): an empty event at t, then run.
void advance_to(Simulator& sim, Duration t) {
  sim.call_at(Time::zero() + t, [] {});
  sim.run();
  ASSERT_EQ(sim.now().ns, t.ns);
}

Duration before(Duration d) { return d - Duration::nanos(1); }  // the last instant before d

std::string error_of(const std::function<void()>& fn, int* status = nullptr) {
  try {
    fn();
  } catch (const KvError& e) {
    if (status) *status = e.status();
    return e.what();
  }
  return "(no error)";
}

TEST(WorkersKv, ReadYourWriteInTheWritersLocation_S6_K2) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  EXPECT_EQ(kv.get("WNAM", "k"), std::nullopt);  // a miss, now cached (negatively) in WNAM for 60 s
  advance_to(sim, 5s);
  kv.put("WNAM", "k", "v1");
  EXPECT_EQ(kv.get("WNAM", "k"), "v1") << "the writer's location sees its write at once (default)";

  // "usually, not guaranteed" [K2]: with write_visible_locally off, the writer is as stale as anyone.
  Simulator sim2;
  KvOptions o = exact();
  o.write_visible_locally = false;
  KvNamespace kv2(sim2, "CACHE", o);
  EXPECT_EQ(kv2.get("WNAM", "k"), std::nullopt);
  advance_to(sim2, 5s);
  kv2.put("WNAM", "k", "v1");
  EXPECT_EQ(kv2.get("WNAM", "k"), std::nullopt) << "its own cached miss still answers until 60 s";
  advance_to(sim2, 60s);
  EXPECT_EQ(kv2.get("WNAM", "k"), "v1");
}

TEST(WorkersKv, AnotherLocationIsStaleForExactlyCacheTtlAfterItsRead_S8_item34) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  kv.put("WNAM", "k", "v1");
  advance_to(sim, 10s);
  EXPECT_EQ(kv.get("EU", "k"), "v1");  // miss: EU caches v1 until 10 s + 60 s
  advance_to(sim, 20s);
  kv.put("WNAM", "k", "v2");
  EXPECT_EQ(kv.get("WNAM", "k"), "v2");
  EXPECT_EQ(kv.get("APAC", "k"), "v2") << "a location holding no copy reads the central store at once";
  advance_to(sim, before(70s));
  EXPECT_EQ(kv.get("EU", "k"), "v1") << "stale until exactly its read + cacheTtl";
  advance_to(sim, 70s);
  EXPECT_EQ(kv.get("EU", "k"), "v2") << "fresh from the first read at its read + cacheTtl";
}

TEST(WorkersKv, ALongerCacheTtlKeepsALocationStaleLonger_S8_item34_K3) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  kv.put("WNAM", "k", "v1");
  EXPECT_EQ(kv.get("EU", "k", {.cache_ttl_s = 300}), "v1");
  advance_to(sim, 2s);
  kv.put("WNAM", "k", "v2");
  advance_to(sim, before(300s));
  EXPECT_EQ(kv.get("EU", "k"), "v1") << "a later read with the default TTL does not move the deadline";
  advance_to(sim, 300s);
  EXPECT_EQ(kv.get("EU", "k"), "v2");
}

TEST(WorkersKv, AMissIsCachedSoACreatePropagatesLikeAnUpdate_S8_item34) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  EXPECT_EQ(kv.get("EU", "new"), std::nullopt);
  EXPECT_EQ(kv.get("ASIA", "new", {.cache_ttl_s = 30}), std::nullopt);
  advance_to(sim, 1s);
  kv.put("WNAM", "new", "created");
  EXPECT_EQ(kv.central_value("new"), "created");
  advance_to(sim, before(30s));
  EXPECT_EQ(kv.get("ASIA", "new"), std::nullopt);
  advance_to(sim, 30s);
  EXPECT_EQ(kv.get("ASIA", "new"), "created") << "cacheTtl 30 s: its negative entry ran out";
  advance_to(sim, before(60s));
  EXPECT_EQ(kv.get("EU", "new"), std::nullopt) << "the cached miss hides the create for 60 s";
  advance_to(sim, 60s);
  EXPECT_EQ(kv.get("EU", "new"), "created");
}

TEST(WorkersKv, ADeleteIsStaleElsewhereToo_S6_K2) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  kv.put("WNAM", "k", "v");
  EXPECT_EQ(kv.get("EU", "k"), "v");
  advance_to(sim, 5s);
  kv.del("WNAM", "k");
  EXPECT_EQ(kv.get("WNAM", "k"), std::nullopt);
  EXPECT_EQ(kv.get("EU", "k"), "v");
  advance_to(sim, 60s);
  EXPECT_EQ(kv.get("EU", "k"), std::nullopt);
}

TEST(WorkersKv, KeyLimitsAndTheirErrors_S6_K1_S8_item35) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  int status = -1;
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "", "v"); }, &status), "Key name cannot be empty.");
  EXPECT_EQ(status, 0) << "a TypeError in workerd, before any request";
  EXPECT_EQ(error_of([&] { kv.get("WNAM", "."); }), "\".\" is not allowed as a key name.");
  EXPECT_EQ(error_of([&] { kv.del("WNAM", ".."); }), "\"..\" is not allowed as a key name.");
  EXPECT_EQ(error_of([&] { kv.put("WNAM", std::string(513, 'k'), "v"); }, &status),
            "KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.");
  EXPECT_EQ(status, 414);
  EXPECT_EQ(error_of([&] { kv.get("WNAM", std::string(513, 'k')); }),
            "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.");
  // Bytes, not characters: 257 x "é" (2 bytes each) is 514 bytes.
  std::string accents;
  for (int i = 0; i < 257; ++i) accents += "\xc3\xa9";
  EXPECT_EQ(error_of([&] { kv.put("WNAM", accents, "v"); }),
            "KV PUT failed: 414 UTF-8 encoded length of 514 exceeds key length limit of 512.");
  kv.put("WNAM", std::string(512, 'k'), "v");  // exactly the limit is fine
  EXPECT_EQ(kv.get("WNAM", std::string(512, 'k')), "v");
  EXPECT_THROW(kv.get("", "k"), std::invalid_argument) << "a location must be named";
  EXPECT_EQ(kv.writes(), 1u) << "rejected writes land nowhere";
}

TEST(WorkersKv, ValueAndMetadataLimits_S6_K1) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  int status = -1;
  const size_t mib25 = 25u * 1024 * 1024;
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "big", std::string(mib25 + 1, 'x')); }, &status),
            "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400.");
  EXPECT_EQ(status, 413);
  kv.put("WNAM", "big", std::string(mib25, 'x'));
  EXPECT_EQ(kv.get("WNAM", "big")->size(), mib25);

  const std::string meta1024 = "\"" + std::string(1022, 'm') + "\"";  // a JSON string of 1024 bytes
  ASSERT_EQ(meta1024.size(), 1024u);
  kv.put("WNAM", "m", "v", {.metadata_json = meta1024});
  EXPECT_EQ(kv.get_with_metadata("WNAM", "m")->metadata_json, meta1024);
  const std::string meta1025 = "\"" + std::string(1023, 'm') + "\"";
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "m2", "v", {.metadata_json = meta1025}); }),
            "KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024.");
  EXPECT_EQ(kv.central_value("m2"), std::nullopt);
}

TEST(WorkersKv, ExpirationTtlBelow60Throws_S8_item35) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  int status = -1;
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "k", "v", {.expiration_ttl_s = 59}); }, &status),
            "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60.");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "k", "v", {.expiration_ttl_s = 0}); }),
            "KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify integer greater than 0.");
  EXPECT_EQ(kv.central_value("k"), std::nullopt);
  EXPECT_EQ(kv.writes(), 0u);
  kv.put("WNAM", "k", "v", {.expiration_ttl_s = 60});
  EXPECT_EQ(kv.central_value("k"), "v");
}

TEST(WorkersKv, AbsoluteExpirationMustBeAtLeast60sAhead_S6_K4) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  advance_to(sim, 10s);
  const int64_t now_s = kv.epoch_seconds(sim.now());
  EXPECT_EQ(now_s, kv.options().epoch_at_start_s + 10);
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "k", "v", {.expiration = now_s}); }),
            fmt::format("KV PUT failed: 400 Invalid expiration of {}. Please specify integer greater than the "
                        "current number of seconds since the UNIX epoch.",
                        now_s));
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "k", "v", {.expiration = now_s + 59}); }),
            fmt::format("KV PUT failed: 400 Invalid expiration of {}. Expiration times must be at least 60 "
                        "seconds in the future.",
                        now_s + 59));
  kv.put("WNAM", "k", "v", {.expiration = now_s + 60});
  advance_to(sim, before(70s));
  EXPECT_EQ(kv.get("EU", "k"), "v");
  advance_to(sim, 70s);
  EXPECT_EQ(kv.get("WNAM", "k"), std::nullopt) << "expired at exactly its epoch second";
}

TEST(WorkersKv, ExpiredKeysReadAsMissingAndExpirationBeatsCacheTtl_S6_K4) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  kv.put("WNAM", "k", "v", {.expiration_ttl_s = 60, .metadata_json = R"({"a":1})"});
  advance_to(sim, 30s);
  EXPECT_EQ(kv.get("EU", "k", {.cache_ttl_s = 3600}), "v");  // EU caches it until 3630 s
  advance_to(sim, before(60s));
  EXPECT_EQ(kv.get("EU", "k"), "v");
  advance_to(sim, 60s);
  EXPECT_EQ(kv.get("EU", "k"), std::nullopt) << "the cached copy expires with the key, not with cacheTtl";
  EXPECT_EQ(kv.get("WNAM", "k"), std::nullopt);
  EXPECT_EQ(kv.central_value("k"), std::nullopt);
}

TEST(WorkersKv, CacheTtlBelowTheMinimumIsRejected_S6_K1_K3_S8_item35) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());  // current docs: minimum 30 s
  int status = -1;
  EXPECT_EQ(error_of([&] { kv.get("EU", "k", {.cache_ttl_s = 29}); }, &status),
            "KV GET failed: 400 Invalid cache_ttl of 29. Cache TTL must be at least 30.");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(kv.get("EU", "k", {.cache_ttl_s = 30}), std::nullopt);

  Simulator sim2;
  KvOptions older = exact();
  older.min_cache_ttl = 60s;  // older docs [K3]
  KvNamespace kv2(sim2, "CACHE", older);
  EXPECT_EQ(error_of([&] { kv2.get("EU", "k", {.cache_ttl_s = 59}); }),
            "KV GET failed: 400 Invalid cache_ttl of 59. Cache TTL must be at least 60.");
  EXPECT_EQ(kv2.get("EU", "k", {.cache_ttl_s = 60}), std::nullopt);
  KvOptions bad = exact();
  bad.default_cache_ttl = 10s;
  EXPECT_THROW(KvNamespace(sim2, "X", bad), std::invalid_argument);
}

TEST(WorkersKv, OneWritePerSecondPerKey_S6_K1) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  kv.put("WNAM", "k", "v1");
  kv.put("WNAM", "other", "x");  // another key is not limited by k
  advance_to(sim, before(1s));
  int status = -1;
  EXPECT_EQ(error_of([&] { kv.put("EU", "k", "v2"); }, &status), "KV PUT failed: 429 Too Many Requests");
  EXPECT_EQ(status, 429);
  EXPECT_EQ(error_of([&] { kv.del("EU", "k"); }), "KV DELETE failed: 429 Too Many Requests")
      << "a delete is a write too";
  EXPECT_EQ(kv.central_value("k"), "v1") << "the rejected write changed nothing";
  advance_to(sim, 1s);
  kv.put("EU", "k", "v2");
  EXPECT_EQ(kv.central_value("k"), "v2");
}

TEST(WorkersKv, BulkGetIsOneOperationOfAtMost100Keys_S6_K3_K6) {
  Simulator sim;
  auto sink = std::make_shared<MemorySink>();
  sim.trace().add_sink(sink);
  KvNamespace kv(sim, "CACHE", exact());
  kv.put("WNAM", "a", "1", {.metadata_json = "{\"m\":true}"});
  kv.put("WNAM", "b", "2");
  auto got = kv.get_bulk("EU", {"a", "b", "missing"});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got["a"], "1");
  EXPECT_EQ(got["b"], "2");
  EXPECT_EQ(got["missing"], std::nullopt) << "missing keys are in the map, as null";
  auto with = kv.get_bulk_with_metadata("EU", {"a"});
  EXPECT_EQ(with["a"]->metadata_json, "{\"m\":true}");
  int bulk_records = 0;
  for (const auto& r : sink->records)
    if (r.category == "kv" && r.name == "get_bulk") ++bulk_records;
  EXPECT_EQ(bulk_records, 2) << "one operation per call, not one per key";

  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back("k" + std::to_string(i));
  EXPECT_EQ(kv.get_bulk("EU", keys).size(), 100u);
  keys.push_back("k100");
  EXPECT_EQ(error_of([&] { kv.get_bulk("EU", keys); }), "KV GET_BULK failed: 400 You can request a maximum of 100 keys");
  EXPECT_EQ(error_of([&] { kv.get_bulk("EU", {}); }), "KV GET_BULK failed: 400 You must request a minimum of 1 key");
  // Each key of a bulk read is cached like a single read: EU now holds "a" until 60 s.
  advance_to(sim, 2s);
  kv.put("WNAM", "a", "new");
  EXPECT_EQ(kv.get("EU", "a"), "1");
}

KvOptions no_lag() {
  KvOptions o = exact();
  o.list_lag = Duration::zero();
  return o;
}

// Every key under `prefix`, paging on list_complete as [K5] says to.
std::vector<std::string> list_all(KvNamespace& kv, const std::string& prefix, int limit, int* pages = nullptr) {
  std::vector<std::string> names;
  KvListOptions o{.prefix = prefix, .limit = limit, .cursor = ""};
  for (int page = 1;; ++page) {
    KvListResult r = kv.list(o);
    for (auto& k : r.keys) names.push_back(k.name);
    if (pages) *pages = page;
    if (r.list_complete) break;
    o.cursor = r.cursor;  // and keep the prefix
  }
  return names;
}

TEST(WorkersKv, ListPagesByLimitCursorAndPrefix_S8_item36_K5) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", no_lag());
  for (int i = 0; i < 25; ++i) kv.put("WNAM", fmt::format("user:{:02}", i), "v");
  kv.put("WNAM", "other:x", "v");
  kv.put("WNAM", "v:after", "v");  // sorts after every "user:" key

  KvListResult p1 = kv.list({.prefix = "user:", .limit = 10, .cursor = ""});
  ASSERT_EQ(p1.keys.size(), 10u);
  EXPECT_EQ(p1.keys.front().name, "user:00");
  EXPECT_EQ(p1.keys.back().name, "user:09");
  EXPECT_FALSE(p1.list_complete);
  ASSERT_FALSE(p1.cursor.empty());
  KvListResult p2 = kv.list({.prefix = "user:", .limit = 10, .cursor = p1.cursor});
  ASSERT_EQ(p2.keys.size(), 10u);
  EXPECT_EQ(p2.keys.front().name, "user:10");
  KvListResult p3 = kv.list({.prefix = "user:", .limit = 10, .cursor = p2.cursor});
  ASSERT_EQ(p3.keys.size(), 5u);
  EXPECT_EQ(p3.keys.back().name, "user:24");
  EXPECT_TRUE(p3.list_complete);
  EXPECT_TRUE(p3.cursor.empty());

  // Dropping the prefix with the cursor runs past it [K5: keep passing prefix].
  KvListResult stray = kv.list({.prefix = "", .limit = 10, .cursor = p2.cursor});
  ASSERT_EQ(stray.keys.size(), 6u);
  EXPECT_EQ(stray.keys.back().name, "v:after");

  EXPECT_EQ(kv.list().keys.size(), 27u) << "default limit 1000";
  int pages = 0;
  EXPECT_EQ(list_all(kv, "user:", 7, &pages).size(), 25u);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(error_of([&] { kv.list({.prefix = "", .limit = 1001, .cursor = ""}); }),
            "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000.");
  EXPECT_EQ(kv.list({.prefix = "", .limit = 1000, .cursor = ""}).keys.size(), 27u);
  EXPECT_THROW(kv.list({.prefix = "", .limit = 10, .cursor = "garbage"}), KvError);
}

TEST(WorkersKv, ListOrdersByUtf8BytesAndCarriesExpirationAndMetadata_S6_K5) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", no_lag());
  for (const char* k : {"\xc3\xa9", "b", "Z", "a"}) kv.put("WNAM", k, "v");
  kv.put("WNAM", "m", "v", {.expiration_ttl_s = 120, .metadata_json = "[1,2]"});
  auto r = kv.list();
  std::vector<std::string> names;
  for (auto& k : r.keys) names.push_back(k.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Z", "a", "b", "m", "\xc3\xa9"})) << "byte order: 0xC3 after 'm'";
  EXPECT_EQ(r.keys[3].expiration, kv.options().epoch_at_start_s + 120);
  EXPECT_EQ(r.keys[3].metadata_json, "[1,2]");
  EXPECT_EQ(r.keys[0].expiration, std::nullopt);
  EXPECT_EQ(r.keys[0].metadata_json, std::nullopt);
}

TEST(WorkersKv, AnEmptyPageMayComeWithListCompleteFalse_S8_item36) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", no_lag());
  for (const char* k : {"a", "b", "c", "d", "e"}) kv.put("WNAM", k, "v");
  advance_to(sim, 2s);
  for (const char* k : {"a", "b", "c"}) kv.del("WNAM", k);
  advance_to(sim, 3s);
  KvListResult first = kv.list({.prefix = "", .limit = 3, .cursor = ""});
  EXPECT_TRUE(first.keys.empty()) << "three tombstones fill the page";
  EXPECT_FALSE(first.list_complete);

  // A loop that stops at an empty page loses d and e; looping on list_complete finds them.
  EXPECT_EQ(list_all(kv, "", 3), (std::vector<std::string>{"d", "e"}));

  // Tombstones go after list_tombstone_retention (60 s): then the first page is full of keys.
  advance_to(sim, 62s);
  KvListResult later = kv.list({.prefix = "", .limit = 3, .cursor = ""});
  EXPECT_EQ(later.keys.size(), 2u);
  EXPECT_TRUE(later.list_complete);
}

TEST(WorkersKv, ListLagsWritesBy60s_S6_K5) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());  // default list_lag 60 s
  kv.put("WNAM", "k", "v1");
  advance_to(sim, before(60s));
  EXPECT_TRUE(kv.list().keys.empty());
  advance_to(sim, 60s);
  ASSERT_EQ(kv.list().keys.size(), 1u);
  kv.del("WNAM", "k");
  EXPECT_EQ(kv.list().keys.size(), 1u) << "the deleted key is still listed for 60 s";
  advance_to(sim, 120s);
  EXPECT_TRUE(kv.list().keys.empty());
}

// Two racing writes: the one that reaches the central store last wins, whichever was called last
// [K4]. Latencies are random here, so over a few seeds both orders of arrival occur.
TEST(WorkersKv, LastWriteWinsByArrivalAtTheCentralStore_S6_K4) {
  int reversed = 0;
  for (uint64_t seed = 1; seed <= 16; ++seed) {
    Simulator sim(SimOptions{.seed = seed});
    auto sink = std::make_shared<MemorySink>();
    sim.trace().add_sink(sink);
    KvOptions o;
    o.min_write_interval = Duration::zero();  // both writes within 1 s on purpose
    o.read_hit_latency.sigma = 1.0;
    o.central_latency.sigma = 1.0;
    KvNamespace kv(sim, "CACHE", o);
    sim.spawn("first", [&] { kv.put("WNAM", "k", "first"); });
    sim.spawn("second", [&] {
      sim.sleep_for(1ms);
      kv.put("EU", "k", "second");
    });
    sim.run();
    std::string landed_last;
    for (const auto& r : sink->records)
      if (r.category == "kv" && r.name == "put") landed_last = r.field_text("loc") == "WNAM" ? "first" : "second";
    ASSERT_FALSE(landed_last.empty());
    EXPECT_EQ(kv.central_value("k"), landed_last) << "seed " << seed;
    EXPECT_EQ(kv.get("APAC", "k"), landed_last);
    if (landed_last == "first") ++reversed;
  }
  EXPECT_GT(reversed, 0) << "some seed must land the earlier call last";
  EXPECT_LT(reversed, 16);
}

TEST(WorkersKv, OperationsFromFibersTakeTheirLatency) {
  Simulator sim;
  KvOptions o;
  o.read_hit_latency.sigma = 0.0;
  o.central_latency.sigma = 0.0;
  KvNamespace kv(sim, "CACHE", o);
  std::vector<int64_t> took;
  sim.spawn("worker", [&] {
    auto timed = [&](const std::function<void()>& fn) {
      const Time t0 = sim.now();
      fn();
      took.push_back((sim.now() - t0).millis_count());
    };
    timed([&] { kv.put("WNAM", "k", "v"); });
    timed([&] { EXPECT_EQ(kv.get("EU", "k"), "v"); });  // miss
    timed([&] { EXPECT_EQ(kv.get("EU", "k"), "v"); });  // hit
    timed([&] { kv.list(); });
  });
  sim.run();
  EXPECT_EQ(took, (std::vector<int64_t>{30, 30, 5, 30}));
}

uint64_t workload_hash(uint64_t seed) {
  Simulator sim(SimOptions{.seed = seed});
  KvOptions o;
  o.list_lag = 5s;
  KvNamespace kv(sim, "CACHE", o);
  const char* locations[] = {"WNAM", "ENAM", "EU", "APAC"};
  for (int w = 0; w < 4; ++w) {
    sim.spawn(fmt::format("client{}", w), [&, w] {
      Random rng = sim.random(fmt::format("client{}", w));
      for (int i = 0; i < 40; ++i) {
        const std::string key = fmt::format("k{}", rng.below(6));
        try {
          switch (rng.below(4)) {
            case 0: kv.put(locations[w], key, fmt::format("{}-{}", w, i)); break;
            case 1: kv.del(locations[w], key); break;
            case 2: kv.list({.prefix = "k", .limit = 2, .cursor = ""}); break;
            default: kv.get(locations[w], key); break;
          }
        } catch (const KvError& e) {
          EXPECT_EQ(e.status(), 429) << e.what();  // the only error this workload can meet
        }
        sim.sleep_for(rng.lognormal(2s, 1.0));
      }
    });
  }
  return sim.run().trace_hash;
}

TEST(WorkersKv, SameSeedSameTraceHash) {
  EXPECT_EQ(workload_hash(7), workload_hash(7));
  EXPECT_NE(workload_hash(7), workload_hash(8));
}

// --- Overflow: user numbers and options at their extremes -----------------------------------------

TEST(WorkersKv, AHugeNegativeCacheTtlIsRejectedNotWrappedIntoACenturyLongCache_S8_item35) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  int status = -1;
  // -10^10 s is -10^19 ns: converted before the check it wrapped to a positive ~266-year TTL.
  EXPECT_EQ(error_of([&] { kv.get("EU", "k", {.cache_ttl_s = -10'000'000'000}); }, &status),
            "KV GET failed: 400 Invalid cache_ttl of -10000000000. Cache TTL must be at least 30.");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(error_of([&] { kv.get("EU", "k", {.cache_ttl_s = INT64_MIN}); }),
            fmt::format("KV GET failed: 400 Invalid cache_ttl of {}. Cache TTL must be at least 30.", INT64_MIN));
  EXPECT_EQ(kv.cached_entries(), 0u) << "a rejected read caches nothing";
}

TEST(WorkersKv, AHugeCacheTtlIsCappedAt100Years_S6_K3) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  kv.put("WNAM", "k", "v1");
  EXPECT_EQ(kv.get("EU", "k", {.cache_ttl_s = INT64_MAX}), "v1");
  advance_to(sim, 2s);
  kv.put("WNAM", "k", "v2");
  const Duration century = Duration::seconds(int64_t{100} * 365 * 24 * 3600);
  advance_to(sim, before(century));
  EXPECT_EQ(kv.get("EU", "k"), "v1") << "still the copy filled at 0";
  advance_to(sim, century);
  EXPECT_EQ(kv.get("EU", "k"), "v2");
}

TEST(WorkersKv, OptionsOutsideTheirBoundsAreRejectedNamingValueAndLimit) {
  Simulator sim;
  auto error_with = [&](KvOptions o) -> std::string {
    try {
      KvNamespace kv(sim, "X", o);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(no error)";
  };
  const Duration year = Duration::seconds(int64_t{365} * 24 * 3600);
  KvOptions o = exact();
  o.list_lag = year + 1s;  // with a large retention, now - lag - retention overflowed
  EXPECT_EQ(error_with(o), "KvOptions: list_lag 8760h00m01.000s is outside 0s..8760h00m00.000s (365 days)");
  o = exact();
  o.list_tombstone_retention = Duration::max();
  EXPECT_EQ(error_with(o), fmt::format("KvOptions: list_tombstone_retention {} is outside 0s..8760h00m00.000s (365 days)",
                                       format_duration(Duration::max())));
  o = exact();
  o.min_write_interval = -1s;
  EXPECT_EQ(error_with(o), "KvOptions: min_write_interval -1.000s is outside 0s..8760h00m00.000s (365 days)");
  o = exact();
  o.default_cache_ttl = Duration::max();
  EXPECT_EQ(error_with(o), fmt::format("KvOptions: default_cache_ttl {} is outside 0s..8760h00m00.000s (365 days)",
                                       format_duration(Duration::max())));
  o = exact();
  o.central_latency.median = year + 1s;
  EXPECT_NE(error_with(o).find("central_latency.median"), std::string::npos);
  o = exact();
  o.epoch_at_start_s = INT64_MAX;  // epoch_seconds(now) overflowed
  EXPECT_EQ(error_with(o), fmt::format("KvOptions: epoch_at_start_s {} is outside 0..253402300799 "
                                       "(9999-12-31T23:59:59Z)",
                                       INT64_MAX));
  o.epoch_at_start_s = -1;
  EXPECT_NE(error_with(o).find("epoch_at_start_s -1"), std::string::npos);
  o = exact();
  o.central_latency.sigma = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(error_with(o).find("central_latency.sigma"), std::string::npos);

  // At the bounds everything works, lists included (the cutoff is now - 730 days).
  o = exact();
  o.list_lag = year;
  o.list_tombstone_retention = year;
  o.epoch_at_start_s = 253'402'300'799;
  KvNamespace kv(sim, "X", o);
  kv.put("WNAM", "k", "v", {.expiration_ttl_s = 60});
  EXPECT_EQ(kv.get("EU", "k"), "v");
  advance_to(sim, year);
  EXPECT_EQ(kv.list().keys.size(), 1u) << "the snapshot at 0 s, when the key was live";
  advance_to(sim, year + 60s);
  EXPECT_TRUE(kv.list().keys.empty()) << "the snapshot at 60 s, when it expired";
  EXPECT_EQ(kv.stored_keys(), 1u) << "its tombstone lasts 365 days";
}

TEST(WorkersKv, ExtremeExpirationsNeitherOverflowNorCrash_S6_K4) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "k", "v", {.expiration = INT64_MIN}); }),
            fmt::format("KV PUT failed: 400 Invalid expiration of {}. Please specify integer greater than the "
                        "current number of seconds since the UNIX epoch.",
                        INT64_MIN));
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "k", "v", {.expiration_ttl_s = INT64_MIN}); }),
            fmt::format("KV PUT failed: 400 Invalid expiration_ttl of {}. Please specify integer greater than 0.",
                        INT64_MIN));
  kv.put("WNAM", "far", "v", {.expiration = INT64_MAX});
  kv.put("WNAM", "ttl", "v", {.expiration_ttl_s = INT64_MAX});
  KvListOptions all;
  KvOptions lagless = no_lag();
  KvNamespace kv2(sim, "LIST", lagless);
  kv2.put("WNAM", "ttl", "v", {.expiration_ttl_s = INT64_MAX});
  auto r = kv2.list(all);
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].expiration, INT64_MAX) << "now + ttl saturates instead of wrapping";
  advance_to(sim, Duration::seconds(int64_t{200} * 365 * 24 * 3600));
  EXPECT_EQ(kv.get("EU", "far"), "v");
  EXPECT_EQ(kv.get("EU", "ttl"), "v");
  EXPECT_EQ(kv.stored_keys(), 2u) << "keys that never expire are never forgotten";
}

// --- Memory: dead keys and stale cached copies are forgotten -------------------------------------

TEST(WorkersKv, DeadKeysAreForgottenOnceNoListOrWriteLimitCanSeeThem_S8_item36_K5) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());  // list_lag 60 s, tombstones 60 s, 1 write/s/key
  for (int i = 0; i < 1000; ++i) kv.put("WNAM", fmt::format("dead{:04}", i), "v");
  kv.put("WNAM", "exp", "v", {.expiration_ttl_s = 60});  // expires at 60 s
  advance_to(sim, 1s);
  for (int i = 0; i < 1000; ++i) kv.del("WNAM", fmt::format("dead{:04}", i));
  kv.put("WNAM", "live", "v");
  EXPECT_EQ(kv.stored_keys(), 1002u);

  // Until 1 s + 60 s lag + 60 s retention, a list still sees the deletes as tombstones.
  advance_to(sim, before(121s));
  KvListResult page = kv.list({.prefix = "", .limit = 3, .cursor = ""});
  EXPECT_TRUE(page.keys.empty()) << "three tombstones fill the page";
  EXPECT_FALSE(page.list_complete);
  EXPECT_EQ(kv.stored_keys(), 1002u);

  advance_to(sim, 121s);
  page = kv.list({.prefix = "", .limit = 2, .cursor = ""});
  ASSERT_EQ(page.keys.size(), 1u) << "the snapshot at 61 s: the deletes are old, \"exp\" a tombstone";
  EXPECT_EQ(page.keys[0].name, "live");
  EXPECT_TRUE(page.list_complete);
  EXPECT_EQ(kv.stored_keys(), 2u) << "the 1000 deleted keys are gone; \"exp\" lasts until 60 + 120 s";
  advance_to(sim, 180s);
  kv.put("WNAM", "other", "x");  // a write forgets what is due, like a list
  EXPECT_EQ(kv.stored_keys(), 2u) << "live and other";
  kv.put("WNAM", "dead0000", "back");
  EXPECT_EQ(kv.central_value("dead0000"), "back");
  EXPECT_EQ(kv.get("EU", "exp"), std::nullopt);
}

TEST(WorkersKv, AForgottenKeyStillHonoursTheWriteRate_S6_K1) {
  Simulator sim;
  KvOptions o = no_lag();
  o.list_tombstone_retention = Duration::zero();  // a delete leaves no trace in lists at once
  KvNamespace kv(sim, "CACHE", o);
  kv.put("WNAM", "k", "v");
  advance_to(sim, 1s);
  kv.del("WNAM", "k");
  EXPECT_TRUE(kv.list().keys.empty());
  advance_to(sim, before(2s));
  EXPECT_EQ(error_of([&] { kv.put("WNAM", "k", "v2"); }), "KV PUT failed: 429 Too Many Requests")
      << "the key is dead and unlisted, but its delete still counts for the write rate";
  EXPECT_EQ(kv.stored_keys(), 1u);
  advance_to(sim, 2s);
  kv.list();
  EXPECT_EQ(kv.stored_keys(), 0u);
  kv.put("WNAM", "k", "v2");
  EXPECT_EQ(kv.central_value("k"), "v2");
}

TEST(WorkersKv, StaleCachedCopiesAreSweptButLiveOnesStay_S8_item34) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  kv.put("WNAM", "hot", "v1");
  EXPECT_EQ(kv.get("EU", "hot", {.cache_ttl_s = 3600}), "v1");  // EU holds v1 until 3600 s
  for (int i = 0; i < 1500; ++i) kv.get("EU", fmt::format("miss{:04}", i));  // cached misses, until 60 s
  EXPECT_EQ(kv.cached_entries(), 1501u);
  advance_to(sim, 2s);
  kv.put("WNAM", "hot", "v2");
  advance_to(sim, 60s);
  // New reads fill the caches until a sweep drops the 1500 copies that ran out at 60 s.
  for (int i = 0; i < 600; ++i) kv.get("APAC", fmt::format("new{:04}", i));
  EXPECT_EQ(kv.cached_entries(), 601u) << "the 600 new copies and EU's hot one";
  EXPECT_EQ(kv.get("EU", "hot"), "v1") << "a copy within its cacheTtl survives the sweep, stale";
  EXPECT_EQ(kv.get("EU", "miss0000"), std::nullopt);
  EXPECT_EQ(kv.cached_entries(), 602u) << "the swept miss was read again, so cached again";
}

// Many versions of one hot key at one instant (min_write_interval 0): reads and lists see the
// last one to arrive.
TEST(WorkersKv, HotKeyWithManyVersionsReadsAndListsTheLastArrival_S6_K4) {
  Simulator sim;
  KvOptions o = exact();
  o.min_write_interval = Duration::zero();
  o.list_lag = 1s;
  o.list_tombstone_retention = Duration::zero();  // so old versions are pruned early
  KvNamespace kv(sim, "CACHE", o);
  for (int i = 0; i < 2000; ++i) kv.put("WNAM", "hot", std::to_string(i), {.metadata_json = std::to_string(i)});
  advance_to(sim, 500ms);
  for (int i = 2000; i < 4000; ++i) kv.put("WNAM", "hot", std::to_string(i), {.metadata_json = std::to_string(i)});
  EXPECT_EQ(kv.get("EU", "hot"), "3999");
  advance_to(sim, 1s);
  auto r = kv.list();
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].metadata_json, "1999") << "the snapshot at 0 s: the last of the writes at 0";
  advance_to(sim, 1500ms);
  r = kv.list();
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].metadata_json, "3999");
  kv.del("WNAM", "hot");
  advance_to(sim, before(2500ms));
  EXPECT_EQ(kv.list().keys.size(), 1u) << "the list lags the delete by 1 s";
  advance_to(sim, 2500ms);
  EXPECT_TRUE(kv.list().keys.empty());
  EXPECT_EQ(kv.stored_keys(), 0u);
}

TEST(WorkersKv, EnvBindsKvNamespaces) {
  Simulator sim;
  KvNamespace kv(sim, "CACHE", exact());
  Env env;
  env.bind_kv("CACHE", kv);
  EXPECT_EQ(&env.kv("CACHE"), &kv);
  try {
    env.kv("NOPE");
    FAIL() << "no such binding";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("NOPE"), std::string::npos);
  }
  auto info = run_info(kv.options(), "kv.CACHE.");
  ASSERT_FALSE(info.empty());
  EXPECT_EQ(info[0].first, "kv.CACHE.default_cache_ttl");
}

}  // namespace
