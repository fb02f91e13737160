#include "tools/replay/timeline.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "tools/replay/actors.h"
#include "tools/replay/cli_common.h"

namespace cfsim::cli {

size_t terminal_width() {
  winsize ws{};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    char* end = nullptr;
    long v = std::strtol(c, &end, 10);
    if (end && *end == '\0' && v >= 40 && v <= 1000) return static_cast<size_t>(v);
  }
  return 120;
}

std::string fields_text(const Record& r) {
  std::string out;
  for (const auto& [k, v] : r.fields) {
    if (!out.empty()) out += ' ';
    std::string text = value_text(v);
    if (std::holds_alternative<std::string>(v) && (text.empty() || text.find_first_of(" \t\"=") != std::string::npos))
      text = fmt::format("\"{}\"", text);
    out += k + "=" + text;
  }
  return out;
}

namespace {

bool is_scheduling(const Record& r) { return r.category == "sched" && r.name == "resume"; }

std::string span_key(const Record& r) { return r.category + '/' + r.name + '/' + r.field_text("id"); }

// What a line says about a record (without its actor).
std::string line_text(const Record& r, std::map<std::string, std::vector<Time>>& open_spans) {
  const bool fiber_life = r.category == "fiber" && r.name == "life";
  if (r.phase == Phase::begin) {
    open_spans[span_key(r)].push_back(r.time);
    if (fiber_life) return fmt::format("started (fiber {})", r.field_text("id"));
    return fmt::format("begin {}.{} {}", r.category, r.name, fields_text(r));
  }
  std::string lasted;
  if (r.phase == Phase::end) {
    auto it = open_spans.find(span_key(r));
    if (it != open_spans.end() && !it->second.empty()) {
      lasted = " after " + human_duration(r.time - it->second.back());
      it->second.pop_back();
    }
    if (fiber_life) return fmt::format("ended: {}{}", r.field_text("status"), lasted);
    return fmt::format("end {}.{}{} {}", r.category, r.name, lasted, fields_text(r));
  }
  if (r.category == "fiber" && r.name == "kill") return "killed";
  if (r.category == "meta" && r.name == "header")
    return fmt::format("run of {} seed {} (faults {})", r.field_text("scenario"), r.field_text("seed"), r.field_text("faults"));
  std::string f = fields_text(r);
  return fmt::format("{}.{}{}{}", r.category, r.name, f.empty() ? "" : " ", f);
}

// The records shown, each with its actor.
using Shown = std::vector<std::pair<const Record*, std::string>>;

Shown shown_records(std::span<const Record> records, const TimelineOptions& options) {
  ActorMap actors;
  Shown shown;
  for (const Record& r : records) {
    std::string a = actors.actor_of(r);  // every record, shown or not, goes through the actor map
    if (!options.scheduling && is_scheduling(r)) continue;
    shown.emplace_back(&r, std::move(a));
  }
  return shown;
}

// Actors in order of first appearance, the kernel first.
std::vector<std::string> actors_in_order(const Shown& shown) {
  std::vector<std::string> actor_order;
  std::map<std::string, bool> seen;
  for (const auto& [r, a] : shown)
    if (!seen[a]) {
      seen[a] = true;
      actor_order.push_back(a);
    }
  std::stable_partition(actor_order.begin(), actor_order.end(), [](const std::string& a) { return a == "kernel"; });
  return actor_order;
}

// Which actor goes in which column.
struct Columns {
  std::vector<std::string> titles;
  std::map<std::string, size_t> of_actor;
  bool grouped = false;  // some column holds more than one actor
};

// Group only as much as needed: none (0), by trailing number (1), then by every number (2).
int grouping_level(const std::vector<std::string>& actor_order, size_t max_columns) {
  if (actor_order.size() <= max_columns) return 0;
  std::set<std::string> families;
  for (const auto& a : actor_order) families.insert(name_family(a));
  return families.size() <= max_columns ? 1 : 2;
}

Columns layout_columns(const std::vector<std::string>& actor_order, size_t max_columns) {
  const int level = grouping_level(actor_order, max_columns);
  auto key_of = [level](const std::string& a) {
    return level == 0 ? a : level == 1 ? name_family(a) : name_pattern(a);
  };
  // Still too many: the keys covering the fewest actors keep their own column (a Durable Object, a
  // container, a store: one actor each), and the big families of short-lived fibers (one per
  // request) share the last column, "(others)".
  std::vector<std::string> keys;
  std::map<std::string, size_t> members;
  for (const auto& a : actor_order)
    if (members[key_of(a)]++ == 0) keys.push_back(key_of(a));
  std::set<std::string> own_column(keys.begin(), keys.end());
  if (keys.size() > max_columns) {
    std::vector<std::string> ranked = keys;
    std::stable_sort(ranked.begin() + 1, ranked.end(),  // the kernel (or first actor) always keeps its column
                     [&](const std::string& x, const std::string& y) { return members[x] < members[y]; });
    own_column = std::set<std::string>(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(max_columns - 1));
  }
  Columns c;
  c.grouped = level > 0;
  std::map<std::string, size_t> column_of_key;
  for (const auto& k : keys)
    if (own_column.count(k)) {
      column_of_key[k] = c.titles.size();
      c.titles.push_back(k);
    }
  if (own_column.size() < keys.size()) c.titles.push_back("(others)");
  for (const auto& a : actor_order) {
    auto it = column_of_key.find(key_of(a));
    c.of_actor[a] = it != column_of_key.end() ? it->second : c.titles.size() - 1;
  }
  return c;
}

// The title line and the rule under it.
std::string header_lines(const Columns& c, size_t time_w, size_t col_w, size_t width_chars) {
  auto cell = [&](std::string text, size_t width) {
    if (text.size() > width - 1) text = text.substr(0, width - 2) + "~";
    return fmt::format("{:<{}}", text, width);
  };
  std::string out = fmt::format("{:<{}}", "time", time_w);
  for (const auto& t : c.titles) out += cell(t, col_w);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += '\n';
  return out + std::string(std::min<size_t>(width_chars, time_w + col_w * c.titles.size()), '-') + '\n';
}

// One line per shown record, in its actor's column, with a line for each long quiet stretch.
std::string record_lines(const Shown& shown, const Columns& c, size_t time_w, size_t col_w, Duration gap_line_after) {
  std::string out;
  std::map<std::string, std::vector<Time>> open_spans;
  Time previous = shown.front().first->time;
  for (const auto& [r, a] : shown) {
    if (r->time - previous >= gap_line_after) {
      out += fmt::format("{:<{}}... {} pass ...\n", "", time_w, human_duration(r->time - previous));
    }
    previous = r->time;
    size_t col = c.of_actor.at(a);
    std::string line = fmt::format("{:<{}}", format_time(r->time), time_w);
    for (size_t i = 0; i < col; ++i) line += fmt::format("{:<{}}", "|", col_w);
    std::string text = line_text(*r, open_spans);
    // A record in another actor's column (a fiber's start, a storage write) says who did it.
    std::string recorder = r->fiber == 0 ? "" : r->fiber_name.empty() ? fmt::format("fiber {}", r->fiber) : r->fiber_name;
    if (!recorder.empty() && recorder != a) text += " (by " + recorder + ")";
    if (c.grouped && c.titles[col] != a) text = a + ": " + text;
    line += text;
    out += line + '\n';
  }
  return out;
}

}  // namespace

std::string render_timeline(std::span<const Record> records, const TimelineOptions& options) {
  const Shown shown = shown_records(records, options);
  if (shown.empty()) return "(the trace holds no records to show)\n";
  size_t time_w = 4;
  for (const auto& [r, a] : shown) time_w = std::max(time_w, format_time(r->time).size());
  time_w += 2;
  const size_t width = options.width_chars;
  const size_t max_columns =
      options.max_columns ? options.max_columns : std::clamp<size_t>(width > time_w ? (width - time_w) / 18 : 0, 4, 16);
  const Columns columns = layout_columns(actors_in_order(shown), max_columns);
  const size_t col_w = std::max<size_t>(14, (width > time_w ? width - time_w : 0) / columns.titles.size());
  return header_lines(columns, time_w, col_w, width) + record_lines(shown, columns, time_w, col_w, options.gap_line_after);
}

}  // namespace cfsim::cli
