#pragma once
// The raw runtime's test app and world, shared by the tests of exec() (exec_test), the hard and
// inactivity timeouts (timeouts_test), the IoContext abort (abort_test), rollouts (rollout_test),
// the duration cap (duration_cap_test), Process::connect_db (process_db_test) and their
// determinism (runtime_determinism_test). Virtual time with a fixed 2 s cold start (sigma 0) and
// no hop latency (testing/test_world.h), so every time is exact.
//
// The test files open `namespace cfsim::raw_runtime_test`, so that World here, not cfsim::World,
// is the World their tests name.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   W2 monitor(): cloudflare/workerd src/workerd/api/container.c++ Container::monitor

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/http/body_stream.h"
#include "model/containers/container.h"
#include "model/containers/runtime.h"
#include "model/http/websocket.h"
#include "testing/exact_platform.h"
#include "testing/test_world.h"

namespace cfsim::raw_runtime_test {

using namespace std::chrono_literals;

inline Time at(Duration d) { return Time::zero() + d; }

// The container's main. Start-time env says how it behaves:
//   ON_TERM=exit-after-5s   SIGTERM handler that exits 0 five seconds later
//   ON_TERM=ignore          SIGTERM handler that does nothing
//   EXIT_AFTER_S=N          exits with code 3 after N seconds
//   MAIN_RETURNS=1          main returns at once without listening (the process exits 0)
// Routes: /slow answers after 20 min; /stream streams "first" and ends the body 150 s later; /ws
// accepts a WebSocket that echoes until the client closes, then closes back; else the version.
inline void app_main(Process& p) {
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

inline ContainerImage make_image(std::string version) {
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

// The shared test world (testing/test_world.h) with RAW (RawObject) and SDK (SdkObject) bound,
// both running image v1.
struct World : testing_support::TestWorld {
  DurableObjectNamespace& raw;
  DurableObjectNamespace& sdk;
  explicit World(DurableObjectOptions dopts = {}, ContainerPlatformOptions po = exact_options(), uint64_t seed = 1)
      : TestWorld(seed, testing_support::exact_world_options(po, dopts)),
        raw(add_container("RAW", make_image("v1"), [this](DurableObjectState& s) { return std::make_unique<RawObject>(s, platform); })),
        sdk(add_container("SDK", make_image("v1"), [this](DurableObjectState& s) { return std::make_unique<SdkObject>(s, platform); })) {}

  ContainerRuntime& rt(std::string name) { return runtime(raw, name); }
  ObjectHost& host(std::string name) { return TestWorld::host(raw, name); }

  // A client request to RAW/name at `when`; the status (or -1 on an exception) and body land in out.
  void send(std::string name, std::string path, Time when, std::pair<int, std::string>* out = nullptr) {
    TestWorld::send(
        raw, std::move(name), get(path), when, [out](Response r) { if (out) *out = {r.status, r.body}; },
        [out](const std::exception& e) { if (out) *out = {-1, e.what()}; });
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
};

}  // namespace cfsim::raw_runtime_test
