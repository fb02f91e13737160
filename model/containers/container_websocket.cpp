// The SDK Container class's WebSocket relay (platform-facts.md §3, §1.5; P:containerFetch): an
// accepted upgrade from the container is relayed through a new pair, in fibers of this instance.
// Fault model: when either end drops (the process stops, the object resets) the other end sees a
// close (1006 rewritten to 1000 on the way), and a reset of the object ends the relay: both the
// client and the app see 1006 (container.h).

#include <fmt/format.h>

#include <algorithm>

#include "model/containers/container.h"
#include "model/http/websocket.h"

namespace cfsim {

// --- WebSockets (§3, §1.5) --------------------------------------------------------------------------------

namespace {

// What both directions of one relayed socket share.
struct WsRelay {
  WebSocket::Ptr container_ws, server;
  bool settled = false;
  uint64_t to_container = 0, to_client = 0;
};

// A close is passed on with 1005 and 1006 rewritten to 1000 (they cannot be sent in a close frame).
void forward_close(WebSocket& to, const WebSocketEvent& ev) {
  const int code = ev.code == kWsNoStatusReceived || ev.code == kWsAbnormalClosure ? kWsNormalClosure : ev.code;
  try {
    to.close(code, ev.reason.substr(0, std::min(ev.reason.size(), kWsMaxCloseReasonBytes)));
  } catch (const WebSocketError&) {
    to.close(kWsInternalError);  // a code this side cannot send (1015): still close it
  }
}

// One direction of the relay, in its own fiber: every message from `from` goes to `to` (and renews
// the activity window) until `from` closes; a forward that fails closes `from` with 1011.
template <class Renew, class Settle>
void relay_one_way(WebSocket& from, WebSocket& to, uint64_t& forwarded, const char* closed_by, const char* failure,
                   const Renew& renew, const Settle& settle) {
  for (;;) {
    WebSocketEvent ev = from.receive();
    if (ev.is_close()) {
      settle(closed_by, ev);
      forward_close(to, ev);
      return;
    }
    renew();
    try {
      to.send(std::move(ev.data));
      ++forwarded;
    } catch (const WebSocketError&) {
      from.close(kWsInternalError, failure);
    }
  }
}

}  // namespace

// P:containerFetch, a 101 with a WebSocket: accept the container's end, make a new pair, relay
// messages both ways. Every message renews the activity window; a close is passed on (see
// forward_close); the in-flight count taken for the request drops once, at the first close from
// either side. A forward that fails closes the other side with 1011. (An "error" event of the SDK
// is a 1006 close here: workerd reports a dropped connection as a close event.)
Response Container::proxy_websocket(Response from_container) {
  auto [client, server] = WebSocket::make_pair(sim_, fmt::format("{}/ws{}", label_, ws_proxied_++));
  auto relay = std::make_shared<WsRelay>();
  relay->container_ws = std::move(from_container.websocket);
  relay->server = server;
  std::weak_ptr<Container*> life = life_;
  const std::string label = label_;
  Simulator& sim = sim_;
  auto renew = [life] {
    if (std::shared_ptr<Container*> c = life.lock()) (*c)->renew_activity_timeout();
  };
  // settleInflight: once per socket, whichever side closes first.
  auto settle = [life, relay, label, &sim](const char* closed_by, const WebSocketEvent& ev) {
    sim.record("container", "ws_close",
               {{"container", label}, {"ws", relay->server->label()}, {"closed_by", closed_by}, {"code", ev.code},
                {"to_container", relay->to_container}, {"to_client", relay->to_client}});
    if (relay->settled) return;
    relay->settled = true;
    if (std::shared_ptr<Container*> c = life.lock()) (*c)->release_inflight();
  };
  sim_.record("container", "ws_open", {{"container", label_}, {"ws", server->label()}, {"status", from_container.status}});
  std::erase_if(ws_relays_, [](const FiberHandle& f) { return f.done(); });
  ws_relays_.push_back(sim_.spawn(
      "ws>ct:" + label_,
      [relay, renew, settle] {
        relay_one_way(*relay->server, *relay->container_ws, relay->to_container, "client",
                      "Failed to forward message to container", renew, settle);
      },
      SpawnOptions{.daemon = true}));
  ws_relays_.push_back(sim_.spawn(
      "ct>ws:" + label_,
      [relay, renew, settle] {
        relay_one_way(*relay->container_ws, *relay->server, relay->to_client, "container",
                      "Failed to forward message to client", renew, settle);
      },
      SpawnOptions{.daemon = true}));
  Response out(from_container.status, "");
  out.headers = from_container.headers;
  out.websocket = std::move(client);
  return out;
}

}  // namespace cfsim
