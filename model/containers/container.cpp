#include "model/containers/container.h"

#include <fmt/format.h>

#include <algorithm>

#include "model/http/body_stream.h"
#include "sim/assert.h"

namespace cfsim {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The SDK's isErrorOfType: a case-insensitive substring test on the message (PU).
bool error_is(std::string_view message, std::string_view needle) { return lower(message).find(lower(needle)) != std::string::npos; }

constexpr std::string_view kRuntimeSignalled = "runtime signalled the container to exit:";
constexpr std::string_view kUnexpectedExit = "container exited with unexpected exit code:";
constexpr std::string_view kNotListening = "the container is not listening";

// The SDK's 503 body for a start that found no instance (P:containerFetch).
constexpr std::string_view kNoInstanceBody =
    "There is no Container instance available at this time.\n"
    "This is likely because you have reached your max concurrent instance count (set in wrangler config) or are you "
    "currently provisioning the Container.\n"
    "If you are deploying your Container for the first time, check your dashboard to see provisioning status, this "
    "may take a few minutes.";

// getExitCodeFromError: the integer after the last ':' of a matching message.
std::optional<int> exit_code_from_error(const std::string& message) {
  if (!error_is(message, kRuntimeSignalled) && !error_is(message, kUnexpectedExit)) return std::nullopt;
  size_t colon = message.rfind(':');
  try {
    return std::stoi(message.substr(colon + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ContainerStatus status_from(std::string_view s) {
  if (s == "running") return ContainerStatus::running;
  if (s == "healthy") return ContainerStatus::healthy;
  if (s == "stopping") return ContainerStatus::stopping;
  if (s == "stopped_with_code") return ContainerStatus::stopped_with_code;
  return ContainerStatus::stopped;
}

}  // namespace

const char* to_string(ContainerStatus s) {
  switch (s) {
    case ContainerStatus::stopped: return "stopped";
    case ContainerStatus::running: return "running";
    case ContainerStatus::healthy: return "healthy";
    case ContainerStatus::stopping: return "stopping";
    case ContainerStatus::stopped_with_code: return "stopped_with_code";
  }
  return "?";
}

Duration parse_sleep_after(std::string_view text) {
  auto bad = [&] {
    return std::invalid_argument(fmt::format(
        "invalid sleepAfter '{}': expected a number of seconds or <digits> followed by s, m or h (e.g. \"30s\", \"10m\", \"2h\")", text));
  };
  if (text.empty()) throw bad();
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) throw bad();  // 10^12 h still fits in int64 ns? no: cap below
  int64_t n = 0;
  for (size_t i = 0; i < digits; ++i) n = n * 10 + (text[i] - '0');
  int64_t unit_s = 1;
  if (digits < text.size()) {
    if (digits + 1 != text.size()) throw bad();
    switch (text[digits]) {
      case 's': unit_s = 1; break;
      case 'm': unit_s = 60; break;
      case 'h': unit_s = 3600; break;
      default: throw bad();
    }
  }
  // Keep the result in int64 nanoseconds (about 292 years).
  if (n > INT64_MAX / 1'000'000'000 / unit_s) throw bad();
  return Duration::seconds(n * unit_s);
}

// --- construction ---------------------------------------------------------------------------------------

Container::Container(DurableObjectState& ctx, ContainerPlatform& platform)
    : DurableObject(ctx),
      platform_(platform),
      rt_(platform.runtime(ctx.id())),
      sim_(ctx.sim()),
      label_(rt_.label()),
      last_activity_(ctx.sim().now()) {
  // P:Container.constructor: renew the activity window, schedule an alarm at now + 1 s, and
  // re-attach the monitor of a container that outlived the previous instance (§8 item 14).
  if (ctx.storage().backend() == StorageBackend::sqlite)
    ctx.storage().sql().exec(
        "CREATE TABLE IF NOT EXISTS container_schedules (id TEXT PRIMARY KEY NOT NULL, callback TEXT NOT NULL, "
        "payload TEXT, type TEXT NOT NULL, time INTEGER NOT NULL, created_at INTEGER NOT NULL)");
  schedule_next_alarm();
  if (rt_.running()) {
    sim_.record("container", "reattach", {{"container", label_}});
    monitor_ = rt_.monitor_future();
    setup_monitor_callbacks();
  }
}

Container::~Container() {
  if (monitor_fiber_ && !monitor_fiber_.done()) {
    if (!sim_.in_fiber()) sim_.kill_now(monitor_fiber_);
    else if (sim_.current().id() != monitor_fiber_.id()) sim_.kill(monitor_fiber_);
  }
  // WebSockets relayed by this instance end with it (§4.7: a shutdown terminates WebSockets):
  // the relay's ends are dropped, so the client and the container app both see 1006.
  for (FiberHandle& f : ws_relays_) {
    if (f.done()) continue;
    if (!sim_.in_fiber()) sim_.kill_now(f);
    else if (sim_.current().id() != f.id()) sim_.kill(f);
  }
}

// --- state ---------------------------------------------------------------------------------------------

ContainerState Container::state() {
  ContainerState st;
  std::optional<StoredValue> v = ctx().storage().get(kStateKey);
  if (!v || v->type() != StoredValue::Type::map) return st;
  const StoredValue::Map& m = v->as_map();
  if (auto it = m.find("status"); it != m.end() && it->second.type() == StoredValue::Type::string) st.status = status_from(it->second.as_string());
  if (auto it = m.find("lastChange"); it != m.end() && it->second.type() == StoredValue::Type::int64) st.last_change_ms = it->second.as_int();
  if (auto it = m.find("exitCode"); it != m.end() && it->second.type() == StoredValue::Type::int64)
    st.exit_code = static_cast<int>(it->second.as_int());
  return st;
}

void Container::set_state(ContainerStatus s, std::optional<int> exit_code) {
  StoredValue::Map m;
  m["status"] = StoredValue(to_string(s));
  m["lastChange"] = StoredValue(sim_.now().ns / 1'000'000);
  if (exit_code) m["exitCode"] = StoredValue(*exit_code);
  ctx().storage().put(kStateKey, StoredValue(std::move(m)));
  sim_.record("container", "state", {{"container", label_}, {"status", to_string(s)}, {"exit_code", exit_code.value_or(-1)}});
}

// --- activity (§1.5) ---------------------------------------------------------------------------------

void Container::renew_activity_timeout() { last_activity_ = sim_.now(); }

void Container::release_inflight() {
  CFSIM_ASSERT(inflight_ > 0);  // each request in flight is released once
  if (--inflight_ == 0) renew_activity_timeout();  // P:decrementInflight
}

bool Container::activity_expired() {
  if (inflight_ > 0) {  // in-flight requests pin the container awake, and renew (P:isActivityExpired)
    renew_activity_timeout();
    return false;
  }
  return sim_.now() >= activity_deadline();
}

void Container::schedule_next_alarm() {
  // The running alarm handler re-arms when it returns; wake it if it sleeps (P:scheduleNextAlarm
  // resolves the handler's timeout).
  if (alarm_active_) {
    if (alarm_wake_) alarm_wake_->set();
    return;
  }
  ctx().storage().set_alarm(sim_.now() + Duration::seconds(1));
}

void Container::on_error(const std::string& error) { sim_.record("container", "on_error", {{"container", label_}, {"error", error}}); }

void Container::on_error_safe(const std::string& error) {
  try {
    on_error(error);
  } catch (const std::exception& e) {
    sim_.record("container", "on_error_threw", {{"container", label_}, {"error", e.what()}});
  }
}

void Container::on_activity_expired() { stop(); }

// --- the alarm loop (§1.6) ----------------------------------------------------------------------------

void Container::alarm(const AlarmInfo& info) {
  struct Active {
    Container* c;
    ~Active() {
      c->alarm_active_ = false;
      c->alarm_wake_ = nullptr;
    }
  } active{this};
  alarm_active_ = true;
  // This handler re-arms (or deletes) the alarm on every path; an alarm left from the constructor
  // would otherwise fire, and be retried every millisecond, while the handler sleeps.
  if (ctx().storage().get_alarm()) ctx().storage().delete_alarm();
  if (info.is_retry && info.retry_count > kMaxAlarmRetries) {
    if (rt_.running() || next_schedule()) ctx().storage().set_alarm(sim_.now() + Duration::seconds(1));
    return;
  }
  run_due_schedules();
  if (!rt_.running()) {
    sync_pending_stopped_events();
    if (rt_.running()) ctx().storage().set_alarm(sim_.now());  // a request started it meanwhile
    else if (std::optional<Time> next = next_schedule()) ctx().storage().set_alarm(*next);
    else ctx().storage().delete_alarm();
    return;
  }
  if (activity_expired()) {
    sim_.record("container", "activity_expired", {{"container", label_}, {"deadline", activity_deadline()}});
    on_activity_expired();
    renew_activity_timeout();
    ctx().storage().set_alarm(sim_.now());
    return;
  }
  Duration wait = std::min(kAlarmMaxWait, activity_deadline() - sim_.now());
  if (std::optional<Time> next = next_schedule()) wait = std::min(wait, *next - sim_.now());
  if (wait > Duration::zero()) {
    Event wake(sim_, "container alarm wait");
    alarm_wake_ = &wake;
    wake.wait_for(wait);
    alarm_wake_ = nullptr;
  }
  ctx().storage().set_alarm(sim_.now());
}

// --- schedule() (§1.6) -----------------------------------------------------------------------------------

std::string Container::schedule(Time when, const std::string& callback, const std::string& payload) {
  if (callback.empty()) throw std::invalid_argument("schedule: the callback name must not be empty");
  const int64_t when_s = when.ns / 1'000'000'000;
  // A deterministic id (the SDK uses a random one): the object's next sequence number.
  int64_t seq = 0;
  if (auto v = ctx().storage().get("__CF_CONTAINER_SCHEDULE_SEQ")) seq = v->as_int();
  ctx().storage().put("__CF_CONTAINER_SCHEDULE_SEQ", StoredValue(seq + 1));
  std::string id = fmt::format("schedule-{}", seq);
  ctx().storage().sql().exec("INSERT INTO container_schedules (id, callback, payload, type, time, created_at) VALUES (?, ?, ?, 'scheduled', ?, ?)",
                       {id, callback, payload, when_s, sim_.now().ns / 1'000'000'000});
  sim_.record("container", "schedule", {{"container", label_}, {"id", id}, {"callback", callback}, {"time_s", when_s}});
  schedule_next_alarm();
  return id;
}

void Container::run_scheduled(const std::string& callback, const std::string&) {
  on_error_safe(fmt::format("schedule: no callback named '{}' (override run_scheduled)", callback));
}

size_t Container::scheduled_tasks() {
  if (ctx().storage().backend() != StorageBackend::sqlite) return 0;
  return static_cast<size_t>(ctx().storage().sql().exec("SELECT COUNT(*) AS n FROM container_schedules").one().get_int("n"));
}

std::optional<Time> Container::next_schedule() {
  if (ctx().storage().backend() != StorageBackend::sqlite) return std::nullopt;
  SqlRow row = ctx().storage().sql().exec("SELECT MIN(time) AS t FROM container_schedules").one();
  if (row.is_null("t")) return std::nullopt;
  return Time::from_ns(row.get_int("t") * 1'000'000'000);
}

void Container::run_due_schedules() {
  if (ctx().storage().backend() != StorageBackend::sqlite) return;
  const int64_t now_s = sim_.now().ns / 1'000'000'000;
  std::vector<SqlRow> due =
      ctx().storage().sql().exec("SELECT id, callback, payload FROM container_schedules WHERE time <= ? ORDER BY time, id", {now_s}).to_array();
  for (const SqlRow& row : due) {
    const std::string id = row.get_string("id");
    sim_.record("container", "schedule_run", {{"container", label_}, {"id", id}, {"callback", row.get_string("callback")}});
    try {
      run_scheduled(row.get_string("callback"), row.is_null("payload") ? "" : row.get_string("payload"));
    } catch (const std::exception& e) {
      sim_.record("container", "schedule_threw", {{"container", label_}, {"id", id}, {"error", e.what()}});
    }
    ctx().storage().sql().exec("DELETE FROM container_schedules WHERE id = ?", {id});
  }
}

// --- monitor and stop events (§1.3, §1.7) -----------------------------------------------------------

void Container::setup_monitor_callbacks() {
  if (monitor_setup_ || !monitor_) return;
  monitor_setup_ = true;
  Future<bool> fut = *monitor_;
  monitor_fiber_ = sim_.spawn(
      "ctmon:" + label_,
      [this, fut]() mutable {
        std::string error;
        bool failed = false;
        try {
          fut.get();
        } catch (const std::exception& e) {
          failed = true;
          error = e.what();
        }
        // P:setupMonitorCallbacks.
        if (!failed) {
          set_state(ContainerStatus::stopped_with_code, 0);
        } else if (error_is(error, kNoInstance)) {
          set_state(ContainerStatus::stopped);
        } else if (std::optional<int> code = exit_code_from_error(error)) {
          set_state(ContainerStatus::stopped_with_code, *code);
        } else {
          set_state(ContainerStatus::stopped);
          on_error_safe(error);
        }
        monitor_setup_ = false;
        monitor_.reset();
        if (alarm_wake_) alarm_wake_->set();  // the monitor's completion cuts the alarm's wait short
      },
      SpawnOptions{.daemon = true});
}

void Container::sync_pending_stopped_events() {
  if (rt_.running()) return;
  ContainerState st = state();
  if (st.status == ContainerStatus::running || st.status == ContainerStatus::healthy) {
    call_on_stop(StopParams{0, "exit"});
  } else if (st.status == ContainerStatus::stopped_with_code) {
    call_on_stop(StopParams{st.exit_code.value_or(0), "exit"});
  }
}

void Container::call_on_stop(const StopParams& p) {
  if (on_stop_called_) return;
  on_stop_called_ = true;
  sim_.record("container", "on_stop", {{"container", label_}, {"exit_code", p.exit_code}, {"reason", p.reason}});
  try {
    on_stop(p);
  } catch (...) {
    on_stop_called_ = false;
    throw;
  }
  on_stop_called_ = false;
  set_state(ContainerStatus::stopped);
}

// --- starting (§1.4) -------------------------------------------------------------------------------------

std::vector<int> Container::ports_to_check(const std::vector<int>& explicit_ports) const {
  if (!explicit_ports.empty()) return explicit_ports;
  if (!required_ports.empty()) return required_ports;
  if (default_port) return {*default_port};
  return {kFallbackPort};
}

ContainerStartOptions Container::effective_start_options(const std::optional<ContainerStartOptions>& o) const {
  if (o) return *o;
  ContainerStartOptions so;
  so.enable_internet = enable_internet;
  so.env = env_vars;
  so.entrypoint = entrypoint;
  so.labels = labels;
  return so;
}

int Container::start_container_if_not_running(int port_to_check, const std::optional<ContainerStartOptions>& options) {
  if (rt_.running()) {
    if (!monitor_) monitor_ = rt_.monitor_future();
    return 0;
  }
  if (start_promise_) {  // a cold start is in flight: share it (P:startContainerIfNotRunning, #173/#200)
    sim_.record("container", "start_coalesced", {{"container", label_}});
    Future<int> f = *start_promise_;
    return f.get();
  }
  Promise<int> p(sim_, "container start " + label_);
  start_promise_ = p.future();
  try {
    int tries = do_start_container(port_to_check, options);
    start_promise_.reset();
    p.set_value(tries);
    return tries;
  } catch (const std::exception&) {
    start_promise_.reset();
    p.set_exception(std::current_exception());
    throw;
  }
}

void Container::start_handle_error() {
  if (!monitor_) return;
  Future<bool> f = *monitor_;
  try {
    f.get();
  } catch (const std::exception& e) {
    std::string m = e.what();
    if (!error_is(m, kNoInstance)) {
      on_error_safe(m);
      throw;
    }
    return;
  }
  std::string m = "Container exited before we could determine the container health, exit code: 0";
  on_error_safe(m);
  throw ContainerError(m);
}

int Container::do_start_container(int port_to_check, const std::optional<ContainerStartOptions>& options) {
  ContainerStartOptions so = effective_start_options(options);
  for (int tries = 0; tries < kAcquireAttempts; ++tries) {
    if (tries > 0 && !rt_.running()) start_handle_error();
    schedule_next_alarm();
    // The SDK awaits storage.setAlarm() and storage.sync() here: a suspension point where a
    // concurrent request can run (and must find the start in flight: §8 item 6).
    sim_.yield();
    if (!rt_.running()) {
      refresh_outbound_interception();  // the SDK registers its proxy right before start()
      internet_at_start_ = enable_internet;
      rt_.start(so);
      monitor_ = rt_.monitor_future();
      set_state(ContainerStatus::running);
    }
    renew_activity_timeout();
    TcpPort tp = rt_.get_tcp_port(port_to_check);
    Request probe;
    probe.url = "http://containerstarthealthcheck";
    try {
      sim_.record("container", "probe", {{"container", label_}, {"phase", "acquire"}, {"port", port_to_check}, {"attempt", tries}});
      tp.fetch(probe, kPingTimeout);
      return tries;
    } catch (const std::exception& e) {
      const std::string m = e.what();
      const bool not_listening = error_is(m, kNotListening);
      if (not_listening && rt_.running()) return tries;  // the VM is up; the app may not be yet
      if (!rt_.running() && not_listening) start_handle_error();
      sim_.sleep_for(kPollInterval);
      if (tries + 1 == kAcquireAttempts) {
        if (error_is(m, "Network connection lost")) ctx().abort(std::string(kNoInstance));
        throw ContainerError(std::string(kNoInstance));
      }
    }
  }
  throw ContainerError(std::string(kNoInstance));
}

void Container::start(std::optional<ContainerStartOptions> options) {
  int port = default_port ? *default_port : (!required_ports.empty() ? required_ports[0] : kFallbackPort);
  start_container_if_not_running(port, options);
  setup_monitor_callbacks();
  ctx().block_concurrency_while([&] { on_start(); });
}

void Container::start_and_wait_for_ports(std::vector<int> ports, std::optional<ContainerStartOptions> options) {
  std::vector<int> to_check = ports_to_check(ports);
  ContainerState st = state();
  if (st.status == ContainerStatus::healthy && rt_.running()) {
    if (!monitor_) monitor_ = rt_.monitor_future();
    setup_monitor_callbacks();
    return;
  }
  sync_pending_stopped_events();
  const int used = start_container_if_not_running(to_check[0], options);
  const int left = kPortReadyAttempts - used;
  for (int port : to_check) {
    TcpPort tp = rt_.get_tcp_port(port);
    bool ready = false;
    for (int i = 0; i < left && !ready; ++i) {
      Request probe;
      probe.url = "http://" + ping_endpoint;
      try {
        sim_.record("container", "probe", {{"container", label_}, {"phase", "port"}, {"port", port}, {"attempt", i}});
        // An early probe failure: the VM's network is not up yet, so the first probe is refused as if
        // nothing listened (buggify, swarm runs only); the SDK polls again.
        const ContainerFaultKnobs* k = platform_.fault_knobs();
        if (i == 0 && k && k->buggify && k->buggify->buggify("containers.early_probe_failure"))
          throw ContainerError(not_listening_message(port));
        Response r = tp.fetch(probe, kPingTimeout);
        ready = true;  // any HTTP response counts (§8 item 5)
        sim_.record("container", "port_ready", {{"container", label_}, {"port", port}, {"status", r.status}});
      } catch (const std::exception& e) {
        if (!rt_.running()) {
          on_error_safe("Container crashed while checking for ports, did you start the container and setup the entrypoint correctly?");
          throw;
        }
        if (i == left - 1) {
          on_error_safe(fmt::format("Failed to verify port {} is available after {}ms, last error: {}", port,
                                    (i + 1) * kPollInterval.millis_count(), e.what()));
          throw;
        }
        sim_.sleep_for(kPollInterval);
      }
    }
  }
  setup_monitor_callbacks();
  ctx().block_concurrency_while([&] {
    set_state(ContainerStatus::healthy);
    on_start();
  });
}

// --- stopping -----------------------------------------------------------------------------------------------

void Container::stop(int signo) {
  if (rt_.running()) {
    sim_.record("container", "stop", {{"container", label_}, {"signo", signo}});
    rt_.signal(signo);
  }
  sync_pending_stopped_events();
}

void Container::destroy() { rt_.destroy("Container.destroy()"); }
void Container::signal(int signo) { rt_.signal(signo); }
TcpPort Container::get_tcp_port(int port) { return rt_.get_tcp_port(port); }
bool Container::running() const { return rt_.running(); }

// --- the proxy (§1.4) -------------------------------------------------------------------------------------

Response Container::fetch(const Request& req) {
  std::optional<int> port = default_port;
  Request r = req;
  if (std::optional<std::string> h = req.headers.get(kTargetPortHeader)) {
    int p = 0;
    try {
      size_t used = 0;
      p = std::stoi(*h, &used);
      if (used != h->size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      throw std::invalid_argument(fmt::format("invalid {} header '{}': expected a port number", kTargetPortHeader, *h));
    }
    port = p;
    r.headers.remove(kTargetPortHeader);
  }
  if (!port)
    throw std::invalid_argument(
        "No port configured for this container. Set the `defaultPort` in your Container subclass, or specify a port "
        "with `container.fetch(switchPort(request, port))`.");
  return container_fetch(std::move(r), port);
}

Response Container::container_fetch(Request req, std::optional<int> port) {
  if (!port) port = default_port;
  if (!port)
    throw std::invalid_argument("containerFetch: no port given and no default_port set");
  if (!rt_.running() || state().status != ContainerStatus::healthy) {
    try {
      start_and_wait_for_ports({*port});
    } catch (const std::exception& e) {
      const std::string m = e.what();
      sim_.record("container", "start_failed", {{"container", label_}, {"error", m}});
      if (error_is(m, kNoInstance)) return Response(503, std::string(kNoInstanceBody));
      if (error_is(m, "you are requesting too many containers per second")) return Response(429, m);
      return Response(500, "Failed to start container: " + m);
    }
  }
  TcpPort tp = rt_.get_tcp_port(*port);
  if (req.url.rfind("https:", 0) == 0) req.url.replace(0, 6, "http:");
  renew_activity_timeout();
  struct InFlight {
    Container* c;
    bool held = true;  // false once the end of a streamed body will release it
    explicit InFlight(Container* cc) : c(cc) { ++c->inflight_; }
    ~InFlight() {
      if (held) c->release_inflight();
    }
  };
  std::string path = req.path();
  sim_.record("container", "proxy", {{"container", label_}, {"port", *port}, {"method", req.method}, {"path", path}});
  try {
    InFlight guard(this);
    Response r = tp.fetch(std::move(req));
    if (r.stream && !r.stream->ended()) {
      // The SDK decrements when the body has been fully streamed, or has failed (P:decrementInflight,
      // §1.5, §8 item 8): until then the request stays in flight and the window restarts at its end.
      guard.held = false;
      std::weak_ptr<Container*> life = life_;
      r.stream->on_end([life](const BodyStream&) {
        std::shared_ptr<Container*> c = life.lock();
        if (!c) return;  // the object was reset meanwhile: its new instance never counted this request
        (*c)->release_inflight();
      });
    }
    if (r.websocket) {
      Response relayed = proxy_websocket(std::move(r));
      guard.held = false;  // from now on the relay holds the count until either side closes
      return relayed;
    }
    return r;
  } catch (const std::exception& e) {
    const std::string m = e.what();
    sim_.record("container", "proxy_error", {{"container", label_}, {"error", m}});
    if (error_is(m, kConnectionLost)) return Response(500, "Container suddenly disconnected, try again");
    return Response(500, "Error proxying request to container: " + m);
  }
}

}  // namespace cfsim
