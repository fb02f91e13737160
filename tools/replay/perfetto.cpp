#include "tools/replay/perfetto.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "tools/replay/actors.h"
#include "tools/replay/cli_common.h"

namespace cfsim::cli {

using ojson = nlohmann::ordered_json;

namespace {

ojson value_json(const Value& v) {
  switch (v.index()) {
    case 0: return std::get<int64_t>(v);
    case 1: return std::get<bool>(v);
    case 2: return std::get<double>(v);
    default: return std::get<std::string>(v);
  }
}

ojson args_of(const Record& r) {
  ojson a = ojson::object();
  for (const auto& [k, v] : r.fields) a[k] = value_json(v);
  return a;
}

double micros(Time t) { return static_cast<double>(t.ns) / 1000.0; }

struct Span {
  size_t actor;
  const Record* begin;
  const Record* end;  // nullptr: unfinished
  Time start, stop;
  size_t lane = 0;
};

struct Instant {
  size_t actor;
  const Record* r;
};

// The actors, numbered in order of first appearance.
class ActorIndex {
 public:
  size_t of(const Record& r) {
    std::string a = map_.actor_of(r);
    auto it = index_.find(a);
    if (it == index_.end()) {
      it = index_.emplace(a, names.size()).first;
      names.push_back(a);
    }
    return it->second;
  }
  std::vector<std::string> names;

 private:
  ActorMap map_;
  std::map<std::string, size_t> index_;
};

// The trace's spans (a begin with its end; open ones run to the last record) and its other records.
struct Collected {
  std::vector<Span> spans;
  std::vector<Instant> instants;  // instants, and ends whose begin is not in the trace
  std::string title = "cfsim";
};

Collected collect(std::span<const Record> records, ActorIndex& actors) {
  Collected c;
  std::map<std::string, std::vector<size_t>> open;  // span key -> indices into spans, innermost last
  Time last = records.empty() ? Time::zero() : records.back().time;
  for (const Record& r : records) {
    size_t a = actors.of(r);  // every record names its actor, shown or not: that fixes the track order
    if (r.category == "sched" && r.name == "resume") continue;
    if (r.category == "meta" && r.name == "header")
      c.title = fmt::format("cfsim {} seed {}", r.field_text("scenario"), r.field_text("seed"));
    std::string key = r.category + '/' + r.name + '/' + r.field_text("id");
    if (r.phase == Phase::begin) {
      open[key].push_back(c.spans.size());
      c.spans.push_back(Span{a, &r, nullptr, r.time, last});
    } else if (r.phase == Phase::end && !open[key].empty()) {
      Span& s = c.spans[open[key].back()];
      open[key].pop_back();
      s.end = &r;
      s.stop = r.time;
    } else {
      c.instants.push_back(Instant{a, &r});
    }
  }
  return c;
}

// Lanes: per actor, each span goes to the first lane where it nests inside what is open there.
// Sets each span's lane; returns the spans' indices by start (the outer one first at equal starts),
// and fills `lane_counts` with each actor's number of lanes.
std::vector<size_t> assign_lanes(std::vector<Span>& spans, size_t actor_count, std::vector<size_t>& lane_counts) {
  std::vector<size_t> order(spans.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    if (spans[x].start != spans[y].start) return spans[x].start < spans[y].start;
    return spans[x].stop > spans[y].stop;  // the outer one first
  });
  std::vector<std::vector<std::vector<Time>>> lanes(actor_count);  // actor -> lane -> open stops
  for (size_t i : order) {
    Span& s = spans[i];
    auto& actor_lanes = lanes[s.actor];
    size_t lane = 0;
    for (; lane < actor_lanes.size(); ++lane) {
      auto& stack = actor_lanes[lane];
      while (!stack.empty() && stack.back() <= s.start) stack.pop_back();
      if (stack.empty() || stack.back() >= s.stop) break;
    }
    if (lane == actor_lanes.size()) actor_lanes.emplace_back();
    actor_lanes[lane].push_back(s.stop);
    s.lane = lane;
  }
  lane_counts.clear();
  for (const auto& l : lanes) lane_counts.push_back(l.size());
  return order;
}

// Tracks: one per (actor, lane), numbered in actor order, the kernel first; their metadata events
// go to `events`. Returns the track id of each actor's lanes.
std::vector<std::vector<int>> add_tracks(ojson& events, const std::vector<std::string>& actors,
                                         const std::vector<size_t>& lane_counts, const std::string& title) {
  std::vector<size_t> actor_order(actors.size());
  for (size_t i = 0; i < actor_order.size(); ++i) actor_order[i] = i;
  std::stable_partition(actor_order.begin(), actor_order.end(), [&](size_t i) { return actors[i] == "kernel"; });
  std::vector<std::vector<int>> tid(actors.size());
  events.push_back({{"ph", "M"}, {"pid", 1}, {"name", "process_name"}, {"args", {{"name", title}}}});
  int next_tid = 1;
  for (size_t a : actor_order) {
    size_t n_lanes = std::max<size_t>(1, lane_counts[a]);
    for (size_t lane = 0; lane < n_lanes; ++lane) {
      int t = next_tid++;
      tid[a].push_back(t);
      std::string name = lane == 0 ? actors[a] : fmt::format("{} ({})", actors[a], lane + 1);
      events.push_back({{"ph", "M"}, {"pid", 1}, {"tid", t}, {"name", "thread_name"}, {"args", {{"name", name}}}});
      events.push_back({{"ph", "M"}, {"pid", 1}, {"tid", t}, {"name", "thread_sort_index"}, {"args", {{"sort_index", t}}}});
    }
  }
  return tid;
}

ojson slice_event(const Span& s, int tid) {
  const Record& b = *s.begin;
  ojson args = args_of(b);
  if (s.end) {
    for (const auto& [k, v] : s.end->fields) args["end." + k] = value_json(v);
  } else {
    args["unfinished"] = true;
  }
  std::string name = b.category == "fiber" && b.name == "life" ? "fiber " + b.field_text("name") : b.category + "." + b.name;
  return {{"ph", "X"}, {"pid", 1}, {"tid", tid}, {"ts", micros(s.start)}, {"dur", micros(s.stop) - micros(s.start)},
          {"name", name}, {"cat", b.category}, {"args", std::move(args)}};
}

ojson instant_event(const Instant& in, int tid) {
  const Record& r = *in.r;
  std::string name = r.category + "." + r.name;
  if (r.phase == Phase::end) name = "end " + name + " (its begin is not in the trace)";
  return {{"ph", "i"}, {"s", "t"}, {"pid", 1}, {"tid", tid}, {"ts", micros(r.time)},
          {"name", name}, {"cat", r.category}, {"args", args_of(r)}};
}

// Slices and instants, in time order (slices first at equal times, so instants land inside).
void add_timed_events(ojson& events, const Collected& c, const std::vector<size_t>& order,
                      const std::vector<std::vector<int>>& tid) {
  struct Timed {
    Time t;
    int kind;  // 0 slice, 1 instant
    size_t index;
  };
  std::vector<Timed> timed;
  for (size_t i : order) timed.push_back({c.spans[i].start, 0, i});
  for (size_t i = 0; i < c.instants.size(); ++i) timed.push_back({c.instants[i].r->time, 1, i});
  std::stable_sort(timed.begin(), timed.end(), [](const Timed& x, const Timed& y) {
    return x.t != y.t ? x.t < y.t : x.kind < y.kind;
  });
  for (const Timed& e : timed) {
    if (e.kind == 0) {
      const Span& s = c.spans[e.index];
      events.push_back(slice_event(s, tid[s.actor][s.lane]));
    } else {
      const Instant& in = c.instants[e.index];
      events.push_back(instant_event(in, tid[in.actor][0]));
    }
  }
}

}  // namespace

std::string perfetto_json(std::span<const Record> records) {
  ActorIndex actors;
  Collected c = collect(records, actors);
  std::vector<size_t> lane_counts;
  std::vector<size_t> order = assign_lanes(c.spans, actors.names.size(), lane_counts);
  ojson events = ojson::array();
  std::vector<std::vector<int>> tid = add_tracks(events, actors.names, lane_counts, c.title);
  add_timed_events(events, c, order, tid);
  ojson doc;
  doc["displayTimeUnit"] = "ms";
  doc["traceEvents"] = std::move(events);
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void write_perfetto_file(const std::string& path, std::span<const Record> records) {
  std::string text = perfetto_json(records);
  prepare_output_file(path);
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw UsageError(fmt::format("cannot create Perfetto file '{}': {}", tmp, std::strerror(errno)));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    throw UsageError(fmt::format("cannot write Perfetto file '{}': {}", path, std::strerror(errno)));
}

}  // namespace cfsim::cli
