#include "model/http/body_stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

namespace cfsim {

// One hop: the far end, its latency, and the pieces on their way. Each delivery event takes the
// oldest piece (not one it captured), so the order holds even when same-instant events run in a
// shuffled order (SimOptions::shuffle_ties).
struct BodyStream::Hop {
  Simulator* sim;
  std::shared_ptr<BodyStream> far;
  Duration latency;
  Time last_arrival;
  std::deque<Piece> in_transit;
};

std::shared_ptr<BodyStream> BodyStream::create(Simulator& sim, std::string name) {
  return std::make_shared<BodyStream>(sim, std::move(name));
}

BodyStream::BodyStream(Simulator& sim, std::string name)
    : sim_(sim), name_(std::move(name)), pieces_(sim, "body " + name_) {}

void BodyStream::write(std::string chunk) {
  if (ended_)
    throw BodyStreamError(fmt::format("body '{}': write after the end of the body ({})", name_,
                                      error_ ? "failed: " + *error_ : std::string("closed")));
  bytes_written_ += chunk.size();
  ++chunks_written_;
  put(Piece{Kind::chunk, std::move(chunk)});
}

void BodyStream::close() {
  if (ended_)
    throw BodyStreamError(fmt::format("body '{}': close() after the end of the body ({})", name_,
                                      error_ ? "failed: " + *error_ : std::string("already closed")));
  finish(std::nullopt);
}

bool BodyStream::fail(std::string message) {
  if (ended_) return false;
  finish(std::move(message));
  return true;
}

void BodyStream::finish(const std::optional<std::string>& error) {
  ended_ = true;
  error_ = error;
  end_time_ = sim_.now();
  // One record per stream end (not per chunk): the hop is in the stream's name.
  sim_.record("body", "end",
              {{"stream", name_}, {"ok", !error}, {"bytes", bytes_written_}, {"chunks", chunks_written_},
               {"error", error ? *error : std::string()}});
  put(error ? Piece{Kind::failure, *error} : Piece{Kind::end, {}});
  // Callbacks may add callbacks or drop the last reference to this stream's owner: run a copy.
  std::vector<std::function<void(const BodyStream&)>> fns = std::move(on_end_);
  on_end_.clear();
  std::shared_ptr<BodyStream> keep = weak_from_this().lock();
  for (auto& fn : fns) fn(*this);
}

void BodyStream::put(Piece p) {
  if (hop_) forward(hop_, std::move(p));
  else pieces_.send(std::move(p));  // unbounded and never closed: does not block
}

void BodyStream::forward(const std::shared_ptr<Hop>& hop, Piece p) {
  Simulator& sim = *hop->sim;
  const Time arrival = std::max(detail::deadline_after(sim.now(), hop->latency), hop->last_arrival);
  hop->last_arrival = arrival;
  hop->in_transit.push_back(std::move(p));
  sim.call_at(arrival, [hop] {
    Piece q = std::move(hop->in_transit.front());
    hop->in_transit.pop_front();
    BodyStream& far = *hop->far;
    if (far.ended_) return;  // ended from elsewhere (failed by its owner): nothing more arrives
    switch (q.kind) {
      case Kind::chunk: far.write(std::move(q.data)); break;
      case Kind::end: far.close(); break;
      case Kind::failure: far.fail(std::move(q.data)); break;
    }
  });
}

std::shared_ptr<BodyStream> BodyStream::relay(Duration latency, std::string name) {
  if (latency < Duration::zero())
    throw std::invalid_argument(fmt::format("body '{}': relay latency must be >= 0 (got {})", name_, format_duration(latency)));
  if (hop_) throw SimError(fmt::format("body '{}' is already relayed (one reader only)", name_));
  if (reader_ != 0) throw SimError(fmt::format("body '{}' already has a reader (fiber {}): it cannot be relayed", name_, reader_));
  auto hop = std::make_shared<Hop>(Hop{&sim_, create(sim_, std::move(name)), latency, sim_.now(), {}});
  hop_ = hop;
  // What was written before the hop started leaves now.
  while (std::optional<Piece> p = pieces_.try_recv()) forward(hop, std::move(*p));
  return hop->far;
}

void BodyStream::on_end(std::function<void(const BodyStream&)> fn) {
  if (!fn) throw std::invalid_argument(fmt::format("body '{}': on_end needs a function", name_));
  if (ended_) fn(*this);
  else on_end_.push_back(std::move(fn));
}

std::optional<std::string> BodyStream::read() {
  if (!sim_.in_fiber())
    throw SimError(fmt::format("body '{}': read() outside a fiber (read from a fiber started with Simulator::spawn)", name_));
  if (hop_) throw SimError(fmt::format("body '{}' is relayed: read its far end ('{}')", name_, hop_->far->name()));
  const uint32_t me = sim_.current().id();
  if (reader_ == 0) reader_ = me;
  else if (reader_ != me)
    throw SimError(fmt::format("body '{}': read() from fiber {} but fiber {} is its reader (one reader only)", name_, me, reader_));
  if (reader_done_) {
    if (error_) throw BodyStreamError(*error_);
    return std::nullopt;
  }
  Piece p = *pieces_.recv();  // the channel is never closed: recv() always gives a piece
  switch (p.kind) {
    case Kind::chunk:
      bytes_read_ += p.data.size();
      return std::move(p.data);
    case Kind::end:
      reader_done_ = true;
      return std::nullopt;
    case Kind::failure:
      reader_done_ = true;
      throw BodyStreamError(p.data);
  }
  return std::nullopt;
}

std::string BodyStream::read_all() {
  std::string out;
  while (std::optional<std::string> c = read()) out += *c;
  return out;
}

Response streaming_response(std::shared_ptr<BodyStream> body, int status) {
  if (!body) throw std::invalid_argument("streaming_response: no stream");
  Response r(status, "");
  r.stream = std::move(body);
  return r;
}

std::string read_body(const Response& r) { return r.stream ? r.stream->read_all() : r.body; }

}  // namespace cfsim
