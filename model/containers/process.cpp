#include "model/containers/process.h"

#include <fmt/format.h>

#include "model/containers/runtime.h"
#include "model/http/body_stream.h"
#include "model/http/websocket.h"

namespace cfsim {

namespace {

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

}  // namespace cfsim
