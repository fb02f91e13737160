// `cfsim faults`: the fault table, one Markdown document built from the registrations. Everything
// it says comes from a declaration (FaultVerbDecl, FaultKnobDecl) except the buggify sites: the
// model asks FaultInjector::buggify() by name and keeps no registry of its sites, so their list
// below is written by hand (the document's footnote says so).

#include "tools/replay/fault_table.h"

#include <fmt/format.h>

#include "model/world.h"
#include "scenarios/scenario.h"

namespace cfsim::cli {

namespace {

// The model's buggify sites (grep for buggify(" in model/): not registered anywhere, so listed here.
const std::vector<BuggifySite>& model_buggify_sites() {
  static const std::vector<BuggifySite> sites = {
      {"do.slow_commit", "a Durable Object storage round trip takes 1 s longer (model/durable_objects/durable_object.cpp)"},
      {"containers.slow_cold_start", "a container cold start takes 10 s longer (model/containers/runtime.cpp)"},
      {"containers.early_probe_failure",
       "a container's first readiness probe is refused as if nothing listened; the SDK polls again "
       "(model/containers/container.cpp)"},
      {"net.dropped_connection",
       "an external service handles the request but the connection resets before the reply arrives "
       "(model/net/network.cpp)"},
  };
  return sites;
}

// Text for a table cell: a '|' would end the cell, a newline the row.
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string code(std::string_view text) { return fmt::format("`{}`", text); }

std::string range_text(int64_t lo, int64_t hi, std::string_view name) {
  std::string unit = unit_of(name);
  return fmt::format("{}..{}{}{}", lo, hi, unit.empty() ? "" : " ", unit);
}

// "`extra_ms` 0..3600000 ms, default 100: added to the next storage round trip, ms"
std::string argument_text(const FaultArgDecl& a) {
  std::string what;
  if (a.word) what = "a word";
  else what = range_text(a.lo, a.hi, a.name);
  if (a.fallback) what += fmt::format(", default {}", *a.fallback);
  else if (!a.word) what += ", required";
  return fmt::format("{} {}: {}", code(a.name), what, cell(a.about));
}

std::string arguments_text(const FaultVerbDecl& v) {
  if (v.args.empty()) return "-";
  std::string out;
  for (const FaultArgDecl& a : v.args) out += (out.empty() ? "" : "<br>") + argument_text(a);
  return out;
}

// "drawn" with the draw range of each integer argument, or "hand-only".
std::string swarm_text(const FaultVerbDecl& v) {
  if (v.hand_only) return "hand-only";
  std::string ranges;
  for (const FaultArgDecl& a : v.args)
    if (!a.word) ranges += fmt::format("{}{} {}", ranges.empty() ? "" : ", ", a.name, range_text(a.draw_lo, a.draw_hi, a.name));
  return ranges.empty() ? "drawn" : fmt::format("drawn: {}", ranges);
}

std::string old_names_text(const FaultVerbDecl& v) {
  std::string out;
  for (const std::string& n : v.old_names) out += (out.empty() ? "" : ", ") + code(n);
  for (const auto& [old_arg, new_arg] : v.old_args)
    out += fmt::format("{}argument {} (now {})", out.empty() ? "" : ", ", code(old_arg), code(new_arg));
  return out.empty() ? "-" : out;
}

std::string verb_row(const FaultVerbDecl& v) {
  return fmt::format("| {} | {} | {} | {} | {} | {} |\n", code(v.name), code(to_string(v.target)), arguments_text(v),
                     swarm_text(v), old_names_text(v), cell(v.models));
}

std::string verbs_section(const std::vector<FaultVerbDecl>& verbs) {
  std::string out = "## Verbs\n\n";
  out += "| verb | target | arguments | swarm | old names | models |\n";
  out += "|---|---|---|---|---|---|\n";
  for (const FaultVerbDecl& v : verbs) out += verb_row(v);
  return out;
}

std::string scenario_verbs_section(const std::vector<ScenarioVerbs>& scenarios) {
  std::string out = "## Scenario verbs\n\n";
  out += "A scenario may register verbs of its own (prefix `app-`); only that scenario's plans can name them.\n\n";
  out += "| scenario | verb | target | arguments | swarm | old names | models |\n";
  out += "|---|---|---|---|---|---|---|\n";
  for (const ScenarioVerbs& s : scenarios)
    for (const FaultVerbDecl& v : s.verbs) out += fmt::format("| {} {}", code(s.scenario), verb_row(v));
  return out;
}

std::string knobs_section(const std::vector<FaultKnobDecl>& knobs) {
  std::string out = "## Knobs\n\n";
  out += "A knob holds for the whole run: `knob NAME VALUE` in a plan; swarm plans draw each one with probability 1/2.\n\n";
  out += "| knob | range | default | swarm draws | what it changes | models |\n";
  out += "|---|---|---|---|---|---|\n";
  for (const FaultKnobDecl& k : knobs)
    out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", code(k.name), range_text(k.lo, k.hi, k.name), k.fallback,
                       range_text(k.draw_lo, k.draw_hi, k.name), cell(k.about), cell(k.models));
  return out;
}

std::string sites_section(const std::vector<BuggifySite>& sites) {
  std::string out = "## Buggify sites\n\n";
  out += "In a swarm run each site is switched on for the whole run with probability 1/4 the first time the model asks\n";
  out += "about it; a switched-on site then fires on 1 call in 20. Each site draws from its own stream, and every\n";
  out += "decision is a trace record.\n\n";
  out += "| site | when it fires |\n";
  out += "|---|---|\n";
  for (const BuggifySite& s : sites) out += fmt::format("| {} | {} |\n", code(s.name), cell(s.effect));
  return out;
}

std::string preamble() {
  return "# Fault verbs, knobs and buggify sites\n\n"
         "This file is the output of `cfsim faults`, generated from the registrations (each seam's\n"
         "`model/<seam>/faults.cpp`, and a scenario's own verbs); do not edit it by hand. Regenerate it with\n"
         "`build/release/bin/cfsim faults > docs/faults.md`; the test `cli_docs.faults` fails when it is out of date.\n\n"
         "A fault plan (`cfsim run --faults FILE`, text form in `sim/fault_plan.h`) holds timed actions,\n"
         "`at TIME VERB TARGET ARG=VALUE...`, and knobs, `knob NAME VALUE`. `--faults swarm` lets the seed draw\n"
         "one from the verbs and knobs below and turns the buggify sites on. A plan is checked whole when it is\n"
         "applied: an unknown verb or knob, an old name, a missing or unknown argument, a value out of range or\n"
         "a target that names nothing is an error that names the value and the limit.\n\n";
}

std::string footnotes() {
  return "Targets: `BINDING/name` is one Durable Object or container instance (the world declares the names\n"
         "a plan may use), `BINDING` a container namespace, `SERVICE` an external service's host name,\n"
         "`BUCKET` an R2 bucket's binding, `KV_BINDING` a Workers KV namespace's binding, `-` none.\n"
         "Units come from the names (`_ms` milliseconds, `_s` seconds, `_ppm` parts per million, `_percent`\n"
         "percent of normal); a name without one is a count or a code. A scenario's swarm plans draw only the\n"
         "verbs and knobs of its fault space (a verb needs a target of its kind there), each integer argument\n"
         "within the range shown under swarm.\n"
         "An old name in a plan fails with a message naming the new one.\n\n"
         "The buggify sites are not registered anywhere: the model asks for them by name, so their list is\n"
         "written by hand in `tools/replay/fault_table.cpp` (every `buggify(\"...\")` call in `model/`).\n";
}

}  // namespace

std::string unit_of(std::string_view name) {
  for (const auto& [suffix, unit] : {std::pair<std::string_view, std::string_view>{"_ms", "ms"},
                                     {"_s", "s"},
                                     {"_ppm", "ppm"},
                                     {"_percent", "%"}})
    if (name.size() > suffix.size() && name.ends_with(suffix)) return std::string(unit);
  return "";
}

FaultTableInput registered_faults() {
  FaultTableInput in{World::fault_verbs(), World::fault_knobs(), {}, model_buggify_sites()};
  for (const Scenario& s : all_scenarios())
    if (!s.own_fault_verbs.empty()) in.scenario_verbs.push_back(ScenarioVerbs{s.name, s.own_fault_verbs});
  return in;
}

std::string fault_table_markdown(const FaultTableInput& in) {
  std::string out = preamble();
  out += verbs_section(in.verbs) + "\n";
  if (!in.scenario_verbs.empty()) out += scenario_verbs_section(in.scenario_verbs) + "\n";
  out += knobs_section(in.knobs) + "\n";
  out += sites_section(in.sites) + "\n";
  return out + footnotes();
}

}  // namespace cfsim::cli
