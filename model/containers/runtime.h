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
//   (their other ends receive close code 1006, model/websocket.h), and wipes its disk: the next start
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
// max_instances cap.

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
#include "model/durable_objects/durable_object.h"
#include "model/http/http.h"
#include "model/containers/instance_type.h"
#include "model/net/network.h"
#include "sim/fault_injector.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace cfsim {

// Signal numbers (Linux x86-64). Not named SIGTERM etc.: <csignal> defines those as macros.
inline constexpr int kSigHup = 1, kSigInt = 2, kSigQuit = 3, kSigKill = 9, kSigUsr1 = 10, kSigUsr2 = 12, kSigTerm = 15,
                     kSigChld = 17, kSigCont = 18, kSigStop = 19, kSigUrg = 23, kSigWinch = 28;
// The usual names too, unless <csignal> already made them macros (with the same Linux values).
#ifndef SIGHUP
inline constexpr int SIGHUP = kSigHup;
#endif
#ifndef SIGINT
inline constexpr int SIGINT = kSigInt;
#endif
#ifndef SIGQUIT
inline constexpr int SIGQUIT = kSigQuit;
#endif
#ifndef SIGKILL
inline constexpr int SIGKILL = kSigKill;
#endif
#ifndef SIGUSR1
inline constexpr int SIGUSR1 = kSigUsr1;
#endif
#ifndef SIGUSR2
inline constexpr int SIGUSR2 = kSigUsr2;
#endif
#ifndef SIGTERM
inline constexpr int SIGTERM = kSigTerm;
#endif
#ifndef SIGCHLD
inline constexpr int SIGCHLD = kSigChld;
#endif
#ifndef SIGCONT
inline constexpr int SIGCONT = kSigCont;
#endif
#ifndef SIGSTOP
inline constexpr int SIGSTOP = kSigStop;
#endif
#ifndef SIGURG
inline constexpr int SIGURG = kSigUrg;
#endif
#ifndef SIGWINCH
inline constexpr int SIGWINCH = kSigWinch;
#endif

// An `Error` the runtime throws (the platform's JS Error with this message).
class ContainerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// monitor()'s rejection for any end other than exit 0 or destroy(): the message is the platform's
// ("Container exited with unexpected exit code: N", or "Runtime signalled the container to exit:
// N" for platform stops), and exit_code() is N (`.exitCode`, W2).
class ContainerExitError : public ContainerError {
 public:
  ContainerExitError(const std::string& message, int exit_code) : ContainerError(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The platform's error texts (workerd, the SDK's substrings and user reports: §1.2-§1.4, §2, §9).
inline constexpr std::string_view kAlreadyRunning = "start() cannot be called on a container that is already running";
inline constexpr std::string_view kNotRunning = "the container is not running, consider calling start()";
inline constexpr std::string_view kNoInstance = "there is no container instance that can be provided to this durable object";
inline constexpr std::string_view kMaxInstancesExceeded = "Maximum number of running container instances exceeded";
inline constexpr std::string_view kConnectionLost = "Network connection lost.";
inline constexpr std::string_view kProbeTimeout = "The operation was aborted due to timeout";
std::string not_listening_message(int port);  // "The container is not listening in the TCP address 10.0.0.1:<port>"

class Process;
class ContainerRuntime;

// --- exec (§1.2) -----------------------------------------------------------------------------------
// ctx.container.exec(cmd, opts) runs a program of the image inside the running container. There
// is no shell: cmd is an argv vector, and cmd[0] must equal the name of one of the image's
// `programs` exactly (no PATH search, no globbing, no quoting).

// exec()'s options (A7): the program's environment and working directory, and its stdin.
struct ExecOptions {
  std::map<std::string, std::string> env;  // layered over the process's environment
  std::string cwd = "/";
  std::string stdin_data;                  // what the program reads; then end of file
};

// What output() returns once the program has exited.
struct ExecOutput {
  std::string stdout_data;
  std::string stderr_data;
  int exit_code = 0;
};

// The program's side of an exec: argv, env, cwd, stdin, stdout and stderr.
class ExecContext {
 public:
  const std::vector<std::string>& argv() const { return argv_; }
  const std::map<std::string, std::string>& env() const { return env_; }
  const std::string& cwd() const { return cwd_; }
  uint64_t pid() const { return pid_; }
  std::string read_stdin();  // everything not read yet ("" at end of file)
  void write_stdout(std::string_view s) { stdout_ += s; }
  void write_stderr(std::string_view s) { stderr_ += s; }

 private:
  friend class ContainerRuntime;
  friend class ExecProcess;
  uint64_t pid_ = 0;
  std::vector<std::string> argv_;
  std::map<std::string, std::string> env_;
  std::string cwd_, stdin_, stdout_, stderr_;
};

// A program of an image. It runs as a fiber of the container's process (it may sleep, use
// process.fs(), fetch, ...) and returns its exit code (0..255; another value ends it with 1 and a
// message on stderr). A throw out of it ends the program with exit 1 and what() on stderr; the
// container keeps running. Programs install no signal handlers (see ExecProcess::kill).
using ExecProgram = std::function<int(Process&, const std::vector<std::string>& argv, ExecContext&)>;

// What exec() returns (A7 ExecProcess). Copies share the one program run.
class ExecProcess {
 public:
  uint64_t pid() const;
  bool exited() const;
  // Blocks the calling fiber until the program exits and returns its code. Resolves for every
  // code, never throws for a non-zero one (A7: exitCode never rejects).
  int exit_code();
  Future<int> exit_code_future() const;
  // Blocks until the program exits; then its stdout, stderr and exit code. Single use (A7): a
  // second call throws ContainerError.
  ExecOutput output();
  // kill(sig = SIGTERM) (A7): std::out_of_range (RangeError) unless 1 <= signo <= 64. Delivered
  // one hop later, like signal(); a no-op once the program has exited. A program has no handlers:
  // SIGCHLD/SIGCONT/SIGURG/SIGWINCH are ignored, any other signal ends it with 128 + signo.
  void kill(int signo = kSigTerm);

  struct State;  // shared with the runtime (container_runtime.cpp)

 private:
  friend class ContainerRuntime;
  explicit ExecProcess(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::shared_ptr<State> s_;
};

// An image: the program and its filesystem. `version` names it (rollouts switch versions).
struct ContainerImage {
  std::string version = "v1";
  std::function<void(Process&)> main;       // runs as the process's first fiber
  std::map<std::string, std::string> files;  // absolute path -> contents: the pristine disk
  std::map<std::string, std::string> env;    // the image's ENV; start() options layer over it
  // The programs exec() can run, by the exact name cmd[0] must give (e.g. "/bin/ls" and "ls" are
  // two names). An unknown name: see ContainerRuntime::exec.
  std::map<std::string, ExecProgram> programs = {};
};

// The longest duration the container model accepts for a timeout, a grace period or a latency
// (start()'s hard_timeout, set_inactivity_timeout, RolloutOptions::active_grace_period, the
// ContainerPlatformOptions durations): 365 days, the cap the rollout verb's grace_s has too. A
// longer value is rejected with an error naming it and this limit: it would push virtual time past
// its int64 range (Time::max() is about 292 years).
inline constexpr Duration kMaxContainerDuration = Duration::seconds(int64_t{365} * 86400);

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

struct ContainerPlatformOptions {
  // From start() to the process's main running. "often 1-3 s" (A1, §1.10): an ASSUMPTION of a
  // lognormal with median 2 s and sigma 0.3 (p5 1.2 s, p95 3.3 s). Tests set sigma 0 for exact times.
  Duration cold_start_median = Duration::seconds(2);
  double cold_start_sigma = 0.3;
  // One way, Durable Object -> container and back, for each request through get_tcp_port()
  // (an assumption: co-located or near, §1.1).
  Duration hop_latency = Duration::millis(1);
  // Platform stops: SIGTERM, then SIGKILL this long after if the process is still alive (§1.8).
  Duration stop_grace_period = Duration::seconds(15 * 60);
  // Runtime-injected environment (§1.1, A15).
  std::string application_id = "cfsim-application";
  std::string country_a2 = "US";
  std::string location = "SIM";
  std::string region = "WNAM";
};

// ContainerPlatformOptions as key/value pairs for SimOptions::run_info (the trace header).
std::vector<std::pair<std::string, std::string>> run_info(const ContainerPlatformOptions& o);

// What this seam's fault knobs and buggify sites change (model/containers/faults.h fills it in
// once a plan is applied; a platform outside a World keeps the defaults: no change).
struct ContainerFaultKnobs {
  int64_t cold_start_percent = 100;  // containers.cold_start_percent: every cold start x N/100
  FaultInjector* buggify = nullptr;  // "containers.slow_cold_start", "containers.early_probe_failure"
};

// A rollout's shape (wrangler's rollout_step_percentage and rollout_active_grace_period, A5).
// `--containers-rollout=immediate` is step_percentages {100}.
struct RolloutOptions {
  std::vector<int> step_percentages = {10, 100};  // each 1..100, increasing, the last 100
  Duration active_grace_period = Duration::zero();  // 0..kMaxContainerDuration
};

// std::invalid_argument unless every step is 1..100, increasing, the last 100, and the grace
// period within 0..kMaxContainerDuration.
void check_rollout_options(const RolloutOptions& options);

// Per container namespace (wrangler's `containers` entry).
struct ContainerNamespaceOptions {
  std::string instance_type = "lite";  // wrangler default "dev" = lite (§2)
  int max_instances = 20;              // version-dependent default: 0 -> 1 -> 20 (§2)
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
  // reader gets BodyStreamError(kConnectionLost) (model/body_stream.h). A 101 response carrying
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
  bool inactivity_stop_pending() const { return inactivity_pending_; }
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
  // ContainerProxy.fetch's order itself (net.h). It replaces the previous proxy configuration;
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
  EventId boot_event_, sigkill_event_;
  bool boot_pending_ = false, sigkill_pending_ = false;
  std::string platform_stop_kind_;  // "" or "restart-host" / "rollout" / "inactivity" / "hard-timeout"
  std::shared_ptr<Promise<bool>> exited_;  // this run's outcome
  // Outbound interception of the current (or next) run; cleared at every stop.
  std::map<std::string, HttpHandler> raw_by_host_;  // normalised pattern -> handler
  HttpHandler raw_all_;
  std::optional<EgressPolicy> proxy_;
  std::optional<ContainerExit> last_exit_;
  Time run_started_at_;  // start() of the current/last run (rollout grace period)
  // The hard timeout of the current run.
  EventId hard_timeout_event_;
  bool hard_timeout_pending_ = false;
  // exec: programs not yet exited (delivered or not), by pid.
  std::map<uint64_t, std::shared_ptr<ExecProcess::State>> execs_;
  uint64_t next_pid_ = 1;  // pid 1 is main
  // monitor() was called for this run by the current instance of the object (W2
  // monitoringExplicitly); false again at start() and when the instance is dropped.
  bool monitored_explicitly_ = false;
  // Inactivity timeout.
  Duration inactivity_timeout_;
  EventId inactivity_event_;
  bool inactivity_pending_ = false;
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

// The process's view: what the application's main gets. Every function must be called from one
// of the process's own fibers unless it says otherwise.
class Process : public std::enable_shared_from_this<Process> {
 public:
  using Handler = std::function<Response(const Request&)>;

  Simulator& sim() { return sim_; }
  const std::string& label() const { return label_; }
  const std::string& image_version() const { return image_version_; }
  const std::vector<std::string>& entrypoint() const { return entrypoint_; }
  bool internet_enabled() const { return internet_; }

  // Serves `port` (1..65535; std::invalid_argument if taken or out of range): each request runs
  // in its own fiber of this process. A throw out of the handler crashes the process (exit 1).
  void listen(int port, Handler handler);
  void unlisten(int port);
  bool listening(int port) const { return listeners_.count(port) != 0; }
  // The environment: image env, then start() env, then the runtime's CLOUDFLARE_* variables.
  std::optional<std::string> env(std::string_view name) const;
  const std::map<std::string, std::string>& environment() const { return env_; }
  // The local disk: fresh from the image at every start, sized by the instance type.
  Disk& fs() { return *disk_; }
  // Installs a handler for signo (not SIGKILL or SIGSTOP: std::invalid_argument). It runs in a
  // new fiber of this process when the signal arrives. Without one, SIGCHLD/SIGCONT/SIGURG/
  // SIGWINCH are ignored and every other signal terminates the process with 128 + signo.
  void on_signal(int signo, std::function<void()> handler);
  // Ends the process with `code`. Does not return when called from one of its fibers.
  void exit(int code);
  // A background fiber owned by the process (killed when it stops). A throw out of it crashes it.
  FiberHandle spawn(std::string name, std::function<void()> body);
  // Outbound HTTP through the network with this instance's egress policy. localhost, 127.0.0.1
  // and 10.0.0.1 reach this process's own listeners.
  Response fetch(Request req);
  // A TCP connection to a simulated database (Network::connect_db) with this instance's egress
  // policy; closed when the process stops (its endpoint detaches).
  DbConnection connect_db(std::string_view host, int port = Network::kDatabasePort);
  EndpointId endpoint() const { return endpoint_; }
  // Memory accounting against the instance type: past memory_bytes the process is OOM-killed
  // (exit 137; does not return). free_memory below zero is std::invalid_argument.
  void allocate_memory(int64_t bytes);
  void free_memory(int64_t bytes);
  int64_t memory_used() const { return memory_used_; }
  int64_t memory_limit() const { return memory_limit_; }
  bool alive() const { return alive_; }

  Process(ContainerRuntime& rt, std::string image_version, std::map<std::string, std::string> env,
          std::vector<std::string> entrypoint, bool internet, int64_t memory_limit, std::unique_ptr<Disk> disk);
  ~Process();

 private:
  friend class ContainerRuntime;
  friend class TcpPort;
  struct Pending {
    std::shared_ptr<Promise<Response>> reply;
  };
  FiberHandle spawn_fiber(std::string name, std::function<void()> body, bool is_main);
  void maybe_exit_idle();  // main returned: exit 0 once nothing is left to serve
  void track_stream(const std::shared_ptr<BodyStream>& s);  // fail it with kConnectionLost at stop
  // An accepted WebSocket upgrade: `given` is the end this process handed out in its 101
  // response; when the process stops, its own end's side drops (the holder of `given` sees 1006).
  void track_websocket(const std::shared_ptr<WebSocket>& given);
  // Runs req on the listener of `port` in a new fiber; waits until `deadline` for the reply.
  Response serve(int port, Request req, Time deadline);

  ContainerRuntime& rt_;
  Simulator& sim_;
  std::string label_;
  std::string image_version_;
  std::map<std::string, std::string> env_;
  std::vector<std::string> entrypoint_;
  bool internet_;
  int64_t memory_limit_;
  int64_t memory_used_ = 0;
  std::unique_ptr<Disk> disk_;
  EndpointId endpoint_ = 0;
  bool alive_ = true;
  bool main_returned_ = false;
  std::map<int, Handler> listeners_;
  std::map<int, std::function<void()>> signal_handlers_;
  std::map<uint32_t, FiberHandle> fibers_;  // live fibers of this process, by id
  std::map<uint64_t, Pending> pending_;     // requests being served, by sequence number
  // Streamed response bodies this process may still be producing: failed with kConnectionLost
  // when it stops (model/body_stream.h).
  std::vector<std::weak_ptr<BodyStream>> streams_;
  // Ends of accepted WebSockets handed out by this process (model/websocket.h).
  std::vector<std::weak_ptr<WebSocket>> websockets_;
  uint64_t next_request_ = 0;
  uint64_t next_fiber_ = 0;
};

// The world-level container service: images per Durable Object namespace, one runtime per object,
// the instance cap, the fault verbs.
class ContainerPlatform {
 public:
  ContainerPlatform(Simulator& sim, Network& net, ContainerPlatformOptions options = {});
  ~ContainerPlatform();
  ContainerPlatform(const ContainerPlatform&) = delete;
  ContainerPlatform& operator=(const ContainerPlatform&) = delete;

  Simulator& sim() { return sim_; }
  Network& net() { return net_; }
  const ContainerPlatformOptions& options() const { return options_; }

  // Configures `ns` (a Durable Object namespace whose class is a container class) with its image.
  // std::invalid_argument for an unknown instance type, max_instances < 0 or an image without main.
  void register_namespace(DurableObjectNamespace& ns, ContainerImage image, ContainerNamespaceOptions options = {});
  // Adds another version of a namespace's image (for rollouts). The current version is unchanged.
  void add_image_version(std::string_view ns_name, ContainerImage image);
  // The version new starts use.
  const std::string& current_version(std::string_view ns_name) const;

  // ctx.container of the object `id` (created on first use). std::invalid_argument if the id's
  // namespace has no container configuration.
  ContainerRuntime& runtime(const DurableObjectId& id);
  // The runtime of NAMESPACE/name, or null if never used.
  ContainerRuntime* find_runtime(std::string_view ns_name, std::string_view name);
  DurableObjectNamespace& namespace_of(const DurableObjectId& id);
  int running_instances(std::string_view ns_name) const;

  // Rollout of `version` (registered with add_image_version) to namespace ns_name (§1.9, A5): new
  // starts use it at once. The instances running another version when it begins are replaced in
  // steps, in the order of their id hex: step k gives a platform stop (SIGTERM, SIGKILL after
  // stop_grace_period) to the first ceil(pct_k % of them) not taken by an earlier step; one that
  // stopped or restarted meanwhile is skipped. Step k+1 begins when every instance of step k has
  // stopped (ASSUMPTION: the docs do not say what ends a step). The active grace period is read as
  // "an instance is not replaced before it has run that long since its start()" (ASSUMPTION, after
  // A5's "skip if DO connected < grace period"): a younger one is stopped when it reaches that age.
  // A new rollout of the namespace replaces one still in progress. std::invalid_argument for an
  // unknown version or bad options.
  void rollout(std::string_view ns_name, const std::string& version, RolloutOptions options = {});
  bool rollout_in_progress(std::string_view ns_name) const { return rollouts_.count(ns_name) != 0; }

  // The container namespaces, by name; whether `ns_name` is one and has image `version`.
  std::vector<std::string> namespace_names() const;
  bool has_namespace(std::string_view ns_name) const { return namespaces_.count(ns_name) != 0; }
  bool has_image_version(std::string_view ns_name, const std::string& version) const;
  // The knobs starts and probes read (World attaches its own; it must outlive the platform). The
  // fault verbs and knobs themselves are registered by model/containers/faults.h.
  void attach_fault_knobs(const ContainerFaultKnobs* knobs) { knobs_ = knobs; }
  const ContainerFaultKnobs* fault_knobs() const { return knobs_; }

 private:
  friend class ContainerRuntime;
  struct NsConfig {
    DurableObjectNamespace* ns;
    std::string tag;  // the last 16 hex digits of its ids
    ContainerNamespaceOptions options;
    InstanceType type;
    std::map<std::string, ContainerImage> images;  // by version
    std::string current;
    int running = 0;  // runtimes of this namespace with running() true (the max_instances count)
  };
  NsConfig& config(std::string_view ns_name);
  const NsConfig& config(std::string_view ns_name) const;
  // Rollout steps (see rollout()).
  struct RolloutState {
    uint64_t generation = 0;
    std::string version;
    RolloutOptions options;
    std::vector<std::pair<ContainerRuntime*, uint64_t>> instances;  // (runtime, run) by id hex
    size_t step = 0;              // the step in progress
    size_t taken = 0;             // instances[0, taken) belong to this step or earlier ones
    std::vector<size_t> in_step;  // the instances of the step in progress
  };
  void run_rollout_step(const std::string& ns_name);
  void replace_instance(const std::string& ns_name, uint64_t generation, size_t index);
  void check_rollout_step(const std::string& ns_name);
  void instance_stopped(const std::string& ns_name);  // end_run's notice

  Simulator& sim_;
  Network& net_;
  ContainerPlatformOptions options_;
  std::map<std::string, NsConfig, std::less<>> namespaces_;
  std::map<std::string, std::unique_ptr<ContainerRuntime>> runtimes_;  // by id hex
  std::map<std::string, RolloutState, std::less<>> rollouts_;          // in progress, by namespace
  uint64_t rollout_generation_ = 0;
  const ContainerFaultKnobs* knobs_ = nullptr;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // weak_ptrs in scheduled events outlive this platform
};

}  // namespace cfsim
