// The raw runtime's remaining API and platform behaviours: exec() (platform-facts §1.2, A7), the
// hard timeout (§1.2 capnp hardTimeoutMs, §10), setInactivityTimeout (§1.2, §10), the IoContext
// abort of an unmonitored container that dies with a runtime error (§1.2, W2
// monitorOnBackgroundIfNeeded), and rollout steps with the active grace period (§1.9, A5).
// Virtual time with a fixed 2 s cold start (sigma 0) and no hop latency, so every time is exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "model/http/body_stream.h"
#include "model/containers/container.h"
#include "model/containers/runtime.h"
#include "model/http/websocket.h"
#include "model/containers/faults.h"
#include "testing/bare_faults.h"
#include "testing/exact_platform.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

Time at(Duration d) { return Time::zero() + d; }

// The container's main. Start-time env says how it behaves:
//   ON_TERM=exit-after-5s   SIGTERM handler that exits 0 five seconds later
//   ON_TERM=ignore          SIGTERM handler that does nothing
//   EXIT_AFTER_S=N          exits with code 3 after N seconds
//   MAIN_RETURNS=1          main returns at once without listening (the process exits 0)
// Routes: /slow answers after 20 min; /stream streams "first" and ends the body 150 s later; /ws
// accepts a WebSocket that echoes until the client closes, then closes back; else the version.
void app_main(Process& p) {
  const std::string on_term = p.env("ON_TERM").value_or("");
  if (on_term == "exit-after-5s")
    p.on_signal(kSigTerm, [&p] {
      p.sim().sleep_for(5s);
      p.exit(0);
    });
  if (on_term == "ignore") p.on_signal(kSigTerm, [] {});
  if (p.env("MAIN_RETURNS")) return;
  if (auto s = p.env("EXIT_AFTER_S")) {
    const int64_t n = std::stoll(*s);
    p.spawn("exit-later", [&p, n] {
      p.sim().sleep_for(Duration::seconds(n));
      p.exit(3);
    });
  }
  p.listen(8080, [&p](const Request& r) -> Response {
    if (r.path() == "/slow") {
      p.sim().sleep_for(20min);
      return Response(200, "slow");
    }
    if (r.path() == "/stream") {
      std::shared_ptr<BodyStream> body = BodyStream::create(p.sim(), "stream");
      body->write("first");
      p.spawn("stream-end", [&p, body] {
        p.sim().sleep_for(150s);
        body->close();
      });
      Response resp(200, "");
      resp.stream = body;
      return resp;
    }
    if (r.path() == "/ws") {
      auto ends = WebSocket::make_pair(p.sim(), "app-ws");
      WebSocket::Ptr mine = ends.first;
      p.spawn("ws-echo", [mine] {
        for (;;) {
          WebSocketEvent ev = mine->receive();
          if (ev.is_close()) {
            mine->close(kWsNormalClosure);
            return;
          }
          mine->send(ev.data);
        }
      });
      return websocket_response(ends.second);
    }
    return Response(200, p.image_version());
  });
}

ContainerImage make_image(std::string version) {
  ContainerImage img;
  img.version = std::move(version);
  img.main = app_main;
  img.files = {{"/etc/motd", "hello from the image"}};
  img.programs["echo"] = [](Process&, const std::vector<std::string>& argv, ExecContext& ctx) {
    std::string out;
    for (size_t i = 1; i < argv.size(); ++i) out += (i > 1 ? " " : "") + argv[i];
    ctx.write_stdout(out + "\n");
    return 0;
  };
  img.programs["cat"] = [](Process& p, const std::vector<std::string>& argv, ExecContext& ctx) {
    if (argv.size() > 1) {
      if (!p.fs().exists(argv[1])) {
        ctx.write_stderr("cat: " + argv[1] + ": No such file or directory\n");
        return 1;
      }
      ctx.write_stdout(p.fs().read_file(argv[1]));
      return 0;
    }
    ctx.write_stdout(ctx.read_stdin());
    return 0;
  };
  img.programs["printenv"] = [](Process&, const std::vector<std::string>& argv, ExecContext& ctx) {
    auto it = ctx.env().find(argv.at(1));
    if (it == ctx.env().end()) return 1;
    ctx.write_stdout(it->second + "|" + ctx.cwd() + "\n");
    return 0;
  };
  img.programs["sleep"] = [](Process& p, const std::vector<std::string>& argv, ExecContext&) {
    p.sim().sleep_for(Duration::seconds(std::stoll(argv.at(1))));
    return 0;
  };
  img.programs["false"] = [](Process&, const std::vector<std::string>&, ExecContext& ctx) {
    ctx.write_stderr("failing on purpose\n");
    return 3;
  };
  img.programs["boom"] = [](Process&, const std::vector<std::string>&, ExecContext&) -> int {
    throw std::runtime_error("segfault, more or less");
  };
  img.programs["bad-code"] = [](Process&, const std::vector<std::string>&, ExecContext&) { return 300; };
  return img;
}

using testing_support::exact_options;

// A Durable Object that uses ctx.container directly (no SDK class).
struct RawObject : DurableObject {
  ContainerRuntime& rt;
  RawObject(DurableObjectState& s, ContainerPlatform& p) : DurableObject(s), rt(p.runtime(s.id())) {}
  Response fetch(const Request& r) override {
    const std::string path = r.path();
    if (path == "/start" || path == "/start-monitored" || path == "/start-exit3" || path == "/start-idle60") {
      ContainerStartOptions o;
      if (path == "/start-exit3") o.env["EXIT_AFTER_S"] = "20";
      rt.start(o);
      if (path == "/start-monitored") (void)rt.monitor_future();  // W2 monitor(): explicitly monitored
      if (path == "/start-idle60") rt.set_inactivity_timeout(60s);
      return Response(200, "started");
    }
    if (path == "/wait") {  // a request in flight inside the object
      ctx().sim().sleep_for(1min);
      return Response(200, "waited");
    }
    if (path == "/proxy") return rt.get_tcp_port(8080).fetch(Request{"GET", "http://container/", {}, ""});
    return Response(200, "pong");
  }
};

// The SDK class, to show the abort never touches it (it always monitors).
struct SdkObject : Container {
  SdkObject(DurableObjectState& s, ContainerPlatform& p) : Container(s, p) {
    default_port = 8080;
    sleep_after = 10h;
  }
};

struct World {
  ContainerFaultKnobs fault_knobs;  // first: the platform reads it
  std::shared_ptr<MemorySink> sink = std::make_shared<MemorySink>();
  Simulator sim;
  Network net;
  ContainerPlatform platform;
  DurableObjectNamespace raw;
  DurableObjectNamespace sdk;
  explicit World(DurableObjectOptions dopts = {}, ContainerPlatformOptions po = exact_options(), uint64_t seed = 1)
      : sim(SimOptions{.seed = seed, .trace_scheduling = false}, {sink}),
        net(sim),
        platform(sim, net, po),
        raw(sim, "RAW", [this](DurableObjectState& s) { return std::make_unique<RawObject>(s, platform); }, dopts),
        sdk(sim, "SDK", [this](DurableObjectState& s) { return std::make_unique<SdkObject>(s, platform); }, dopts) {
    platform.register_namespace(raw, make_image("v1"));
    platform.register_namespace(sdk, make_image("v1"));
  }

  ContainerRuntime& rt(std::string name) { return platform.runtime(raw.id_from_name(name)); }
  ObjectHost& host(std::string name) { return raw.host(raw.id_from_name(name)); }
  void run_until(Time t) { sim.run(RunLimits{.until = t}); }

  // A client request to RAW/name at `when`; the status (or -1 on an exception) and body land in out.
  void send(std::string name, std::string path, Time when, std::pair<int, std::string>* out = nullptr) {
    sim.spawn("client", [this, name, path, when, out] {
      sim.sleep_until(when);
      try {
        Response r = raw.get_by_name(name).fetch(Request{"GET", "https://app.example" + path, {}, ""});
        if (out) *out = {r.status, r.body};
      } catch (const std::exception& e) {
        if (out) *out = {-1, e.what()};
      }
    });
  }
  // Starts RAW/name's container from outside any object at `when` with `env`.
  void start_raw(std::string name, Time when, std::map<std::string, std::string> env = {}, Duration hard_timeout = {}) {
    sim.call_at(when, [this, name, env, hard_timeout] {
      ContainerStartOptions o;
      o.env = env;
      o.hard_timeout = hard_timeout;
      rt(name).start(o);
    });
  }

  // Records of category `cat` named `name` whose field `key` reads `value` (any if key empty).
  std::vector<Record> records(std::string_view cat, std::string_view name, std::string_view key = "", std::string_view value = "") const {
    std::vector<Record> out;
    for (const Record& r : sink->records)
      if (r.category == cat && r.name == name && (key.empty() || r.field_text(key) == value)) out.push_back(r);
    return out;
  }
  std::vector<Time> times(std::string_view cat, std::string_view name, std::string_view key = "", std::string_view value = "") const {
    std::vector<Time> out;
    for (const Record& r : records(cat, name, key, value)) out.push_back(r.time);
    return out;
  }
};

// --- exec (§1.2: no shell, exitCode resolves for non-zero codes, output() single use) -------------------

TEST(Exec, RunsImageProgramsWithArgvNoShell_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  w.start_raw("x", Time::zero());
  std::optional<ExecProcess> early, literal, whole, piped, env;
  ExecOutput early_out, literal_out, whole_out, piped_out, env_out;
  w.sim.call_at(at(1s), [&] {  // during the cold start: runs once main does, at 2 s
    early = rt.exec({"echo", "hi", "there"});
  });
  w.sim.call_at(at(5s), [&] {
    literal = rt.exec({"echo", "a;b", "$HOME", "*"});  // no shell: passed as they are
    whole = rt.exec({"echo hi"});                     // one argv item: no program of that name
    ExecOptions o;
    o.stdin_data = "from stdin";
    piped = rt.exec({"cat"}, o);
    ExecOptions e;
    e.env = {{"GREETING", "hola"}};
    e.cwd = "/srv";
    env = rt.exec({"printenv", "GREETING"}, e);
  });
  w.sim.spawn("waiter", [&] {
    w.sim.sleep_until(at(6s));
    early_out = early->output();
    literal_out = literal->output();
    whole_out = whole->output();
    piped_out = piped->output();
    env_out = env->output();
  });
  w.run_until(at(10s));
  EXPECT_EQ(early_out.stdout_data, "hi there\n");
  EXPECT_EQ(early_out.exit_code, 0);
  ASSERT_EQ(w.times("container", "exec_start", "pid", "2").size(), 1u);
  EXPECT_EQ(w.times("container", "exec_start", "pid", "2")[0], at(2s)) << "an exec during the cold start runs when main does";
  EXPECT_EQ(literal_out.stdout_data, "a;b $HOME *\n");
  EXPECT_EQ(whole_out.exit_code, 127) << "'echo hi' is one program name, not split by a shell";
  EXPECT_EQ(whole_out.stderr_data, "exec: \"echo hi\": executable file not found in $PATH\n");
  EXPECT_EQ(piped_out.stdout_data, "from stdin");
  EXPECT_EQ(env_out.stdout_data, "hola|/srv\n");
  EXPECT_TRUE(rt.running()) << "exec never disturbs the container";
}

TEST(Exec, ExitCodeResolvesForNonZeroAndOutputIsSingleUse_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  w.start_raw("x", Time::zero());
  int fail_code = -1, boom_code = -1, bad_code = -1, missing_code = -1;
  std::string boom_err, missing_file_err, second_output_error;
  w.sim.spawn("do", [&] {
    w.sim.sleep_until(at(3s));
    ExecProcess f = rt.exec({"false"});
    fail_code = f.exit_code();  // resolves with 3, does not throw (A7)
    EXPECT_EQ(f.exit_code(), 3) << "exit_code() may be awaited again";
    ExecOutput o = f.output();
    EXPECT_EQ(o.stderr_data, "failing on purpose\n");
    try {
      f.output();
    } catch (const ContainerError& e) {
      second_output_error = e.what();
    }
    ExecProcess b = rt.exec({"boom"});
    ExecOutput bo = b.output();
    boom_code = bo.exit_code;
    boom_err = bo.stderr_data;
    bad_code = rt.exec({"bad-code"}).exit_code();
    ExecProcess m = rt.exec({"cat", "/no/such/file"});
    missing_code = m.exit_code();
    missing_file_err = m.output().stderr_data;
  });
  w.run_until(at(10s));
  EXPECT_EQ(fail_code, 3);
  EXPECT_EQ(second_output_error, "exec: output() can only be called once (pid 2)");
  EXPECT_EQ(boom_code, 1) << "a throw out of a program is its exit 1";
  EXPECT_EQ(boom_err, "segfault, more or less\n");
  EXPECT_EQ(bad_code, 1) << "an exit code outside 0..255 is reported as 1";
  EXPECT_EQ(missing_code, 1);
  EXPECT_EQ(missing_file_err, "cat: /no/such/file: No such file or directory\n");
  EXPECT_TRUE(rt.running()) << "a failing program does not crash the container";
  EXPECT_EQ(rt.start_count(), 1u);
}

TEST(Exec, OnlyOnARunningContainerWithCheckedArguments_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  EXPECT_THROW(rt.exec({"echo"}), ContainerError) << "not running";
  w.start_raw("x", Time::zero());
  w.run_until(at(3s));
  EXPECT_THROW(rt.exec({}), std::invalid_argument);
  ExecOptions bad;
  bad.env = {{"A=B", "x"}};
  EXPECT_THROW(rt.exec({"echo"}, bad), std::invalid_argument);
  ExecProcess p = rt.exec({"sleep", "100"});
  EXPECT_THROW(p.kill(0), std::out_of_range);
  EXPECT_THROW(p.kill(65), std::out_of_range);
  w.run_until(at(4s));
  EXPECT_FALSE(p.exited());
}

TEST(Exec, NoBuiltInTimeoutKillSignalsAndProgramsDieWithTheContainer_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  w.start_raw("x", Time::zero());
  std::optional<ExecProcess> long_one, killed, ignored, doomed;
  w.sim.call_at(at(3s), [&] {
    long_one = rt.exec({"sleep", "3600"});  // an hour: no built-in timeout stops it
    killed = rt.exec({"sleep", "3600"});
    ignored = rt.exec({"sleep", "20"});
  });
  w.sim.call_at(at(10s), [&] {
    killed->kill();  // default SIGTERM: 143
    ignored->kill(kSigChld);  // ignored by default: runs on
  });
  w.run_until(at(3s + 3600s + 1s));
  EXPECT_TRUE(long_one->exited());
  EXPECT_EQ(long_one->exit_code_future().get(), 0);
  ASSERT_EQ(w.times("container", "exec_exit", "pid", "2").size(), 1u);
  EXPECT_EQ(w.times("container", "exec_exit", "pid", "2")[0], at(3603s));
  EXPECT_EQ(killed->exit_code_future().get(), 128 + kSigTerm);
  EXPECT_EQ(w.times("container", "exec_exit", "pid", "3")[0], at(10s));
  EXPECT_EQ(ignored->exit_code_future().get(), 0);
  EXPECT_EQ(w.times("container", "exec_exit", "pid", "4")[0], at(23s)) << "SIGCHLD ignored: it ran its 20 s";
  killed->kill();  // a no-op once exited
  // A program running when the container stops ends with it: 128 + SIGKILL.
  w.sim.call_at(at(4000s), [&] { doomed = rt.exec({"sleep", "100"}); });
  w.sim.call_at(at(4010s), [&] { rt.destroy(); });
  w.run_until(at(4100s));
  EXPECT_EQ(doomed->exit_code_future().get(), 137);
  ASSERT_EQ(w.records("container", "exec_exit", "cause", "container-stopped").size(), 1u);
  EXPECT_EQ(w.records("container", "exec_exit", "cause", "container-stopped")[0].time, at(4010s));
}

TEST(Exec, AProgramDoesNotKeepMainAlive_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  std::optional<ExecProcess> p;
  w.sim.call_at(Time::zero(), [&] {
    ContainerStartOptions o;
    o.env["MAIN_RETURNS"] = "1";
    rt.start(o);
    p = rt.exec({"sleep", "100"});  // delivered during the cold start
  });
  w.run_until(at(10s));
  EXPECT_FALSE(rt.running()) << "main returned with nothing to serve: the container exits 0 at once";
  EXPECT_EQ(rt.last_exit()->exit_code, 0);
  EXPECT_EQ(p->exit_code_future().get(), 137) << "the exec'd program dies with the container";
}

// --- hard timeout (§1.2 capnp StartParams.hardTimeoutMs; §10: an assumption) ----------------------------

TEST(HardTimeout, EndsTheRunThatLongAfterStart_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("h");
  std::string monitor_error;
  int monitor_code = -1;
  w.sim.spawn("do", [&] {
    ContainerStartOptions o;
    o.hard_timeout = 30s;
    rt.start(o);
    try {
      rt.monitor();
    } catch (const ContainerExitError& e) {
      monitor_error = e.what();
      monitor_code = e.exit_code();
    }
  });
  w.run_until(at(60s));
  EXPECT_FALSE(rt.running());
  ASSERT_EQ(w.times("container", "exit").size(), 1u);
  EXPECT_EQ(w.times("container", "exit")[0], at(30s));
  EXPECT_EQ(rt.last_exit()->cause, "hard-timeout");
  EXPECT_EQ(rt.last_exit()->exit_code, 137);
  EXPECT_EQ(monitor_error, "Runtime signalled the container to exit: 137");
  EXPECT_EQ(monitor_code, 137);
  ContainerStartOptions neg;
  neg.hard_timeout = -1s;
  EXPECT_THROW(rt.start(neg), std::out_of_range);
  EXPECT_FALSE(rt.running());
}

TEST(HardTimeout, BelongsToOneRunAndZeroMeansNone_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("h");
  w.start_raw("h", Time::zero(), {}, 30s);
  w.sim.call_at(at(10s), [&] { rt.destroy(); });  // ends run 1 before its hard timeout
  w.start_raw("h", at(20s));                      // run 2: no hard timeout
  w.run_until(at(2h));
  EXPECT_TRUE(rt.running()) << "run 1's hard timeout must not end run 2 (at 30 s), and zero means none";
  EXPECT_EQ(rt.start_count(), 2u);
  EXPECT_TRUE(w.records("container", "hard_timeout").empty());
}

// --- setInactivityTimeout (§1.2, §10) ----------------------------------------------------------------------

TEST(InactivityTimeout, StopsThatLongAfterTheObjectBecomesInactive_S1_2) {
  World w;  // objects are evicted 10 s after their last request (idle_eviction_after)
  w.send("a", "/start-idle60", Time::zero());
  w.run_until(at(5min));
  ContainerRuntime& rt = w.rt("a");
  ASSERT_EQ(w.times("do", "evict").size(), 1u);
  EXPECT_EQ(w.times("do", "evict")[0], at(10s));
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(70s)) << "evicted at 10 s + 60 s";
  EXPECT_FALSE(rt.running());
  EXPECT_EQ(rt.last_exit()->exit_code, 128 + kSigTerm) << "a platform stop: SIGTERM without a handler";
  ASSERT_EQ(w.records("container", "exit").size(), 1u);
  EXPECT_EQ(w.records("container", "exit")[0].field_text("platform_stop"), "inactivity");
  EXPECT_THROW(rt.set_inactivity_timeout(Duration::zero()), std::invalid_argument);
  EXPECT_THROW(rt.set_inactivity_timeout(-1s), std::invalid_argument);
}

TEST(InactivityTimeout, ANewRequestCancelsThePendingStop_S1_2) {
  World w;
  w.send("a", "/start-idle60", Time::zero());
  w.send("a", "/ping", at(40s));  // the object was evicted at 10 s: this constructs it again
  w.run_until(at(5min));
  EXPECT_EQ(w.times("container", "inactivity_stop_scheduled"), (std::vector<Time>{at(10s), at(50s)}));
  ASSERT_EQ(w.records("container", "inactivity_stop_cancelled").size(), 1u);
  EXPECT_EQ(w.records("container", "inactivity_stop_cancelled")[0].time, at(40s));
  EXPECT_EQ(w.records("container", "inactivity_stop_cancelled")[0].field_text("why"), "object-active");
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(110s)) << "evicted again at 50 s + 60 s";
}

TEST(InactivityTimeout, AnOpenConnectionKeepsItRunning_S1_2) {
  World w;
  w.send("a", "/start-idle60", Time::zero());
  std::string body;
  // A connection to the container that outlives the object's requests (held from outside).
  w.sim.spawn("conn", [&] {
    w.sim.sleep_until(at(3s));
    body = w.rt("a").get_tcp_port(8080).fetch(Request{"GET", "http://c/slow", {}, ""}).body;
  });
  w.run_until(at(30min));
  EXPECT_EQ(body, "slow");
  EXPECT_EQ(w.times("do", "evict")[0], at(10s));
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(3s + 20min + 60s))
      << "not while the connection is open: 60 s after it closes";
}

// A streamed body still flowing counts as an open connection: each expiry while it flows puts the
// stop off by another timeout (§1.2; docs/containers.md "setInactivityTimeout").
TEST(InactivityTimeout, AnOpenStreamedBodyPutsOffTheStop_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("s");
  w.start_raw("s", Time::zero());  // from outside any object: the object is never constructed
  w.sim.call_at(at(1s), [&] { rt.set_inactivity_timeout(60s); });
  std::string body;
  w.sim.spawn("reader", [&] {
    w.sim.sleep_until(at(5s));
    Response r = rt.get_tcp_port(8080).fetch(Request{"GET", "http://c/stream", {}, ""});
    body = r.stream->read_all();  // the body ends at 155 s
  });
  w.run_until(at(10min));
  EXPECT_EQ(body, "first");
  // The connection closed with the headers at 5 s: expiries at 65 s and 125 s find the body open.
  EXPECT_EQ(w.times("container", "inactivity_stop_deferred"), (std::vector<Time>{at(65s), at(125s)}));
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(185s)) << "the first expiry after the body ended (155 s)";
  EXPECT_FALSE(rt.running());
}

TEST(InactivityTimeout, AnOpenWebSocketPutsOffTheStop_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("ws");
  w.start_raw("ws", Time::zero());
  w.sim.call_at(at(1s), [&] { rt.set_inactivity_timeout(60s); });
  std::string echoed;
  int close_code = 0;
  w.sim.spawn("client", [&] {
    w.sim.sleep_until(at(5s));
    Response r = rt.get_tcp_port(8080).fetch(Request{"GET", "http://c/ws", {{"Upgrade", "websocket"}}, ""});
    WebSocket::Ptr ws = r.websocket;
    if (!ws) return;
    ws->send("hi");
    echoed = ws->receive().data;
    w.sim.sleep_until(at(100s));
    ws->close(kWsNormalClosure);
    close_code = ws->receive().code;  // the app closes back: the socket is closed at 100 s
  });
  w.run_until(at(10min));
  EXPECT_EQ(echoed, "hi");
  EXPECT_EQ(close_code, kWsNormalClosure);
  EXPECT_EQ(w.times("container", "inactivity_stop_deferred"), (std::vector<Time>{at(65s)})) << "open at 65 s";
  ASSERT_EQ(w.times("container", "inactivity_stop").size(), 1u);
  EXPECT_EQ(w.times("container", "inactivity_stop")[0], at(125s)) << "closed by the next expiry";
}

TEST(InactivityTimeout, WithoutATimeoutTheContainerKeepsRunning_S1_2) {
  World w;
  w.send("a", "/start", Time::zero());
  w.run_until(at(3h));
  EXPECT_EQ(w.times("do", "evict").size(), 1u);
  EXPECT_TRUE(w.rt("a").running()) << "§10: the model never stops it without setInactivityTimeout";
  EXPECT_TRUE(w.records("container", "inactivity_stop_scheduled").empty());
}

// --- the IoContext abort (§1.2, W2 monitorOnBackgroundIfNeeded) --------------------------------------------

DurableObjectOptions long_lived() {
  DurableObjectOptions o;
  o.idle_eviction_after = 10h;  // the object stays constructed
  return o;
}

TEST(Abort, UnmonitoredRuntimeErrorResetsTheObject_S1_2) {
  World w(long_lived());
  std::pair<int, std::string> started, in_flight;
  w.send("a", "/start", Time::zero(), &started);
  w.send("a", "/wait", at(20s), &in_flight);  // inside the object when the container dies
  w.sim.call_at(at(30s), [&] { w.rt("a").platform_stop(false); });  // restart-host: SIGTERM, no handler
  w.run_until(at(5min));
  EXPECT_EQ(started.first, 200);
  const std::string error = "Runtime signalled the container to exit: 143";
  ASSERT_EQ(w.records("container", "abort").size(), 1u);
  EXPECT_EQ(w.records("container", "abort")[0].time, at(30s));
  ASSERT_EQ(w.records("do", "reset").size(), 1u);
  EXPECT_EQ(w.records("do", "reset")[0].field_text("reason"), error);
  EXPECT_EQ(in_flight, std::make_pair(-1, error)) << "the request in flight fails with the container's error";
  EXPECT_EQ(w.host("a").incarnation(), 1u);
}

TEST(Abort, NotWhenMonitoredNotForAProcessExitNotWhenInactive_S1_2) {
  World w(long_lived());
  w.send("monitored", "/start-monitored", Time::zero());
  w.sim.call_at(at(30s), [&] { w.rt("monitored").platform_stop(false); });
  w.send("exit3", "/start-exit3", Time::zero());  // exits 3 by itself at 22 s
  w.run_until(at(5min));
  EXPECT_EQ(w.rt("monitored").last_exit()->exit_code, 143);
  EXPECT_EQ(w.rt("exit3").last_exit()->exit_code, 3);
  EXPECT_TRUE(w.records("container", "abort").empty());
  EXPECT_TRUE(w.records("do", "reset").empty()) << "monitor() called, or an exit code rather than a runtime error";

  World v;  // evicted 10 s after its request: no IoContext to abort
  v.send("a", "/start", Time::zero());
  v.sim.call_at(at(30s), [&] { v.rt("a").platform_stop(false); });
  v.run_until(at(5min));
  ASSERT_EQ(v.records("container", "unmonitored_error").size(), 1u);
  EXPECT_EQ(v.records("container", "unmonitored_error")[0].field_text("object_constructed"), "false");
  EXPECT_TRUE(v.records("container", "abort").empty());
}

TEST(Abort, TheSdkClassAlwaysMonitorsSoItIsNeverReset_S1_2) {
  World w(long_lived());
  FaultInjector faults(w.sim);
  register_container_faults(faults, w.platform, testing_support::any_instance_of({&w.raw, &w.sdk}), w.fault_knobs);
  FaultPlan plan;
  plan.add(FaultAction{at(30s), "container-restart-host", "SDK/a", {}});
  faults.apply(plan);
  w.sim.spawn("client", [&] { w.sdk.get_by_name("a").fetch(Request{"GET", "http://app/", {}, ""}); });
  w.run_until(at(5min));
  EXPECT_EQ(w.platform.runtime(w.sdk.id_from_name("a")).last_exit()->exit_code, 143);
  EXPECT_TRUE(w.records("container", "abort").empty());
  EXPECT_TRUE(w.records("container", "unmonitored_error").empty());
  EXPECT_EQ(w.sdk.host(w.sdk.id_from_name("a")).constructions(), 1u);
}

// --- rollout steps (§1.9, A5) ------------------------------------------------------------------------------

// The labels of RAW/<names> in the order a rollout replaces them: by id hex.
std::vector<std::string> replacement_order(World& w, const std::vector<std::string>& names) {
  std::vector<std::pair<std::string, std::string>> by_hex;
  for (const std::string& n : names) by_hex.emplace_back(w.raw.id_from_name(n).hex(), w.rt(n).label());
  std::sort(by_hex.begin(), by_hex.end());
  std::vector<std::string> out;
  for (auto& [hex, label] : by_hex) out.push_back(label);
  return out;
}

// (time, container) of every rollout SIGTERM.
std::vector<std::pair<Time, std::string>> rollout_sigterms(const World& w) {
  std::vector<std::pair<Time, std::string>> out;
  for (const Record& r : w.records("container", "signal", "source", "rollout")) out.emplace_back(r.time, r.field_text("container"));
  return out;
}

TEST(Rollout, DefaultStepsTenThenHundredPercentInIdOrder_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) {
    names.push_back("i" + std::to_string(i));
    w.start_raw(names.back(), Time::zero(), {{"ON_TERM", "exit-after-5s"}});
  }
  w.sim.call_at(at(60s), [&] { w.platform.rollout("RAW", "v2"); });
  w.start_raw("late", at(62s));  // during step 1: new starts use the new version at once
  w.run_until(at(10min));
  const std::vector<std::string> order = replacement_order(w, names);
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 10u);
  // Step 1: ceil(10 % of 10) = 1 instance, the first by id hex, at 60 s.
  EXPECT_EQ(sigterms[0], std::make_pair(at(60s), order[0]));
  // Step 2 starts when it has stopped (it exits 5 s after SIGTERM): the other 9, in id order.
  for (size_t i = 1; i < 10; ++i) EXPECT_EQ(sigterms[i], std::make_pair(at(65s), order[i])) << i;
  EXPECT_EQ(w.times("container", "rollout_step"), (std::vector<Time>{at(60s), at(65s)}));
  EXPECT_EQ(w.times("container", "rollout_done"), (std::vector<Time>{at(70s)}));
  EXPECT_EQ(w.rt("late").image_version(), "v2");
  EXPECT_FALSE(w.platform.rollout_in_progress("RAW"));
}

TEST(Rollout, CustomStepsRoundUpAndSkipStoppedInstances_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  std::vector<std::string> names = {"a", "b", "c", "d"};
  for (const std::string& n : names) w.start_raw(n, Time::zero(), {{"ON_TERM", "exit-after-5s"}});
  const std::vector<std::string> order = replacement_order(w, names);
  // The last instance in id order stops by itself before its step comes.
  std::string last_name;
  for (const std::string& n : names)
    if (w.rt(n).label() == order[3]) last_name = n;
  w.sim.call_at(at(61s), [&] { w.rt(last_name).destroy(); });
  w.sim.call_at(at(60s), [&] { w.platform.rollout("RAW", "v2", RolloutOptions{{10, 50, 100}, Duration::zero()}); });
  w.run_until(at(10min));
  // 4 instances: ceil(0.4) = 1, ceil(2) = 2, 4 -> steps of 1, 1 and 2 (the 4th already stopped).
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 3u);
  EXPECT_EQ(sigterms[0], std::make_pair(at(60s), order[0]));
  EXPECT_EQ(sigterms[1], std::make_pair(at(65s), order[1]));
  EXPECT_EQ(sigterms[2], std::make_pair(at(70s), order[2]));
  ASSERT_EQ(w.records("container", "rollout_skip").size(), 1u);
  EXPECT_EQ(w.records("container", "rollout_skip")[0].field_text("container"), order[3]);
  EXPECT_EQ(w.times("container", "rollout_done"), (std::vector<Time>{at(75s)}));
  // Bad shapes are rejected, naming the value.
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{}, Duration::zero()}), std::invalid_argument);
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{0, 100}, Duration::zero()}), std::invalid_argument);
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{50, 40, 100}, Duration::zero()}), std::invalid_argument);
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{10, 90}, Duration::zero()}), std::invalid_argument);
  EXPECT_THROW(w.platform.rollout("RAW", "v2", RolloutOptions{{100}, -1s}), std::invalid_argument);
}

TEST(Rollout, ActiveGracePeriodDelaysYoungInstances_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  w.start_raw("old", Time::zero());
  w.start_raw("young", at(50s));
  w.sim.call_at(at(30s), [&] { w.platform.rollout("RAW", "v2", RolloutOptions{{100}, 60s}); });
  w.run_until(at(10min));
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 1u) << "'young' started after the rollout began: it runs v2 and is not replaced";
  EXPECT_EQ(sigterms[0], std::make_pair(at(60s), w.rt("old").label())) << "not before it has run 60 s";
  EXPECT_EQ(w.rt("young").image_version(), "v2");

  World g;  // both started before the rollout; one too young to be replaced at once
  g.platform.add_image_version("RAW", make_image("v2"));
  g.start_raw("old", Time::zero());
  g.start_raw("young", at(20s));
  g.sim.call_at(at(30s), [&] { g.platform.rollout("RAW", "v2", RolloutOptions{{100}, 60s}); });
  g.run_until(at(10min));
  auto st = rollout_sigterms(g);
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0], std::make_pair(at(60s), g.rt("old").label()));
  EXPECT_EQ(st[1], std::make_pair(at(80s), g.rt("young").label()));
  EXPECT_EQ(g.times("container", "rollout_done"), (std::vector<Time>{at(80s)}));
}

TEST(Rollout, FaultVerbTakesStepsAndGrace_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  FaultInjector faults(w.sim);
  register_container_faults(faults, w.platform, testing_support::any_instance_of({&w.raw, &w.sdk}), w.fault_knobs);
  for (const char* n : {"a", "b"}) w.start_raw(n, Time::zero(), {{"ON_TERM", "ignore"}});
  FaultPlan plan = FaultPlan::parse("cfsim-faults v1\nat 1m00.000s container-rollout RAW version=v2 steps=50,100 grace_s=90\n");
  faults.apply(plan);
  w.run_until(at(40min));
  const std::vector<std::string> order = replacement_order(w, {"a", "b"});
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 2u);
  EXPECT_EQ(sigterms[0], std::make_pair(at(90s), order[0])) << "grace: not before 90 s of running";
  // It ignores SIGTERM: SIGKILL 15 min later ends step 1, then step 2 begins (§1.8).
  EXPECT_EQ(sigterms[1], std::make_pair(at(90s + 15min), order[1]));

  // Bad arguments make the plan fail when it is applied, before anything runs.
  for (const char* bad : {"steps=0,100", "steps=50,40,100", "steps=10,90", "steps=a", "steps=10,,100", "grace_s=-1"}) {
    World b;
    b.platform.add_image_version("RAW", make_image("v2"));
    FaultInjector f(b.sim);
    register_container_faults(f, b.platform, testing_support::any_instance_of({&b.raw, &b.sdk}), b.fault_knobs);
    EXPECT_THROW(f.apply(FaultPlan::parse(std::string("cfsim-faults v1\nat 1s container-rollout RAW version=v2 ") + bad + "\n")),
                 FaultPlanError)
        << bad;
  }
}

// A rollout started while another is in progress replaces it: the old one takes no further step,
// and its pending events (grace waits, step checks) do nothing (§1.9; model/containers/platform.h rollout()).
TEST(Rollout, ANewRolloutSupersedesOneInProgress_S1_9) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  w.platform.add_image_version("RAW", make_image("v3"));
  std::vector<std::string> names = {"a", "b", "c", "d"};
  for (const std::string& n : names) w.start_raw(n, Time::zero(), {{"ON_TERM", "ignore"}});
  w.sim.call_at(at(60s), [&] { w.platform.rollout("RAW", "v2", RolloutOptions{{50, 100}, Duration::zero()}); });
  w.sim.call_at(at(120s), [&] { w.platform.rollout("RAW", "v3", RolloutOptions{{100}, Duration::zero()}); });
  w.run_until(at(1h));
  const std::vector<std::string> order = replacement_order(w, names);
  ASSERT_EQ(w.records("container", "rollout_superseded").size(), 1u);
  const Record sup = w.records("container", "rollout_superseded")[0];
  EXPECT_EQ(sup.time, at(120s));
  EXPECT_EQ(sup.field_text("version"), "v2");
  EXPECT_EQ(sup.field_text("step"), "1") << "v2 was still in its first step (its instances ignore SIGTERM)";
  auto sigterms = rollout_sigterms(w);
  ASSERT_EQ(sigterms.size(), 6u);
  EXPECT_EQ(sigterms[0], std::make_pair(at(60s), order[0]));  // v2 step 1: ceil(50 % of 4) = 2
  EXPECT_EQ(sigterms[1], std::make_pair(at(60s), order[1]));
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(sigterms[2 + i], std::make_pair(at(120s), order[i])) << i;
  // v2's step 2 never comes (it would begin when its step-1 instances die, at 60 s + 15 min).
  EXPECT_EQ(w.times("container", "rollout_step"), (std::vector<Time>{at(60s), at(120s)}));
  ASSERT_EQ(w.records("container", "rollout_done").size(), 1u);
  EXPECT_EQ(w.records("container", "rollout_done")[0].field_text("version"), "v3");
  EXPECT_EQ(w.records("container", "rollout_done")[0].time, at(120s + 15min)) << "the last SIGKILL of v3's step";
  EXPECT_EQ(w.platform.current_version("RAW"), "v3");
  EXPECT_FALSE(w.platform.rollout_in_progress("RAW"));

  World g;  // the superseded rollout had grace waits pending: they must not act when they fire
  g.platform.add_image_version("RAW", make_image("v2"));
  g.platform.add_image_version("RAW", make_image("v3"));
  for (const char* n : {"x", "y"}) g.start_raw(n, Time::zero(), {{"ON_TERM", "exit-after-5s"}});
  g.sim.call_at(at(10s), [&] { g.platform.rollout("RAW", "v2", RolloutOptions{{100}, 60s}); });
  g.sim.call_at(at(30s), [&] { g.platform.rollout("RAW", "v3", RolloutOptions{{100}, Duration::zero()}); });
  g.run_until(at(10min));
  EXPECT_EQ(g.times("container", "rollout_grace_wait"), (std::vector<Time>{at(10s), at(10s)}));
  EXPECT_EQ(rollout_sigterms(g).size(), 2u);
  for (const auto& [t, label] : rollout_sigterms(g)) EXPECT_EQ(t, at(30s)) << label;
  EXPECT_TRUE(g.records("container", "rollout_skip").empty()) << "v2's grace waits (due at 60 s) belong to a superseded rollout";
  EXPECT_EQ(g.times("container", "rollout_done"), (std::vector<Time>{at(35s)}));
}

// --- limits: durations that would overflow virtual time ------------------------------------------------------

TEST(Limits, DurationsAboveTheCapAreRejectedBeforeAnythingChanges) {
  World w;
  w.platform.add_image_version("RAW", make_image("v2"));
  ContainerRuntime& rt = w.rt("cap");
  const std::string cap = format_duration(kMaxContainerDuration);
  for (Duration bad : {kMaxContainerDuration + Duration::nanos(1), Duration::max()}) {
    ContainerStartOptions o;
    o.hard_timeout = bad;
    std::string msg;
    try {
      rt.start(o);
    } catch (const std::out_of_range& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find(format_duration(bad)), std::string::npos) << msg;
    EXPECT_NE(msg.find(cap), std::string::npos) << msg;
    EXPECT_FALSE(rt.running()) << "a refused start leaves the runtime stopped";
    EXPECT_EQ(rt.start_count(), 0u);
    EXPECT_EQ(w.platform.running_instances("RAW"), 0);
  }
  // At the cap everything is accepted, and the run works as usual.
  w.sim.call_at(at(1s), [&] {
    ContainerStartOptions ok;
    ok.hard_timeout = kMaxContainerDuration;
    rt.start(ok);
    rt.set_inactivity_timeout(kMaxContainerDuration);
  });
  w.sim.call_at(at(30s), [&] { w.platform.rollout("RAW", "v2", RolloutOptions{{100}, kMaxContainerDuration}); });
  w.run_until(at(1min));
  EXPECT_TRUE(rt.running());
  EXPECT_EQ(rt.start_count(), 1u);
  EXPECT_EQ(w.platform.running_instances("RAW"), 1);
  EXPECT_EQ(w.times("container", "rollout_grace_wait"), (std::vector<Time>{at(30s)}));
  EXPECT_TRUE(w.platform.rollout_in_progress("RAW"));

  std::string msg;
  try {
    rt.set_inactivity_timeout(Duration::max());
  } catch (const std::invalid_argument& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(cap), std::string::npos) << msg;
  EXPECT_EQ(rt.inactivity_timeout(), kMaxContainerDuration) << "the refused value did not replace the setting";
  EXPECT_THROW(w.platform.rollout("RAW", "v1", RolloutOptions{{100}, kMaxContainerDuration + Duration::nanos(1)}),
               std::invalid_argument);
  EXPECT_EQ(w.platform.current_version("RAW"), "v2") << "the refused rollout changed nothing";
  for (Duration* (*field)(ContainerPlatformOptions&) :
       {+[](ContainerPlatformOptions& o) { return &o.cold_start.median; }, +[](ContainerPlatformOptions& o) { return &o.hop_latency; },
        +[](ContainerPlatformOptions& o) { return &o.stop_grace_period; }}) {
    ContainerPlatformOptions po = exact_options();
    *field(po) = Duration::max();
    EXPECT_THROW(ContainerPlatform(w.sim, w.net, po), std::invalid_argument);
  }
}

// A platform destroyed with rollout events still scheduled: they must not touch it (ASan).
TEST(Rollout, PlatformDestroyedWithAGraceWaitPendingIsSafe_S1_9) {
  auto sink = std::make_shared<MemorySink>();
  Simulator sim(SimOptions{.trace_scheduling = false}, {sink});
  Network net(sim);
  auto platform = std::make_unique<ContainerPlatform>(sim, net, exact_options());
  DurableObjectNamespace ns(sim, "RAW", [&](DurableObjectState& s) { return std::make_unique<RawObject>(s, *platform); }, {});
  platform->register_namespace(ns, make_image("v1"));
  platform->add_image_version("RAW", make_image("v2"));
  ContainerRuntime& rt = platform->runtime(ns.id_from_name("p"));
  sim.call_at(Time::zero(), [&] { rt.start(); });
  sim.call_at(at(10s), [&] { platform->rollout("RAW", "v2", RolloutOptions{{100}, 60s}); });
  sim.run(RunLimits{.until = at(20s)});
  ASSERT_EQ(std::count_if(sink->records.begin(), sink->records.end(), [](const Record& r) { return r.name == "rollout_grace_wait"; }), 1);
  platform.reset();
  const size_t records_before = sink->records.size();
  RunResult r = sim.run(RunLimits{.until = at(5min)});
  EXPECT_TRUE(r.failed.empty());
  size_t container_records = 0;
  for (size_t i = records_before; i < sink->records.size(); ++i) container_records += sink->records[i].category == "container";
  EXPECT_EQ(container_records, 0u) << "the grace wait due at 60 s found the platform gone and did nothing";
}

// --- Process::connect_db (§7.2: the instance's egress policy; the connection dies with the process) ----------

TEST(ProcessDb, ConnectDbFollowsInternetAndClosesWhenTheProcessStops_S7_2) {
  World w;
  w.net.add_database("db.internal", 4);
  ContainerRuntime& on = w.rt("on");
  ContainerRuntime& off = w.rt("off");
  w.sim.call_at(Time::zero(), [&] {
    on.start(ContainerStartOptions{.enable_internet = true});
    off.start(ContainerStartOptions{.enable_internet = false});
  });
  w.run_until(at(3s));  // both booted
  ASSERT_NE(on.process(), nullptr);
  ASSERT_NE(off.process(), nullptr);
  std::optional<DbConnection> conn;
  std::string set_reply, get_reply, off_error = "<none>";
  Process* p_on = on.process();
  p_on->spawn("db", [&, p_on] {
    conn.emplace(p_on->connect_db("db.internal"));
    set_reply = conn->query("SET k hello");
    get_reply = conn->query("GET k");
  });
  Process* p_off = off.process();
  p_off->spawn("db", [&, p_off] {
    try {
      p_off->connect_db("db.internal");
    } catch (const NetError& e) {
      off_error = to_string(e.kind());
    }
  });
  w.run_until(at(10s));
  EXPECT_EQ(set_reply, "OK");
  EXPECT_EQ(get_reply, "hello");
  EXPECT_EQ(off_error, to_string(NetError::Kind::denied)) << "internet off: everything but DNS is denied (§7.2)";
  ASSERT_TRUE(conn.has_value());
  EXPECT_TRUE(conn->open());
  EXPECT_EQ(w.net.open_connections("db.internal"), 1);
  w.sim.call_at(at(11s), [&] { on.destroy(); });
  w.run_until(at(12s));
  EXPECT_FALSE(conn->open()) << "closed when the process stops";
  EXPECT_EQ(w.net.open_connections("db.internal"), 0);
  std::string after = "<none>";
  w.sim.spawn("late", [&] {
    try {
      conn->query("GET k");
    } catch (const NetError& e) {
      after = to_string(e.kind());
    }
  });
  w.run_until(at(13s));
  EXPECT_EQ(after, to_string(NetError::Kind::reset));
}

// --- determinism -------------------------------------------------------------------------------------------

TEST(ContainerRuntimeMore, SameSeedSameTrace) {
  auto run = [](uint64_t seed) {
    ContainerPlatformOptions o;  // the default, random cold starts
    World w({}, o, seed);
    w.platform.add_image_version("RAW", make_image("v2"));
    w.send("a", "/start-idle60", Time::zero());
    w.start_raw("b", Time::zero(), {{"ON_TERM", "exit-after-5s"}}, 20min);
    w.start_raw("c", Time::zero(), {{"ON_TERM", "exit-after-5s"}});
    w.sim.call_at(at(10s), [&] { w.rt("b").exec({"sleep", "30"}); });
    w.sim.call_at(at(5min), [&] { w.platform.rollout("RAW", "v2"); });
    w.run_until(at(1h));
    return w.sim.trace_hash();
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8)) << "the seed drives the cold starts";
}

}  // namespace
