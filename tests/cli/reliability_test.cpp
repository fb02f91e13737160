// Unit tests of what keeps `cfsim`'s reports honest when a run goes wrong: the build a trace records
// (outside the hash), the report of a run that threw, and the trace a killed child leaves. The
// binary is tested end to end by e2e.sh (run_threw, killed, build_recorded) and bad_inputs.sh.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "scenarios/registry.h"
#include "sim/trace_file.h"
#include "tools/replay/build_info.h"
#include "tools/replay/cli_common.h"
#include "tools/replay/run_tally.h"
#include "tools/replay/safe_sink.h"

using namespace cfsim;
using namespace cfsim::cli;

namespace {

struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/tmp/cfsim-reliability-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunSpec spec_of(const std::string& scenario, uint64_t seed, FaultMode faults) {
  RunSpec spec;
  spec.scenario = find_scenario(scenario);
  spec.options.seed = seed;
  spec.options.faults = faults;
  spec.faults_arg = to_string(faults);
  return spec;
}

}  // namespace

TEST(CliBuildInfo, NamesTheVersionsAndFlagsThatDecideARun) {
  const BuildInfo& b = this_build();
  std::vector<std::string> names;
  for (const auto& [k, v] : b) {
    names.push_back(k);
    EXPECT_FALSE(v.empty()) << k;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"cfsim", "sqlite", "boost", "compiler", "flags"}));
  EXPECT_EQ(b[0].second, CFSIM_VERSION);
  EXPECT_NE(b[4].second.find("-ffp-contract=off"), std::string::npos) << b[4].second;
}

TEST(CliBuildInfo, IsOnTheHeaderLineAndOutsideTheHash) {
  ScratchDir dir;
  const std::string with = dir.path + "/with.jsonl", without = dir.path + "/without.jsonl";
  BuildInfo other = {{"cfsim", CFSIM_VERSION}, {"compiler", "clang 99"}};
  ScenarioOptions o;
  o.seed = 2;
  o.sinks = {std::make_shared<JsonlSink>(with, other), std::make_shared<JsonlSink>(without)};
  find_scenario("kernel-race")->run(o);
  o.sinks.clear();
  TraceFile a = read_jsonl(with), b = read_jsonl(without);
  EXPECT_EQ(a.build, other);
  EXPECT_TRUE(b.build.empty()) << "a trace without a build reads";
  ASSERT_EQ(a.records.size(), b.records.size());
  for (size_t i = 0; i < a.records.size(); ++i) EXPECT_EQ(record_hash(a.records[i]), record_hash(b.records[i])) << i;
  EXPECT_EQ(a.final_hash, b.final_hash) << "the build entered the hash";
  // only the first line holds it
  std::string text = slurp(with);
  EXPECT_EQ(text.find("\"build\""), text.find("\"build\":{\"cfsim\""));
  EXPECT_EQ(text.find("\"build\"", text.find('\n')), std::string::npos);
}

TEST(CliBuildInfo, AMalformedBuildIsRejectedWithItsLine) {
  const std::string header = R"({"i":0,"t":0,"f":0,"fn":"","c":"meta","n":"header","a":{})";
  EXPECT_THROW(parse_jsonl(header + R"(,"build":"gcc"})" "\n", "t"), TraceFileError);
  EXPECT_THROW(parse_jsonl(header + R"(,"build":{"sqlite":3}})" "\n", "t"), TraceFileError);
  TraceFile ok = parse_jsonl(header + R"(,"build":{"sqlite":"3.40.1"}})" "\n", "t");
  EXPECT_EQ(ok.build, (BuildInfo{{"sqlite", "3.40.1"}}));
}

TEST(CliBuildInfo, DifferencesNameEachValueAndEachSide) {
  BuildInfo a = {{"cfsim", "0.1.0"}, {"sqlite", "3.40.1"}, {"compiler", "gcc 12"}};
  BuildInfo b = {{"cfsim", "0.1.0"}, {"sqlite", "3.45.0"}, {"flags", "-O2"}};
  EXPECT_TRUE(build_differences(a, a, "A", "B").empty());
  EXPECT_EQ(build_differences(a, b, "A", "B"),
            (std::vector<std::string>{"sqlite: 3.40.1 (A) vs 3.45.0 (B)", "compiler: gcc 12 (A) vs (not recorded) (B)",
                                      "flags: (not recorded) (A) vs -O2 (B)"}));
}

TEST(CliRunReport, ARunThatThrowsIsDescribedFromItsTrace) {
  // CFSIM_TEST_CRASH's throw mode: a callback throws out of the kernel's loop after record 200.
  ASSERT_EQ(setenv("CFSIM_TEST_CRASH", "2:200:throw", 1), 0);
  RunSpec spec = spec_of("kernel-pipeline", 2, FaultMode::swarm);
  ScenarioOptions o = spec.options;
  auto memory = std::make_shared<MemorySink>();
  o.sinks = {memory, test_crash_sink_for(2)};
  RunReport r = run_reported(spec, o);
  unsetenv("CFSIM_TEST_CRASH");
  ASSERT_TRUE(r.exception.has_value());
  EXPECT_NE(r.exception->find("a test exception after record #200"), std::string::npos) << *r.exception;
  EXPECT_FALSE(r.result.passed);
  EXPECT_EQ(r.result.failure, "the run threw an exception: " + *r.exception);
  EXPECT_FALSE(r.events_known);
  EXPECT_EQ(r.records, memory->records.size());
  EXPECT_GT(r.records, 200u);
  EXPECT_EQ(r.result.run.now, memory->records.back().time);
  EXPECT_NE(r.result.trace_hash, 0u);
  EXPECT_EQ(r.result.plan, plan_for(*spec.scenario, o)) << "the plan the seed draws";
  EXPECT_FALSE(r.result.plan.actions.empty());
  // The same run again: the same hash (it replays).
  ASSERT_EQ(setenv("CFSIM_TEST_CRASH", "2:200:throw", 1), 0);
  ScenarioOptions again = spec.options;
  again.sinks = {test_crash_sink_for(2)};
  RunReport second = run_reported(spec, again);
  unsetenv("CFSIM_TEST_CRASH");
  EXPECT_EQ(second.result.trace_hash, r.result.trace_hash);
}

TEST(CliRunReport, ARunThatDoesNotThrowIsTheScenariosOwnResult) {
  RunSpec spec = spec_of("kernel-race", 2, FaultMode::none);
  ScenarioResult plain = spec.scenario->run(spec.options);
  RunReport r = run_reported(spec, spec.options);
  EXPECT_FALSE(r.exception.has_value());
  EXPECT_TRUE(r.events_known);
  EXPECT_EQ(r.result.trace_hash, plain.trace_hash);
  EXPECT_EQ(r.result.run.events, plain.run.events);
  EXPECT_GT(r.records, 0u);
}

TEST(CliSalvageTrace, KeepsTheWholeLinesAKilledChildLeft) {
  ScratchDir dir;
  const std::string path = dir.path + "/s.jsonl";
  const pid_t pid = 4242;
  const std::string tmp = path + ".4242.tmp";
  std::ofstream(tmp) << "{\"a\":1}\n{\"b\":2}\n{\"c\":";
  EXPECT_TRUE(salvage_trace(path, pid));
  EXPECT_FALSE(std::filesystem::exists(tmp));
  EXPECT_EQ(slurp(path), "{\"a\":1}\n{\"b\":2}\n");
  // nothing left behind: true if the file is there (a handler renamed it), false if not
  EXPECT_TRUE(salvage_trace(path, pid));
  EXPECT_FALSE(salvage_trace(dir.path + "/none.jsonl", pid));
  // not one whole line: removed, nothing to keep
  std::ofstream(dir.path + "/half.jsonl.4242.tmp") << "{\"a\":";
  EXPECT_FALSE(salvage_trace(dir.path + "/half.jsonl", pid));
  EXPECT_FALSE(std::filesystem::exists(dir.path + "/half.jsonl.4242.tmp"));
}
