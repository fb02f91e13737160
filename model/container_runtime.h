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
// - The platform ends it (fault verbs, see register_faults): "crash" and "oom" kill it at once;
//   "restart-host" and "rollout" send SIGTERM and, if it is still alive `stop_grace_period` later,
//   SIGKILL. After a rollout the next start runs the new image version.
// - Every stop, whatever its cause, kills all of the process's fibers at once (a SIGKILLed app
//   observes nothing), releases its network endpoint, fails the requests it was serving with
//   "Network connection lost.", and wipes its disk: the next start gets a fresh filesystem made
//   from the image's files (§1.8, §8 item 11). Durable Object storage is never touched (§8 item 12).
// - The runtime of an object lives in the platform, not in the Durable Object instance: a running
//   container outlives resets and evictions of its object (§1.2, §8 item 14). (On the platform an
//   evicted object's container is eventually destroyed by the engine; the SDK's alarm loop keeps
//   the object from being evicted while its container runs, so the model does not destroy it.)
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

#include "model/disk.h"
#include "model/durable_object.h"
#include "model/http.h"
#include "model/instance_type.h"
#include "model/net.h"
#include "sim/faults.h"
#include "sim/simulator.h"
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

// An image: the program and its filesystem. `version` names it (rollouts switch versions).
struct ContainerImage {
  std::string version = "v1";
  std::function<void(Process&)> main;       // runs as the process's first fiber
  std::map<std::string, std::string> files;  // absolute path -> contents: the pristine disk
  std::map<std::string, std::string> env;    // the image's ENV; start() options layer over it
};

// ctx.container.start(options) (WT ContainerStartupOptions).
struct ContainerStartOptions {
  bool enable_internet = false;               // raw runtime default: off (W1, §8 item 4)
  std::map<std::string, std::string> env;     // layered over the image's env
  std::vector<std::string> entrypoint;        // empty: the image's; the process can read it
  std::map<std::string, std::string> labels;  // recorded only
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
  // rejected: "use HTTP", §1.2).
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
  std::string platform_stop_kind_;  // "" or "restart-host" / "rollout" during a platform stop
  std::shared_ptr<Promise<bool>> exited_;  // this run's outcome
  std::optional<ContainerExit> last_exit_;
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

  // Rollout of `version` (registered with add_image_version) to namespace ns_name: new starts use
  // it at once; every running instance gets a platform stop (SIGTERM, SIGKILL after the grace
  // period). One step of 100% (the facts' default steps [10, 100] are not modelled).
  void rollout(std::string_view ns_name, const std::string& version);

  // Fault verbs, targets "NAMESPACE/name" (the container of id_from_name(name)):
  //   crash TARGET exit_code=N       the process dies at once with N (default 1)
  //   oom TARGET                     OOM kill (exit 137)
  //   restart-host TARGET            SIGTERM, SIGKILL after the grace period; restarted by the next request
  //   rollout NAMESPACE version=V    see rollout()
  // A target that is not running is skipped (a trace record says so). An unknown namespace or
  // version is a FaultPlanError when the action fires.
  void register_faults(FaultInjector& faults);
  // crash (exit_code 1..255), oom and restart-host over `targets` ("NAMESPACE/name"), for
  // fault_plan_from_seed. (rollout takes a string argument, which a FaultSpace cannot draw: add
  // rollout actions to a plan by hand.)
  static std::vector<FaultVerbSpec> fault_verbs(const std::vector<std::string>& targets);

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
  ContainerRuntime& resolve_target(const FaultAction& a);

  Simulator& sim_;
  Network& net_;
  ContainerPlatformOptions options_;
  std::map<std::string, NsConfig, std::less<>> namespaces_;
  std::map<std::string, std::unique_ptr<ContainerRuntime>> runtimes_;  // by id hex
};

}  // namespace cfsim
