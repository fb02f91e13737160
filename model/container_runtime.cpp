#include "model/container_runtime.h"

#include <fmt/format.h>

namespace cfsim {

std::vector<std::pair<std::string, std::string>> run_info(const ContainerPlatformOptions& o) {
  return {{"containers.cold_start_median", format_duration(o.cold_start_median)},
          {"containers.cold_start_sigma", fmt::format("{}", o.cold_start_sigma)},
          {"containers.hop_latency", format_duration(o.hop_latency)},
          {"containers.stop_grace_period", format_duration(o.stop_grace_period)}};
}


namespace {

bool ignored_by_default(int signo) { return signo == kSigChld || signo == kSigCont || signo == kSigUrg || signo == kSigWinch; }

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

// --- TcpPort --------------------------------------------------------------------------------------------

Response TcpPort::fetch(Request req, Duration timeout) {
  ContainerRuntime& rt = *rt_;
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
      cold_start_rng_(platform.sim_.random("container.cold_start/" + ns_name_ + "/" + id_.hex())) {}

ContainerRuntime::~ContainerRuntime() {
  if (boot_pending_) sim_.cancel(boot_event_);
  if (sigkill_pending_) sim_.cancel(sigkill_event_);
  if (process_ && !sim_.in_fiber()) {
    std::vector<FiberHandle> fibers;
    for (auto& [fid, f] : process_->fibers_) fibers.push_back(f);
    for (auto& f : fibers) sim_.kill_now(f);
  }
}

void ContainerRuntime::start(ContainerStartOptions options) {
  if (running_) throw ContainerError(std::string(kAlreadyRunning));
  for (const auto& [name, value] : options.env) {
    if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos)
      throw std::invalid_argument(fmt::format("Environment variable names cannot be empty or contain '=' or NUL (got '{}')", name));
    if (value.find('\0') != std::string::npos)
      throw std::invalid_argument(fmt::format("Environment variable values cannot contain NUL (variable '{}')", name));
  }
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
  sim_.record("container", "start",
              {{"container", label_}, {"start", starts_}, {"version", image_version_},
               {"internet", start_options_.enable_internet}, {"cold_start", cold}});
  boot_pending_ = true;
  boot_event_ = sim_.call_after(cold, [this] {
    boot_pending_ = false;
    boot();
  });
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
  EgressPolicy policy;
  policy.internet = start_options_.enable_internet;
  process_->endpoint_ = platform_.net_.attach(label_, std::move(policy));
  sim_.record("container", "process_start",
              {{"container", label_}, {"version", image_version_}, {"instance_type", cfg.type.name}});
  std::function<void(Process&)> main = image.main;
  Process* p = process_.get();
  process_->spawn_fiber("main", [p, main] { main(*p); }, true);
}

Future<bool> ContainerRuntime::monitor_future() {
  if (!running_) throw ContainerError(std::string(kNotRunning));
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

void ContainerRuntime::platform_stop(bool rollout) {
  if (!running_) return;
  const char* kind = rollout ? "rollout" : "restart-host";
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
  const std::string stop_kind = std::move(platform_stop_kind_);
  platform_stop_kind_.clear();
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
  }
  if (self_doomed) sim_.kill(self);  // throws FiberKilled: a dying process runs no more code
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
}

ContainerPlatform::~ContainerPlatform() {
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

void ContainerPlatform::rollout(std::string_view ns_name, const std::string& version) {
  NsConfig& cfg = config(ns_name);
  if (!cfg.images.count(version))
    throw std::invalid_argument(fmt::format("rollout: namespace '{}' has no image version '{}'", ns_name, version));
  sim_.record("container", "rollout", {{"namespace", ns_name}, {"from", cfg.current}, {"to", version}});
  cfg.current = version;
  std::vector<ContainerRuntime*> running;
  for (auto& [hex, rt] : runtimes_)
    if (rt->ns_name_ == ns_name && rt->running() && rt->image_version_ != version) running.push_back(rt.get());
  for (ContainerRuntime* rt : running) rt->platform_stop(true);
}

ContainerRuntime& ContainerPlatform::resolve_target(const FaultAction& a) {
  size_t slash = a.target.find('/');
  if (slash == std::string::npos || !namespaces_.count(a.target.substr(0, slash)))
    throw FaultPlanError(fmt::format("fault '{}': target '{}' is not NAMESPACE/name of a container namespace", a.verb, a.target));
  NsConfig& cfg = config(a.target.substr(0, slash));
  return runtime(cfg.ns->id_from_name(a.target.substr(slash + 1)));
}

void ContainerPlatform::register_faults(FaultInjector& faults) {
  auto guarded = [this](const char* verb, std::function<void(ContainerRuntime&, const FaultAction&)> fn) {
    return [this, verb, fn](const FaultAction& a) {
      ContainerRuntime& rt = resolve_target(a);
      sim_.record("container", "fault", {{"verb", verb}, {"container", rt.label()}, {"running", rt.running()}});
      if (!rt.running()) return;
      fn(rt, a);
    };
  };
  faults.on("crash", guarded("crash", [](ContainerRuntime& rt, const FaultAction& a) {
    int64_t code = a.arg_int("exit_code", 1);
    if (code < 0 || code > 255) throw FaultPlanError(fmt::format("fault 'crash': exit_code must be 0..255 (got {})", code));
    rt.crash(static_cast<int>(code));
  }));
  faults.on("oom", guarded("oom", [](ContainerRuntime& rt, const FaultAction&) { rt.oom(); }));
  faults.on("restart-host", guarded("restart-host", [](ContainerRuntime& rt, const FaultAction&) { rt.platform_stop(false); }));
  faults.on("rollout", [this](const FaultAction& a) {
    if (!namespaces_.count(a.target))
      throw FaultPlanError(fmt::format("fault 'rollout': target '{}' is not a container namespace", a.target));
    std::string version = a.arg("version");
    if (!config(a.target).images.count(version))
      throw FaultPlanError(fmt::format("fault 'rollout': namespace '{}' has no image version '{}'", a.target, version));
    sim_.record("container", "fault", {{"verb", "rollout"}, {"namespace", a.target}, {"version", version}});
    rollout(a.target, version);
  });
}

std::vector<FaultVerbSpec> ContainerPlatform::fault_verbs(const std::vector<std::string>& targets) {
  return {{"crash", targets, {{"exit_code", 1, 255}}}, {"oom", targets, {}}, {"restart-host", targets, {}}};
}

}  // namespace cfsim
