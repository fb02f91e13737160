#pragma once
// WebSockets as the Workers runtime gives them (platform-facts §3 "WebSockets", §8 item 18): a
// WebSocketPair is two connected ends; whoever answers an upgrade keeps one end and returns the
// other in a Response with status 101 (http.h, Response::websocket). An end that travels to
// someone else (the container's answer through getTcpPort, the Worker's answer to the client)
// is carried by a connection with latency: each such hop adds its one-way latency to every
// message on that pair, in both directions (add_hop).
//
// Fault model. What can go wrong, and what the model promises:
// - A connection drops: the process holding one end stops, or an end is destroyed while open.
//   The survivor receives a close with code 1006 ("WebSocket disconnected without sending Close
//   frame.", workerd's text) after the link's one-way latency, behind every message already sent;
//   its sends are then silently dropped (workerd ignores send() after the peer went away).
// - Nothing else fails: no message is lost, duplicated or reordered; each direction is FIFO.
// Semantics follow workerd (src/workerd/api/web-socket.c++):
// - close(code, reason): code must be 1000..4999 except 1004, 1005, 1006, 1015 (TypeError
//   "Invalid WebSocket close code: N."); a reason needs a code; the reason is at most 123 bytes
//   (RFC 6455 §5.5: a close frame's payload is at most 125 bytes, 2 of them the code). No code
//   means the peer sees 1005 (No Status Received). A second close() does nothing.
// - send() after this end's close() throws ("Can't call WebSocket send() after close().");
//   receiving the peer's close does not stop sends (the app completes the handshake with close()).
// - state(): open; closing once a close was sent or received; closed once both.
// Messages are text (binary messages are not modelled). Delivery is lazy: a message is
// "received" when receive() returns it, at or after its arrival time; no event is scheduled per
// message.

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "model/http/http.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace cfsim {

// The platform's TypeError for misuse of a WebSocket (bad close code, send after close).
class WebSocketError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Close codes (RFC 6455 §7.4.1).
inline constexpr int kWsNormalClosure = 1000;
inline constexpr int kWsNoStatusReceived = 1005;  // the peer closed without a code
inline constexpr int kWsAbnormalClosure = 1006;   // the connection dropped without a close frame
inline constexpr int kWsInternalError = 1011;
inline constexpr size_t kWsMaxCloseReasonBytes = 123;
inline constexpr std::string_view kWsDisconnectedReason = "WebSocket disconnected without sending Close frame.";

// What receive() returns: a message, or the close (code and reason) that ended the incoming side.
struct WebSocketEvent {
  enum class Kind { message, close };
  Kind kind = Kind::message;
  std::string data;    // the message (Kind::message)
  int code = 0;        // Kind::close: the code the peer sent, 1005 for none, 1006 for a drop
  std::string reason;  // Kind::close
  bool is_close() const { return kind == Kind::close; }
};

enum class WebSocketState { open, closing, closed };
const char* to_string(WebSocketState s);

namespace detail {
struct WsLink;
}

// The longest one-way latency add_hop accepts: 365 days (the container model's cap, see
// kMaxContainerDuration). Longer is std::invalid_argument; a sum of hops saturates instead of
// overflowing virtual time.
inline constexpr Duration kWsMaxHopLatency = Duration::seconds(int64_t{365} * 86400);

// One end of a WebSocket connection. Ends are shared (std::shared_ptr): destroying the last
// reference to an open end drops the connection (the peer sees 1006).
//
// Lifetime rule: every end must be destroyed before the Simulator it was made with. Destroying an
// open end records a trace record and queues the peer's 1006 through that Simulator, and the
// kernel offers no cheap way to tell that it is gone (no liveness token), so an end outliving it
// is a use-after-free. Worlds built in tests and scenarios satisfy it by declaring the Simulator
// first (members are destroyed in reverse order); ends held by fibers are released when the
// Simulator unwinds them, which is still before it is gone.
class WebSocket {
 public:
  using Ptr = std::shared_ptr<WebSocket>;
  // new WebSocketPair(): [0] and [1] are connected, with no latency until a hop is added.
  // `label` names the pair in trace records.
  static std::pair<Ptr, Ptr> make_pair(Simulator& sim, std::string label);

  ~WebSocket();
  WebSocket(const WebSocket&) = delete;
  WebSocket& operator=(const WebSocket&) = delete;

  // Sends a text message; it arrives after the link's one-way latency, after every message this
  // end sent before. Throws WebSocketError after this end's close(); ignored once the connection
  // dropped.
  void send(std::string message);
  // From a fiber: blocks until the next message or the close arrives. After the close it returns
  // that close again.
  WebSocketEvent receive();
  // The same with a deadline: nullopt if nothing arrived by then.
  std::optional<WebSocketEvent> receive_until(Time deadline);
  // Sends a close frame (no code: the peer sees 1005). Validation as workerd (see the top).
  void close(std::optional<int> code = std::nullopt, std::optional<std::string> reason = std::nullopt);
  WebSocketState state() const;

  // --- transport (the platform layers, not apps) ------------------------------------------------
  // The pair now crosses one more connection: every later message, close or drop in either
  // direction takes `one_way` longer (0..kWsMaxHopLatency, std::invalid_argument otherwise). A lognormal hop draws per message from `rng` (FIFO order
  // is kept: a message never overtakes an earlier one).
  void add_hop(Duration one_way);
  void add_hop(Duration median, double sigma, Random rng);
  // This end's side of the connection is gone (its process stopped): this end is closed at once
  // (receive() gives 1006), the peer receives 1006 after the link latency.
  void abort();
  // The same, for the other end's side (the platform holds this end and knows the other's owner died).
  void abort_peer();

  // --- introspection -------------------------------------------------------------------------------
  const std::string& label() const;
  int side() const { return side_; }  // 0 or 1: which end of the pair
  uint64_t messages_sent() const { return sent_; }
  uint64_t messages_received() const { return received_; }
  // The close this end received (code, reason), once receive() returned it.
  const std::optional<WebSocketEvent>& close_received() const { return close_in_; }

 private:
  WebSocket(std::shared_ptr<detail::WsLink> link, int side) : link_(std::move(link)), side_(side) {}
  void record_close_if_done();

  std::shared_ptr<detail::WsLink> link_;
  int side_;
  bool closed_outgoing_ = false;  // close() was called (or the connection aborted at this side)
  bool aborted_ = false;          // the connection dropped: sends are ignored
  std::optional<WebSocketEvent> close_in_;  // the incoming close, once received
  uint64_t sent_ = 0, received_ = 0;
  bool close_recorded_ = false;
};

// The upgrade helpers an app uses in its fetch handler.
// True if the request asks for a WebSocket (header Upgrade: websocket, case-insensitive).
bool is_websocket_upgrade(const Request& req);
// The usual guard: 426 "Expected Upgrade: websocket" when the request is not an upgrade.
std::optional<Response> expect_websocket_upgrade(const Request& req);
// Response(101) carrying `end` for whoever receives the response.
Response websocket_response(WebSocket::Ptr end);

}  // namespace cfsim
