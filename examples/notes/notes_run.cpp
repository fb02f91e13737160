#include "notes_run.h"

#include <fmt/format.h>

#include <algorithm>

#include "notes_app.h"

using namespace cfsim;

namespace notes {

namespace {

Request request(std::string method, std::string path, std::string body = "") {
  Request r;
  r.method = std::move(method);
  r.url = "https://notes.example" + path;
  r.body = std::move(body);
  return r;
}

// A client that retries a 5xx a few times, 2 s apart: what a real client of this app would do
// while a container restarts or R2 has a bad moment.
Response fetch_retrying(World& world, const Request& r) {
  Response got = world.fetch(r);
  for (int attempt = 0; got.status >= 500 && attempt < 10; ++attempt) {
    world.sim().sleep_for(Duration::seconds(2));
    got = world.fetch(r);
  }
  return got;
}

}  // namespace

FaultSpace notes_fault_space() {
  return World::fault_space({.objects = {"NOTES/main"}, .buckets = {"ATTACHMENTS"}}, kFaultHorizon, 4);
}

NotesRun run_notes_workload(World& world, const std::vector<Duration>& note_times, RunLimits limits) {
  struct Written {
    std::string path, expected;  // what a GET of `path` must answer
  };
  std::vector<Written> acked;
  std::vector<FiberHandle> writers;
  for (size_t i = 0; i < note_times.size(); ++i) {
    writers.push_back(world.client(fmt::format("writer-{}", i), [&, i] {
      world.sim().sleep_until(Time::zero() + note_times[i]);
      const std::string id = fmt::format("n{}", i), text = fmt::format("note {} at {}", i, format_time(world.sim().now()));
      if (world.fetch(request("POST", "/notes/" + id, text)).status == 200) acked.push_back({"/notes/" + id, render(text)});
    }));
  }
  writers.push_back(world.client("uploader", [&] {
    world.sim().sleep_for(Duration::seconds(60));
    if (world.fetch(request("PUT", "/attachments/a.txt", "hello")).status == 200) acked.push_back({"/attachments/a.txt", "hello"});
  }));
  NotesRun out;
  world.client("reader", [&] {
    for (FiberHandle& w : writers) w.join();
    world.sim().sleep_until(std::max(world.sim().now(), Time::zero() + kFaultHorizon) + kQuietBeforeReading);
    for (const Written& w : acked) {
      const Response r = fetch_retrying(world, request("GET", w.path));
      if (r.status != 200 || r.body != w.expected)
        out.lost.push_back(fmt::format("{}: GET answered {} '{}', expected '{}'", w.path, r.status, r.body, w.expected));
    }
  });
  out.run = world.run(limits);

  out.acknowledged = static_cast<int>(acked.size());
  const ContainerRuntime* rt = world.containers().find_runtime("NOTES", "main");
  out.container_starts = rt ? rt->start_count() : 0;
  return out;
}

NotesRun run_notes(uint64_t seed, const FaultPlan& plan, const std::vector<Duration>& note_times, bool shuffle_ties,
                   std::vector<std::shared_ptr<TraceSink>> sinks) {
  World world(SimOptions{.seed = seed, .shuffle_ties = shuffle_ties, .run_info = {{"app", "notes"}}}, WorldOptions{},
              std::move(sinks));
  add_notes_app(world);
  world.apply(plan);
  NotesRun out = run_notes_workload(world, note_times, RunLimits{.until = Time::zero() + kRunEnd});
  world.sim().close_trace();
  out.trace_hash = world.sim().trace_hash();
  return out;
}

}  // namespace notes
