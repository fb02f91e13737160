#include "model/containers/runtime.h"

#include <fmt/format.h>

#include "model/containers/runtime_detail.h"
#include "model/http/body_stream.h"
#include "model/http/websocket.h"
#include "sim/assert.h"

namespace cfsim {

std::string not_listening_message(int port) {
  return fmt::format("The container is not listening in the TCP address {}:{}", Network::kOwnInterfaceAddress, port);
}

// --- TcpPort --------------------------------------------------------------------------------------------

Response TcpPort::fetch(Request req, Duration timeout) {
  ContainerRuntime& rt = *rt_;
  ContainerConnection connection(rt);  // open until this returns or throws (setInactivityTimeout)
  Simulator& sim = rt.sim_;
  if (req.url.rfind("https:", 0) == 0)
    throw ContainerError("Cannot connect to a container port over TLS (https): use HTTP (http://) with getTcpPort()");
  if (!rt.running_) throw ContainerError(std::string(kNotRunning));
  const Time deadline = detail::deadline_after(sim.now(), timeout);
  const Duration hop = rt.platform_.options().hop_latency;
  if (hop > Duration::zero()) sim.sleep_for(hop);
  std::shared_ptr<Process> proc = rt.process_;
  if (!rt.running_) throw ContainerError(std::string(kNotRunning));
  if (!proc || !proc->listening(port_)) {
    sim.record("container", "not_listening", {{"container", rt.label_}, {"port", port_}, {"booted", proc != nullptr}});
    throw ContainerError(not_listening_message(port_));
  }
  Response r = proc->serve(port_, std::move(req), deadline);
  // The body crosses the hop after the headers, chunk by chunk (§1.5: the SDK counts the request
  // in flight until the body has been fully streamed).
  if (r.stream) r.stream = r.stream->relay(hop, fmt::format("{}:{} -> do", rt.label_, port_));
  // An accepted upgrade: the connection to the app's end crosses the hop, both ways.
  if (r.websocket) {
    r.websocket->add_hop(hop);
    sim.record("container", "ws_upgrade", {{"container", rt.label_}, {"port", port_}, {"status", r.status}, {"ws", r.websocket->label()}});
  }
  if (hop > Duration::zero()) sim.sleep_for(hop);
  return r;
}

// --- ContainerRuntime -----------------------------------------------------------------------------------

ContainerRuntime::ContainerRuntime(ContainerPlatform& platform, std::string ns_name, DurableObjectId id)
    : platform_(platform),
      sim_(platform.sim_),
      ns_name_(std::move(ns_name)),
      id_(std::move(id)),
      label_(fmt::format("{}/{}", ns_name_, id_.label())),
      cold_start_rng_(platform.sim_.random("container.cold_start/" + ns_name_ + "/" + id_.hex())) {
  // The object's lifecycle drives the inactivity timeout and the IoContext abort. The listener
  // outlives this runtime when the namespace does: it checks `alive_` first.
  std::weak_ptr<int> alive = alive_;
  platform.config(ns_name_).ns->host(id_).set_lifecycle_listener([this, alive](bool constructed) {
    if (!alive.expired()) object_lifecycle(constructed);
  });
}

ContainerRuntime::~ContainerRuntime() {
  alive_.reset();  // connections and listeners that outlive us do nothing from now on
  boot_timer_.cancel();
  sigkill_timer_.cancel();
  hard_timeout_timer_.cancel();
  inactivity_timer_.cancel();
  if (!sim_.in_fiber()) {
    std::vector<FiberHandle> fibers;
    if (process_)
      for (auto& [fid, f] : process_->fibers_) fibers.push_back(f);
    for (auto& [pid, st] : execs_)
      if (st->fiber) fibers.push_back(st->fiber);
    for (auto& f : fibers) sim_.kill_now(f);
  }
}

void ContainerRuntime::start(ContainerStartOptions options) {
  if (running_) throw ContainerError(std::string(kAlreadyRunning));
  detail::check_env(options.env, "");
  // Every check comes before the first change of state: a refused start leaves nothing behind.
  if (options.hard_timeout < Duration::zero() || options.hard_timeout > kMaxContainerDuration)
    throw std::out_of_range(fmt::format("RangeError: hard_timeout must be 0 (none) to {} (got {})",
                                        format_duration(kMaxContainerDuration), format_duration(options.hard_timeout)));
  ContainerPlatform::NsConfig& cfg = platform_.config(ns_name_);
  const int running_now = cfg.running;
  if (running_now >= cfg.options.max_instances) {
    sim_.record("container", "start_refused",
                {{"container", label_}, {"running", running_now}, {"max_instances", cfg.options.max_instances}});
    throw ContainerError(fmt::format("{} (namespace '{}' runs {} of max_instances {}): {}", kMaxInstancesExceeded, ns_name_,
                                     running_now, cfg.options.max_instances, kNoInstance));
  }
  running_ = true;
  ++cfg.running;
  ++starts_;
  start_options_ = std::move(options);
  image_version_ = cfg.current;
  exited_ = std::make_shared<Promise<bool>>(sim_, "container exit " + label_);
  const ContainerPlatformOptions& po = platform_.options_;
  Duration cold = cold_start_rng_.lognormal(po.cold_start);
  if (const ContainerFaultKnobs* k = platform_.knobs_) {
    cold = cold.scaled_percent(k->cold_start_percent);
    // A slow cold start: image pull or VM placement takes 10 s longer (buggify, swarm runs only).
    if (k->buggify && k->buggify->buggify("containers.slow_cold_start") && cold < kMaxContainerDuration) cold += Duration::seconds(10);
  }
  sim_.record("container", "start",
              {{"container", label_}, {"start", starts_}, {"version", image_version_},
               {"internet", start_options_.enable_internet}, {"cold_start", cold}});
  boot_timer_.arm_after(cold, [this] { boot(); });
  run_started_at_ = sim_.now();
  monitored_explicitly_ = false;  // a fresh run: nobody monitors it yet (W2: fresh MonitorState)
  if (start_options_.hard_timeout > Duration::zero()) {
    sim_.record("container", "hard_timeout_set",
                {{"container", label_}, {"hard_timeout", start_options_.hard_timeout},
                 {"at", detail::deadline_after(sim_.now(), start_options_.hard_timeout)}});
    hard_timeout_timer_.arm_after(start_options_.hard_timeout, [this] {
      if (!running_) return;
      sim_.record("container", "hard_timeout", {{"container", label_}, {"hard_timeout", start_options_.hard_timeout}});
      platform_stop_kind_ = "hard-timeout";  // the runtime ends it: monitor() gets its error
      end_run(137, "hard-timeout");
    });
  }
  arm_inactivity("start");  // started while its object is inactive (from outside any request)
}

void ContainerRuntime::boot() {
  CFSIM_ASSERT(running_ && !process_);  // end_run cancels the boot timer; one process per run
  ContainerPlatform::NsConfig& cfg = platform_.config(ns_name_);
  const ContainerImage& image = cfg.images.at(image_version_);
  const ContainerPlatformOptions& po = platform_.options_;
  std::map<std::string, std::string> env = image.env;
  for (const auto& [k, v] : start_options_.env) env[k] = v;
  env["CLOUDFLARE_APPLICATION_ID"] = po.application_id;
  env["CLOUDFLARE_COUNTRY_A2"] = po.country_a2;
  env["CLOUDFLARE_LOCATION"] = po.location;
  env["CLOUDFLARE_REGION"] = po.region;
  env["CLOUDFLARE_DURABLE_OBJECT_ID"] = id_.hex();
  auto disk = std::make_unique<Disk>(sim_, label_, cfg.type.disk_bytes, image.files);
  process_ = std::make_shared<Process>(*this, image_version_, std::move(env), start_options_.entrypoint,
                                       start_options_.enable_internet, cfg.type.memory_bytes, std::move(disk));
  // Intercepts registered before start or during the cold start apply from the first request.
  process_->endpoint_ = platform_.net_.attach(label_, egress_policy());
  sim_.record("container", "process_start",
              {{"container", label_}, {"version", image_version_}, {"instance_type", cfg.type.name}});
  std::function<void(Process&)> main = image.main;
  Process* p = process_.get();
  process_->spawn_fiber("main", [p, main] { main(*p); }, true);
  // Programs exec()ed during the cold start run now, in pid order.
  std::vector<std::shared_ptr<ExecProcess::State>> queued;
  for (auto& [pid, st] : execs_)
    if (st->delivered && !st->fiber && !st->done) queued.push_back(st);
  for (auto& st : queued) launch_exec(st);
}

Future<bool> ContainerRuntime::monitor_future() {
  if (!running_) throw ContainerError(std::string(kNotRunning));
  monitored_explicitly_ = true;  // W2 monitor(): no IoContext abort for this run's end
  return exited_->future();
}

void ContainerRuntime::monitor() { monitor_future().get(); }

void ContainerRuntime::destroy(const std::string& reason) {
  if (!running_) return;
  sim_.record("container", "destroy", {{"container", label_}, {"reason", reason}});
  end_run(137, "destroy");
}

void ContainerRuntime::signal(int signo) {
  if (signo < 1 || signo > 64)
    throw std::out_of_range(fmt::format("RangeError: signal number must be between 1 and 64 (got {})", signo));
  if (!running_) throw ContainerError("signal() cannot be called on a container that is not running.");
  // Delivered one hop later, like any message to the container: the caller sees running() still
  // true on return, as the SDK's stop() does before its syncPendingStoppedEvents().
  const uint64_t run = starts_;
  sim_.call_after(platform_.options_.hop_latency, [this, run, signo] {
    if (running_ && starts_ == run) deliver_signal(signo, "durable-object");
  });
}

TcpPort ContainerRuntime::get_tcp_port(int port) {
  if (port < 1 || port > 65535)
    throw std::out_of_range(fmt::format("RangeError: port must be between 1 and 65535 (got {})", port));
  return TcpPort(*this, port);
}

// --- outbound interception (§7.2) ------------------------------------------------------------------------

void ContainerRuntime::intercept_outbound_http(const std::string& host_pattern, HttpHandler handler) {
  const std::string pattern = normalize_hostname(host_pattern);
  if (pattern.empty())
    throw std::invalid_argument(fmt::format("interceptOutboundHttp: empty host pattern '{}' (container {})", host_pattern, label_));
  if (!handler)
    throw std::invalid_argument(fmt::format("interceptOutboundHttp('{}'): empty handler (container {})", host_pattern, label_));
  raw_by_host_[pattern] = std::move(handler);
  sim_.record("container", "intercept", {{"container", label_}, {"pattern", pattern}, {"running", running_}});
  apply_egress("intercept");
}

void ContainerRuntime::intercept_all_outbound_http(HttpHandler handler) {
  if (!handler) throw std::invalid_argument(fmt::format("interceptAllOutboundHttp: empty handler (container {})", label_));
  raw_all_ = std::move(handler);
  sim_.record("container", "intercept", {{"container", label_}, {"pattern", "*all*"}, {"running", running_}});
  apply_egress("intercept-all");
}

void ContainerRuntime::set_outbound_proxy(EgressPolicy proxy) {
  proxy_ = std::move(proxy);
  apply_egress("proxy");
}

EgressPolicy ContainerRuntime::egress_policy() const {
  EgressPolicy p = proxy_ ? *proxy_ : EgressPolicy{};
  p.internet = start_options_.enable_internet;  // fixed at start (§7.2)
  // The SDK's entry wins over a raw intercept of the same key: compare normalised keys (raw ones
  // are normalised when registered), or "API.example." and "api.example" would both go in and the
  // network's own normalisation would keep whichever sorts last.
  std::map<std::string, HttpHandler> by_host;
  for (auto& [pattern, h] : p.outbound_by_host) by_host[normalize_hostname(pattern)] = std::move(h);  // as Network does
  for (const auto& [pattern, h] : raw_by_host_) by_host.emplace(pattern, h);  // no overwrite
  p.outbound_by_host = std::move(by_host);
  if (!p.outbound && raw_all_) p.outbound = raw_all_;
  return p;
}

void ContainerRuntime::apply_egress(const char* why) {
  // Before boot there is no endpoint yet: boot() attaches with egress_policy().
  if (!running_ || !process_ || !platform_.net_.attached(process_->endpoint_)) return;
  sim_.record("container", "egress_update", {{"container", label_}, {"why", why}});
  platform_.net_.set_policy(process_->endpoint_, egress_policy());
}

void ContainerRuntime::deliver_signal(int signo, const char* source) {
  Process* p = process_.get();
  bool handled = p && signo != kSigKill && p->signal_handlers_.count(signo);
  sim_.record("container", "signal",
              {{"container", label_}, {"signo", signo}, {"source", source}, {"booted", p != nullptr}, {"handled", handled}});
  if (signo == kSigKill) {
    end_run(137, "sigkill");
    return;
  }
  if (handled) {
    std::function<void()> h = p->signal_handlers_.at(signo);
    p->spawn_fiber(fmt::format("signal{}", signo), h, false);
    return;
  }
  if (ignored_by_default(signo)) return;
  end_run(128 + signo, "signal");
}

void ContainerRuntime::crash(int exit_code) {
  if (!running_) return;
  end_run(exit_code, "crash");
}

void ContainerRuntime::oom() {
  if (!running_) return;
  sim_.record("container", "oom", {{"container", label_}, {"memory_used", process_ ? process_->memory_used_ : 0}});
  end_run(137, "oom");
}

void ContainerRuntime::platform_stop(bool rollout) { begin_platform_stop(rollout ? "rollout" : "restart-host"); }

void ContainerRuntime::begin_platform_stop(const char* kind) {
  if (!running_) return;
  const bool rollout = std::string_view(kind) == "rollout";
  if (platform_stop_kind_.empty() || rollout) platform_stop_kind_ = kind;
  sim_.record("container", "platform_stop", {{"container", label_}, {"kind", kind}});
  deliver_signal(kSigTerm, kind);
  if (running_ && !sigkill_timer_.armed()) {
    sigkill_timer_.arm_after(platform_.options_.stop_grace_period, [this] {
      if (!running_) return;
      sim_.record("container", "grace_period_over", {{"container", label_}});
      deliver_signal(kSigKill, "platform");
    });
  }
}

void ContainerRuntime::end_run(int exit_code, const std::string& cause) {
  if (!running_) return;
  std::shared_ptr<Process> proc = std::move(process_);
  process_.reset();
  running_ = false;
  ContainerPlatform::NsConfig& cfg = platform_.config(ns_name_);
  --cfg.running;
  CFSIM_ASSERT(cfg.running >= 0);  // start() counted this run
  boot_timer_.cancel();
  sigkill_timer_.cancel();
  hard_timeout_timer_.cancel();
  cancel_inactivity("container-stopped");
  const std::string stop_kind = std::move(platform_stop_kind_);
  platform_stop_kind_.clear();
  // Intercepts last until the container stops (§7.2): the next run starts without any.
  raw_by_host_.clear();
  raw_all_ = nullptr;
  proxy_.reset();
  last_exit_ = ContainerExit{exit_code, cause};
  sim_.record("container", "exit",
              {{"container", label_}, {"exit_code", exit_code}, {"cause", cause}, {"platform_stop", stop_kind},
               {"version", image_version_}});
  const FiberHandle self = sim_.current();
  bool self_doomed = false;
  if (proc) self_doomed = tear_down_process(*proc, cause, self);
  if (end_execs(self)) self_doomed = true;
  settle_run(exit_code, cause, stop_kind);
  platform_.instance_stopped(ns_name_);
  if (self_doomed) sim_.kill(self);  // throws FiberKilled: a dying process runs no more code
}

bool ContainerRuntime::tear_down_process(Process& proc, const std::string& cause, const FiberHandle& self) {
  proc.alive_ = false;
  auto lost = std::make_exception_ptr(ContainerError(std::string(kConnectionLost)));
  for (auto& [seq, pending] : proc.pending_)
    if (!pending.reply->ready()) pending.reply->set_exception(lost);
  proc.pending_.clear();
  // Bodies still streaming break: their readers get the same error.
  for (const std::weak_ptr<BodyStream>& w : proc.streams_)
    if (std::shared_ptr<BodyStream> s = w.lock()) s->fail(std::string(kConnectionLost));
  proc.streams_.clear();
  // Its WebSockets drop: whoever holds the ends it handed out receives 1006 (after the hop).
  for (const std::weak_ptr<WebSocket>& w : proc.websockets_)
    if (std::shared_ptr<WebSocket> ws = w.lock()) ws->abort_peer();
  proc.websockets_.clear();
  platform_.net_.detach(proc.endpoint_);
  WipeReport w = proc.disk_->wipe(cause);
  sim_.record("container", "disk_wipe",
              {{"container", label_}, {"reason", cause}, {"files_lost", w.files_lost}, {"bytes_lost", w.bytes_lost}});
  std::map<uint32_t, FiberHandle> fibers = std::move(proc.fibers_);
  proc.fibers_.clear();
  proc.listeners_.clear();
  proc.signal_handlers_.clear();
  bool self_doomed = false;
  for (auto& [fid, f] : fibers) {
    if (self && fid == self.id()) self_doomed = true;
    else sim_.kill(f);
  }
  return self_doomed;
}

bool ContainerRuntime::end_execs(const FiberHandle& self) {
  // Programs run by exec() die with the container: 128 + SIGKILL.
  std::map<uint64_t, std::shared_ptr<ExecProcess::State>> execs = std::move(execs_);
  execs_.clear();
  bool self_doomed = false;
  for (auto& [pid, st] : execs) {
    FiberHandle f = st->fiber;
    finish_exec(st, 128 + kSigKill, "container-stopped");
    if (!f || f.done()) continue;
    if (self && f.id() == self.id()) self_doomed = true;
    else sim_.kill(f);
  }
  CFSIM_ASSERT(execs_.empty());  // finish_exec only erases; nothing starts a program on a stopped run
  return self_doomed;
}

void ContainerRuntime::settle_run(int exit_code, const std::string& cause, const std::string& stop_kind) {
  std::shared_ptr<Promise<bool>> exited = std::move(exited_);
  exited_.reset();
  CFSIM_ASSERT(exited);  // start() made this run's promise; end_run settles it once
  if (cause == "destroy" || (exit_code == 0 && stop_kind.empty())) {
    exited->set_value(true);
    return;
  }
  std::string msg;
  if (stop_kind == "rollout") msg = fmt::format("Runtime signalled the container to exit due to a new version rollout: {}", exit_code);
  else if (!stop_kind.empty()) msg = fmt::format("Runtime signalled the container to exit: {}", exit_code);
  else msg = fmt::format("Container exited with unexpected exit code: {}", exit_code);
  exited->set_exception(std::make_exception_ptr(ContainerExitError(msg, exit_code)));
  // A run the runtime ended (a platform stop, the hard timeout) is a failed monitor RPC. If
  // nobody called monitor() for it, the background monitor aborts the object's IoContext, if
  // it is alive (W2 monitorOnBackgroundIfNeeded, §1.2). A process's own exit, whatever its
  // code, is a monitor result, not an error: no abort.
  if (!stop_kind.empty() && cause != "destroy" && !monitored_explicitly_) abort_unmonitored_object(msg);
}

void ContainerRuntime::abort_unmonitored_object(const std::string& msg) {
  ObjectHost* h = platform_.config(ns_name_).ns->find_host(id_);
  const bool alive = h && h->constructed();
  sim_.record("container", "unmonitored_error", {{"container", label_}, {"error", msg}, {"object_constructed", alive}});
  if (!alive) return;
  // The abort runs as its own event, so it never unwinds whoever ended the run.
  const uint64_t incarnation = h->incarnation();
  std::weak_ptr<int> token = alive_;
  sim_.call_after(Duration::zero(), [this, token, incarnation, msg] {
    if (token.expired()) return;
    ObjectHost* host = platform_.config(ns_name_).ns->find_host(id_);
    if (!host || !host->constructed() || host->incarnation() != incarnation) return;  // gone already
    sim_.record("container", "abort", {{"container", label_}, {"error", msg}});
    host->reset(msg);
  });
}

}  // namespace cfsim
