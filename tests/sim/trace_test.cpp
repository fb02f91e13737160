// Unit tests for sim/trace.h: what record_hash covers (and what it leaves out), the running trace
// hash, sinks, first_difference and format_record.

#include "sim/trace.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/hash.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

uint64_t rh(Time t, uint32_t fiber, std::string_view cat, std::string_view name, Phase p,
            std::initializer_list<Field> fields) {
  return record_hash(t, fiber, cat, name, p, std::span<const Field>(fields.begin(), fields.size()));
}

uint64_t rh_fields(std::initializer_list<Field> fields) {
  return rh(Time::zero(), 1, "c", "n", Phase::instant, fields);
}

Record make_record(uint64_t index, Time t, uint32_t fiber, std::string fiber_name, std::string cat, std::string name,
                   Phase p, std::vector<std::pair<std::string, Value>> fields) {
  Record r;
  r.index = index;
  r.time = t;
  r.fiber = fiber;
  r.fiber_name = std::move(fiber_name);
  r.category = std::move(cat);
  r.name = std::move(name);
  r.phase = p;
  r.fields = std::move(fields);
  return r;
}

TEST(TraceRecordHash, DependsOnEveryPart) {
  const Time t = Time::zero() + 1s;
  std::vector<uint64_t> hashes = {
      rh(t, 3, "http", "request", Phase::instant, {{"method", "GET"}, {"status", 200}}),  // the base
      rh(t + 1ns, 3, "http", "request", Phase::instant, {{"method", "GET"}, {"status", 200}}),
      rh(t, 4, "http", "request", Phase::instant, {{"method", "GET"}, {"status", 200}}),
      rh(t, 3, "http2", "request", Phase::instant, {{"method", "GET"}, {"status", 200}}),
      rh(t, 3, "http", "reply", Phase::instant, {{"method", "GET"}, {"status", 200}}),
      rh(t, 3, "http", "request", Phase::begin, {{"method", "GET"}, {"status", 200}}),
      rh(t, 3, "http", "request", Phase::end, {{"method", "GET"}, {"status", 200}}),
      rh(t, 3, "http", "request", Phase::instant, {{"verb", "GET"}, {"status", 200}}),     // a key
      rh(t, 3, "http", "request", Phase::instant, {{"method", "PUT"}, {"status", 200}}),   // a value
      rh(t, 3, "http", "request", Phase::instant, {{"method", "GET"}, {"status", 201}}),
      rh(t, 3, "http", "request", Phase::instant, {{"method", "GET"}, {"status", "200"}}),  // a type
      rh(t, 3, "http", "request", Phase::instant, {{"status", 200}, {"method", "GET"}}),   // the order
      rh(t, 3, "http", "request", Phase::instant, {{"method", "GET"}}),                    // a field fewer
      rh(t, 3, "http", "request", Phase::instant, {{"method", "GET"}, {"status", 200}, {"x", false}}),
      rh(t, 3, "http", "request", Phase::instant, {}),
  };
  std::set<uint64_t> distinct(hashes.begin(), hashes.end());
  EXPECT_EQ(distinct.size(), hashes.size());
}

TEST(TraceRecordHash, ValueTypesAreDistinguished) {
  // int 1, string "1", double 1.0 and bool true all print as "1"-ish but are different values.
  std::vector<uint64_t> hashes = {
      rh_fields({{"v", 1}}),     rh_fields({{"v", "1"}}),   rh_fields({{"v", 1.0}}),  rh_fields({{"v", true}}),
      rh_fields({{"v", 0}}),     rh_fields({{"v", ""}}),    rh_fields({{"v", 0.0}}),  rh_fields({{"v", false}}),
      rh_fields({{"v", -0.0}}),  // a different double from 0.0 (by its bits)
      rh_fields({{"v", -1}}),    rh_fields({{"v", "-1"}}),  rh_fields({{"v", -1.0}}),
  };
  std::set<uint64_t> distinct(hashes.begin(), hashes.end());
  EXPECT_EQ(distinct.size(), hashes.size());
  // Integral types of every width are the same int64 value.
  EXPECT_EQ(rh_fields({{"v", int64_t{7}}}), rh_fields({{"v", uint8_t{7}}}));
  EXPECT_EQ(rh_fields({{"v", 7u}}), rh_fields({{"v", 7}}));
  EXPECT_EQ(rh_fields({{"v", Duration::nanos(7)}}), rh_fields({{"v", 7}}));
  EXPECT_EQ(rh_fields({{"v", Time::from_ns(7)}}), rh_fields({{"v", 7}}));
  EXPECT_EQ(rh_fields({{"v", std::string("s")}}), rh_fields({{"v", "s"}}));
}

TEST(TraceRecordHash, StringBoundariesMatter) {
  // Lengths are hashed, so moving bytes across a boundary changes the hash.
  EXPECT_NE(rh(Time::zero(), 0, "ab", "c", Phase::instant, {}), rh(Time::zero(), 0, "a", "bc", Phase::instant, {}));
  EXPECT_NE(rh_fields({{"ab", "c"}}), rh_fields({{"a", "bc"}}));
  EXPECT_NE(rh_fields({{"k", std::string_view("abcdefgh", 8)}}), rh_fields({{"k", std::string_view("abcdefgh\0", 9)}}));
}

TEST(TraceRecordHash, RecordFormMatchesFieldFormAndIgnoresFiberNameAndIndex) {
  Record r = make_record(5, Time::from_ns(123), 2, "worker", "disk", "write", Phase::end,
                         {{"bytes", int64_t{4096}}, {"ok", true}, {"ratio", 0.5}, {"path", std::string("/a b")}});
  const uint64_t expected = rh(Time::from_ns(123), 2, "disk", "write", Phase::end,
                               {{"bytes", 4096}, {"ok", true}, {"ratio", 0.5}, {"path", "/a b"}});
  EXPECT_EQ(record_hash(r), expected);
  Record renamed = r;
  renamed.fiber_name = "someone else";  // for people only: not part of the fingerprint
  renamed.index = 99;                   // the position is covered by the running hash instead
  EXPECT_EQ(record_hash(renamed), expected);
  Record changed = r;
  changed.fields[3].second = std::string("/a_b");
  EXPECT_NE(record_hash(changed), expected);
}

TEST(TraceRecordHash, Pinned) {
  // Computed once with this code and hard-coded: a change to the canonical encoding changes every
  // trace hash ever recorded, so it must be a deliberate edit of this test.
  EXPECT_EQ(rh(Time::from_ns(1'500'000'000), 3, "http", "request", Phase::begin,
               {{"method", "GET"}, {"status", 200}, {"ok", true}, {"ratio", 0.25}}),
            0x818bcea8d526aa2full);
  Trace t;
  EXPECT_EQ(t.hash(), 0x243F6A8885A308D3ull);
  t.record(Time::zero(), 0, "", "meta", "header", Phase::instant, {});
  std::vector<Field> f = {{"id", 1}};
  t.record(Time::from_ns(5), 1, "main", "fiber", "life", Phase::begin, f);
  EXPECT_EQ(t.hash(), 0xae22a1ec71aec21aull);
}

TEST(TraceRecordHash, PrehashedPathEqualsTheGeneralOne) {
  Trace a, b;
  a.record(Time::from_ns(7), 4, "x", "sched", "resume", Phase::instant, {});
  b.record_prehashed(record_prefix("sched", "resume", Phase::instant, 0), Time::from_ns(7), 4, "x", "sched", "resume",
                     Phase::instant);
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.count(), b.count());
}

TEST(TraceRunningHash, OrderSensitiveAndCounted) {
  std::vector<Field> a = {{"k", 1}}, b = {{"k", 2}};
  auto run = [&](std::vector<int> order) {
    Trace t;
    for (int which : order)
      t.record(Time::zero(), 1, "f", "c", "n", Phase::instant, which == 0 ? std::span<const Field>(a) : std::span<const Field>(b));
    return std::make_pair(t.hash(), t.count());
  };
  EXPECT_EQ(run({0, 1}), run({0, 1}));
  EXPECT_NE(run({0, 1}).first, run({1, 0}).first);
  EXPECT_NE(run({0}).first, run({0, 0}).first);       // a repeated record is a different trace
  EXPECT_NE(run({0, 0}).first, run({0, 0, 0}).first);
  EXPECT_NE(run({}).first, run({0}).first);
  EXPECT_EQ(run({0, 1, 1}).second, 3u);
  EXPECT_EQ(run({}).second, 0u);
}

TEST(TraceRunningHash, IndependentOfSinksAndFiberNames) {
  std::vector<Field> f = {{"x", 1.5}};
  Trace plain, with_sink;
  with_sink.add_sink(std::make_shared<MemorySink>());
  EXPECT_FALSE(plain.has_sinks());
  EXPECT_TRUE(with_sink.has_sinks());
  plain.record(Time::from_ns(1), 2, "alice", "c", "n", Phase::instant, f);
  with_sink.record(Time::from_ns(1), 2, "bob", "c", "n", Phase::instant, f);
  EXPECT_EQ(plain.hash(), with_sink.hash());
}

TEST(TraceSinks, MemorySinkGetsOwnedCopiesInOrder) {
  auto sink = std::make_shared<MemorySink>();
  Trace t;
  t.add_sink(sink);
  {
    std::string fiber = "client-7", cat = "http", name = "request", key = "path", value = "/index.html";
    std::vector<Field> fields = {{key, value}, {"n", 3}, {"flag", false}, {"d", 2.5}};
    t.record(Time::from_ns(10), 7, fiber, cat, name, Phase::begin, fields);
    // Overwrite and destroy everything the record borrowed from.
    fiber.assign(fiber.size(), 'X');
    value.assign(value.size(), 'X');
    key.assign(key.size(), 'X');
  }
  std::vector<Field> none;
  t.record(Time::from_ns(20), 0, "", "sched", "stop", Phase::instant, none);
  ASSERT_EQ(sink->records.size(), 2u);
  const Record& r = sink->records[0];
  EXPECT_EQ(r.index, 0u);
  EXPECT_EQ(r.time.ns, 10);
  EXPECT_EQ(r.fiber, 7u);
  EXPECT_EQ(r.fiber_name, "client-7");
  EXPECT_EQ(r.category, "http");
  EXPECT_EQ(r.name, "request");
  EXPECT_EQ(r.phase, Phase::begin);
  ASSERT_EQ(r.fields.size(), 4u);
  EXPECT_EQ(r.fields[0].first, "path");
  EXPECT_EQ(std::get<std::string>(r.fields[0].second), "/index.html");
  EXPECT_EQ(std::get<int64_t>(r.fields[1].second), 3);
  EXPECT_EQ(std::get<bool>(r.fields[2].second), false);
  EXPECT_EQ(std::get<double>(r.fields[3].second), 2.5);
  EXPECT_EQ(sink->records[1].index, 1u);
  EXPECT_EQ(sink->records[1].name, "stop");
  EXPECT_TRUE(sink->records[1].fields.empty());
}

TEST(TraceSinks, EverySinkSeesEveryRecord) {
  auto s1 = std::make_shared<MemorySink>(), s2 = std::make_shared<MemorySink>();
  Trace t;
  t.add_sink(s1);
  t.add_sink(s2);
  std::vector<Field> none;
  for (int i = 0; i < 5; ++i) t.record(Time::from_ns(i), 0, "", "c", "n", Phase::instant, none);
  ASSERT_EQ(s1->records.size(), 5u);
  ASSERT_EQ(s2->records.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(record_hash(s1->records[i]), record_hash(s2->records[i]));
}

class CloseCountingSink : public TraceSink {
 public:
  void write(const Record&) override { ++writes; }
  void close(uint64_t hash, uint64_t records) override {
    ++closes;
    last_hash = hash;
    last_count = records;
  }
  int writes = 0, closes = 0;
  uint64_t last_hash = 0, last_count = 0;
};

TEST(TraceSinks, CloseIsIdempotentAndPassesHashAndCount) {
  auto sink = std::make_shared<CloseCountingSink>();
  Trace t;
  t.add_sink(sink);
  std::vector<Field> none;
  t.record(Time::zero(), 0, "", "a", "b", Phase::instant, none);
  t.record(Time::zero(), 0, "", "a", "c", Phase::instant, none);
  t.close();
  t.close();
  EXPECT_EQ(sink->closes, 1);
  EXPECT_EQ(sink->writes, 2);
  EXPECT_EQ(sink->last_hash, t.hash());
  EXPECT_EQ(sink->last_count, 2u);
}

TEST(TraceRecord, DuplicateFieldKeyIsRejectedBeforeAnythingChanges) {
  // A JSON object keeps one value per key: a record with a repeated key could not be written to a
  // trace file and read back with the same hash, so it is refused up front.
  auto sink = std::make_shared<MemorySink>();
  Trace t;
  t.add_sink(sink);
  std::vector<Field> dup = {{"id", 1}, {"name", "x"}, {"id", 2}};
  try {
    t.record(Time::zero(), 0, "", "fiber", "life", Phase::begin, dup);
    ADD_FAILURE() << "a repeated key was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fiber.life: field 'id' given twice"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t.count(), 0u);
  EXPECT_EQ(t.hash(), Trace().hash());
  EXPECT_TRUE(sink->records.empty());
}

TEST(TraceRecord, FieldLookup) {
  Record r = make_record(0, Time::zero(), 0, "", "c", "n", Phase::instant,
                         {{"a", int64_t{-3}}, {"b", true}, {"c", 0.1}, {"d", std::string("text")}, {"a2", 1e300}});
  ASSERT_NE(r.field("a"), nullptr);
  EXPECT_EQ(std::get<int64_t>(*r.field("a")), -3);
  EXPECT_EQ(r.field("missing"), nullptr);
  EXPECT_EQ(r.field_text("a"), "-3");
  EXPECT_EQ(r.field_text("b"), "true");
  EXPECT_EQ(r.field_text("c"), "0.1");  // shortest text that reads back as the same double
  EXPECT_EQ(r.field_text("d"), "text");
  EXPECT_EQ(r.field_text("a2"), "1e+300");
  EXPECT_EQ(r.field_text("missing"), "");
  EXPECT_EQ(value_text(Value(false)), "false");
  EXPECT_EQ(value_text(Value(INT64_MIN)), "-9223372036854775808");
}

std::vector<Record> sample_trace() {
  std::vector<Record> v;
  for (int i = 0; i < 6; ++i)
    v.push_back(make_record(i, Time::from_ns(i * 10), 1, "f", "c", "step", Phase::instant, {{"i", int64_t{i}}}));
  return v;
}

TEST(TraceFirstDifference, EqualTracesHaveNone) {
  auto a = sample_trace(), b = sample_trace();
  EXPECT_FALSE(first_difference(a, b).has_value());
  EXPECT_FALSE(first_difference(std::vector<Record>{}, std::vector<Record>{}).has_value());
  b[2].fiber_name = "renamed";  // not part of the fingerprint
  EXPECT_FALSE(first_difference(a, b).has_value());
}

TEST(TraceFirstDifference, DifferingRecordInTheMiddle) {
  auto a = sample_trace(), b = sample_trace();
  b[3].fields[0].second = int64_t{300};
  b[4].name = "also-different";  // only the first difference is reported
  auto d = first_difference(a, b);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->index, 3u);
  ASSERT_TRUE(d->left && d->right);
  EXPECT_EQ(d->left->field_text("i"), "3");
  EXPECT_EQ(d->right->field_text("i"), "300");
}

TEST(TraceFirstDifference, OneTraceIsAPrefixOfTheOther) {
  auto full = sample_trace(), prefix = sample_trace();
  prefix.resize(4);
  auto d = first_difference(prefix, full);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->index, 4u);
  EXPECT_FALSE(d->left.has_value());  // the left trace ended here
  ASSERT_TRUE(d->right.has_value());
  EXPECT_EQ(d->right->field_text("i"), "4");
  auto e = first_difference(full, prefix);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->index, 4u);
  ASSERT_TRUE(e->left.has_value());
  EXPECT_FALSE(e->right.has_value());
  auto empty = first_difference(std::vector<Record>{}, full);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->index, 0u);
}

TEST(TraceFormatRecord, FiberAndKernelRecords) {
  Record r = make_record(0, Time::from_ns(62'500'000'000), 3, "client", "http", "request", Phase::instant,
                         {{"method", std::string("GET")}, {"path", std::string("/")}, {"status", int64_t{200}},
                          {"ok", true}, {"ratio", 0.25}});
  EXPECT_EQ(format_record(r), "     1m02.500s [3 client] http.request method=GET path=/ status=200 ok=true ratio=0.25");
  Record k = make_record(1, Time::zero(), 0, "", "sched", "stop", Phase::instant, {{"reason", std::string("quiescent")}});
  EXPECT_EQ(format_record(k), "        0.000s [kernel] sched.stop reason=quiescent");
  Record none = make_record(2, Time::from_ns(1), 0, "", "meta", "tick", Phase::instant, {});
  EXPECT_EQ(format_record(none), "  0.000000001s [kernel] meta.tick");
  Record late = make_record(3, Time::max(), 0, "", "a", "b", Phase::instant, {});
  EXPECT_EQ(format_record(late), "2562047h47m16.854775807s [kernel] a.b");  // wider than the column
}

TEST(TraceFormatRecord, SpanPhases) {
  Record b = make_record(0, Time::zero() + 1s, 1, "main", "fiber", "life", Phase::begin, {{"id", int64_t{1}}});
  EXPECT_EQ(format_record(b), "        1.000s [1 main] begin fiber.life id=1");
  Record e = make_record(1, Time::zero() + 2h, 1, "main", "fiber", "life", Phase::end,
                         {{"id", int64_t{1}}, {"status", std::string("finished")}});
  EXPECT_EQ(format_record(e), "  2h00m00.000s [1 main] end fiber.life id=1 status=finished");
}

TEST(TraceFormatRecord, StringsAreQuotedAndEscapedWhenNeeded) {
  auto one = [](std::string v) {
    return format_record(make_record(0, Time::zero(), 0, "", "c", "n", Phase::instant, {{"v", std::move(v)}}));
  };
  const std::string prefix = "        0.000s [kernel] c.n v=";
  EXPECT_EQ(one("plain"), prefix + "plain");
  EXPECT_EQ(one("caf\xc3\xa9"), prefix + "caf\xc3\xa9");  // UTF-8 needs no quotes
  EXPECT_EQ(one(""), prefix + "\"\"");
  EXPECT_EQ(one("hello world"), prefix + "\"hello world\"");
  EXPECT_EQ(one("a=b"), prefix + "\"a=b\"");
  EXPECT_EQ(one("say \"hi\""), prefix + "\"say \\\"hi\\\"\"");
  EXPECT_EQ(one("back\\slash"), prefix + "\"back\\\\slash\"");
  EXPECT_EQ(one("tab\there"), prefix + "\"tab\\there\"");
  // One line per record: a newline in a value is escaped, never printed.
  EXPECT_EQ(one("line1\nline2\r"), prefix + "\"line1\\nline2\\r\"");
  EXPECT_EQ(one(std::string("nul\0bell\x07", 9)), prefix + "\"nul\\x00bell\\x07\"");
  // Non-string values are never quoted.
  EXPECT_EQ(format_record(make_record(0, Time::zero(), 0, "", "c", "n", Phase::instant, {{"v", -2.5}})), prefix + "-2.5");
}

}  // namespace
