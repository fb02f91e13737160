#pragma once
// The raw container runtime — what a Durable Object sees as `ctx.container` — the container
// process that the application's image runs, and the platform that owns both (platform-facts.md
// §1.1, §1.2, §1.8-§1.10, §2, §7.1, §8 items 1-4, 10-12).
//
// Fault model. What can go wrong, and what the model promises:
// - The process ends by itself: exit(code), a return from main with nothing left to serve (exit 0),
//   an exception out of main, a listener or a signal handler (a crash: exit code 1, like an
//   uncaught exception in Node), or memory past the instance type (OOM kill: exit 137).
// - The DO ends it: signal(n) (SIGTERM/SIGINT/... without a handler terminate with 128+n; SIGKILL
//   cannot be caught: exit 137, no app code runs), destroy() (hard teardown, no warning).
// - The platform ends it (fault verbs, model/containers/faults.h): "container-crash" and "container-oom" kill it at once;
//   "container-restart-host" and "container-rollout" send SIGTERM and, if it is still alive `stop_grace_period` later,
//   SIGKILL. After a rollout the next start runs the new image version. A rollout replaces the
//   running instances in steps (default 10 %, then 100 %; see ContainerPlatform::rollout).
// - The runtime ends it by its own clock: a start() with hard_timeout (capnp hardTimeoutMs) is
//   torn down that long after start() (exit 137, cause "hard-timeout"); with setInactivityTimeout
//   the container gets a platform stop (SIGTERM, then SIGKILL after the grace period) that long
//   after its Durable Object became inactive, unless a connection is open or the object is
//   constructed again first (see set_inactivity_timeout).
// - A run that the runtime ends (platform stop, hard timeout) is a failed monitor RPC: if nobody
//   called monitor() for it, the owning object, if constructed, is reset with the error (W2
//   monitorOnBackgroundIfNeeded). A process's own exit with any code is not such an error.
// - Every stop, whatever its cause, kills all of the process's fibers at once (a SIGKILLed app
//   observes nothing), releases its network endpoint and its outbound intercepts, fails the
//   requests it was serving with "Network connection lost.", drops the WebSockets it accepted
//   (their other ends receive close code 1006, model/http/websocket.h), and wipes its disk: the next start
//   gets a fresh filesystem made from the image's files (§1.8, §8 item 11). Durable Object
//   storage is never touched (§8 item 12).
// - The runtime of an object lives in the platform, not in the Durable Object instance: a running
//   container outlives resets and evictions of its object (§1.2, §8 item 14). (On the platform an
//   evicted object's container is eventually destroyed by the engine; the SDK's alarm loop keeps
//   the object from being evicted while its container runs, so without setInactivityTimeout the
//   model does not destroy it: §10 leaves open whether production does.)
// - exec(cmd) runs a program of the image as a fiber of the process; it ends with the container
//   (exit 137) and never crashes the container (a throw out of a program is its exit 1).
// Nothing else fails: no spontaneous crashes, no lost requests, no start failure except the
// max_instances cap.//
// This header declares the runtime itself (ContainerRuntime, TcpPort, start options, connections)
// and includes the rest of the seam, so that it alone gives every declaration: signals.h,
// errors.h, exec.h (ctx.container.exec), image.h, process.h (the process), platform.h (namespaces,
// the instance cap, rollouts).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "model/containers/disk.h"
#include "model/containers/errors.h"
#include "model/containers/exec.h"
#include "model/containers/image.h"
#include "model/containers/instance_type.h"
#include "model/containers/platform.h"
#include "model/containers/process.h"
#include "model/containers/signals.h"
#include "model/durable_objects/durable_object.h"
#include "model/http/http.h"
#include "model/net/network.h"
#include "sim/fault_injector.h"
#include "sim/scheduler.h"
#include "sim/sync.h"
#include "sim/timer.h"

namespace cfsim {

// ctx.container.start(options) (WT ContainerStartupOptions).
struct ContainerStartOptions {
  bool enable_internet = false;               // raw runtime default: off (W1, §8 item 4)
  std::map<std::string, std::string> env;     // layered over the image's env
  std::vector<std::string> entrypoint;        // empty: the image's; the process can read it
  std::map<std::string, std::string> labels;  // recorded only
  // capnp StartParams.hardTimeoutMs (W1): the runtime tears the run down this long after start()
  // (exit 137, cause "hard-timeout", monitor() rejects with "Runtime signalled the container to
  // exit: 137"). Zero: no limit; negative or above kMaxContainerDuration: std::out_of_range
  // (checked before start() changes anything). ASSUMPTION that an app can set it:
  // §10 leaves that UNCONFIRMED (the JS type does not expose it; workerd passes `hardTimeout`
  // only behind its experimental flag).
  Duration hard_timeout = Duration::zero();
};

class ContainerPlatform;
class ContainerRuntime;

// What getTcpPort(p) returns: fetch() reaches the process's listener on p.
class TcpPort {
 public:
  int port() const { return port_; }
  // From a fiber: one request, hop latency each way. Throws ContainerError: kNotRunning if the
  // container is stopped, not_listening_message(port) while nothing listens on the port (also
  // during the cold start), kConnectionLost if the process stops before answering, kProbeTimeout
  // if `timeout` passes first. The request's scheme must be http (TLS to the container is
  // rejected: "use HTTP", §1.2). A streamed response body (Response::stream) is relayed chunk by
  // chunk, each chunk hop latency after the container wrote it; if the process stops first, the
  // reader gets BodyStreamError(kConnectionLost) (model/http/body_stream.h). A 101 response carrying
  // a WebSocket (an accepted upgrade) gives the caller that end; every message on it then crosses
  // the hop (hop latency each way), and when the process stops the caller's end receives 1006.
  Response fetch(Request req, Duration timeout = Duration::max());

 private:
  friend class ContainerRuntime;
  TcpPort(ContainerRuntime& rt, int port) : rt_(&rt), port_(port) {}
  ContainerRuntime* rt_;
  int port_;
};

// How the last run of a container ended.
struct ContainerExit {
  int exit_code = 0;
  std::string cause;  // "exit", "crash", "signal", "sigkill", "oom", "destroy", "restart-host", "rollout"
};

// ctx.container for one Durable Object id. Lives in the platform for the life of the world.
class ContainerRuntime {
 public:
  ContainerRuntime(ContainerPlatform& platform, std::string ns_name, DurableObjectId id);
  ~ContainerRuntime();

  // True from start() until the process ends (not a readiness signal: §1.2).
  bool running() const { return running_; }
  // Fire-and-forget: running() is true on return, the process starts after the cold-start delay.
  // Throws ContainerError(kAlreadyRunning) if running; std::invalid_argument for an env name with
  // '=' or NUL, or a value with NUL (W2); ContainerError naming kNoInstance and
  // kMaxInstancesExceeded at the namespace's max_instances (§2).
  void start(ContainerStartOptions options = {});
  // Blocks the calling fiber until this run ends. Returns on exit 0 or destroy(); otherwise throws
  // ContainerExitError. Throws ContainerError(kNotRunning) if not running.
  void monitor();
  // The same outcome as a future: a value (true) on exit 0 or destroy, ContainerExitError otherwise.
  Future<bool> monitor_future();
  // Hard teardown, no warning to the app; no-op if not running; a waiting monitor() returns.
  void destroy(const std::string& reason = "");
  // std::out_of_range (RangeError) unless 1 <= signo <= 64; ContainerError(kNotRunning) if stopped.
  void signal(int signo);
  // std::out_of_range (RangeError) unless 1 <= port <= 65535.
  TcpPort get_tcp_port(int port);

  // exec(cmd, opts) (§1.2, A7): starts cmd[0], a program of the running image, one hop later, as
  // a fiber of the process (during the cold start: once main runs). No shell, no built-in
  // timeout. ContainerError if not running; std::invalid_argument for an empty cmd or a bad env
  // name/value (the start() rules). An unknown program is not an exception: the run exits at once
  // with 127 and `exec: "<cmd[0]>": executable file not found in $PATH` on stderr (ASSUMPTION: the
  // docs do not say how the runtime reports it; 127 is the shell's and Docker's code for it).
  // When the container stops, every program still running ends with 137 (killed with it).
  ExecProcess exec(std::vector<std::string> cmd, ExecOptions options = {});
  // setInactivityTimeout(ms) (§1.2, W1): once the object is inactive (evicted or reset: its
  // instance dropped) the runtime stops the container `timeout` later with a platform stop
  // (SIGTERM, then SIGKILL after stop_grace_period; monitor() rejects with "Runtime signalled the
  // container to exit: N"). The countdown restarts when the last open connection (a TcpPort
  // fetch in flight) closes, and is cancelled when the object is constructed again (a new
  // request or alarm). Streamed bodies still flowing when it expires put it off by another
  // `timeout`. The setting belongs to this ctx.container and holds across runs until set again
  // (ASSUMPTION). Without it the model keeps the container running (§10 is open on production).
  // std::invalid_argument (TypeError) unless timeout > 0 (W2); std::invalid_argument above
  // kMaxContainerDuration.
  void set_inactivity_timeout(Duration timeout);
  Duration inactivity_timeout() const { return inactivity_timeout_; }  // zero: never set
  bool inactivity_stop_pending() const { return inactivity_timer_.armed(); }
  int open_connections() const { return open_connections_; }

  // --- outbound interception (§1.2, §7.2) -------------------------------------------------------
  // interceptOutboundHttp(addr, fetcher) (capnp setEgressHttp) and interceptAllOutboundHttp: an
  // HTTP request from the container to a host matching `host_pattern` (a name, a glob where '*'
  // matches any run of characters, or an IP), or to any host, goes to `handler` in place of the
  // network. The handler runs in the requesting fiber. Registering a pattern again replaces its
  // handler (an ASSUMPTION: the engine keys routes by hostPort). They apply at once to a running
  // instance (Network::set_policy: the next request sees them, §8 item 38) and last until it
  // stops: every stop clears them, and nothing removes one earlier (§7.2). They may be called
  // while stopped — the SDK registers its proxy right before start() (P:doStartContainer) and
  // workerd checks no `running` here — and then apply to the next run. The port part of
  // hostPort and interceptOutboundHttps/setEgressTcp are not modelled: the patterns see every
  // request the policy intercepts (see EgressPolicy::intercept_https).
  // std::invalid_argument for an empty pattern or handler.
  void intercept_outbound_http(const std::string& host_pattern, HttpHandler handler);
  void intercept_all_outbound_http(HttpHandler handler);
  // The SDK's ContainerProxy registration (a cfsim seam, not a platform method): the Container
  // class hands over its host lists and handler tables, and the network evaluates
  // ContainerProxy.fetch's order itself (model/net/egress.h). It replaces the previous proxy configuration;
  // like the intercepts it applies live and is cleared at every stop. `proxy.internet` is
  // ignored: enableInternet is the run's start option, fixed until a restart (§7.2).
  void set_outbound_proxy(EgressPolicy proxy);
  // The policy the network applies to the current run (before start: to the next one). The
  // proxy's lists and tables, plus the raw intercepts: a raw pattern joins outbound_by_host
  // unless the proxy's table has the same key, and a raw intercept-all is the catch-all unless
  // the proxy has one (ASSUMPTION: how the engine orders two registrations is not documented).
  EgressPolicy egress_policy() const;
  // An intercept-all is registered for this run: it stays so until the container stops (§7.2).
  bool intercepts_all() const { return static_cast<bool>(raw_all_); }

  // --- introspection for tests and the SDK ----------------------------------------------------
  const DurableObjectId& id() const { return id_; }
  const std::string& label() const { return label_; }  // "NAMESPACE/name"
  Process* process() { return process_.get(); }       // the live process, null before main starts
  uint64_t start_count() const { return starts_; }
  const std::optional<ContainerExit>& last_exit() const { return last_exit_; }
  const std::string& image_version() const { return image_version_; }  // of the current/last run

  // --- platform stops (fault verbs) -----------------------------------------------------------
  void crash(int exit_code);  // the process dies now with exit_code (no app code runs)
  void oom();                 // killed for memory: exit 137
  // SIGTERM now; SIGKILL stop_grace_period later if still alive. monitor() then rejects with
  // "Runtime signalled the container to exit[ due to a new version rollout]: N".
  void platform_stop(bool rollout);

 private:
  friend class Process;
  friend class TcpPort;
  friend class ContainerPlatform;
  void boot();  // the cold start is over: create the process and run main
  // Ends the run: kills the process's fibers (the calling one last), releases everything, settles
  // monitor(). Does not return when called from one of the process's own fibers.
  void end_run(int exit_code, const std::string& cause);
  // end_run's steps. The first two return whether `self` (the calling fiber) is one they must kill
  // last; settle_run settles monitor() and, for a runtime-ended run nobody monitors, aborts the
  // object (abort_unmonitored_object).
  bool tear_down_process(Process& proc, const std::string& cause, const FiberHandle& self);
  bool end_execs(const FiberHandle& self);
  void settle_run(int exit_code, const std::string& cause, const std::string& stop_kind);
  void abort_unmonitored_object(const std::string& msg);
  void deliver_signal(int signo, const char* source);
  void apply_egress(const char* why);  // pushes egress_policy() to a live endpoint
  void begin_platform_stop(const char* kind);  // SIGTERM now, SIGKILL after the grace period
  // exec: starts a delivered program on the live process; settles a run's result once.
  void launch_exec(const std::shared_ptr<ExecProcess::State>& st);
  void finish_exec(const std::shared_ptr<ExecProcess::State>& st, int exit_code, const char* cause);
  void deliver_exec_signal(const std::shared_ptr<ExecProcess::State>& st, int signo);
  // Inactivity timeout and the IoContext abort: the object's lifecycle (ObjectHost's listener).
  bool object_constructed() const;
  void object_lifecycle(bool constructed);
  void arm_inactivity(const char* why);
  void cancel_inactivity(const char* why);
  void inactivity_expired();
  friend class ContainerConnection;
  friend class ExecProcess;

  ContainerPlatform& platform_;
  Simulator& sim_;
  std::string ns_name_;
  DurableObjectId id_;
  std::string label_;
  Random cold_start_rng_;
  bool running_ = false;
  uint64_t starts_ = 0;
  ContainerStartOptions start_options_;
  std::string image_version_;
  std::shared_ptr<Process> process_;  // shared with the process's fibers while they unwind
  Timer boot_timer_{sim_};     // the cold start: boot() when it is over
  Timer sigkill_timer_{sim_};  // a platform stop's SIGKILL, stop_grace_period after its SIGTERM
  std::string platform_stop_kind_;  // "" or "restart-host" / "rollout" / "inactivity" / "hard-timeout"
  std::shared_ptr<Promise<bool>> exited_;  // this run's outcome
  // Outbound interception of the current (or next) run; cleared at every stop.
  std::map<std::string, HttpHandler> raw_by_host_;  // normalised pattern -> handler
  HttpHandler raw_all_;
  std::optional<EgressPolicy> proxy_;
  std::optional<ContainerExit> last_exit_;
  Time run_started_at_;  // start() of the current/last run (rollout grace period)
  Timer hard_timeout_timer_{sim_};  // the hard timeout of the current run
  // exec: programs not yet exited (delivered or not), by pid.
  std::map<uint64_t, std::shared_ptr<ExecProcess::State>> execs_;
  uint64_t next_pid_ = 1;  // pid 1 is main
  // monitor() was called for this run by the current instance of the object (W2
  // monitoringExplicitly); false again at start() and when the instance is dropped.
  bool monitored_explicitly_ = false;
  // Inactivity timeout.
  Duration inactivity_timeout_;
  Timer inactivity_timer_{sim_};
  int open_connections_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // weak_ptrs to it outlive this runtime
};

// An open connection to a container (§1.2: while one is open the inactivity timeout does not stop
// it). TcpPort::fetch holds one per request; code that keeps a connection open longer (a streamed
// body, a WebSocket) may hold one too. Safe to outlive the runtime.
class ContainerConnection {
 public:
  explicit ContainerConnection(ContainerRuntime& rt);
  ~ContainerConnection();
  ContainerConnection(const ContainerConnection&) = delete;
  ContainerConnection& operator=(const ContainerConnection&) = delete;

 private:
  ContainerRuntime* rt_;
  std::weak_ptr<int> alive_;
};

}  // namespace cfsim
