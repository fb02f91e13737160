#pragma once
// The SDK's `Container` class (@cloudflare/containers 0.3.7) on top of cfsim's Durable Objects and
// the raw runtime (model/containers/runtime.h): the persisted state machine, starting with readiness
// probes, the request proxy and its error mapping, sleepAfter activity tracking, the alarm loop
// and the lazily replayed onStop — after platform-facts.md §1.3-§1.7, §8 items 4-9 and 13-15, 17.
//
// Fault model. The class adds no faults of its own; it reacts to the runtime's (crashes, OOM,
// signals, platform stops, the instance cap) as 0.3.7 does, bugs included:
// - onStop is replayed lazily (from alarm(), start_and_wait_for_ports(), stop()), never
//   synchronously at exit, always with reason "exit";
// - a rollout's exit message does not match the SDK's substrings, so the state becomes plain
//   "stopped" and on_stop never fires for it (containers#253); on_error gets the message instead;
// - idle expiry sends SIGTERM only, again every sleep_after while the process ignores it;
// - the activity deadline lives in memory: a Durable Object reset gives a running container a
//   fresh full sleep_after window.
//
// Differences from the JavaScript, by design:
// - C++ runs a base-class constructor before the subclass sets its fields, so the constructor
//   stores the time of the last activity, not a deadline: the deadline is last activity +
//   sleep_after as set when it is checked (the fixed 0.3.4 behaviour, containers#194).
// - The SDK's alarm() re-arms the alarm to "now" first and sleeps inside the handler. Here the
//   handler re-arms when it returns (same schedule; an alarm set while the handler still runs
//   would make the Durable Object model retry it every millisecond). A handler killed by a reset
//   is retried by the platform's alarm retries.
// - A proxied request is in flight until its response body has been fully streamed: at once for
//   a plain body, at the end (or failure) of a streamed one (Response::stream, model/http/body_stream.h)
//   as it reaches the Durable Object. The count lives in the instance: a reset drops it.
// - WebSockets (§3, §1.5): container_fetch relays an accepted upgrade as 0.3.7 does (see
//   proxy_websocket in container_websocket.cpp). The relay runs in fibers of this instance, outside the
//   input and output gates (the SDK's listeners run as events of the object; a relayed message
//   touches no storage here). A reset ends the relay: both the client and the app see 1006.
// - Outbound interception (§7.2): the SDK registers a ContainerProxy Worker with its configuration
//   as props; here the Container hands the same configuration to the runtime
//   (ContainerRuntime::set_outbound_proxy) and the network evaluates ContainerProxy.fetch's order.
//   Handlers are std::functions, not static class members: they must not capture the object
//   (it may be reset while the container runs); they reach it through OutboundContext::container_id
//   (§3). Run-time overrides name handlers in `outbound_handlers`, so OUTBOUND_CONFIGURATION
//   persists names and params, as the SDK does. The intercept-all/per-host split only changes
//   which hosts the engine sends to the proxy, never the decision, so it is tracked, not modelled.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/containers/runtime.h"
#include "model/durable_objects/durable_object.h"
#include "model/http/http.h"

namespace cfsim {

// The SDK's constants (P:TIMEOUT_TO_GET_CONTAINER_MS ... FALLBACK_PORT_TO_CHECK, §1.4).
inline constexpr Duration kInstanceAcquireBudget = Duration::millis(8000);
inline constexpr Duration kPortReadyBudget = Duration::millis(20000);
inline constexpr Duration kPollInterval = Duration::millis(300);
inline constexpr Duration kPingTimeout = Duration::millis(5000);
inline constexpr int kFallbackPort = 33;
// Budgets are counted in attempts: ceil(budget / interval) = 27 and 67 (§1.4, §8 item 5).
inline constexpr int kAcquireAttempts = static_cast<int>((kInstanceAcquireBudget.ns + kPollInterval.ns - 1) / kPollInterval.ns);
inline constexpr int kPortReadyAttempts = static_cast<int>((kPortReadyBudget.ns + kPollInterval.ns - 1) / kPollInterval.ns);
inline constexpr Duration kAlarmMaxWait = Duration::seconds(180);  // the alarm loop's 3 min (§1.6)
inline constexpr int kMaxAlarmRetries = 3;                        // P:MAX_ALARM_RETRIES
inline constexpr std::string_view kStateKey = "__CF_CONTAINER_STATE";
inline constexpr std::string_view kTargetPortHeader = "cf-container-target-port";
inline constexpr std::string_view kOutboundConfigurationKey = "OUTBOUND_CONFIGURATION";  // §1.3

// What an outbound handler gets besides the request (the SDK's OutboundHandlerContext).
struct OutboundContext {
  std::string container_id;  // ctx.containerId: the owning object's id (64 hex), for id_from_string (§3)
  std::string class_name;    // the SDK's className; here the Durable Object namespace's name
  std::string params;        // given to set_outbound_handler / set_outbound_by_host ("" if none)
};
using OutboundHandler = std::function<Response(const Request&, const OutboundContext&)>;

// The platform's sleepAfter format (PH:parseTimeExpression, §1.5): "<digits>s|m|h", or a plain
// number of seconds. "1d", "1h30m", "", "-5s" and anything else throw std::invalid_argument.
Duration parse_sleep_after(std::string_view text);

// The persisted state (§1.3). `stopping` exists but is never set by 0.3.7.
enum class ContainerStatus { stopped, running, healthy, stopping, stopped_with_code };
const char* to_string(ContainerStatus s);

struct ContainerState {
  ContainerStatus status = ContainerStatus::stopped;
  int64_t last_change_ms = 0;  // virtual time in ms
  std::optional<int> exit_code;
};

struct StopParams {
  int exit_code = 0;
  std::string reason = "exit";  // always "exit" in 0.3.7
};

class Container : public DurableObject {
 public:
  // `platform` must have this object's namespace registered (std::invalid_argument otherwise:
  // the SDK's constructor throws when ctx.container is undefined).
  Container(DurableObjectState& ctx, ContainerPlatform& platform);
  ~Container() override;

  // --- configuration: set these in the subclass constructor -----------------------------------
  std::optional<int> default_port;     // the port fetch() proxies to
  std::vector<int> required_ports;     // all must answer before "healthy"
  Duration sleep_after = Duration::seconds(600);  // "10m" (§1.5)
  std::map<std::string, std::string> env_vars;
  std::vector<std::string> entrypoint;
  bool enable_internet = true;         // the class default (§8 item 4)
  std::string ping_endpoint = "ping";  // Host of the readiness probe
  std::map<std::string, std::string> labels;
  // Egress (§7.2; the SDK's static configuration). Lists are globs ('*' = any run of characters);
  // nullopt = not set. A set but empty allowed_hosts lets nothing through, as in the SDK.
  std::optional<std::vector<std::string>> allowed_hosts, denied_hosts;
  std::map<std::string, OutboundHandler> outbound_by_host;   // static outboundByHost
  OutboundHandler outbound;                                   // static outbound (catch-all)
  std::map<std::string, OutboundHandler> outbound_handlers;  // outboundHandlers, by method name
  bool intercept_https = false;  // interceptHttps: handlers and lists see https:// requests too

  // --- hooks ---------------------------------------------------------------------------------------
  virtual void on_start() {}
  virtual void on_stop(const StopParams&) {}
  virtual void on_error(const std::string& error);  // default: records it
  virtual void on_activity_expired();               // default: stop() (SIGTERM only)

  // --- the class's methods ------------------------------------------------------------------------
  // Proxies to default_port, or to the port in the cf-container-target-port header. Throws
  // std::invalid_argument if there is neither.
  Response fetch(const Request& req) override;
  // containerFetch: starts the container if it is not running or not healthy, then proxies.
  // Errors become Responses: 503 (no instance), 429 (too many starts), 500 (other start failure,
  // "Container suddenly disconnected, try again", other proxy errors) (§1.4).
  Response container_fetch(Request req, std::optional<int> port = std::nullopt);
  // Starts without waiting for ports; runs on_start; leaves the state "running".
  void start(std::optional<ContainerStartOptions> options = std::nullopt);
  // Starts and waits for `ports` (default: required_ports, else default_port, else 33); state
  // "healthy", then on_start under block_concurrency_while. Throws on failure.
  void start_and_wait_for_ports(std::vector<int> ports = {}, std::optional<ContainerStartOptions> options = std::nullopt);
  void stop(int signo = kSigTerm);  // the signal only if running, then replays stop events
  void destroy();
  void signal(int signo);
  TcpPort get_tcp_port(int port);
  void renew_activity_timeout();
  bool running() const;  // ctx.container.running
  // schedule(when, callback, payload): a one-shot task kept in the SQL table container_schedules
  // (SQLite-backed objects only, as in the SDK) and run by the alarm loop once `when` is due, at
  // second granularity (the SDK stores floor(ms / 1000)): the alarm calls run_scheduled(callback,
  // payload), then deletes the task. Returns the task's id. std::invalid_argument for an empty
  // callback name.
  std::string schedule(Time when, const std::string& callback, const std::string& payload = "");
  std::string schedule(Duration delay, const std::string& callback, const std::string& payload = "") {
    return schedule(ctx().sim().now() + delay, callback, payload);
  }
  // The JavaScript looks the callback up as a method by name; C++ dispatches here. The default
  // reports an unknown callback through on_error. A throw is recorded and the task still deleted.
  virtual void run_scheduled(const std::string& callback, const std::string& payload);
  size_t scheduled_tasks();  // rows in container_schedules

  // --- egress at run time (§7.2, §8 item 38) ------------------------------------------------------
  // The SDK's run-time overrides: they apply to the running container without a restart (the
  // next request sees them), outlive restarts and resets (persisted under
  // OUTBOUND_CONFIGURATION, §1.3), and are re-applied before every start. Decision order: denied,
  // allowed, per-host override, static outbound_by_host, catch-all override, static outbound,
  // allowlisted or enable_internet => internet, else 520. `method` must name an entry of
  // outbound_handlers (std::invalid_argument otherwise). Changing enable_internet while the
  // container runs cannot take effect: the next of these calls throws std::invalid_argument
  // saying a restart is needed (not if the run already has the new value: explicit start
  // options may have started it with another value than the field's).
  void set_outbound_handler(const std::string& method, const std::string& params = "");
  void set_outbound_by_host(const std::string& host, const std::string& method, const std::string& params = "");
  void remove_outbound_by_host(const std::string& host);
  void set_outbound_by_hosts(const std::map<std::string, std::string>& host_to_method);  // replaces all
  void set_allowed_hosts(std::vector<std::string> hosts);
  void set_denied_hosts(std::vector<std::string> hosts);
  void allow_host(const std::string& host);
  void deny_host(const std::string& host);
  void remove_allowed_host(const std::string& host);
  void remove_denied_host(const std::string& host);
  // The policy this object's configuration gives (what the network applies while it runs).
  EgressPolicy outbound_policy();
  // Promoted to intercept-all (a catch-all, a list or a run-time override was ever configured).
  // Never demoted, and persisted: the runtime cannot remove an intercept before a stop (§7.2).
  bool intercepts_all_outbound();

  // --- introspection ----------------------------------------------------------------------------------
  ContainerState state();  // the persisted state
  Time activity_deadline() const { return last_activity_ + sleep_after; }
  int in_flight() const { return inflight_; }
  ContainerRuntime& runtime() { return rt_; }

  // The alarm loop (§1.6). Do not override: it drives the lifecycle.
  void alarm(const AlarmInfo& info) override;

 protected:
  ContainerPlatform& platform() { return platform_; }

 private:
  int start_container_if_not_running(int port_to_check, const std::optional<ContainerStartOptions>& options);
  int do_start_container(int port_to_check, const std::optional<ContainerStartOptions>& options);
  void start_handle_error();
  void on_error_safe(const std::string& error);  // on_error, its throws recorded and dropped
  void setup_monitor_callbacks();
  void apply_monitor_outcome();
  void sync_pending_stopped_events();
  void call_on_stop(const StopParams& p);
  bool activity_expired();
  void schedule_next_alarm();
  void run_due_schedules();
  std::optional<Time> next_schedule();  // the earliest task's due time
  void set_state(ContainerStatus s, std::optional<int> exit_code = std::nullopt);
  std::vector<int> ports_to_check(const std::vector<int>& explicit_ports) const;
  ContainerStartOptions effective_start_options(const std::optional<ContainerStartOptions>& o) const;
  // container_fetch got a 101 with a WebSocket: relay it through a new pair; returns the 101
  // for the caller, carrying the client's end (P:containerFetch).
  Response proxy_websocket(Response from_container);
  // Egress (P:applyOutboundInterception, persist/restoreOutboundConfiguration).
  struct OutboundOverride {
    std::string method, params;
  };
  void restore_outbound_configuration();  // once, lazily: the subclass has set its fields by then
  void persist_outbound_configuration();
  bool using_interception();
  void refresh_outbound_interception();   // applies if anything is configured
  void check_outbound_method(const std::string& method) const;
  HttpHandler bind_outbound(const OutboundHandler& h, const std::string& params);

  ContainerPlatform& platform_;
  ContainerRuntime& rt_;
  Simulator& sim_;
  std::string label_;
  Time last_activity_;
  int inflight_ = 0;
  void release_inflight();  // one request in flight is over: decrement, renew the window at zero
  std::optional<Future<bool>> monitor_;
  bool monitor_setup_ = false;
  FiberHandle monitor_fiber_;
  std::optional<Future<int>> start_promise_;  // coalesces concurrent cold starts (§8 item 6)
  bool on_stop_called_ = false;
  Event* alarm_wake_ = nullptr;  // set while the alarm handler sleeps
  bool alarm_active_ = false;    // the alarm handler is running (it re-arms when it returns)
  // Egress run-time overrides (the SDK's outboundByHostOverrides, outboundHandlerOverride,
  // allowedHostsOverride, deniedHostsOverride, hasInterceptAllRegistration).
  bool outbound_restored_ = false;
  bool using_interception_ = false;
  std::map<std::string, OutboundOverride> outbound_by_host_overrides_;
  std::optional<OutboundOverride> outbound_handler_override_;
  std::optional<std::vector<std::string>> allowed_hosts_override_, denied_hosts_override_;
  bool intercept_all_registration_ = false;
  std::optional<bool> internet_at_start_;  // enable_internet when this instance started the container
  // Expires with this instance: the end of a streamed body released after a reset does nothing.
  std::shared_ptr<Container*> life_ = std::make_shared<Container*>(this);
  // WebSocket relays (two fibers per socket), killed with this instance; sockets relayed so far.
  std::vector<FiberHandle> ws_relays_;
  uint64_t ws_proxied_ = 0;
};

}  // namespace cfsim
