// Golden timelines: the `cfsim timeline` account (tools/replay/timeline.h, 120 columns) of a few
// short runs, pinned in tests/golden/*.timeline. They show the kernel's and the platform's
// behaviour at a glance, and any change to it fails here with a diff. When a change is meant,
// regenerate the files and review their diff in the commit:
//   CFSIM_UPDATE_GOLDEN=1 build/release/bin/golden_tests
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "model/containers/container.h"
#include "scenarios/registry.h"
#include "testing/test_world.h"
#include "tools/replay/timeline.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

constexpr size_t kWidthChars = 120;  // what `cfsim timeline` prints when stdout is not a terminal

// Keeps the records written until the trace is closed, as `cfsim run --timeline` does.
class ClosedMemorySink : public MemorySink {
 public:
  void write(const Record& r) override {
    if (!closed_) MemorySink::write(r);
  }
  void close(uint64_t, uint64_t) override { closed_ = true; }

 private:
  bool closed_ = false;
};

std::string timeline_of(const std::vector<Record>& records) {
  return cli::render_timeline(records, {.width_chars = kWidthChars});
}

// The timeline `cfsim run <name> --seed <seed> [--until <until>] --timeline` prints.
std::string scenario_timeline(std::string_view name, uint64_t seed, Duration until = Duration::max()) {
  auto sink = std::make_shared<ClosedMemorySink>();
  ScenarioOptions o;
  o.seed = seed;
  o.until = until;
  o.sinks = {sink};
  find_scenario(name)->run(o);
  return timeline_of(sink->records);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A line diff of two texts ("-" expected, "+" actual, " " both), from their longest common
// subsequence of lines; unchanged stretches longer than a few lines are cut.
std::string line_diff(const std::string& expected, const std::string& actual) {
  const std::vector<std::string> a = lines_of(expected), b = lines_of(actual);
  std::vector<std::vector<size_t>> lcs(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;)
    for (size_t j = b.size(); j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::vector<std::string> out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out.push_back(" " + a[i++]);
      ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push_back("-" + a[i++]);
    } else {
      out.push_back("+" + b[j++]);
    }
  }
  constexpr size_t kContext = 3;
  std::string text;
  for (size_t k = 0; k < out.size(); ++k) {
    bool near_change = false;
    for (size_t d = (k >= kContext ? k - kContext : 0); d <= std::min(out.size() - 1, k + kContext); ++d)
      near_change = near_change || out[d][0] != ' ';
    if (near_change) text += out[k] + "\n";
    else if (text.empty() || text.substr(text.size() - 4) != "...\n") text += "...\n";
  }
  return text;
}

// Compares `actual` with tests/golden/<file>, or rewrites the file when CFSIM_UPDATE_GOLDEN is set.
void expect_golden(const std::string& file, const std::string& actual, const std::string& what) {
  const std::string path = std::string(CFSIM_GOLDEN_DIR) + "/" + file;
  const std::string regenerate = "CFSIM_UPDATE_GOLDEN=1 build/release/bin/golden_tests --gtest_filter='GoldenTimeline.*'";
  if (std::getenv("CFSIM_UPDATE_GOLDEN")) {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << path << " is missing; write it with: " << regenerate;
    return;
  }
  std::stringstream expected;
  expected << in.rdbuf();
  if (expected.str() == actual) return;
  ADD_FAILURE() << "the timeline of " << what << " differs from tests/golden/" << file << " (- golden, + this run):\n"
                << line_diff(expected.str(), actual) << "If the change is meant, regenerate the golden files and review their diff:\n  "
                << regenerate;
}

// --- the kernel --------------------------------------------------------------------------------------

// Two fibers read-modify-write one counter with seeded sleeps in between. Seed 1: both read 0
// before either writes, and one increment is lost; seed 2: the second reads after the first wrote.
TEST(GoldenTimeline, KernelRaceSeed1LosesAnUpdate) {
  expect_golden("kernel-race-seed1.timeline", scenario_timeline("kernel-race", 1), "kernel-race seed 1");
}

TEST(GoldenTimeline, KernelRaceSeed2KeepsBothUpdates) {
  expect_golden("kernel-race-seed2.timeline", scenario_timeline("kernel-race", 2), "kernel-race seed 2");
}

// --- the platform ------------------------------------------------------------------------------------

// The first minute of sessions-sql: a session written to Durable Object SQL storage, then a request
// that cold-starts the container (the SDK's port probes every 300 ms until it listens) and is
// proxied to it, then another session and request on the warm container.
TEST(GoldenTimeline, SessionsSqlSeed1FirstMinute) {
  expect_golden("sessions-sql-seed1-1min.timeline", scenario_timeline("sessions-sql", 1, 1min),
                "sessions-sql seed 1 --until 1m");
}

// A tiny world of exact times (testing/test_world.h): one request through the Worker cold-starts a
// container (2 s) that the SDK finds listening at 2.1 s; 30 s after the request ends, sleepAfter
// stops it with SIGTERM (no handler: exit 143).
struct Hello : Container {
  Hello(DurableObjectState& s, ContainerPlatform& p) : Container(s, p) {
    default_port = 8080;
    sleep_after = 30s;
  }
};

ContainerImage hello_image() {
  ContainerImage img;
  img.version = "v1";
  img.main = [](Process& p) { p.listen(8080, [](const Request&) { return Response(200, "hello"); }); };
  return img;
}

TEST(GoldenTimeline, ContainerColdStartRequestAndSleepAfter) {
  testing_support::TestWorld w(1, testing_support::exact_world_options(), {{"scenario", "golden-container"}, {"faults", "none"}});
  w.world.add_container<Hello>("APP", hello_image());
  w.world.set_worker([](const Request& r, Env& env) { return get_container(env.durable_object("APP"), "a").fetch(r); });
  Response got;
  w.world.client("user", [&] { got = w.world.fetch(testing_support::TestWorld::get("/")); });
  w.run_until(Time::zero() + 2min);
  EXPECT_EQ(got.body, "hello");
  expect_golden("container-lifecycle.timeline", timeline_of(w.sink->records), "the cold start / sleepAfter world");
}

}  // namespace
