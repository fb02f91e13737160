#pragma once
// A response body that arrives in chunks over virtual time (platform-facts §1.5, §8 item 8: a
// proxied request stays in flight until its body has been fully streamed).
//
// A producer (usually a fiber of the container's process) write()s chunks and ends the body with
// close(), or the body breaks with fail(message) — the platform fails the bodies a container was
// still producing when its process stopped, with "Network connection lost.". One consumer fiber
// read()s the chunks as they arrive. A hop between two places (container -> Durable Object,
// edge -> client) is a relay(): every chunk, and the end or the failure, reaches the other side
// exactly `latency` after it was written (or after the relay started, for chunks written before),
// in the order written.
//
// Fault model. What can go wrong, and what the model promises:
// - The producer dies mid-body: whoever fails the stream (the runtime, on any stop of the
//   process) makes the reader's next read() throw BodyStreamError with that message, after the
//   chunks that were already on their way. The failure crosses each hop with that hop's latency.
// - Nothing is lost, duplicated or reordered on a hop; there is no backpressure (every buffer is
//   unbounded) and no per-chunk cost beyond the hop latency.
// Misuse is an error that names the stream: writing after the end, closing twice, reading from
// outside a fiber, reading from a second fiber, reading a stream that is relayed.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/http/http.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace cfsim {

// What read() throws once the body has failed (the message the producer failed it with, e.g.
// "Network connection lost."), and what write()/close() throw after the body has ended.
class BodyStreamError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class BodyStream : public std::enable_shared_from_this<BodyStream> {
 public:
  // Streams are shared (a Response holds one; a relay holds its downstream): make them here.
  static std::shared_ptr<BodyStream> create(Simulator& sim, std::string name = "body");
  BodyStream(Simulator& sim, std::string name);
  BodyStream(const BodyStream&) = delete;
  BodyStream& operator=(const BodyStream&) = delete;

  // --- the producer (any context, never blocks) ---------------------------------------------------
  // One chunk. BodyStreamError if the body has already ended (closed or failed).
  void write(std::string chunk);
  // The end of the body. BodyStreamError if it has already ended.
  void close();
  // The producer died: the reader gets BodyStreamError(message) after the chunks before it.
  // False (and nothing happens) if the body has already ended.
  bool fail(std::string message);

  // --- the consumer: one fiber ----------------------------------------------------------------------
  // The next chunk, blocking until it arrives; std::nullopt at the end of the body (and on every
  // call after it); throws BodyStreamError if the body failed. SimError outside a fiber, from a
  // second fiber, or on a relayed stream.
  std::optional<std::string> read();
  // Every chunk until the end, concatenated (throws like read()).
  std::string read_all();

  // --- hops -------------------------------------------------------------------------------------------
  // Starts a hop of `latency` (>= 0, else std::invalid_argument) and returns its far end, a new
  // stream named `name`: each chunk written here (and the end or failure) is written there at
  // max(written, now) + latency, in order. The relay becomes this stream's only reader.
  std::shared_ptr<BodyStream> relay(Duration latency, std::string name);

  // Runs `fn` once when the producer ends the body (close or fail), or at once if it already has.
  // It runs in the producer's context: it must not block.
  void on_end(std::function<void(const BodyStream&)> fn);

  // --- introspection -------------------------------------------------------------------------------
  const std::string& name() const { return name_; }
  bool ended() const { return ended_; }
  bool failed() const { return error_.has_value(); }
  const std::optional<std::string>& error() const { return error_; }
  std::optional<Time> end_time() const { return end_time_; }  // when close/fail was called
  uint64_t bytes_written() const { return bytes_written_; }
  uint64_t chunks_written() const { return chunks_written_; }
  uint64_t bytes_read() const { return bytes_read_; }
  bool relayed() const { return hop_ != nullptr; }

 private:
  enum class Kind { chunk, end, failure };
  struct Piece {
    Kind kind;
    std::string data;  // the chunk, or the failure's message
  };
  struct Hop;
  void put(Piece p);   // to the reader's channel, or across the hop
  void finish(const std::optional<std::string>& error);
  static void forward(const std::shared_ptr<Hop>& hop, Piece p);

  Simulator& sim_;
  std::string name_;
  Channel<Piece> pieces_;
  bool ended_ = false;
  std::optional<std::string> error_;
  std::optional<Time> end_time_;
  uint64_t bytes_written_ = 0, chunks_written_ = 0, bytes_read_ = 0;
  uint32_t reader_ = 0;       // fiber id of the reader, 0 until the first read()
  bool reader_done_ = false;  // the reader has seen the end or the failure
  std::shared_ptr<Hop> hop_;  // set once relayed
  std::vector<std::function<void(const BodyStream&)>> on_end_;
};

// A Response whose body streams from `body` (the `body` string stays empty).
Response streaming_response(std::shared_ptr<BodyStream> body, int status = 200);
// The whole body of `r`: r.body, or everything its stream delivers (blocks the calling fiber;
// throws BodyStreamError if the stream fails).
std::string read_body(const Response& r);

}  // namespace cfsim
