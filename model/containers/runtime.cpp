#include "model/containers/runtime.h"

#include <fmt/format.h>

#include "model/http/body_stream.h"
#include "model/http/websocket.h"

namespace cfsim {

std::vector<std::pair<std::string, std::string>> run_info(const ContainerPlatformOptions& o) {
  return {{"containers.cold_start_median", format_duration(o.cold_start_median)},
          {"containers.cold_start_sigma", fmt::format("{}", o.cold_start_sigma)},
          {"containers.hop_latency", format_duration(o.hop_latency)},
          {"containers.stop_grace_period", format_duration(o.stop_grace_period)}};
}


namespace {

bool ignored_by_default(int signo) { return signo == kSigChld || signo == kSigCont || signo == kSigUrg || signo == kSigWinch; }

// The environment rules of start() and exec() (W2 Container::start).
void check_env(const std::map<std::string, std::string>& env, std::string_view prefix) {
  for (const auto& [name, value] : env) {
    if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos)
      throw std::invalid_argument(fmt::format("{}Environment variable names cannot be empty or contain '=' or NUL (got '{}')", prefix, name));
    if (value.find('\0') != std::string::npos)
      throw std::invalid_argument(fmt::format("{}Environment variable values cannot contain NUL (variable '{}')", prefix, name));
  }
}

std::string join_args(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& a : v) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

// The port of an http URL ("http://host:8080/x" -> 8080; none -> 80).
int url_port(const std::string& url) {
  size_t s = url.find("://");
  s = s == std::string::npos ? 0 : s + 3;
  size_t e = url.find_first_of("/?#", s);
  std::string auth = url.substr(s, e == std::string::npos ? std::string::npos : e - s);
  size_t colon = auth.rfind(':');
  if (colon == std::string::npos || auth.find(']') != std::string::npos) return 80;
  try {
    return std::stoi(auth.substr(colon + 1));
  } catch (const std::exception&) {
    return 80;
  }
}

}  // namespace

std::string not_listening_message(int port) {
  return fmt::format("The container is not listening in the TCP address {}:{}", Network::kOwnInterfaceAddress, port);
}

// What an exec() handle and the runtime share (container_runtime.h, ExecProcess).
struct ExecProcess::State {
  State(Simulator& sim, ContainerRuntime& r, std::weak_ptr<int> token, std::string name)
      : rt(&r), alive(std::move(token)), exited(sim, std::move(name)) {}
  ContainerRuntime* rt;
  std::weak_ptr<int> alive;  // rt is valid while this is
  ExecContext ctx;
  std::map<std::string, std::string> env;  // ExecOptions::env, layered over the process's at launch
  Promise<int> exited;
  bool delivered = false;  // reached the container (one hop after exec())
  bool done = false;
  bool output_taken = false;
  FiberHandle fiber;       // the program's, once launched
};

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
  if (boot_pending_) sim_.cancel(boot_event_);
  if (sigkill_pending_) sim_.cancel(sigkill_event_);
  if (hard_timeout_pending_) sim_.cancel(hard_timeout_event_);
  if (inactivity_pending_) sim_.cancel(inactivity_event_);
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
  check_env(options.env, "");
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
  Duration cold = cold_start_rng_.lognormal(po.cold_start_median, po.cold_start_sigma);
  if (const ContainerFaultKnobs* k = platform_.knobs_) {
    cold = cold.scaled_percent(k->cold_start_percent);
    // A slow cold start: image pull or VM placement takes 10 s longer (buggify, swarm runs only).
    if (k->buggify && k->buggify->buggify("containers.slow_cold_start") && cold < kMaxContainerDuration) cold += Duration::seconds(10);
  }
  sim_.record("container", "start",
              {{"container", label_}, {"start", starts_}, {"version", image_version_},
               {"internet", start_options_.enable_internet}, {"cold_start", cold}});
  boot_pending_ = true;
  boot_event_ = sim_.call_after(cold, [this] {
    boot_pending_ = false;
    boot();
  });
  run_started_at_ = sim_.now();
  monitored_explicitly_ = false;  // a fresh run: nobody monitors it yet (W2: fresh MonitorState)
  if (start_options_.hard_timeout > Duration::zero()) {
    sim_.record("container", "hard_timeout_set",
                {{"container", label_}, {"hard_timeout", start_options_.hard_timeout},
                 {"at", detail::deadline_after(sim_.now(), start_options_.hard_timeout)}});
    hard_timeout_pending_ = true;
    hard_timeout_event_ = sim_.call_after(start_options_.hard_timeout, [this] {
      hard_timeout_pending_ = false;
      if (!running_) return;
      sim_.record("container", "hard_timeout", {{"container", label_}, {"hard_timeout", start_options_.hard_timeout}});
      platform_stop_kind_ = "hard-timeout";  // the runtime ends it: monitor() gets its error
      end_run(137, "hard-timeout");
    });
  }
  arm_inactivity("start");  // started while its object is inactive (from outside any request)
}

void ContainerRuntime::boot() {
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
  if (running_ && !sigkill_pending_) {
    sigkill_pending_ = true;
    sigkill_event_ = sim_.call_after(platform_.options_.stop_grace_period, [this] {
      sigkill_pending_ = false;
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
  --platform_.config(ns_name_).running;
  if (boot_pending_) {
    sim_.cancel(boot_event_);
    boot_pending_ = false;
  }
  if (sigkill_pending_) {
    sim_.cancel(sigkill_event_);
    sigkill_pending_ = false;
  }
  if (hard_timeout_pending_) {
    sim_.cancel(hard_timeout_event_);
    hard_timeout_pending_ = false;
  }
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
  FiberHandle self = sim_.current();
  bool self_doomed = false;
  if (proc) {
    proc->alive_ = false;
    auto lost = std::make_exception_ptr(ContainerError(std::string(kConnectionLost)));
    for (auto& [seq, pending] : proc->pending_)
      if (!pending.reply->ready()) pending.reply->set_exception(lost);
    proc->pending_.clear();
    // Bodies still streaming break: their readers get the same error.
    for (const std::weak_ptr<BodyStream>& w : proc->streams_)
      if (std::shared_ptr<BodyStream> s = w.lock()) s->fail(std::string(kConnectionLost));
    proc->streams_.clear();
    // Its WebSockets drop: whoever holds the ends it handed out receives 1006 (after the hop).
    for (const std::weak_ptr<WebSocket>& w : proc->websockets_)
      if (std::shared_ptr<WebSocket> ws = w.lock()) ws->abort_peer();
    proc->websockets_.clear();
    platform_.net_.detach(proc->endpoint_);
    WipeReport w = proc->disk_->wipe(cause);
    sim_.record("container", "disk_wipe",
                {{"container", label_}, {"reason", cause}, {"files_lost", w.files_lost}, {"bytes_lost", w.bytes_lost}});
    std::map<uint32_t, FiberHandle> fibers = std::move(proc->fibers_);
    proc->fibers_.clear();
    proc->listeners_.clear();
    proc->signal_handlers_.clear();
    for (auto& [fid, f] : fibers) {
      if (self && fid == self.id()) self_doomed = true;
      else sim_.kill(f);
    }
  }
  // Programs run by exec() die with the container: 128 + SIGKILL.
  std::map<uint64_t, std::shared_ptr<ExecProcess::State>> execs = std::move(execs_);
  execs_.clear();
  for (auto& [pid, st] : execs) {
    FiberHandle f = st->fiber;
    finish_exec(st, 128 + kSigKill, "container-stopped");
    if (!f || f.done()) continue;
    if (self && f.id() == self.id()) self_doomed = true;
    else sim_.kill(f);
  }
  std::shared_ptr<Promise<bool>> exited = std::move(exited_);
  exited_.reset();
  if (cause == "destroy" || (exit_code == 0 && stop_kind.empty())) {
    exited->set_value(true);
  } else {
    std::string msg;
    if (stop_kind == "rollout") msg = fmt::format("Runtime signalled the container to exit due to a new version rollout: {}", exit_code);
    else if (!stop_kind.empty()) msg = fmt::format("Runtime signalled the container to exit: {}", exit_code);
    else msg = fmt::format("Container exited with unexpected exit code: {}", exit_code);
    exited->set_exception(std::make_exception_ptr(ContainerExitError(msg, exit_code)));
    // A run the runtime ended (a platform stop, the hard timeout) is a failed monitor RPC. If
    // nobody called monitor() for it, the background monitor aborts the object's IoContext, if
    // it is alive (W2 monitorOnBackgroundIfNeeded, §1.2). A process's own exit, whatever its
    // code, is a monitor result, not an error: no abort. The abort runs as its own event, so it
    // never unwinds whoever ended the run.
    if (!stop_kind.empty() && cause != "destroy" && !monitored_explicitly_) {
      ObjectHost* h = platform_.config(ns_name_).ns->find_host(id_);
      const bool alive = h && h->constructed();
      sim_.record("container", "unmonitored_error", {{"container", label_}, {"error", msg}, {"object_constructed", alive}});
      if (alive) {
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
    }
  }
  platform_.instance_stopped(ns_name_);
  if (self_doomed) sim_.kill(self);  // throws FiberKilled: a dying process runs no more code
}

// --- exec (§1.2) ------------------------------------------------------------------------------------------


std::string ExecContext::read_stdin() {
  std::string out = std::move(stdin_);
  stdin_.clear();
  return out;
}

uint64_t ExecProcess::pid() const { return s_->ctx.pid_; }
bool ExecProcess::exited() const { return s_->done; }
Future<int> ExecProcess::exit_code_future() const { return s_->exited.future(); }
int ExecProcess::exit_code() { return s_->exited.future().get(); }

ExecOutput ExecProcess::output() {
  if (s_->output_taken)
    throw ContainerError(fmt::format("exec: output() can only be called once (pid {})", s_->ctx.pid_));
  s_->output_taken = true;
  const int code = exit_code();
  return ExecOutput{s_->ctx.stdout_, s_->ctx.stderr_, code};
}

void ExecProcess::kill(int signo) {
  if (signo < 1 || signo > 64)
    throw std::out_of_range(fmt::format("RangeError: signal number must be between 1 and 64 (got {})", signo));
  if (s_->done || s_->alive.expired()) return;
  std::shared_ptr<State> st = s_;
  st->rt->sim_.call_after(st->rt->platform_.options().hop_latency, [st, signo] {
    if (!st->alive.expired()) st->rt->deliver_exec_signal(st, signo);
  });
}

ExecProcess ContainerRuntime::exec(std::vector<std::string> cmd, ExecOptions options) {
  if (!running_) throw ContainerError("exec() cannot be called on a container that is not running.");
  if (cmd.empty()) throw std::invalid_argument(fmt::format("exec: cmd must name a program (got an empty array) (container {})", label_));
  check_env(options.env, "exec: ");
  const uint64_t pid = ++next_pid_;
  auto st = std::make_shared<ExecProcess::State>(sim_, *this, alive_, fmt::format("exec {} pid {}", label_, pid));
  st->ctx.pid_ = pid;
  st->ctx.argv_ = std::move(cmd);
  st->ctx.cwd_ = std::move(options.cwd);
  st->ctx.stdin_ = std::move(options.stdin_data);
  st->env = std::move(options.env);
  execs_[pid] = st;
  sim_.record("container", "exec", {{"container", label_}, {"pid", pid}, {"cmd", join_args(st->ctx.argv_)}});
  std::weak_ptr<int> token = alive_;
  sim_.call_after(platform_.options_.hop_latency, [this, token, st] {
    if (token.expired() || st->done) return;  // the run ended first: finished with 137 already
    st->delivered = true;
    if (process_) launch_exec(st);  // else boot() launches it once main runs
  });
  return ExecProcess(st);
}

void ContainerRuntime::launch_exec(const std::shared_ptr<ExecProcess::State>& st) {
  const ContainerImage& image = platform_.config(ns_name_).images.at(image_version_);
  st->ctx.env_ = process_->env_;
  for (const auto& [k, v] : st->env) st->ctx.env_[k] = v;
  const std::string& program = st->ctx.argv_[0];
  auto it = image.programs.find(program);
  sim_.record("container", "exec_start",
              {{"container", label_}, {"pid", st->ctx.pid_}, {"program", program}, {"found", it != image.programs.end()}});
  if (it == image.programs.end()) {
    st->ctx.stderr_ += fmt::format("exec: \"{}\": executable file not found in $PATH\n", program);
    finish_exec(st, 127, "not-found");
    return;
  }
  ExecProgram prog = it->second;
  std::shared_ptr<Process> proc = process_;
  std::weak_ptr<int> token = alive_;
  st->fiber = sim_.spawn(fmt::format("ct:{}#exec{}:{}", label_, st->ctx.pid_, program), [this, token, st, prog, proc] {
    int code = 0;
    const char* cause = "exit";
    try {
      code = prog(*proc, st->ctx.argv_, st->ctx);
      if (code < 0 || code > 255) {
        st->ctx.stderr_ += fmt::format("exec: program returned exit code {} (must be 0..255)\n", code);
        code = 1;
        cause = "bad-exit-code";
      }
    } catch (const FiberKilled&) {
      throw;  // killed by a signal or with the container: already settled
    } catch (const std::exception& e) {
      st->ctx.stderr_ += std::string(e.what()) + "\n";
      code = 1;
      cause = "threw";
    } catch (...) {
      st->ctx.stderr_ += "exception not derived from std::exception\n";
      code = 1;
      cause = "threw";
    }
    if (!token.expired()) finish_exec(st, code, cause);
  });
}

void ContainerRuntime::finish_exec(const std::shared_ptr<ExecProcess::State>& st, int exit_code, const char* cause) {
  if (st->done) return;
  st->done = true;
  execs_.erase(st->ctx.pid_);
  sim_.record("container", "exec_exit",
              {{"container", label_}, {"pid", st->ctx.pid_}, {"exit_code", exit_code}, {"cause", cause},
               {"stdout_bytes", static_cast<int64_t>(st->ctx.stdout_.size())},
               {"stderr_bytes", static_cast<int64_t>(st->ctx.stderr_.size())}});
  st->exited.set_value(exit_code);
}

void ContainerRuntime::deliver_exec_signal(const std::shared_ptr<ExecProcess::State>& st, int signo) {
  if (st->done) return;
  const bool ignored = ignored_by_default(signo);
  sim_.record("container", "exec_signal", {{"container", label_}, {"pid", st->ctx.pid_}, {"signo", signo}, {"ignored", ignored}});
  if (ignored) return;
  FiberHandle f = st->fiber;
  finish_exec(st, 128 + signo, "signal");
  if (f && !f.done()) sim_.kill(f);  // from the scheduler: never the calling fiber
}

// --- inactivity timeout (§1.2) ----------------------------------------------------------------------------

ContainerConnection::ContainerConnection(ContainerRuntime& rt) : rt_(&rt), alive_(rt.alive_) {
  if (rt.open_connections_++ == 0) rt.cancel_inactivity("connection-open");
}

ContainerConnection::~ContainerConnection() {
  if (alive_.expired()) return;
  if (--rt_->open_connections_ == 0) rt_->arm_inactivity("connection-closed");
}

void ContainerRuntime::set_inactivity_timeout(Duration timeout) {
  if (timeout <= Duration::zero())
    throw std::invalid_argument(fmt::format("TypeError: setInactivityTimeout() cannot be called with a durationMs <= 0 (got {})",
                                            format_duration(timeout)));
  if (timeout > kMaxContainerDuration)
    throw std::invalid_argument(fmt::format("setInactivityTimeout: the timeout must be at most {} (got {})",
                                            format_duration(kMaxContainerDuration), format_duration(timeout)));
  inactivity_timeout_ = timeout;
  sim_.record("container", "inactivity_timeout_set", {{"container", label_}, {"timeout", timeout}});
  cancel_inactivity("timeout-changed");
  arm_inactivity("timeout-set");
}

bool ContainerRuntime::object_constructed() const {
  ObjectHost* h = platform_.config(ns_name_).ns->find_host(id_);
  return h && h->constructed();
}

void ContainerRuntime::object_lifecycle(bool constructed) {
  if (constructed) {
    cancel_inactivity("object-active");  // a new request (or alarm) reached the object
    return;
  }
  monitored_explicitly_ = false;  // the dropped instance's ctx.container was the one monitoring
  arm_inactivity("object-inactive");
}

void ContainerRuntime::arm_inactivity(const char* why) {
  if (inactivity_pending_ || inactivity_timeout_ <= Duration::zero() || !running_ || open_connections_ > 0 ||
      !platform_stop_kind_.empty() || object_constructed())
    return;
  inactivity_pending_ = true;
  sim_.record("container", "inactivity_stop_scheduled",
              {{"container", label_}, {"why", why}, {"at", detail::deadline_after(sim_.now(), inactivity_timeout_)}});
  inactivity_event_ = sim_.call_after(inactivity_timeout_, [this] {
    inactivity_pending_ = false;
    inactivity_expired();
  });
}

void ContainerRuntime::cancel_inactivity(const char* why) {
  if (!inactivity_pending_) return;
  sim_.cancel(inactivity_event_);
  inactivity_pending_ = false;
  sim_.record("container", "inactivity_stop_cancelled", {{"container", label_}, {"why", why}});
}

void ContainerRuntime::inactivity_expired() {
  if (!running_ || open_connections_ > 0 || object_constructed()) return;  // cancelled paths; defensive
  bool flowing = false;  // a streamed body or a WebSocket still open is an open connection too
  if (process_) {
    for (const std::weak_ptr<BodyStream>& w : process_->streams_)
      if (std::shared_ptr<BodyStream> b = w.lock(); b && !b->ended() && !b->failed()) flowing = true;
    for (const std::weak_ptr<WebSocket>& w : process_->websockets_)
      if (std::shared_ptr<WebSocket> ws = w.lock(); ws && ws->state() != WebSocketState::closed) flowing = true;
  }
  if (flowing) {
    sim_.record("container", "inactivity_stop_deferred", {{"container", label_}, {"why", "stream-open"}});
    arm_inactivity("deferred");
    return;
  }
  sim_.record("container", "inactivity_stop", {{"container", label_}, {"timeout", inactivity_timeout_}});
  begin_platform_stop("inactivity");
}

// --- Process --------------------------------------------------------------------------------------------

Process::Process(ContainerRuntime& rt, std::string image_version, std::map<std::string, std::string> env,
                 std::vector<std::string> entrypoint, bool internet, int64_t memory_limit, std::unique_ptr<Disk> disk)
    : rt_(rt),
      sim_(rt.sim_),
      label_(rt.label_),
      image_version_(std::move(image_version)),
      env_(std::move(env)),
      entrypoint_(std::move(entrypoint)),
      internet_(internet),
      memory_limit_(memory_limit),
      disk_(std::move(disk)) {}

Process::~Process() = default;

FiberHandle Process::spawn(std::string name, std::function<void()> body) {
  if (!alive_) throw ContainerError(fmt::format("container {}: spawn() on a process that has exited", label_));
  return spawn_fiber(std::move(name), std::move(body), false);
}

FiberHandle Process::spawn_fiber(std::string name, std::function<void()> body, bool is_main) {
  std::shared_ptr<Process> self = shared_from_this();
  std::string fiber_name = fmt::format("ct:{}#{}:{}", label_, next_fiber_++, name);
  FiberHandle f = sim_.spawn(std::move(fiber_name), [self, body = std::move(body), is_main] {
    const uint32_t me = self->sim_.current().id();
    std::string crash;
    try {
      body();
    } catch (const std::exception& e) {
      crash = e.what();
      if (crash.empty()) crash = "exception";
    }
    self->fibers_.erase(me);
    if (!self->alive_) return;
    if (!crash.empty()) {
      self->sim_.record("container", "crash", {{"container", self->label_}, {"error", crash}});
      self->rt_.end_run(1, "crash");
      return;
    }
    if (is_main) self->main_returned_ = true;
    self->maybe_exit_idle();
  });
  fibers_[f.id()] = f;
  return f;
}

void Process::track_stream(const std::shared_ptr<BodyStream>& s) {
  // Forget bodies that have ended (or whose readers are all gone), so a long-lived process that
  // streams many responses keeps a short list.
  std::erase_if(streams_, [](const std::weak_ptr<BodyStream>& w) {
    std::shared_ptr<BodyStream> b = w.lock();
    return !b || b->ended();
  });
  if (!s->ended()) streams_.push_back(s);
}

void Process::track_websocket(const std::shared_ptr<WebSocket>& given) {
  std::erase_if(websockets_, [](const std::weak_ptr<WebSocket>& w) {
    std::shared_ptr<WebSocket> ws = w.lock();
    return !ws || ws->state() == WebSocketState::closed;
  });
  websockets_.push_back(given);
}

void Process::maybe_exit_idle() {
  if (alive_ && main_returned_ && listeners_.empty() && fibers_.empty()) rt_.end_run(0, "exit");
}

void Process::listen(int port, Handler handler) {
  if (port < 1 || port > 65535) throw std::invalid_argument(fmt::format("listen: port must be 1..65535 (got {})", port));
  if (listeners_.count(port)) throw std::invalid_argument(fmt::format("listen EADDRINUSE: address already in use 0.0.0.0:{}", port));
  listeners_[port] = std::move(handler);
  sim_.record("container", "listen", {{"container", label_}, {"port", port}});
}

void Process::unlisten(int port) {
  if (listeners_.erase(port)) {
    sim_.record("container", "unlisten", {{"container", label_}, {"port", port}});
    maybe_exit_idle();
  }
}

std::optional<std::string> Process::env(std::string_view name) const {
  auto it = env_.find(std::string(name));
  if (it == env_.end()) return std::nullopt;
  return it->second;
}

void Process::on_signal(int signo, std::function<void()> handler) {
  if (signo < 1 || signo > 64) throw std::invalid_argument(fmt::format("on_signal: signal number must be 1..64 (got {})", signo));
  if (signo == kSigKill || signo == kSigStop)
    throw std::invalid_argument(fmt::format("on_signal: signal {} cannot be caught", signo));
  signal_handlers_[signo] = std::move(handler);
}

void Process::exit(int code) {
  if (code < 0 || code > 255) throw std::invalid_argument(fmt::format("exit: code must be 0..255 (got {})", code));
  if (!alive_) return;
  rt_.end_run(code, "exit");
}

Response Process::serve(int port, Request req, Time deadline) {
  auto it = listeners_.find(port);
  if (it == listeners_.end()) throw ContainerError(not_listening_message(port));
  const uint64_t seq = next_request_++;
  auto reply = std::make_shared<Promise<Response>>(sim_, "container request");
  pending_[seq] = Pending{reply};
  sim_.record("container", "request", {{"container", label_}, {"port", port}, {"seq", seq}, {"method", req.method}, {"path", req.path()}});
  Handler h = it->second;
  Process* self = this;
  spawn_fiber(fmt::format("req{}", seq), [self, seq, h, reply, req = std::move(req)] {
    Response r = h(req);
    if (r.stream) self->track_stream(r.stream);
    if (r.websocket) self->track_websocket(r.websocket);
    if (!reply->ready()) reply->set_value(std::move(r));
    self->pending_.erase(seq);
  }, false);
  Future<Response> f = reply->future();
  if (!f.wait_until(deadline)) {
    sim_.record("container", "request_timeout", {{"container", label_}, {"seq", seq}});
    throw ContainerError(std::string(kProbeTimeout));
  }
  Response r = f.get();
  sim_.record("container", "response", {{"container", label_}, {"seq", seq}, {"status", r.status}});
  return r;
}

Response Process::fetch(Request req) {
  const std::string host = req.host();
  if (host == "localhost" || host.rfind("127.", 0) == 0 || host == Network::kOwnInterfaceAddress) {
    const int port = url_port(req.url);
    if (!listening(port))
      throw NetError(NetError::Kind::refused, fmt::format("connect ECONNREFUSED {}:{}", host, port));
    return serve(port, std::move(req), Time::max());
  }
  return rt_.platform_.net().fetch(endpoint_, std::move(req));
}

DbConnection Process::connect_db(std::string_view host, int port) { return rt_.platform_.net().connect_db(endpoint_, host, port); }

void Process::allocate_memory(int64_t bytes) {
  if (bytes < 0) throw std::invalid_argument(fmt::format("allocate_memory: bytes must be >= 0 (got {})", bytes));
  if (!alive_) return;
  memory_used_ += bytes;
  if (memory_used_ > memory_limit_) {
    sim_.record("container", "oom", {{"container", label_}, {"memory_used", memory_used_}, {"memory_limit", memory_limit_}});
    rt_.end_run(137, "oom");
  }
}

void Process::free_memory(int64_t bytes) {
  if (bytes < 0 || bytes > memory_used_)
    throw std::invalid_argument(fmt::format("free_memory: bytes must be 0..{} (in use), got {}", memory_used_, bytes));
  memory_used_ -= bytes;
}

// --- ContainerPlatform ----------------------------------------------------------------------------------

ContainerPlatform::ContainerPlatform(Simulator& sim, Network& net, ContainerPlatformOptions options)
    : sim_(sim), net_(net), options_(std::move(options)) {
  if (options_.cold_start_median < Duration::zero() || !(options_.cold_start_sigma >= 0))
    throw std::invalid_argument("ContainerPlatformOptions: cold_start_median and cold_start_sigma must be >= 0");
  if (options_.hop_latency < Duration::zero() || options_.stop_grace_period < Duration::zero())
    throw std::invalid_argument("ContainerPlatformOptions: hop_latency and stop_grace_period must be >= 0");
  for (auto [name, d] : {std::pair{"cold_start_median", options_.cold_start_median}, std::pair{"hop_latency", options_.hop_latency},
                         std::pair{"stop_grace_period", options_.stop_grace_period}})
    if (d > kMaxContainerDuration)
      throw std::invalid_argument(fmt::format("ContainerPlatformOptions: {} must be at most {} (got {})", name,
                                              format_duration(kMaxContainerDuration), format_duration(d)));
}

ContainerPlatform::~ContainerPlatform() {
  alive_.reset();  // rollout events still scheduled do nothing from now on
  // Process fibers run on the runtimes: unwind them while the runtimes exist.
  runtimes_.clear();
}

void ContainerPlatform::register_namespace(DurableObjectNamespace& ns, ContainerImage image, ContainerNamespaceOptions options) {
  if (!image.main) throw std::invalid_argument(fmt::format("container namespace '{}': the image has no main", ns.name()));
  if (options.max_instances < 0)
    throw std::invalid_argument(fmt::format("container namespace '{}': max_instances must be >= 0 (got {})", ns.name(), options.max_instances));
  if (namespaces_.count(ns.name())) throw std::invalid_argument(fmt::format("container namespace '{}' is already registered", ns.name()));
  NsConfig cfg{&ns, ns.id_from_name("").hex().substr(48), options, instance_type(options.instance_type), {}, image.version};
  cfg.images.emplace(image.version, std::move(image));
  namespaces_.emplace(ns.name(), std::move(cfg));
}

void ContainerPlatform::add_image_version(std::string_view ns_name, ContainerImage image) {
  NsConfig& cfg = config(ns_name);
  if (!image.main) throw std::invalid_argument(fmt::format("container namespace '{}': image {} has no main", ns_name, image.version));
  if (cfg.images.count(image.version))
    throw std::invalid_argument(fmt::format("container namespace '{}': image version '{}' already exists", ns_name, image.version));
  std::string v = image.version;
  cfg.images.emplace(std::move(v), std::move(image));
}

const std::string& ContainerPlatform::current_version(std::string_view ns_name) const { return config(ns_name).current; }

ContainerPlatform::NsConfig& ContainerPlatform::config(std::string_view ns_name) {
  auto it = namespaces_.find(ns_name);
  if (it == namespaces_.end()) throw std::invalid_argument(fmt::format("no container namespace '{}' is registered", ns_name));
  return it->second;
}

const ContainerPlatform::NsConfig& ContainerPlatform::config(std::string_view ns_name) const {
  auto it = namespaces_.find(ns_name);
  if (it == namespaces_.end()) throw std::invalid_argument(fmt::format("no container namespace '{}' is registered", ns_name));
  return it->second;
}

DurableObjectNamespace& ContainerPlatform::namespace_of(const DurableObjectId& id) {
  const std::string tag = id.hex().substr(48);
  for (auto& [name, cfg] : namespaces_)
    if (cfg.tag == tag) return *cfg.ns;
  throw std::invalid_argument(fmt::format("Durable Object {} belongs to no namespace configured with a container "
                                          "(ctx.container is undefined)", id.hex()));
}

ContainerRuntime& ContainerPlatform::runtime(const DurableObjectId& id) {
  auto it = runtimes_.find(id.hex());
  if (it != runtimes_.end()) return *it->second;
  DurableObjectNamespace& ns = namespace_of(id);
  return *runtimes_.emplace(id.hex(), std::make_unique<ContainerRuntime>(*this, ns.name(), id)).first->second;
}

ContainerRuntime* ContainerPlatform::find_runtime(std::string_view ns_name, std::string_view name) {
  auto it = runtimes_.find(config(ns_name).ns->id_from_name(name).hex());
  return it == runtimes_.end() ? nullptr : it->second.get();
}

int ContainerPlatform::running_instances(std::string_view ns_name) const { return config(ns_name).running; }

void check_rollout_options(const RolloutOptions& options) {
  if (options.step_percentages.empty())
    throw std::invalid_argument("rollout: step_percentages must not be empty (the default is {10, 100})");
  int previous = 0;
  for (int pct : options.step_percentages) {
    if (pct < 1 || pct > 100) throw std::invalid_argument(fmt::format("rollout: step percentage {} is outside 1..100", pct));
    if (pct <= previous)
      throw std::invalid_argument(fmt::format("rollout: step percentages must increase ({} comes after {})", pct, previous));
    previous = pct;
  }
  if (previous != 100) throw std::invalid_argument(fmt::format("rollout: the last step must be 100 (got {})", previous));
  if (options.active_grace_period < Duration::zero() || options.active_grace_period > kMaxContainerDuration)
    throw std::invalid_argument(fmt::format("rollout: active_grace_period must be 0..{} (got {})", format_duration(kMaxContainerDuration),
                                            format_duration(options.active_grace_period)));
}

void ContainerPlatform::rollout(std::string_view ns_name, const std::string& version, RolloutOptions options) {
  NsConfig& cfg = config(ns_name);
  if (!cfg.images.count(version))
    throw std::invalid_argument(fmt::format("rollout: namespace '{}' has no image version '{}'", ns_name, version));
  check_rollout_options(options);
  std::string steps;
  for (int pct : options.step_percentages) steps += (steps.empty() ? "" : ",") + std::to_string(pct);
  const std::string ns(ns_name);
  RolloutState r;
  r.generation = ++rollout_generation_;
  r.version = version;
  r.options = std::move(options);
  for (auto& [hex, rt] : runtimes_)  // in id hex order: the order instances are replaced in
    if (rt->ns_name_ == ns && rt->running() && rt->image_version_ != version) r.instances.emplace_back(rt.get(), rt->starts_);
  if (auto it = rollouts_.find(ns); it != rollouts_.end()) {
    sim_.record("container", "rollout_superseded", {{"namespace", ns}, {"version", it->second.version}, {"step", it->second.step + 1}});
    rollouts_.erase(it);
  }
  sim_.record("container", "rollout",
              {{"namespace", ns}, {"from", cfg.current}, {"to", version}, {"instances", r.instances.size()}, {"steps", steps},
               {"grace", r.options.active_grace_period}});
  cfg.current = version;
  rollouts_.emplace(ns, std::move(r));
  run_rollout_step(ns);
}

void ContainerPlatform::run_rollout_step(const std::string& ns_name) {
  auto it = rollouts_.find(ns_name);
  if (it == rollouts_.end()) return;
  RolloutState& r = it->second;
  if (r.step >= r.options.step_percentages.size()) {
    sim_.record("container", "rollout_done", {{"namespace", ns_name}, {"version", r.version}});
    rollouts_.erase(it);
    return;
  }
  const int pct = r.options.step_percentages[r.step];
  const size_t n = r.instances.size();
  const size_t target = (static_cast<size_t>(pct) * n + 99) / 100;  // ceil(pct % of n)
  sim_.record("container", "rollout_step",
              {{"namespace", ns_name}, {"step", r.step + 1}, {"percent", pct}, {"from", r.taken}, {"to", target}, {"of", n}});
  r.in_step.clear();
  const uint64_t generation = r.generation;
  const size_t first = r.taken;
  for (size_t i = first; i < target; ++i) r.in_step.push_back(i);
  r.taken = target;
  for (size_t i = first; i < target; ++i) replace_instance(ns_name, generation, i);
  check_rollout_step(ns_name);
}

void ContainerPlatform::replace_instance(const std::string& ns_name, uint64_t generation, size_t index) {
  auto it = rollouts_.find(ns_name);
  if (it == rollouts_.end() || it->second.generation != generation) return;  // superseded
  RolloutState& r = it->second;
  auto [rt, run] = r.instances[index];
  if (!rt->running() || rt->starts_ != run || rt->image_version_ == r.version) {
    sim_.record("container", "rollout_skip", {{"container", rt->label()}, {"why", "stopped"}});
    return;
  }
  const Time eligible = detail::deadline_after(rt->run_started_at_, r.options.active_grace_period);
  if (sim_.now() < eligible) {
    sim_.record("container", "rollout_grace_wait", {{"container", rt->label()}, {"until", eligible}});
    std::weak_ptr<int> token = alive_;  // the event may outlive this platform
    sim_.call_at(eligible, [this, token, ns_name, generation, index] {
      if (!token.expired()) replace_instance(ns_name, generation, index);
    });
    return;
  }
  rt->platform_stop(true);
}

void ContainerPlatform::check_rollout_step(const std::string& ns_name) {
  auto it = rollouts_.find(ns_name);
  if (it == rollouts_.end()) return;
  RolloutState& r = it->second;
  for (size_t i : r.in_step) {
    auto [rt, run] = r.instances[i];
    if (rt->running() && rt->starts_ == run) return;  // still draining (or waiting for its grace)
  }
  ++r.step;
  run_rollout_step(ns_name);
}

void ContainerPlatform::instance_stopped(const std::string& ns_name) {
  auto it = rollouts_.find(ns_name);
  if (it == rollouts_.end()) return;
  // From the scheduler, after whoever stopped the instance is done.
  const uint64_t generation = it->second.generation;
  std::weak_ptr<int> token = alive_;  // the event may outlive this platform
  sim_.call_after(Duration::zero(), [this, token, ns_name, generation] {
    if (token.expired()) return;
    auto r = rollouts_.find(ns_name);
    if (r != rollouts_.end() && r->second.generation == generation) check_rollout_step(ns_name);
  });
}

std::vector<std::string> ContainerPlatform::namespace_names() const {
  std::vector<std::string> names;
  for (const auto& [name, cfg] : namespaces_) names.push_back(name);
  return names;
}

bool ContainerPlatform::has_image_version(std::string_view ns_name, const std::string& version) const {
  auto it = namespaces_.find(ns_name);
  return it != namespaces_.end() && it->second.images.count(version) != 0;
}

}  // namespace cfsim
