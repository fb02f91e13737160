#include "model/http/websocket.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <vector>

#include "sim/sync.h"

namespace cfsim {

namespace detail {

// One connection: two ends, a FIFO of frames travelling towards each end, the hops it crosses.
struct WsLink {
  struct Item {
    Time at;  // arrival time at the receiving end
    WebSocketEvent ev;
  };
  struct Hop {
    Duration median;
    double sigma = 0;
    std::optional<Random> rng;  // none: a fixed latency
  };

  WsLink(Simulator& s, std::string l) : sim(s), label(std::move(l)), waiters0(s), waiters1(s) {}
  WaitQueue& waiters(int side) { return side == 0 ? waiters0 : waiters1; }

  // One-way latency of the next frame: the sum of every hop's draw, saturating at Duration::max()
  // (a lognormal draw can be huge; such a frame simply never arrives).
  Duration latency() {
    Duration d = Duration::zero();
    for (Hop& h : hops) {
      const Duration one = h.rng ? h.rng->lognormal(h.median, h.sigma) : h.median;
      d = one > Duration::max() - d ? Duration::max() : d + one;
    }
    return d;
  }

  // Puts a frame on its way to side `to`. FIFO: it never arrives before an earlier frame.
  void push(int to, WebSocketEvent ev) {
    if (dead[to]) return;  // nobody will ever read it
    const Time at = std::max(last_at[to], detail::deadline_after(sim.now(), latency()));
    last_at[to] = at;
    const bool was_empty = queue[to].empty();
    queue[to].push_back(Item{at, std::move(ev)});
    if (was_empty) waiters(to).notify_all();  // a waiting receiver recomputes its wake-up time
  }

  Simulator& sim;
  std::string label;
  std::vector<Hop> hops;
  std::deque<Item> queue[2];  // queue[s]: frames travelling to side s
  Time last_at[2];
  bool dead[2] = {false, false};  // side s destroyed or aborted
  WebSocket* ends[2] = {nullptr, nullptr};
  WaitQueue waiters0, waiters1;  // fibers in receive() at side 0 / 1
};

}  // namespace detail

namespace {
WebSocketEvent close_event(int code, std::string reason) {
  WebSocketEvent ev;
  ev.kind = WebSocketEvent::Kind::close;
  ev.code = code;
  ev.reason = std::move(reason);
  return ev;
}
}  // namespace

const char* to_string(WebSocketState s) {
  switch (s) {
    case WebSocketState::open: return "open";
    case WebSocketState::closing: return "closing";
    case WebSocketState::closed: return "closed";
  }
  return "?";
}

std::pair<WebSocket::Ptr, WebSocket::Ptr> WebSocket::make_pair(Simulator& sim, std::string label) {
  auto link = std::make_shared<detail::WsLink>(sim, std::move(label));
  Ptr a(new WebSocket(link, 0));
  Ptr b(new WebSocket(link, 1));
  link->ends[0] = a.get();
  link->ends[1] = b.get();
  sim.record("ws", "pair", {{"label", link->label}});
  return {std::move(a), std::move(b)};
}

WebSocket::~WebSocket() {
  detail::WsLink& l = *link_;
  l.ends[side_] = nullptr;
  if (l.dead[side_]) return;
  l.dead[side_] = true;
  // Destroyed while open: the peer learns the connection dropped (workerd: a 1006 close event).
  if (!closed_outgoing_) {
    l.sim.record("ws", "drop", {{"label", l.label}, {"side", side_}, {"cause", "end destroyed"}});
    l.push(1 - side_, close_event(kWsAbnormalClosure, std::string(kWsDisconnectedReason)));
  }
}

const std::string& WebSocket::label() const { return link_->label; }

void WebSocket::send(std::string message) {
  if (closed_outgoing_) throw WebSocketError("Can't call WebSocket send() after close().");
  if (aborted_) return;  // the peer went away: workerd ignores the send
  ++sent_;
  WebSocketEvent ev;
  ev.data = std::move(message);
  link_->push(1 - side_, std::move(ev));
}

std::optional<WebSocketEvent> WebSocket::receive_until(Time deadline) {
  detail::WsLink& l = *link_;
  for (;;) {
    if (close_in_) return close_in_;
    std::deque<detail::WsLink::Item>& q = l.queue[side_];
    const Time now = l.sim.now();
    if (!q.empty() && q.front().at <= now) {
      WebSocketEvent ev = std::move(q.front().ev);
      q.pop_front();
      if (!ev.is_close()) {
        ++received_;
        return ev;
      }
      close_in_ = ev;
      if (ev.code == kWsAbnormalClosure) aborted_ = true;
      record_close_if_done();
      return ev;
    }
    if (deadline <= now) return std::nullopt;
    Time wake = deadline;
    if (!q.empty()) wake = std::min(wake, q.front().at);
    l.waiters(side_).wait(WaitInfo{"websocket receive", &l.label}, wake);
  }
}

WebSocketEvent WebSocket::receive() { return *receive_until(Time::max()); }

void WebSocket::close(std::optional<int> code, std::optional<std::string> reason) {
  if (closed_outgoing_ || aborted_) return;  // a second close() does nothing (workerd, per spec)
  if (code) {
    const int c = *code;
    if (c < 1000 || c >= 5000 || c == 1004 || c == kWsNoStatusReceived || c == kWsAbnormalClosure || c == 1015)
      throw WebSocketError(fmt::format("Invalid WebSocket close code: {}.", c));
  }
  if (reason && !code) throw WebSocketError("If you specify a WebSocket close reason, you must also specify a code.");
  if (reason && reason->size() > kWsMaxCloseReasonBytes)
    throw WebSocketError(fmt::format("WebSocket close reason is {} bytes; at most {} bytes are allowed", reason->size(),
                                     kWsMaxCloseReasonBytes));
  closed_outgoing_ = true;
  const int sent_code = code.value_or(kWsNoStatusReceived);  // no code on the wire: the peer sees 1005
  link_->sim.record("ws", "close_sent", {{"label", link_->label}, {"side", side_}, {"code", sent_code}});
  link_->push(1 - side_, close_event(sent_code, reason.value_or("")));
  record_close_if_done();
}

WebSocketState WebSocket::state() const {
  const bool out = closed_outgoing_ || aborted_;
  const bool in = close_in_.has_value();
  if (out && in) return WebSocketState::closed;
  if (out || in) return WebSocketState::closing;
  return WebSocketState::open;
}

void WebSocket::record_close_if_done() {
  if (close_recorded_ || state() != WebSocketState::closed) return;
  close_recorded_ = true;
  link_->sim.record("ws", "closed",
                    {{"label", link_->label},
                     {"side", side_},
                     {"code", close_in_->code},
                     {"reason", close_in_->reason},
                     {"sent", sent_},
                     {"received", received_}});
}

void WebSocket::add_hop(Duration one_way) {
  if (one_way < Duration::zero() || one_way > kWsMaxHopLatency)
    throw std::invalid_argument(fmt::format("WebSocket hop latency must be >= 0 and at most {} (got {})", format_duration(kWsMaxHopLatency),
                                            format_duration(one_way)));
  link_->hops.push_back(detail::WsLink::Hop{one_way, 0, std::nullopt});
}

void WebSocket::add_hop(Duration median, double sigma, Random rng) {
  if (median < Duration::zero() || median > kWsMaxHopLatency || !(sigma >= 0) || sigma == std::numeric_limits<double>::infinity())
    throw std::invalid_argument(fmt::format("WebSocket hop: median must be >= 0 and at most {}, sigma finite and >= 0 (got {}, {})",
                                            format_duration(kWsMaxHopLatency), format_duration(median), sigma));
  if (sigma == 0) return add_hop(median);
  link_->hops.push_back(detail::WsLink::Hop{median, sigma, std::move(rng)});
}

void WebSocket::abort() {
  detail::WsLink& l = *link_;
  if (l.dead[side_]) return;
  l.dead[side_] = true;
  l.sim.record("ws", "drop", {{"label", l.label}, {"side", side_}, {"cause", "connection lost"}});
  const bool peer_needs_notice = !closed_outgoing_;
  aborted_ = true;
  if (!close_in_) close_in_ = close_event(kWsAbnormalClosure, std::string(kWsDisconnectedReason));
  l.queue[side_].clear();
  l.waiters(side_).notify_all();
  if (peer_needs_notice) l.push(1 - side_, close_event(kWsAbnormalClosure, std::string(kWsDisconnectedReason)));
  record_close_if_done();
}

void WebSocket::abort_peer() {
  if (WebSocket* p = link_->ends[1 - side_]) p->abort();
}

bool is_websocket_upgrade(const Request& req) {
  std::optional<std::string> up = req.headers.get("Upgrade");
  if (!up) return false;
  std::string v = *up;
  for (char& c : v)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return v == "websocket";
}

std::optional<Response> expect_websocket_upgrade(const Request& req) {
  if (is_websocket_upgrade(req)) return std::nullopt;
  return Response(426, "Expected Upgrade: websocket");
}

Response websocket_response(WebSocket::Ptr end) {
  if (!end) throw std::invalid_argument("websocket_response: no WebSocket end");
  Response r(101, "");
  r.websocket = std::move(end);
  return r;
}

}  // namespace cfsim
