// Unit tests of `cfsim faults` (tools/replay/fault_table.h): the table is built from the
// registrations, so every registered verb and knob has its row, and a declaration's fields land in
// the right columns. docs/faults.md is checked against the binary's output by faults_doc.sh.

#include <gtest/gtest.h>

#include <sstream>

#include "model/world.h"
#include "tools/replay/fault_table.h"

using namespace cfsim;
using namespace cfsim::cli;

namespace {

// The table rows of `doc` whose first cell is `first` (a backquoted name).
std::vector<std::string> rows_starting(const std::string& doc, const std::string& first) {
  std::vector<std::string> rows;
  std::istringstream in(doc);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("| `" + first + "` |", 0) == 0) rows.push_back(line);
  return rows;
}

}  // namespace

TEST(CliFaultTable, EveryRegisteredVerbKnobAndScenarioVerbHasOneRow) {
  const FaultTableInput in = registered_faults();
  const std::string doc = fault_table_markdown(in);
  ASSERT_FALSE(in.verbs.empty());
  for (const FaultVerbDecl& v : World::fault_verbs()) EXPECT_EQ(rows_starting(doc, v.name).size(), 1u) << v.name;
  for (const FaultKnobDecl& k : World::fault_knobs()) EXPECT_EQ(rows_starting(doc, k.name).size(), 1u) << k.name;
  ASSERT_EQ(in.scenario_verbs.size(), 1u);  // kernel-pipeline's app-kill-worker, so far the only one
  EXPECT_EQ(in.scenario_verbs[0].scenario, "kernel-pipeline");
  EXPECT_EQ(rows_starting(doc, "kernel-pipeline").size(), in.scenario_verbs[0].verbs.size());
  for (const char* site : {"do.slow_commit", "containers.slow_cold_start", "containers.early_probe_failure", "net.dropped_connection"})
    EXPECT_EQ(rows_starting(doc, site).size(), 1u) << site;
}

TEST(CliFaultTable, ColumnsComeFromTheDeclaration) {
  FaultVerbDecl v{.name = "test-stall",
                  .seam = "test",
                  .target = FaultTarget::service,
                  .args = {{.name = "extra_ms", .about = "how long, ms", .lo = 0, .hi = 500, .fallback = 10, .draw_lo = 1, .draw_hi = 50},
                           {.name = "count", .about = "a | b", .lo = 1, .hi = 3, .draw_lo = 1, .draw_hi = 2}},
                  .models = "a stall (a source)",
                  .old_names = {"stall"},
                  .old_args = {{"ms", "extra_ms"}}};
  FaultVerbDecl manual{.name = "test-manual", .seam = "test", .models = "by hand", .hand_only = true};
  FaultKnobDecl k{.name = "test.loss_ppm", .about = "loss", .lo = 0, .hi = 1000, .fallback = 5, .draw_lo = 0, .draw_hi = 100,
                  .models = "lossy"};
  const std::string doc = fault_table_markdown({{v, manual}, {k}, {}, {{"test.site", "it fires"}}});
  EXPECT_EQ(rows_starting(doc, "test-stall").at(0),
            "| `test-stall` | `SERVICE` | `extra_ms` 0..500 ms, default 10: how long, ms<br>`count` 1..3, required: a \\| b "
            "| drawn: extra_ms 1..50 ms, count 1..2 | `stall`, argument `ms` (now `extra_ms`) | a stall (a source) |");
  EXPECT_EQ(rows_starting(doc, "test-manual").at(0), "| `test-manual` | `-` | - | hand-only | - | by hand |");
  EXPECT_EQ(rows_starting(doc, "test.loss_ppm").at(0), "| `test.loss_ppm` | 0..1000 ppm | 5 | 0..100 ppm | loss | lossy |");
  EXPECT_EQ(rows_starting(doc, "test.site").at(0), "| `test.site` | it fires |");
  EXPECT_EQ(doc.find("## Scenario verbs"), std::string::npos);  // no scenario verbs, no section
}

TEST(CliFaultTable, UnitsFollowTheNamingRule) {
  EXPECT_EQ(unit_of("duration_ms"), "ms");
  EXPECT_EQ(unit_of("grace_s"), "s");
  EXPECT_EQ(unit_of("loss_ppm"), "ppm");
  EXPECT_EQ(unit_of("r2.latency_percent"), "%");
  EXPECT_EQ(unit_of("exit_code"), "");
  EXPECT_EQ(unit_of("index"), "");
  EXPECT_EQ(unit_of("_ms"), "");  // a suffix alone names no quantity
}
