// Unit tests of the pieces behind `cfsim`: parsers, the replay command, the crash-safe trace sink,
// the Perfetto export's structure, the timeline layout and the explain account. The binary itself
// is tested end to end by e2e.sh.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "scenarios/registry.h"
#include "sim/trace_file.h"
#include "tools/replay/actors.h"
#include "tools/replay/build_info.h"
#include "tools/replay/cli_common.h"
#include "tools/replay/commands.h"
#include "tools/replay/explain.h"
#include "tools/replay/perfetto.h"
#include "tools/replay/safe_sink.h"
#include "tools/replay/timeline.h"

using namespace cfsim;
using namespace cfsim::cli;

namespace {

Record rec(uint64_t i, int64_t t_ms, std::string cat, std::string name, std::vector<std::pair<std::string, Value>> fields = {},
           Phase phase = Phase::instant, uint32_t fiber = 0, std::string fiber_name = "") {
  Record r;
  r.index = i;
  r.time = Time::from_ns(t_ms * 1'000'000);
  r.category = std::move(cat);
  r.name = std::move(name);
  r.fields = std::move(fields);
  r.phase = phase;
  r.fiber = fiber;
  r.fiber_name = std::move(fiber_name);
  return r;
}

std::vector<Record> run_records(const std::string& scenario, uint64_t seed, FaultMode faults) {
  auto mem = std::make_shared<MemorySink>();
  ScenarioOptions o;
  o.seed = seed;
  o.faults = faults;
  o.sinks = {mem};
  find_scenario(scenario)->run(o);
  return mem->records;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/cfsim-cli-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

// --- parsers and commands -----------------------------------------------------------------------------

TEST(CliParse, SeedsAreStrictDecimalU64) {
  EXPECT_EQ(parse_seed("0"), 0u);
  EXPECT_EQ(parse_seed("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "1e3", "18446744073709551616", "99999999999999999999"}) {
    try {
      parse_seed(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("bad seed '") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(CliParse, SeedRangesAndShards) {
  SeedRange r = parse_seed_range("3..7");
  EXPECT_EQ(r.first, 3u);
  EXPECT_EQ(r.last, 7u);
  EXPECT_EQ(r.count(), 5u);
  EXPECT_EQ(parse_seed_range("9").count(), 1u);
  EXPECT_THROW(parse_seed_range("7..3"), UsageError);
  EXPECT_THROW(parse_seed_range("1..x"), UsageError);
  EXPECT_THROW(parse_seed_range("0..18446744073709551615"), UsageError);  // more than 2^32 seeds
  Shard s = parse_shard("2/5");
  EXPECT_EQ(s.index, 2u);
  EXPECT_EQ(s.count, 5u);
  EXPECT_THROW(parse_shard("5/5"), UsageError);
  EXPECT_THROW(parse_shard("0/0"), UsageError);
  EXPECT_THROW(parse_shard("1"), UsageError);
}

TEST(CliParse, HumanDurations) {
  EXPECT_EQ(human_duration(Duration::zero()), "0s");
  EXPECT_EQ(human_duration(Duration::nanos(850)), "850ns");
  EXPECT_EQ(human_duration(Duration::nanos(12'500)), "12.5us");
  EXPECT_EQ(human_duration(Duration::millis(340)), "340ms");
  EXPECT_EQ(human_duration(Duration::millis(2350)), "2.35s");
  EXPECT_EQ(human_duration(Duration::seconds(245)), "4m05s");
  EXPECT_EQ(human_duration(Duration::seconds(3720)), "1h02m");
  EXPECT_EQ(human_duration(Duration::seconds(3 * 86400 + 4 * 3600)), "3d04h");
  EXPECT_EQ(human_duration(-Duration::millis(5)), "-5ms");
}

TEST(CliParse, NameFamiliesAndSummaries) {
  EXPECT_EQ(name_family("submit-12"), "submit-*");
  EXPECT_EQ(name_family("client"), "client");
  EXPECT_EQ(name_family("42"), "42");
  EXPECT_EQ(summarize_names({"client", "submit-0", "worker-1", "submit-2", "submit-1", "worker-0"}),
            "client, submit-0..2 (3), worker-0..1 (2)");
  EXPECT_EQ(summarize_names({"worker-3"}), "worker-3");
  EXPECT_EQ(name_pattern("do:COUNTER/c12#7"), "do:COUNTER/c*#*");
  EXPECT_EQ(name_pattern("client"), "client");
}

TEST(CliReplayCommand, CarriesEveryOptionOfTheRunQuoted) {
  RunSpec spec;
  spec.scenario = find_scenario("kernel-race");
  spec.options.seed = 7;
  EXPECT_EQ(replay_command("build/release/bin/cfsim", spec), "build/release/bin/cfsim run kernel-race --seed 7");
  spec.options.faults = FaultMode::plan;
  spec.faults_arg = "my plan.txt";
  spec.options.until = Duration::millis(1500);
  spec.options.shuffle_ties = true;
  EXPECT_EQ(replay_command("cfsim", spec),
            "cfsim run kernel-race --seed 7 --faults 'my plan.txt' --until 1.500s --shuffle-ties");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

TEST(CliReplayCommand, HeaderOfARunGivesBackItsOptions) {
  // The trace header alone describes the run: spec_from_header(header) == the options run.
  TempDir dir;
  std::string path = dir.path + "/t.jsonl";
  ScenarioOptions o;
  o.seed = 12345678901234567890ull;
  o.faults = FaultMode::plan;
  o.plan.add({Time::zero() + Duration::millis(300), "app-kill-worker", "", {{"index", "2"}}});
  o.until = Duration::seconds(20);
  o.shuffle_ties = true;
  o.sinks = {std::make_shared<JsonlSink>(path)};
  find_scenario("kernel-pipeline")->run(o);
  o.sinks.clear();
  RunSpec spec = spec_from_header(read_jsonl(path), path);
  EXPECT_EQ(spec.scenario->name, "kernel-pipeline");
  EXPECT_EQ(spec.options.seed, o.seed);
  EXPECT_EQ(spec.options.faults, FaultMode::plan);
  EXPECT_EQ(spec.options.plan, o.plan);
  EXPECT_EQ(spec.options.until, o.until);
  EXPECT_TRUE(spec.options.shuffle_ties);
}

// --- the crash-safe sink ---------------------------------------------------------------------------------

TEST(CliSafeJsonlSink, WritesExactlyWhatJsonlSinkWrites) {
  TempDir dir;
  for (uint64_t seed : {1, 2}) {
    std::string a = dir.path + "/a.jsonl", b = dir.path + "/b.jsonl";
    ScenarioOptions o;
    o.seed = seed;
    o.faults = FaultMode::swarm;
    o.sinks = {std::make_shared<JsonlSink>(a, this_build()), std::make_shared<SafeJsonlSink>(b)};
    find_scenario("kernel-pipeline")->run(o);
    o.sinks.clear();
    std::string text = read_file(b);
    EXPECT_GT(text.size(), 10000u);
    EXPECT_EQ(read_file(a), text) << "seed " << seed;
    EXPECT_TRUE(parse_jsonl(text, b).final_hash.has_value());
  }
}

TEST(CliSafeJsonlSink, DeferredRenameKeepsOnlyCommittedTraces) {
  TempDir dir;
  auto run_to = [&](const std::string& path, bool keep) {
    auto sink = std::make_shared<SafeJsonlSink>(path, /*defer_rename=*/true);
    ScenarioOptions o;
    o.sinks = {sink};
    find_scenario("kernel-race")->run(o);
    EXPECT_FALSE(std::filesystem::exists(path)) << "renamed before commit";
    if (keep) sink->commit();
    else sink->discard();
  };
  run_to(dir.path + "/kept.jsonl", true);
  run_to(dir.path + "/dropped.jsonl", false);
  EXPECT_TRUE(std::filesystem::exists(dir.path + "/kept.jsonl"));
  EXPECT_FALSE(std::filesystem::exists(dir.path + "/dropped.jsonl"));
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++files;
  EXPECT_EQ(files, 1u) << "a temporary file was left behind";
}

TEST(CliSafeJsonlSink, DestroyedWithoutCloseKeepsWholeLines) {
  // An exception in the middle of a run: the sink is destroyed unclosed and keeps what it had.
  TempDir dir;
  std::string path = dir.path + "/t.jsonl";
  {
    SafeJsonlSink sink(path);
    for (uint64_t i = 0; i < 1000; ++i) sink.write(rec(i, static_cast<int64_t>(i), "app", "step", {{"i", int64_t(i)}}));
  }
  TraceFile t = read_jsonl(path);
  EXPECT_EQ(t.records.size(), 1000u);
  EXPECT_FALSE(t.final_hash.has_value());
}

// --- Perfetto export -------------------------------------------------------------------------------------

namespace {

// Checks what the Perfetto UI needs of a trace-event document, and returns track name -> tid.
std::map<std::string, int64_t> check_perfetto_structure(const nlohmann::json& doc) {
  std::map<std::string, int64_t> tracks;
  EXPECT_TRUE(doc.is_object());
  EXPECT_EQ(doc.value("displayTimeUnit", ""), "ms");
  const auto& events = doc.at("traceEvents");
  EXPECT_TRUE(events.is_array());
  std::map<int64_t, std::string> name_of_tid;
  for (const auto& e : events)
    if (e.at("ph") == "M" && e.at("name") == "thread_name") {
      int64_t tid = e.at("tid");
      std::string name = e.at("args").at("name");
      EXPECT_FALSE(name_of_tid.count(tid)) << "two names for tid " << tid;
      EXPECT_FALSE(tracks.count(name)) << "two tracks named " << name;
      name_of_tid[tid] = name;
      tracks[name] = tid;
    }
  std::map<int64_t, std::vector<std::pair<double, double>>> slices;  // tid -> [start, end)
  for (const auto& e : events) {
    std::string ph = e.at("ph");
    EXPECT_TRUE(ph == "M" || ph == "X" || ph == "i") << e.dump();
    EXPECT_EQ(e.at("pid"), 1);
    if (ph == "M") continue;
    int64_t tid = e.at("tid");
    EXPECT_TRUE(name_of_tid.count(tid)) << "event on an unnamed track: " << e.dump();
    EXPECT_TRUE(e.at("ts").is_number());
    EXPECT_TRUE(e.at("name").is_string());
    EXPECT_TRUE(e.at("args").is_object());
    if (ph == "i") {
      EXPECT_EQ(e.at("s"), "t");
    }
    if (ph == "X") {
      double ts = e.at("ts"), dur = e.at("dur");
      EXPECT_GE(dur, 0);
      slices[tid].emplace_back(ts, ts + dur);
    }
  }
  // Slices on one track must nest: any two are disjoint or one contains the other.
  for (const auto& [tid, list] : slices)
    for (size_t i = 0; i < list.size(); ++i)
      for (size_t j = i + 1; j < list.size(); ++j) {
        auto [a0, a1] = list[i];
        auto [b0, b1] = list[j];
        bool disjoint = a1 <= b0 || b1 <= a0;
        bool nested = (a0 <= b0 && b1 <= a1) || (b0 <= a0 && a1 <= b1);
        EXPECT_TRUE(disjoint || nested) << "track " << name_of_tid[tid] << ": [" << a0 << "," << a1 << ") and [" << b0 << ","
                                        << b1 << ") overlap without nesting";
      }
  return tracks;
}

}  // namespace

TEST(CliPerfettoExport, OneTrackPerActorOfARealRun) {
  std::vector<Record> records = run_records("kernel-pipeline", 3, FaultMode::swarm);
  nlohmann::json doc = nlohmann::json::parse(perfetto_json(records));
  auto tracks = check_perfetto_structure(doc);
  ActorMap actors;
  std::set<std::string> expected;
  for (const auto& r : records) expected.insert(actors.actor_of(r));
  std::set<std::string> lane0;
  for (const auto& [name, tid] : tracks)
    if (name.find(" (") == std::string::npos) lane0.insert(name);
  EXPECT_EQ(lane0, expected);
  EXPECT_TRUE(expected.count("worker-0") && expected.count("client") && expected.count("kernel"));
  // every fiber's life is a slice named after it
  size_t lives = 0, slices = 0;
  for (const auto& r : records) lives += r.category == "fiber" && r.name == "life" && r.phase == Phase::begin;
  for (const auto& e : doc["traceEvents"]) slices += e["ph"] == "X" && e["cat"] == "fiber";
  EXPECT_EQ(slices, lives);
  EXPECT_GT(lives, 200u);
}

TEST(CliPerfettoExport, FaultSpansAndContainerLifetimesAreSlices) {
  using P = Phase;
  std::vector<Record> r = {
      rec(0, 0, "meta", "header", {{"scenario", std::string("demo")}, {"seed", std::string("5")}}),
      rec(1, 10, "container", "life", {{"id", int64_t(1)}, {"container", std::string("main")}}, P::begin),
      rec(2, 20, "fault", "partition", {{"id", int64_t(1)}}, P::begin),
      rec(3, 30, "fault", "slow-r2", {{"id", int64_t(2)}}, P::begin),
      rec(4, 40, "fault", "partition", {{"id", int64_t(1)}}, P::end),  // overlaps slow-r2 without nesting
      rec(5, 50, "container", "life", {{"id", int64_t(1)}, {"container", std::string("main")}, {"exit_code", int64_t(137)}}, P::end),
      rec(6, 60, "fault", "slow-r2", {{"id", int64_t(2)}}, P::end),
      rec(7, 70, "container", "life", {{"id", int64_t(2)}, {"container", std::string("main")}}, P::begin),  // never ends
      rec(8, 90, "app", "tick", {}, P::instant, 3, "app"),
  };
  nlohmann::json doc = nlohmann::json::parse(perfetto_json(r));
  auto tracks = check_perfetto_structure(doc);
  ASSERT_TRUE(tracks.count("container main"));
  ASSERT_TRUE(tracks.count("faults"));
  ASSERT_TRUE(tracks.count("faults (2)")) << "overlapping fault spans need a second track";
  ASSERT_TRUE(tracks.count("app"));
  std::map<std::string, std::vector<nlohmann::json>> by_name;
  for (const auto& e : doc["traceEvents"])
    if (e["ph"] == "X") by_name[e["name"]].push_back(e);
  ASSERT_EQ(by_name["container.life"].size(), 2u);
  const auto& first_life = by_name["container.life"][0];
  EXPECT_EQ(first_life["tid"], tracks["container main"]);
  EXPECT_EQ(first_life["ts"], 10000.0);  // microseconds
  EXPECT_EQ(first_life["dur"], 40000.0);
  EXPECT_EQ(first_life["args"]["end.exit_code"], 137);
  EXPECT_EQ(by_name["container.life"][1]["args"]["unfinished"], true);
  EXPECT_EQ(by_name["container.life"][1]["dur"], 20000.0);  // to the last record
  ASSERT_EQ(by_name["fault.partition"].size(), 1u);
  ASSERT_EQ(by_name["fault.slow-r2"].size(), 1u);
  EXPECT_EQ(by_name["fault.partition"][0]["dur"], 20000.0);
  EXPECT_NE(by_name["fault.partition"][0]["tid"], by_name["fault.slow-r2"][0]["tid"]);
  EXPECT_EQ(doc["traceEvents"][0]["args"]["name"], "cfsim demo seed 5");
}

TEST(CliPerfettoExport, WrittenThroughATemporaryFile) {
  TempDir dir;
  std::string path = dir.path + "/sub/p.json";
  std::vector<Record> records = run_records("kernel-race", 1, FaultMode::none);
  write_perfetto_file(path, records);
  EXPECT_EQ(read_file(path), perfetto_json(records));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

// --- timeline -----------------------------------------------------------------------------------------------

TEST(CliTimeline, OneColumnPerActorWithSpansInHumanUnits) {
  std::vector<Record> r = {
      rec(0, 0, "meta", "header", {{"scenario", std::string("demo")}, {"seed", std::string("5")}, {"faults", std::string("none")}}),
      rec(1, 0, "fiber", "life", {{"id", int64_t(1)}, {"name", std::string("alpha")}}, Phase::begin),
      rec(2, 0, "fiber", "life", {{"id", int64_t(2)}, {"name", std::string("beta")}}, Phase::begin),
      rec(3, 0, "sched", "resume", {}, Phase::instant, 1, "alpha"),
      rec(4, 5, "app", "ping", {{"n", int64_t(1)}}, Phase::instant, 1, "alpha"),
      rec(5, 2500, "app", "pong", {{"who", std::string("b c")}}, Phase::instant, 2, "beta"),
      rec(6, 2500, "fiber", "life", {{"id", int64_t(1)}, {"status", std::string("finished")}}, Phase::end, 1, "alpha"),
  };
  TimelineOptions o;
  o.width_chars = 100;
  std::string text = render_timeline(r, o);
  std::istringstream lines(text);
  std::string header, rule, line;
  std::getline(lines, header);
  std::getline(lines, rule);
  EXPECT_EQ(header.find("time"), 0u);
  size_t kernel = header.find("kernel"), alpha = header.find("alpha"), beta = header.find("beta");
  ASSERT_NE(beta, std::string::npos) << header;
  EXPECT_LT(kernel, alpha);
  EXPECT_LT(alpha, beta);
  std::vector<std::string> body;
  while (std::getline(lines, line)) body.push_back(line);
  auto find_line = [&](const std::string& needle) -> std::string {
    for (const auto& l : body)
      if (l.find(needle) != std::string::npos) return l;
    ADD_FAILURE() << "no line with " << needle << " in\n" << text;
    return "";
  };
  EXPECT_EQ(find_line("app.ping n=1").find("app.ping"), alpha);
  EXPECT_EQ(find_line("app.pong").find("app.pong"), beta);
  EXPECT_NE(find_line("app.pong").find("who=\"b c\""), std::string::npos);
  EXPECT_NE(find_line("ended: finished after 2.5s").find("ended"), std::string::npos);
  EXPECT_NE(find_line("2.5s pass").find("..."), std::string::npos) << "a quiet stretch of 2.5 s gets a line";
  EXPECT_EQ(text.find("sched.resume"), std::string::npos);
  o.scheduling = true;
  EXPECT_NE(render_timeline(r, o).find("sched.resume"), std::string::npos);
}

TEST(CliTimeline, ManyActorsAreGroupedByFamily) {
  std::vector<Record> r;
  for (int i = 0; i < 20; ++i)
    r.push_back(rec(static_cast<uint64_t>(i), i, "app", "step", {}, Phase::instant, static_cast<uint32_t>(i + 1),
                    "submit-" + std::to_string(i)));
  r.push_back(rec(20, 30, "app", "done", {}, Phase::instant, 30, "client"));
  std::string text = render_timeline(r, {});
  std::string header = text.substr(0, text.find('\n'));
  EXPECT_NE(header.find("submit-*"), std::string::npos) << header;
  EXPECT_NE(header.find("client"), std::string::npos) << header;
  EXPECT_NE(text.find("submit-17: app.step"), std::string::npos) << text;
}

// --- explain ------------------------------------------------------------------------------------------------

namespace {
std::string explain(const std::vector<Record>& r) { return explain_trace({r, std::nullopt, std::nullopt, "t.jsonl"}); }
Record store(uint64_t i, int64_t t, const char* cat, const char* name, std::vector<std::pair<std::string, Value>> f) {
  return rec(i, t, cat, name, std::move(f), Phase::instant, 2, "app");
}
Value s(const char* v) { return std::string(v); }
}  // namespace

TEST(CliExplain, SaysPlainlyWhenTheTraceHoldsNoAppData) {
  std::vector<Record> records = run_records("kernel-pipeline", 2, FaultMode::swarm);
  std::string text = explain(records);
  EXPECT_NE(text.find("Trace t.jsonl: scenario kernel-pipeline, seed 2, faults swarm"), std::string::npos) << text;
  EXPECT_NE(text.find("App data: the trace holds no record of a write to a data store"), std::string::npos);
  EXPECT_NE(text.find("check every_job_acknowledged: passed (missing=0)"), std::string::npos) << text;
  EXPECT_NE(text.find("the run was aborted"), std::string::npos) << "no footer given";
  EXPECT_NE(text.find("fibers: "), std::string::npos);
}

TEST(CliExplain, RollbackTakesOnlyWhatWasNotDurable) {
  std::vector<Record> r = {
      store(0, 1, "storage", "put", {{"do", s("a")}, {"key", s("k1")}, {"value", s("1")}}),
      store(1, 2, "storage", "commit", {{"do", s("a")}}),
      store(2, 3, "storage", "put", {{"do", s("a")}, {"key", s("k2")}, {"value", s("x")}}),
      store(3, 3, "storage", "put", {{"do", s("b")}, {"key", s("k2")}, {"value", s("y")}}),  // another object
      store(4, 4, "storage", "rollback", {{"do", s("a")}}),
      store(5, 5, "storage", "get", {{"do", s("a")}, {"key", s("k1")}, {"value", s("1")}}),
      store(6, 6, "storage", "get", {{"do", s("a")}, {"key", s("k2")}, {"found", false}}),
      store(7, 7, "storage", "get", {{"do", s("b")}, {"key", s("k2")}, {"value", s("y")}}),
  };
  std::string text = explain(r);
  EXPECT_NE(text.find("took 1 write to 1 piece of data: k2"), std::string::npos) << text;
  EXPECT_NE(text.find("DO storage a: k2 read at 0.006s by app: MISSING"), std::string::npos) << text;
  EXPECT_NE(text.find("caused by storage.rollback do=a (record #4 at 0.004s, by app)"), std::string::npos) << text;
  EXPECT_NE(text.find("Missing or stale reads (1):"), std::string::npos) << text;
  EXPECT_NE(text.find("in the end: kept (last written at 0.001s, durable); 1 write, 1 read as expected"),
            std::string::npos) << text;
}

TEST(CliExplain, RollbackSinceAndWipeOfOneScope) {
  std::vector<Record> r = {
      store(0, 1, "disk", "write", {{"container", s("c1")}, {"path", s("/a")}, {"durable", true}}),
      store(1, 1, "disk", "write", {{"container", s("c2")}, {"path", s("/a")}}),
      store(2, 2, "disk", "wipe", {{"container", s("c1")}}),  // takes durable data too, only in c1
      store(3, 3, "r2", "put", {{"bucket", s("b")}, {"key", s("o1")}, {"etag", s("e1")}, {"durable", true}}),
      store(4, 5, "r2", "put", {{"bucket", s("b")}, {"key", s("o1")}, {"etag", s("e2")}, {"durable", true}}),
      store(5, 6, "r2", "rollback", {{"bucket", s("b")}, {"since", int64_t(4'000'000)}}),
      store(6, 7, "r2", "get", {{"bucket", s("b")}, {"key", s("o1")}, {"etag", s("e1")}}),
  };
  std::string text = explain(r);
  EXPECT_NE(text.find("container disk c1: /a\n"), std::string::npos) << text;
  EXPECT_NE(text.find("in the end: LOST, and never read again"), std::string::npos) << text;
  EXPECT_NE(text.find("container disk c2: /a\n"), std::string::npos);
  EXPECT_NE(text.find("R2 b: o1 read at 0.007s by app: STALE"), std::string::npos) << text;
  EXPECT_NE(text.find("read by app: STALE (etag e1 where the last write (record #4) wrote e2); "
                      "caused by r2.rollback bucket=b since=4000000 (record #5 at 0.006s, by app)"),
            std::string::npos) << text;
}

TEST(CliExplain, TheAppsOwnDeletesAreNotLosses) {
  std::vector<Record> r = {
      store(0, 1, "kv", "put", {{"namespace", s("n")}, {"key", s("k")}, {"value", s("v")}}),
      store(1, 2, "kv", "delete", {{"namespace", s("n")}, {"key", s("k")}}),
      store(2, 3, "kv", "get", {{"namespace", s("n")}, {"key", s("k")}, {"found", false}}),
  };
  std::string text = explain(r);
  EXPECT_NE(text.find("deleted by the app"), std::string::npos) << text;
  EXPECT_NE(text.find("Missing or stale reads: none."), std::string::npos) << text;
  EXPECT_NE(text.find("Losses: none"), std::string::npos) << text;
}

TEST(CliTimeline, SpanEndsStayWithTheirBeginsActor) {
  // The end of a DO request names no object; it still belongs to the object its begin named.
  ActorMap actors;
  Record begin = rec(0, 1, "do", "request", {{"id", int64_t(7)}, {"object", s("COUNTER/c0")}}, Phase::begin, 3, "req");
  Record end = rec(1, 2, "do", "request", {{"id", int64_t(7)}, {"result", s("ok")}}, Phase::end, 3, "req");
  Record other_end = rec(2, 3, "do", "request", {{"id", int64_t(8)}}, Phase::end, 3, "req");
  EXPECT_EQ(actors.actor_of(begin), "DO COUNTER/c0");
  EXPECT_EQ(actors.actor_of(end), "DO COUNTER/c0");
  EXPECT_EQ(actors.actor_of(other_end), "DO") << "an end without its begin follows the rules";
}

TEST(CliTimeline, ManyFamiliesAreGroupedByEveryNumber) {
  // 3 objects x 4 request fibers each: 12 actors, 3 families, still too many with max_columns 2.
  std::vector<Record> r;
  for (int o = 0; o < 3; ++o)
    for (int k = 0; k < 4; ++k)
      r.push_back(rec(r.size(), static_cast<int64_t>(r.size()), "app", "step", {}, Phase::instant,
                      static_cast<uint32_t>(r.size() + 1), fmt::format("do:C/c{}#{}", o, k)));
  TimelineOptions o;
  o.max_columns = 2;
  std::string text = render_timeline(r, o);
  std::string header = text.substr(0, text.find('\n'));
  EXPECT_NE(header.find("do:C/c*#*"), std::string::npos) << header;
  EXPECT_NE(text.find("do:C/c2#3: app.step"), std::string::npos) << text;
  o.max_columns = 3;
  header = render_timeline(r, o);
  header = header.substr(0, header.find('\n'));
  EXPECT_NE(header.find("do:C/c1#*"), std::string::npos) << "three families fit in three columns: " << header;
}

TEST(CliTimeline, TheBiggestFamiliesShareTheLastColumn) {
  // Single actors (a Durable Object, a store) keep their columns; the families of request fibers
  // go to "(others)", each of their lines naming its fiber.
  std::vector<Record> r = {rec(0, 0, "meta", "header")};
  for (int i = 0; i < 10; ++i)
    r.push_back(rec(r.size(), i, "app", "step", {}, Phase::instant, static_cast<uint32_t>(i + 1), fmt::format("req-{}", i)));
  for (int i = 0; i < 5; ++i)
    r.push_back(rec(r.size(), 12, "app", "run", {}, Phase::instant, static_cast<uint32_t>(i + 20), fmt::format("job-{}", i)));
  r.push_back(rec(r.size(), 20, "do", "alarm", {{"object", s("A")}}, Phase::instant, 0));
  r.push_back(rec(r.size(), 21, "storage", "put", {{"object", s("A")}, {"key", s("k")}}, Phase::instant, 0));
  TimelineOptions o;
  o.max_columns = 4;  // kernel, req-*, job-*, DO A, DO storage A: one too many
  std::string text = render_timeline(r, o);
  std::string header = text.substr(0, text.find('\n'));
  EXPECT_NE(header.find("DO A"), std::string::npos) << header;
  EXPECT_NE(header.find("DO storage A"), std::string::npos) << header;
  EXPECT_NE(header.find("(others)"), std::string::npos) << header;
  EXPECT_EQ(header.find("req-"), std::string::npos) << header;
  EXPECT_EQ(header.find("job-"), std::string::npos) << header;
  EXPECT_NE(text.find("req-7: app.step"), std::string::npos) << text;
  EXPECT_NE(text.find("job-3: app.run"), std::string::npos) << text;
}
