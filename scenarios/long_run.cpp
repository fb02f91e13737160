// long-run: the sessions app for many simulated hours, its footprint recorded on every hour mark.
// See long_run.h for the app, the fault model and the invariants.

#include "scenarios/long_run.h"

#include <fmt/format.h>

#include <charconv>

#include "model/world.h"
#include "scenarios/registry.h"
#include "scenarios/sessions_app.h"

namespace cfsim {

namespace {

using namespace std::chrono_literals;

constexpr int kShards = 4;
constexpr int kClients = 48;
constexpr int kIdsPerClient = 8;  // bounded, so that storage holds at most kClients * kIdsPerClient rows
constexpr Duration kHour = Duration::seconds(3600);
constexpr Duration kActive = Duration::seconds(45 * 60);  // then 15 idle minutes: every container sleeps
constexpr Duration kMeanGap = Duration::seconds(6);       // between one client's requests
// Without --until: five busy minutes, so that sweeps of many seeds under swarm faults (scripts/soak
// runs 20,000) cost about what the other scenarios cost; the hour-long shape needs --until.
constexpr Duration kDefaultLength = Duration::seconds(5 * 60);

std::string shard_name(int k) { return fmt::format("shard-{}", k); }

// What one client knows of one of its session ids: its writes are numbered 1, 2, ... and the
// value of write n is "<id>#<n>".
struct SessionModel {
  uint64_t attempts = 0;  // writes sent
  uint64_t acked = 0;     // the number of the last acknowledged write, 0 if none
  bool ever_failed = false;
};

class LongRun {
 public:
  LongRun(const Scenario& self, const ScenarioOptions& o)
      : world_(sim_options_for(self, o), WorldOptions{}, o.sinks),
        sim_(world_.sim()),
        end_(Time::zero() + (o.until == Duration::max() ? kDefaultLength : o.until)) {
    add_sessions_app(world_, /*sessions_on_disk=*/false, kShards);
    std::vector<std::string> shards;
    for (int k = 0; k < kShards; ++k) shards.push_back(shard_name(k));
    world_.declare_instances("SESSIONS", shards);
    world_.set_worker([](const Request& r, Env& env) {
      return get_container(env.durable_object("SESSIONS"), r.headers.get("x-shard").value_or("shard-0")).fetch(r);
    });
  }

  LongRunOutcome run(const Scenario& self, const ScenarioOptions& o) {
    LongRunOutcome out;
    out.result.plan = plan_for(self, o);
    world_.apply(out.result.plan);
    for (int c = 0; c < kClients; ++c) world_.client(fmt::format("{}", c), [this, c] { client(c); });
    sim_.spawn("footprint", [this, &out] {
      // Steps of an hour, stopping short of end_ without overflowing however far away it is.
      for (Time t = Time::zero() + kHour; t < end_; t = end_ - t > kHour ? t + kHour : end_) {
        sim_.sleep_until(t);
        out.hours.push_back(record_footprint());
      }
    });
    out.result.run = world_.run(limits_for(o));
    out.hours.push_back(record_footprint());
    finish(out);
    return out;
  }

 private:
  Response request(int c, std::string method, const std::string& path, std::string body = "") {
    Request r;
    r.method = std::move(method);
    r.url = "https://sessions.example" + path;
    r.headers.set("x-shard", shard_name(c % kShards));
    r.body = std::move(body);
    ++requests_;
    return world_.fetch(std::move(r));
  }

  void client(int c) {
    Random rng = sim_.random(fmt::format("client-{}", c));
    std::vector<SessionModel> ids(kIdsPerClient);
    while (true) {
      sim_.sleep_for(rng.exponential(kMeanGap));
      if (sim_.now() >= end_) return;
      const int64_t into_hour = sim_.now().since_start().ns % kHour.ns;
      if (into_hour >= kActive.ns) {
        sim_.sleep_for(Duration::nanos(kHour.ns - into_hour));  // the idle quarter of the hour
        continue;
      }
      const int i = static_cast<int>(rng.below(kIdsPerClient));
      const std::string id = fmt::format("c{}i{}", c, i);
      switch (rng.below(4)) {
        case 0: write(c, id, ids[i]); break;
        case 1:
        case 2: check_read(id, ids[i], request(c, "GET", "/session/" + id)); break;
        default: request(c, "GET", "/work"); break;
      }
    }
  }

  void write(int c, const std::string& id, SessionModel& m) {
    const uint64_t n = ++m.attempts;
    Response r = request(c, "POST", "/session/" + id, fmt::format("{}#{}", id, n));
    if (r.status == 200) m.acked = n;
    else m.ever_failed = true;
  }

  void check_read(const std::string& id, const SessionModel& m, const Response& r) {
    if (r.status != 200 && r.status != 404) return;  // an outage or a fault still in effect: no verdict
    ++reads_checked_;
    if (r.status == 404) {
      if (m.acked > 0) fail(id, fmt::format("reads back as missing, but write #{} was acknowledged", m.acked));
      return;
    }
    const std::string prefix = id + "#";
    uint64_t n = 0;
    const char* digits = r.body.data() + prefix.size();
    const char* last = r.body.data() + r.body.size();
    if (r.body.rfind(prefix, 0) != 0 || std::from_chars(digits, last, n).ptr != last || n < 1 || n > m.attempts) {
      fail(id, fmt::format("reads back '{}', which its client never wrote ({} writes sent)", r.body, m.attempts));
    } else if (!m.ever_failed && n != m.acked) {
      fail(id, fmt::format("reads back write #{}, but every write succeeded and the last was #{}", n, m.acked));
    }
  }

  void fail(const std::string& id, const std::string& what) {
    ++wrong_reads_;
    sim_.record("check", "session_wrong", {{"id", id}, {"what", what}});
    if (first_failure_.empty()) first_failure_ = fmt::format("session {} at {} {}", id, format_time(sim_.now()), what);
  }

  LongRunFootprint footprint() {
    LongRunFootprint f;
    f.at = sim_.now();
    f.events = sim_.events_executed();
    f.live_fibers = sim_.live_fibers();
    f.queued_events = sim_.queued_events();
    f.callback_slots = sim_.callback_slots();
    f.fiber_stacks = sim_.stacks().stacks_created();
    for (ObjectHost* h : world_.durable_object("SESSIONS").hosts()) {
      ++f.object_hosts;
      f.requests_in_flight += h->requests_in_flight();
      f.storage_pages += h->storage_engine().page_count();
    }
    for (int k = 0; k < kShards; ++k)
      if (const ContainerRuntime* rt = world_.containers().find_runtime("SESSIONS", shard_name(k))) f.container_starts += rt->start_count();
    f.requests = requests_;
    return f;
  }

  LongRunFootprint record_footprint() {
    LongRunFootprint f = footprint();
    sim_.record("check", "footprint",
                {{"events", f.events}, {"live_fibers", f.live_fibers}, {"queued_events", f.queued_events},
                 {"callback_slots", f.callback_slots}, {"fiber_stacks", f.fiber_stacks}, {"object_hosts", f.object_hosts},
                 {"requests_in_flight", f.requests_in_flight}, {"storage_pages", f.storage_pages},
                 {"container_starts", f.container_starts}, {"requests", f.requests}});
    return f;
  }

  void finish(LongRunOutcome& out) {
    ScenarioResult& r = out.result;
    if (wrong_reads_ > 0) {
      r.passed = false;
      r.failure = fmt::format("{} of {} checked reads were wrong; first: {}", wrong_reads_, reads_checked_, first_failure_);
    }
    const LongRunFootprint& first = out.hours.front();
    const LongRunFootprint& last = out.hours.back();
    r.report = {
        fmt::format("{} requests over {} through the Worker to {} container instances; {} reads checked, {} wrong",
                    requests_, format_time(last.at), kShards, reads_checked_, wrong_reads_),
        fmt::format("footprint at {}: {} live fibers, {} queued events, {} fiber stacks, {} storage pages; at {}: {}, {}, {}, {}",
                    format_time(first.at), first.live_fibers, first.queued_events, first.fiber_stacks, first.storage_pages,
                    format_time(last.at), last.live_fibers, last.queued_events, last.fiber_stacks, last.storage_pages),
        fmt::format("the containers started {} times (each sleeps in the idle quarter of every hour)", last.container_starts),
    };
    sim_.close_trace();
    r.trace_hash = sim_.trace_hash();
  }

  World world_;
  Simulator& sim_;
  const Time end_;
  uint64_t requests_ = 0, reads_checked_ = 0, wrong_reads_ = 0;
  std::string first_failure_;
};

}  // namespace

LongRunOutcome run_long_run(const Scenario& self, const ScenarioOptions& o) {
  LongRun world(self, o);
  return world.run(self, o);
}

Scenario long_run_scenario() {
  Scenario s;
  s.name = "long-run";
  s.description = "The sessions app for as long as --until says (100h and more): its footprint must stay flat hour after hour.";
  std::vector<std::string> objects;
  for (int k = 0; k < kShards; ++k) objects.push_back("SESSIONS/" + shard_name(k));
  s.fault_space = World::fault_space({.objects = objects}, kDefaultLength, 6);
  s.run = [s](const ScenarioOptions& o) { return run_long_run(s, o).result; };
  return s;
}

}  // namespace cfsim
