// Unit tests for sim/trace_file.h: the JSON-lines writer and reader (atomic rename, footer, exact
// round trip of every record's hash, every malformed input), and the Perfetto/Chrome writer.

#include "sim/trace_file.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "sim/scheduler.h"

using namespace cfsim;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Each test gets its own directory under GoogleTest's temporary directory (tests may run in
// parallel processes), removed afterwards.
class TraceFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           fmt::format("cfsim-{}-{}-{}", info->test_suite_name(), info->name(), getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

// Records a Record's contents again, as Fields (to rebuild a running hash from records read back).
void rerecord(Trace& t, const Record& r) {
  std::vector<Field> fields;
  for (const auto& [k, v] : r.fields) {
    Field f(k, int64_t{0});
    std::visit([&](const auto& x) {
      using T = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<T, std::string>) f.value = std::string_view(x);
      else f.value = x;
    }, v);
    fields.push_back(f);
  }
  t.record(r.time, r.fiber, r.fiber_name, r.category, r.name, r.phase, fields);
}

// A trace exercising every value type and the awkward strings, doubles and integers.
void record_awkward_trace(Trace& t) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::string long_text(10000, 'x');
  const std::string with_nul("a\0b", 3);
  std::vector<std::vector<Field>> rows = {
      {{"cfsim_version", "0.1.0"}, {"seed", "18446744073709551615"}},
      {{"quote", "say \"hi\""}, {"newline", "line1\nline2\r\n"}, {"tab", "a\tb"}, {"backslash", "C:\\dir\\"}},
      {{"unicode", "caf\xc3\xa9 \xe2\x98\x95 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"}, {"empty", ""},
       {"control", "\x01\x1f\x7f"}, {"nul", with_nul}, {"long", long_text}},
      {{"tenth", 0.1}, {"negzero", -0.0}, {"big", 1e300}, {"denorm", 4.9406564584124654e-324},
       {"integral_double", 1.0}, {"neg", -2.5}, {"max", std::numeric_limits<double>::max()}},
      {{"nan", std::nan("")}, {"neg_nan", -std::nan("")}, {"inf", inf}, {"neg_inf", -inf}},
      {{"min", INT64_MIN}, {"max", INT64_MAX}, {"minus_one", -1}, {"zero", 0}, {"t", true}, {"f", false}},
      {{"k\"ey with \xc3\xa9", 1}},
      {},
  };
  int64_t now = 0;
  uint32_t fiber = 0;
  for (const auto& row : rows) {
    t.record(Time::from_ns(now), fiber, fiber == 0 ? "" : "fiber \"" + std::to_string(fiber) + "\"\n", "cat", "step",
             Phase::instant, row);
    now += 1'234'567;
    fiber = fiber == 0 ? 1 : fiber * 1000;
  }
  std::vector<Field> id = {{"id", 7}};
  t.record(Time::from_ns(now), 1, "main", "fiber", "life", Phase::begin, id);
  t.record(Time::max(), UINT32_MAX, "last", "fiber", "life", Phase::end, id);
}

TEST_F(TraceFileTest, JsonlWritesTmpAndRenamesOnClose) {
  const std::string p = path("run.jsonl");
  auto sink = std::make_shared<JsonlSink>(p);
  EXPECT_EQ(sink->path(), p);
  Trace t;
  t.add_sink(sink);
  std::vector<Field> f = {{"k", 1}};
  for (int i = 0; i < 3; ++i) t.record(Time::from_ns(i), 0, "", "c", "n", Phase::instant, f);
  EXPECT_TRUE(fs::exists(p + ".tmp"));
  EXPECT_FALSE(fs::exists(p)) << "a reader must never see a half-written trace under the final name";
  t.close();
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  ASSERT_TRUE(fs::exists(p));
  auto lines = lines_of(slurp(p));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], R"({"i":0,"t":0,"f":0,"fn":"","c":"c","n":"n","a":{"k":1}})");
  EXPECT_EQ(lines[3], fmt::format(R"({{"end":{{"hash":"{}","records":3}}}})", hash_hex(t.hash())));
}

TEST_F(TraceFileTest, JsonlRoundTripPreservesEveryRecord) {
  const std::string p = path("awkward.jsonl");
  auto mem = std::make_shared<MemorySink>();
  Trace t;
  t.add_sink(mem);
  t.add_sink(std::make_shared<JsonlSink>(p));
  record_awkward_trace(t);
  t.close();
  TraceFile f = read_jsonl(p);
  ASSERT_EQ(f.records.size(), mem->records.size());
  ASSERT_TRUE(f.final_hash && f.final_count);
  EXPECT_EQ(*f.final_hash, t.hash());
  EXPECT_EQ(*f.final_count, t.count());
  Trace replay;
  for (size_t i = 0; i < f.records.size(); ++i) {
    const Record &got = f.records[i], &want = mem->records[i];
    EXPECT_EQ(record_hash(got), record_hash(want)) << "record " << i << ": " << format_record(want);
    EXPECT_EQ(got.index, i);
    EXPECT_EQ(got.fiber_name, want.fiber_name);  // not hashed, but kept
    EXPECT_EQ(got.time, want.time);
    EXPECT_EQ(got.phase, want.phase);
    ASSERT_EQ(got.fields.size(), want.fields.size());
    for (size_t k = 0; k < got.fields.size(); ++k) {
      EXPECT_EQ(got.fields[k].first, want.fields[k].first);
      EXPECT_EQ(got.fields[k].second.index(), want.fields[k].second.index()) << got.fields[k].first;
    }
    rerecord(replay, got);
  }
  EXPECT_EQ(replay.hash(), t.hash()) << "the records read back replay to the run's hash";
  // Spot checks of values that JSON cannot hold naively.
  EXPECT_EQ(std::get<std::string>(*f.records[2].field("nul")), std::string("a\0b", 3));
  EXPECT_TRUE(std::signbit(std::get<double>(*f.records[3].field("negzero"))));
  EXPECT_EQ(std::get<double>(*f.records[3].field("integral_double")), 1.0);
  EXPECT_TRUE(std::isnan(std::get<double>(*f.records[4].field("nan"))));
  EXPECT_EQ(std::get<double>(*f.records[4].field("neg_inf")), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(std::get<int64_t>(*f.records[5].field("min")), INT64_MIN);
  EXPECT_EQ(f.records.back().fiber, UINT32_MAX);
  EXPECT_EQ(f.records.back().time, Time::max());
}

TEST_F(TraceFileTest, JsonlFromASimulatorRun) {
  const std::string p = path("sim.jsonl");
  auto mem = std::make_shared<MemorySink>();
  uint64_t hash = 0, count = 0;
  {
    SimOptions opts;
    opts.seed = 9;
    Simulator sim(opts, {mem, std::make_shared<JsonlSink>(p)});
    sim.spawn("client", [&] {
      sim.record("app", "hello", {{"n", 1}});
      sim.sleep_for(10min);
      sim.record("app", "bye", {{"ok", true}});
    });
    sim.run();
    sim.close_trace();
    hash = sim.trace_hash();
    count = sim.trace().count();
  }
  TraceFile f = read_jsonl(p);
  ASSERT_EQ(f.records.size(), count);
  EXPECT_EQ(*f.final_hash, hash);
  EXPECT_EQ(f.records[0].category, "meta");
  EXPECT_EQ(f.records[0].name, "header");
  EXPECT_EQ(f.records[0].field_text("seed"), "9");
  ASSERT_TRUE(first_difference(f.records, mem->records) == std::nullopt);
}

TEST_F(TraceFileTest, JsonlDestroyedWithoutCloseStillRenames) {
  // A run that fails by exception keeps its trace: no footer, but every record written so far.
  const std::string p = path("aborted.jsonl");
  try {
    Trace t;
    t.add_sink(std::make_shared<JsonlSink>(p));
    std::vector<Field> f = {{"step", 1}};
    t.record(Time::zero(), 0, "", "app", "step", Phase::instant, f);
    t.record(Time::from_ns(5), 0, "", "app", "step", Phase::instant, f);
    throw std::runtime_error("the run failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  ASSERT_TRUE(fs::exists(p));
  TraceFile f = read_jsonl(p);
  EXPECT_EQ(f.records.size(), 2u);
  EXPECT_FALSE(f.final_hash.has_value());
  EXPECT_FALSE(f.final_count.has_value());
}

TEST_F(TraceFileTest, JsonlCloseTwiceWritesOneFooter) {
  const std::string p = path("twice.jsonl");
  JsonlSink s(p);
  s.close(1, 0);
  s.close(2, 0);  // a no-op: the file is already in place
  auto lines = lines_of(slurp(p));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], R"({"end":{"hash":"0x0000000000000001","records":0}})");
  TraceFile f = read_jsonl(p);  // a trace with no records but a footer is complete
  EXPECT_TRUE(f.records.empty());
  EXPECT_EQ(f.final_hash, 1u);
}

TEST_F(TraceFileTest, SinkOnUncreatablePathThrows) {
  const std::string p = path("no/such/dir/run.jsonl");
  try {
    JsonlSink s(p);
    ADD_FAILURE() << "created a sink in a missing directory";
  } catch (const TraceFileError& e) {
    EXPECT_NE(std::string(e.what()).find(p + ".tmp"), std::string::npos) << e.what();
  }
  EXPECT_THROW(PerfettoSink{p}, TraceFileError);
}

TEST(TraceFileFormat, HashHexAndRecordToJson) {
  EXPECT_EQ(hash_hex(0), "0x0000000000000000");
  EXPECT_EQ(hash_hex(0xdeadbeef), "0x00000000deadbeef");
  EXPECT_EQ(hash_hex(UINT64_MAX), "0xffffffffffffffff");
  Record r;
  r.index = 4;
  r.time = Time::from_ns(1500);
  r.fiber = 2;
  r.fiber_name = "w";
  r.category = "fiber";
  r.name = "life";
  r.phase = Phase::end;
  r.fields = {{"id", int64_t{2}}, {"ok", true}, {"x", 0.5}, {"s", std::string("\"")}};
  EXPECT_EQ(record_to_json(r),
            R"({"i":4,"t":1500,"f":2,"fn":"w","c":"fiber","n":"life","p":"e","a":{"id":2,"ok":true,"x":0.5,"s":"\""}})");
  r.phase = Phase::begin;
  r.fields = {{"inf", std::numeric_limits<double>::infinity()}};
  EXPECT_EQ(record_to_json(r),
            R"({"i":4,"t":1500,"f":2,"fn":"w","c":"fiber","n":"life","p":"b","a":{"inf":{"f64":"0x7ff0000000000000"}}})");
}

// --- malformed input -------------------------------------------------------------------------

std::string rec(int i, const std::string& extra = R"("a":{})") {
  return fmt::format(R"({{"i":{},"t":0,"f":0,"fn":"","c":"c","n":"n",{}}})", i, extra);
}

// parse_jsonl must throw TraceFileError whose message starts "<origin>:<line>:" and says why.
void expect_bad(const std::string& text, int line, const std::string& why) {
  SCOPED_TRACE(text);
  try {
    TraceFile f = parse_jsonl(text, "t.jsonl");
    ADD_FAILURE() << "accepted: " << f.records.size() << " records";
  } catch (const TraceFileError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(fmt::format("t.jsonl:{}: ", line), 0), 0u) << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw something other than TraceFileError: " << e.what();
  }
}

TEST(TraceFileMalformed, ValidBaselineIsAccepted) {
  // The inputs below are this valid file with one thing broken.
  TraceFile f = parse_jsonl(rec(0) + "\n" + rec(1) + "\n\n" + R"({"end":{"hash":"0x0123456789abcdef","records":2}})" "\n", "t");
  EXPECT_EQ(f.records.size(), 2u);
  EXPECT_EQ(f.final_hash, 0x0123456789abcdefu);
  EXPECT_EQ(f.final_count, 2u);
  // Windows line ends are tolerated (JSON allows \r as whitespace).
  EXPECT_EQ(parse_jsonl(rec(0) + "\r\n", "t").records.size(), 1u);
}

TEST(TraceFileMalformed, NotJson) {
  expect_bad(rec(0) + "\nthis is not json\n", 2, "not a JSON object");
  expect_bad("[1,2,3]\n", 1, "not a JSON object");
  expect_bad("\"just a string\"\n", 1, "not a JSON object");
  expect_bad("{\"i\":0,\n", 1, "not a JSON object");
  expect_bad("{\"c\":\"\xff\xfe\"}\n", 1, "not a JSON object");  // invalid UTF-8
}

TEST(TraceFileMalformed, TruncatedLastLine) {
  expect_bad(rec(0) + "\n" + R"({"i":1,"t":0,"f")", 2, "truncated");
  expect_bad(rec(0) + "\n" + rec(1), 2, "truncated");  // complete JSON, but a writer always ends lines
}

TEST(TraceFileMalformed, MissingFields) {
  for (const char* key : {"i", "t", "f", "fn", "c", "n"}) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(rec(0));
    j.erase(key);
    expect_bad(j.dump() + "\n", 1, fmt::format("record has no '{}'", key));
  }
  expect_bad(R"({"end":{"records":0}})" "\n", 1, "record has no 'hash'");
  expect_bad(R"({"end":{"hash":"0x0000000000000000"}})" "\n", 1, "record has no 'records'");
}

TEST(TraceFileMalformed, WrongTypes) {
  auto with = [](const std::string& key, const std::string& json_value) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(rec(0));
    j[key] = nlohmann::ordered_json::parse(json_value);
    return j.dump() + "\n";
  };
  expect_bad(with("t", R"("5")"), 1, "'t' must be an integer, not string");
  expect_bad(with("t", "1.5"), 1, "'t' must be an integer, not number");
  expect_bad(with("t", "true"), 1, "'t' must be an integer, not boolean");
  expect_bad(with("t", "-5"), 1, "'t' = -5 is out of range");  // times are never negative
  expect_bad(with("t", "9223372036854775808"), 1, "out of range");
  expect_bad(with("f", "-1"), 1, "'f' = -1 is out of range");
  expect_bad(with("f", "4294967296"), 1, "'f' = 4294967296 is out of range");
  expect_bad(with("f", "null"), 1, "'f' must be an integer, not null");
  expect_bad(with("i", R"("0")"), 1, "'i' must be an integer");
  expect_bad(with("fn", "5"), 1, "'fn' must be a string, not number");
  expect_bad(with("c", "null"), 1, "'c' must be a string, not null");
  expect_bad(with("n", "[]"), 1, "'n' must be a string, not array");
  expect_bad(with("a", "[]"), 1, "'a' must be an object");
  expect_bad(with("a", R"({"x":[1]})"), 1, "field 'x': values must be numbers, booleans or strings");
  expect_bad(with("a", R"({"x":null})"), 1, "field 'x'");
  expect_bad(with("a", R"({"x":{"y":1}})"), 1, "field 'x'");
  expect_bad(with("a", R"({"x":{"f64":"nan"}})"), 1, "field 'x'");
  expect_bad(with("a", R"({"x":{"f64":"0x7ff0000000000000","y":1}})"), 1, "field 'x'");
  expect_bad(with("a", R"({"x":18446744073709551615})"), 1, "field 'x': integer 18446744073709551615 out of range");
  expect_bad(R"({"end":[]})" "\n", 1, "malformed footer");
  expect_bad(R"({"end":{"hash":"0x0000000000000000","records":-1}})" "\n", 1, "'records' = -1 is out of range");
}

TEST(TraceFileMalformed, OutOfSequenceIndex) {
  expect_bad(rec(0) + "\n" + rec(2) + "\n", 2, "record index 2 out of sequence (expected 1)");
  expect_bad(rec(1) + "\n", 1, "record index 1 out of sequence (expected 0)");
  expect_bad(rec(0) + "\n" + rec(0) + "\n", 2, "record index 0 out of sequence (expected 1)");
}

TEST(TraceFileMalformed, BadPhase) {
  expect_bad(rec(0, R"("p":"x","a":{})") + "\n", 1, "phase must be");
  expect_bad(rec(0, R"("p":1,"a":{})") + "\n", 1, "phase must be");
  expect_bad(rec(0, R"("p":"begin","a":{})") + "\n", 1, "phase must be");
  EXPECT_EQ(parse_jsonl(rec(0, R"("p":"i","a":{})") + "\n", "t").records[0].phase, Phase::instant);
}

TEST(TraceFileMalformed, BadFooter) {
  const std::string body = rec(0) + "\n";
  auto footer = [&](const std::string& hash_json, int count = 1) {
    return body + fmt::format(R"({{"end":{{"hash":{},"records":{}}}}})", hash_json, count) + "\n";
  };
  expect_bad(footer(R"("0x123")"), 2, "footer hash '0x123' must be 0x followed by 16 hex digits");
  expect_bad(footer(R"("0xZZZZZZZZZZZZZZZZ")"), 2, "16 hex digits");
  expect_bad(footer(R"("0x-123456789abcdef")"), 2, "16 hex digits");
  expect_bad(footer(R"("0x 123456789abcdef")"), 2, "16 hex digits");
  expect_bad(footer(R"("0X0123456789abcdef")"), 2, "16 hex digits");
  expect_bad(footer(R"("deadbeefdeadbeef00")"), 2, "16 hex digits");
  expect_bad(footer(R"("0x0123456789abcdef0")"), 2, "16 hex digits");
  expect_bad(footer("12345"), 2, "'hash' must be a string");
  // The footer counts the records: a file that lost records in the middle is caught.
  expect_bad(footer(R"("0x0123456789abcdef")", 5), 2, "footer says 5 records, the file holds 1");
}

TEST(TraceFileMalformed, DataAfterFooter) {
  const std::string footer = R"({"end":{"hash":"0x0123456789abcdef","records":1}})";
  expect_bad(rec(0) + "\n" + footer + "\n" + rec(1) + "\n", 3, "data after the end-of-trace footer");
  expect_bad(rec(0) + "\n" + footer + "\n" + footer + "\n", 3, "data after the end-of-trace footer");
  EXPECT_EQ(parse_jsonl(rec(0) + "\n" + footer + "\n\n", "t").records.size(), 1u);  // blank lines are fine
}

TEST(TraceFileMalformed, EmptyFile) {
  for (const std::string& text : {std::string(), std::string("\n\n")}) {
    try {
      parse_jsonl(text, "t.jsonl");
      ADD_FAILURE() << "an empty trace was accepted";
    } catch (const TraceFileError& e) {
      EXPECT_EQ(std::string(e.what()), "t.jsonl: empty trace");
    }
  }
}

TEST(TraceFileMalformed, DeeplyNestedValueDoesNotCrash) {
  std::string nested = std::string(100000, '[') + std::string(100000, ']');
  expect_bad(rec(0, R"("a":{"x":)" + nested + "}") + "\n", 1, "field 'x'");
}

TEST_F(TraceFileTest, UnreadablePaths) {
  const std::string missing = path("missing.jsonl");
  try {
    read_jsonl(missing);
    ADD_FAILURE() << "read a missing file";
  } catch (const TraceFileError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read trace file '" + missing + "'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_jsonl(dir_.string()), TraceFileError);  // a directory
  // Errors in a file name the file.
  const std::string bad = path("bad.jsonl");
  std::ofstream(bad) << rec(0) << "\n" << "oops\n";
  try {
    read_jsonl(bad);
    ADD_FAILURE() << "accepted a malformed file";
  } catch (const TraceFileError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(bad + ":2: not a JSON object", 0), 0u) << e.what();
  }
}

// Any damage to a valid file (truncation, a changed, inserted or deleted byte, a repeated or
// dropped line) is either still a well-formed trace or a TraceFileError: never a crash or another
// exception.
RC_GTEST_PROP(TraceFileProperty, DamagedFilesNeverCrashTheReader, ()) {
  static const std::string valid = [] {
    std::string text;
    auto mem = std::make_shared<MemorySink>();
    Trace t;
    t.add_sink(mem);
    record_awkward_trace(t);
    for (const Record& r : mem->records) text += record_to_json(r) + "\n";
    text += fmt::format(R"({{"end":{{"hash":"{}","records":{}}}}})", hash_hex(t.hash()), t.count()) + "\n";
    return text;
  }();
  std::string text = valid;
  const int damages = *rc::gen::inRange(1, 4);
  for (int d = 0; d < damages && !text.empty(); ++d) {
    const size_t at = *rc::gen::inRange<size_t>(0, text.size());
    switch (*rc::gen::inRange(0, 5)) {
      case 0: text.resize(at); break;
      case 1: text[at] = *rc::gen::elementOf(std::string("{}[]\",:0-9.e\\\nx\x80")); break;
      case 2: text.insert(at, 1, *rc::gen::elementOf(std::string("{}[]\",:1\n\x01"))); break;
      case 3: text.erase(at, 1); break;
      case 4: {  // repeat or drop the line holding `at`
        size_t begin = text.rfind('\n', at);
        begin = begin == std::string::npos ? 0 : begin + 1;
        size_t end = text.find('\n', at);
        if (end == std::string::npos) break;
        std::string line = text.substr(begin, end + 1 - begin);
        if (*rc::gen::arbitrary<bool>()) text.insert(begin, line);
        else text.erase(begin, line.size());
        break;
      }
    }
  }
  try {
    TraceFile f = parse_jsonl(text, "damaged");
    for (size_t i = 0; i < f.records.size(); ++i) RC_ASSERT(f.records[i].index == i);
    if (f.final_count) RC_ASSERT(*f.final_count == f.records.size());
  } catch (const TraceFileError& e) {
    RC_ASSERT(std::string(e.what()).rfind("damaged:", 0) == 0);
  }
}

// --- Perfetto ------------------------------------------------------------------------------------

nlohmann::json read_json(const std::string& p) { return nlohmann::json::parse(slurp(p)); }

TEST_F(TraceFileTest, PerfettoTraceEvents) {
  const std::string p = path("run.perfetto.json");
  Trace t;
  t.add_sink(std::make_shared<PerfettoSink>(p));
  std::vector<Field> none, one = {{"id", 1}}, two = {{"id", 2}}, args = {{"method", "GET"}, {"n", 3}, {"ok", true}};
  t.record(Time::zero(), 0, "", "meta", "header", Phase::instant, none);
  t.record(Time::from_ns(1500), 1, "main", "fiber", "life", Phase::begin, one);
  t.record(Time::from_ns(2'000'000), 1, "main", "http", "request", Phase::instant, args);
  t.record(Time::from_ns(2'500'000), 2, "worker", "fiber", "life", Phase::begin, two);
  t.record(Time::from_ns(3'000'000), 2, "worker", "fiber", "life", Phase::end, two);
  t.record(Time::from_ns(4'000'001), 1, "main", "fiber", "life", Phase::end, one);
  EXPECT_TRUE(fs::exists(p + ".tmp"));
  EXPECT_FALSE(fs::exists(p));
  t.close();
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  nlohmann::json doc = read_json(p);
  ASSERT_TRUE(doc.contains("traceEvents"));
  ASSERT_TRUE(doc["traceEvents"].is_array());
  std::map<int, std::string> track_names;
  std::vector<nlohmann::json> instants, spans;
  for (const auto& e : doc["traceEvents"]) {
    const std::string ph = e.at("ph").get<std::string>();
    if (ph == "M") {
      EXPECT_EQ(e.at("name"), "thread_name");
      const int tid = e.at("tid").get<int>();
      EXPECT_FALSE(track_names.count(tid)) << "track " << tid << " named twice";
      track_names[tid] = e.at("args").at("name").get<std::string>();
    } else if (ph == "i") {
      instants.push_back(e);
    } else {
      spans.push_back(e);
    }
  }
  EXPECT_EQ(track_names, (std::map<int, std::string>{{0, "kernel"}, {1, "1 main"}, {2, "2 worker"}}));
  ASSERT_EQ(instants.size(), 2u);
  EXPECT_EQ(instants[1].at("name"), "request");
  EXPECT_EQ(instants[1].at("cat"), "http");
  EXPECT_EQ(instants[1].at("tid"), 1);
  EXPECT_EQ(instants[1].at("s"), "t");
  EXPECT_EQ(instants[1].at("ts").get<double>(), 2000.0);  // microseconds
  EXPECT_EQ(instants[1].at("args"), (nlohmann::json{{"method", "GET"}, {"n", 3}, {"ok", true}}));
  ASSERT_EQ(spans.size(), 4u);
  // Async slices: a begin and its end share the id; different spans have different ids.
  EXPECT_EQ(spans[0].at("ph"), "b");
  EXPECT_EQ(spans[0].at("ts").get<double>(), 1.5);
  EXPECT_EQ(spans[3].at("ph"), "e");
  EXPECT_EQ(spans[3].at("ts").get<double>(), 4000.001);
  EXPECT_EQ(spans[0].at("id"), spans[3].at("id"));
  EXPECT_EQ(spans[1].at("ph"), "b");
  EXPECT_EQ(spans[2].at("ph"), "e");
  EXPECT_EQ(spans[1].at("id"), spans[2].at("id"));
  EXPECT_NE(spans[0].at("id"), spans[1].at("id"));
  for (const auto& s : spans) {
    EXPECT_EQ(s.at("cat"), "fiber");
    EXPECT_EQ(s.at("name"), "life");
  }
}

TEST_F(TraceFileTest, PerfettoDestroyedWithoutCloseIsValidJson) {
  const std::string p = path("aborted.perfetto.json");
  {
    PerfettoSink s(p);
    Record r;
    r.fiber = 3;
    r.fiber_name = "x";
    r.category = "c";
    r.name = "n";
    r.fields = {{"nan", std::nan("")}, {"inf", -std::numeric_limits<double>::infinity()}};
    s.write(r);
  }
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  nlohmann::json doc = read_json(p);
  ASSERT_EQ(doc.at("traceEvents").size(), 2u);  // the track name and the event
  // JSON has no NaN or infinity: the viewer gets them as text, and the file stays valid JSON.
  EXPECT_EQ(doc["traceEvents"][1].at("args"), (nlohmann::json{{"nan", "nan"}, {"inf", "-inf"}}));
}

TEST_F(TraceFileTest, PerfettoEmptyTraceIsValidJson) {
  const std::string p = path("empty.perfetto.json");
  { PerfettoSink s(p); s.close(0, 0); }
  nlohmann::json doc = read_json(p);
  EXPECT_TRUE(doc.at("traceEvents").is_array());
  EXPECT_TRUE(doc.at("traceEvents").empty());
}

}  // namespace
