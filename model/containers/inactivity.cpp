// The inactivity timeout of a container (setInactivityTimeout, platform-facts.md §1.2, W1): the
// runtime stops the container a set time after its Durable Object became inactive, unless a
// connection is open or the object is constructed again first (runtime.h, set_inactivity_timeout).
// Its fault: a platform stop ("inactivity"), as in runtime.h's fault model.

#include <fmt/format.h>

#include "model/containers/runtime.h"
#include "model/http/body_stream.h"
#include "model/http/websocket.h"
#include "sim/assert.h"

namespace cfsim {

// --- inactivity timeout (§1.2) ----------------------------------------------------------------------------

ContainerConnection::ContainerConnection(ContainerRuntime& rt) : rt_(&rt), alive_(rt.alive_) {
  if (rt.open_connections_++ == 0) rt.cancel_inactivity("connection-open");
}

ContainerConnection::~ContainerConnection() {
  if (alive_.expired()) return;
  CFSIM_ASSERT(rt_->open_connections_ > 0);  // this connection is one of them
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
  if (inactivity_timer_.armed() || inactivity_timeout_ <= Duration::zero() || !running_ || open_connections_ > 0 ||
      !platform_stop_kind_.empty() || object_constructed())
    return;
  sim_.record("container", "inactivity_stop_scheduled",
              {{"container", label_}, {"why", why}, {"at", detail::deadline_after(sim_.now(), inactivity_timeout_)}});
  inactivity_timer_.arm_after(inactivity_timeout_, [this] { inactivity_expired(); });
}

void ContainerRuntime::cancel_inactivity(const char* why) {
  if (!inactivity_timer_.cancel()) return;
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

}  // namespace cfsim
