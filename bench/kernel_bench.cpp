// cfsim_bench_kernel: the kernel benchmarks of /work/shared/bench-workloads.md (W1 pingpong,
// W2 timers) plus spawn+join and raw Boost.Context figures to put them next to.
//
//   cfsim_bench_kernel <workload> [--no-trace-scheduling]
//   cfsim_bench_kernel --list
//
// One workload per process run, no warm-up. Prints exactly one JSON line on stdout and exits 1 if
// the workload's own checks fail ("ok":false), 2 on a usage error.
//
// Timing (bench code only may read a real clock): starts just before the first simulated process
// is created, stops when run() returns. World construction (Simulator, channels) is excluded;
// fiber/stack creation and teardown are included. Trace sinks are off; the trace hash stays on
// unless --no-trace-scheduling is given, which turns off the per-resume "sched.resume" record
// (the other records are still hashed), so that the two lines show what hashing costs.

#include <sys/resource.h>

#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "sim/sim.h"

namespace {

using cfsim::Duration;
using cfsim::SimOptions;
using cfsim::Simulator;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;  // keeps "workload" first on the line

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;  // KiB on Linux
}

// Fields every cfsim workload reports about its Simulator run.
void add_sim_fields(json& out, const SimOptions& opts, const cfsim::RunResult& r) {
  out["sim_end_us"] = r.now.ns / 1000;
  out["sim_events"] = r.events;
  out["trace_hash"] = cfsim::hash_hex(r.trace_hash);
  out["trace_scheduling"] = opts.trace_scheduling;
  out["stack_bytes"] = opts.stack_bytes;
  out["stop_reason"] = cfsim::to_string(r.reason);
}

// W1 pingpong: cost of one message through cfsim::Channel between two fibers, each receive
// suspending the receiver (so every message is one send + one wake + one switch pair).
json pingpong(const SimOptions& opts) {
  constexpr int64_t N = 1'000'000;
  Simulator sim(opts);
  cfsim::Channel<int64_t> to_b(sim, "to_b");
  cfsim::Channel<int64_t> to_a(sim, "to_a");
  int64_t sum_a = 0, sum_b = 0;

  auto start = Clock::now();
  sim.spawn("A", [&] {
    for (int64_t i = 1; i <= N; ++i) {
      to_b.send(i);
      sum_a += *to_a.recv();
    }
  });
  sim.spawn("B", [&] {
    for (int64_t k = 0; k < N; ++k) {
      int64_t v = *to_b.recv();
      sum_b += v;
      to_a.send(v);
    }
  });
  cfsim::RunResult r = sim.run();
  double wall = seconds_since(start);

  constexpr int64_t kExpectedSum = N * (N + 1) / 2;  // 500000500000
  json out = {{"workload", "pingpong"}, {"n", N}, {"wall_s", wall},
              {"msgs_per_s", 2.0 * N / wall}, {"ns_per_msg", wall * 1e9 / (2.0 * N)}};
  add_sim_fields(out, opts, r);
  out["sum_a"] = sum_a;
  out["sum_b"] = sum_b;
  out["ok"] = r.reason == cfsim::StopReason::quiescent && r.failed.empty() && sum_a == kExpectedSum &&
              sum_b == kExpectedSum && r.now.ns == 0;
  return out;
}

// The W2 durations: d(i,k) = 1 + next() % 1000000 µs from a SplitMix64 whose state starts at 42+i.
int64_t next_duration_us(cfsim::SplitMix64& g) { return 1 + static_cast<int64_t>(g.next() % 1'000'000); }

// The spec's test vectors: the first five durations of processes 0, 1 and 999.
bool timer_vectors_match() {
  const std::pair<uint64_t, std::vector<int64_t>> vectors[] = {
      {0, {275414, 892292, 763859, 255765, 963251}},
      {1, {545161, 640204, 31208, 471232, 287424}},
      {999, {377939, 512482, 545344, 935941, 934379}},
  };
  for (const auto& [i, want] : vectors) {
    cfsim::SplitMix64 g(42 + i);
    for (int64_t w : want)
      if (next_duration_us(g) != w) return false;
  }
  return true;
}

// W2 timers: cost of one timer event (a fiber sleeping, the heap ordering 1000 pending wakeups,
// the fiber resumed at its deadline).
json timers(const SimOptions& opts) {
  constexpr int kProcs = 1000, kSleeps = 1000;
  Simulator sim(opts);
  int64_t sleeps_done = 0, sum_us = 0;

  auto start = Clock::now();
  for (int i = 0; i < kProcs; ++i) {
    sim.spawn("p" + std::to_string(i), [&sim, &sleeps_done, &sum_us, i] {
      cfsim::SplitMix64 g(42 + static_cast<uint64_t>(i));
      for (int k = 0; k < kSleeps; ++k) {
        int64_t d = next_duration_us(g);
        sim.sleep_for(Duration::micros(d));
        sum_us += d;
        ++sleeps_done;
      }
    });
  }
  cfsim::RunResult r = sim.run();
  double wall = seconds_since(start);

  constexpr double kEvents = double(kProcs) * kSleeps;
  json out = {{"workload", "timers"}, {"n", kProcs * kSleeps}, {"wall_s", wall},
              {"timer_events_per_s", kEvents / wall}, {"ns_per_event", wall * 1e9 / kEvents}};
  add_sim_fields(out, opts, r);
  bool vectors_ok = timer_vectors_match();
  out["sleeps"] = sleeps_done;
  out["sum_us"] = sum_us;
  out["test_vectors_ok"] = vectors_ok;
  out["ok"] = vectors_ok && r.reason == cfsim::StopReason::quiescent && r.failed.empty() &&
              sleeps_done == int64_t{kProcs} * kSleeps && r.now.ns == 526'954'303LL * 1000 &&
              sum_us == 499'835'889'459LL;
  return out;
}

// spawn-join: cost of one short-lived fiber: spawn (record, trace, event), first resume (pooled
// stack, boost fiber creation), one yield, exit (stack back to the pool) and the parent's join.
json spawn_join(const SimOptions& opts) {
  constexpr int64_t N = 100'000;
  Simulator sim(opts);
  int64_t children_done = 0;

  auto start = Clock::now();
  sim.spawn("parent", [&] {
    for (int64_t i = 0; i < N; ++i) {
      cfsim::FiberHandle child = sim.spawn("child", [&] {
        sim.yield();
        ++children_done;
      });
      child.join();
    }
  });
  cfsim::RunResult r = sim.run();
  double wall = seconds_since(start);

  json out = {{"workload", "spawn-join"}, {"n", N}, {"wall_s", wall},
              {"spawn_joins_per_s", N / wall}, {"ns_per_spawn_join", wall * 1e9 / N}};
  add_sim_fields(out, opts, r);
  out["stacks_created"] = sim.stacks().stacks_created();
  out["ok"] = r.reason == cfsim::StopReason::quiescent && r.failed.empty() && children_done == N && r.now.ns == 0;
  return out;
}

// raw-switch: a bare boost::context::fiber ping-pong, no cfsim: the floor for one switch.
json raw_switch() {
  namespace ctx = boost::context;
  constexpr int64_t kRoundTrips = 10'000'000;
  int64_t bounces = 0;
  bool stop = false;

  auto start = Clock::now();
  ctx::fiber f(std::allocator_arg, ctx::fixedsize_stack(64 * 1024), [&](ctx::fiber&& main) {
    while (!stop) {
      ++bounces;
      main = std::move(main).resume();
    }
    return std::move(main);
  });
  for (int64_t i = 0; i < kRoundTrips; ++i) f = std::move(f).resume();
  double wall = seconds_since(start);
  stop = true;
  f = std::move(f).resume();  // lets the fiber return (outside the timing: this is about switches)

  constexpr double kSwitches = 2.0 * kRoundTrips;  // main -> fiber -> main
  return {{"workload", "raw-switch"}, {"n", 2 * kRoundTrips}, {"wall_s", wall}, {"switches_per_s", kSwitches / wall},
          {"ns_per_switch", wall * 1e9 / kSwitches}, {"ok", bounces == kRoundTrips}};
}

// raw-create / raw-create-guarded: a bare boost fiber created, run to completion and destroyed,
// on a malloc'd 64 KiB stack (fixedsize_stack) or on an mmap'd one with a guard page
// (protected_fixedsize_stack, no pooling): what a stack pool saves.
template <class StackAlloc>
json raw_create(const char* name, int64_t n) {
  namespace ctx = boost::context;
  int64_t ran = 0;

  auto start = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    ctx::fiber f(std::allocator_arg, StackAlloc(64 * 1024), [&ran](ctx::fiber&& main) {
      ++ran;
      return std::move(main);
    });
    f = std::move(f).resume();  // runs it to the end; the stack is freed on the way out
  }
  double wall = seconds_since(start);

  return {{"workload", name}, {"n", n}, {"stack_bytes", 64 * 1024}, {"wall_s", wall},
          {"fibers_per_s", n / wall}, {"ns_per_fiber", wall * 1e9 / n}, {"ok", ran == n}};
}

struct Workload {
  const char* name;
  bool uses_sim;
  std::function<json(const SimOptions&)> run;
  const char* what;
};

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = {
      {"pingpong", true, pingpong, "W1: 1,000,000 round trips between two fibers through a Channel"},
      {"timers", true, timers, "W2: 1000 fibers x 1000 SplitMix64 sleeps"},
      {"spawn-join", true, spawn_join, "100,000 children spawned and joined by one parent, one yield each"},
      {"raw-switch", false, [](const SimOptions&) { return raw_switch(); },
       "bare boost::context::fiber ping-pong, ns per one-way switch"},
      {"raw-create", false,
       [](const SimOptions&) { return raw_create<boost::context::fixedsize_stack>("raw-create", 1'000'000); },
       "bare boost fiber create+run+destroy, malloc'd 64 KiB stack"},
      {"raw-create-guarded", false,
       [](const SimOptions&) {
         return raw_create<boost::context::protected_fixedsize_stack>("raw-create-guarded", 10'000);
       },
       "bare boost fiber create+run+destroy, mmap'd 64 KiB stack + guard page"},
  };
  return all;
}

int usage(const std::string& why) {
  std::cerr << "cfsim_bench_kernel: " << why << "\n"
            << "usage: cfsim_bench_kernel <workload> [--no-trace-scheduling] | --list\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--list") {
    for (const Workload& w : workloads()) std::cout << w.name << "\t" << w.what << "\n";
    return 0;
  }
  if (args.empty() || args.size() > 2) return usage("expected one workload name (see --list)");
  SimOptions opts;  // trace_scheduling = true: figures are wanted with the hash on
  if (args.size() == 2) {
    if (args[1] != "--no-trace-scheduling") return usage("unknown option '" + std::string(args[1]) + "'");
    opts.trace_scheduling = false;
  }
  for (const Workload& w : workloads()) {
    if (args[0] != w.name) continue;
    if (!w.uses_sim && !opts.trace_scheduling)
      return usage(std::string("--no-trace-scheduling does not apply to '") + w.name + "' (no simulator)");
    json out = w.run(opts);
    out["max_rss_kib"] = max_rss_kib();
    std::cout << out.dump() << std::endl;
    return out["ok"].get<bool>() ? 0 : 1;
  }
  return usage("unknown workload '" + std::string(args[0]) + "' (see --list)");
}
