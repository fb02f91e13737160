// Streamed response bodies (model/body_stream.h): chunks over virtual time, hops that cost their
// latency per chunk, and the SDK's in-flight accounting that lasts until the body has been fully
// streamed (platform-facts §1.5: "renewed ... when the in-flight request count drops to 0 (i.e.
// response body fully streamed)"; §8 item 8: "A request still streaming its body at the deadline
// keeps the container alive; the window restarts when the last in-flight request finishes").
//
// Latencies are fixed (sigma 0) so every time is exact: the container -> Durable Object hop is
// `hop` each way, the edge -> client way back is 20 ms. A chunk the container writes at t reaches
// the Durable Object at t + hop and the client at t + hop + 20 ms.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §1.5 and §8 item 8: @cloudflare/containers@0.3.7 dist/lib/container.js renewActivityTimeout,
//     decrementInflight, isActivityExpired; https://github.com/cloudflare/containers/pull/100
//   §8 item 7: container.js alarm, onActivityExpired
//   §1.8: /containers/concepts/architecture/ (A1), /containers/faq/ (A3)
#include "model/http/body_stream.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "model/containers/container.h"
#include "model/worker/worker.h"
#include "testing/test_world.h"
#include "testing/workload_hash.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

Time at(Duration d) { return Time::zero() + d; }

// --- BodyStream on its own ------------------------------------------------------------------------------

TEST(BodyStream, ReaderGetsChunksAsTheyAreWrittenThenTheEnd) {
  Simulator sim;
  auto s = BodyStream::create(sim, "b");
  std::vector<std::pair<Time, std::string>> got;
  bool end_seen = false;
  sim.spawn("producer", [&] {
    s->write("ab");
    sim.sleep_for(10ms);
    s->write("cde");
    sim.sleep_for(5ms);
    s->close();
  });
  sim.spawn("reader", [&] {
    while (std::optional<std::string> c = s->read()) got.emplace_back(sim.now(), *c);
    end_seen = true;
    EXPECT_EQ(sim.now(), at(15ms)) << "the end arrives when close() is called";
    EXPECT_EQ(s->read(), std::nullopt) << "and again on every later read";
  });
  sim.run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], std::make_pair(at(0ms), std::string("ab")));
  EXPECT_EQ(got[1], std::make_pair(at(10ms), std::string("cde")));
  EXPECT_TRUE(end_seen);
  EXPECT_EQ(s->bytes_written(), 5u);
  EXPECT_EQ(s->chunks_written(), 2u);
  EXPECT_EQ(s->bytes_read(), 5u);
  EXPECT_EQ(s->end_time(), at(15ms));
  EXPECT_FALSE(s->failed());
}

TEST(BodyStream, FailureComesAfterTheChunksBeforeItAndRepeats) {
  Simulator sim;
  auto s = BodyStream::create(sim, "b");
  std::string all, error1, error2;
  sim.spawn("producer", [&] {
    s->write("x");
    s->write("y");
    sim.sleep_for(1s);
    EXPECT_TRUE(s->fail("Network connection lost."));
    EXPECT_FALSE(s->fail("again")) << "a failed body stays failed with its first error";
  });
  sim.spawn("reader", [&] {
    try {
      while (std::optional<std::string> c = s->read()) all += *c;
    } catch (const BodyStreamError& e) {
      error1 = e.what();
      EXPECT_EQ(sim.now(), at(1s));
    }
    try {
      s->read();
    } catch (const BodyStreamError& e) {
      error2 = e.what();
    }
  });
  sim.run();
  EXPECT_EQ(all, "xy");
  EXPECT_EQ(error1, "Network connection lost.");
  EXPECT_EQ(error2, "Network connection lost.");
  EXPECT_EQ(s->error(), "Network connection lost.");
}

TEST(BodyStream, MisuseIsAClearError) {
  Simulator sim;
  auto s = BodyStream::create(sim, "misused");
  s->write("a");
  // Reading outside a fiber, even with a chunk waiting.
  try {
    s->read();
    ADD_FAILURE() << "read outside a fiber must throw";
  } catch (const SimError& e) {
    EXPECT_NE(std::string(e.what()).find("'misused'"), std::string::npos) << e.what();
  }
  s->close();
  EXPECT_THROW(s->write("b"), BodyStreamError) << "write after close";
  EXPECT_THROW(s->close(), BodyStreamError) << "close twice";
  EXPECT_FALSE(s->fail("late")) << "fail after close does nothing";
  EXPECT_FALSE(s->failed());
  EXPECT_THROW(s->relay(-1ms, "far"), std::invalid_argument);
  EXPECT_THROW(streaming_response(nullptr), std::invalid_argument);

  // One reader only.
  auto t = BodyStream::create(sim, "shared");
  std::string second_reader_error;
  sim.spawn("r1", [&] { t->read(); });
  sim.spawn("r2", [&] {
    try {
      t->read();
    } catch (const SimError& e) {
      second_reader_error = e.what();
    }
  });
  sim.spawn("w", [&] {
    sim.sleep_for(1ms);
    t->write("z");
  });
  sim.run();
  EXPECT_NE(second_reader_error.find("one reader only"), std::string::npos) << second_reader_error;
  // A relayed stream is read at its far end.
  auto u = BodyStream::create(sim, "near");
  auto far = u->relay(1ms, "far");
  std::string relayed_read_error;
  sim.spawn("r", [&] {
    try {
      u->read();
    } catch (const SimError& e) {
      relayed_read_error = e.what();
    }
  });
  sim.run();
  EXPECT_NE(relayed_read_error.find("read its far end ('far')"), std::string::npos) << relayed_read_error;
  EXPECT_THROW(u->relay(1ms, "again"), SimError);
}

// Same-instant chunks keep their order across a hop even when same-instant events run in a
// shuffled order; chunks written before the hop started leave when it starts.
TEST(BodyStream, RelayDelaysEachChunkByTheLatencyInOrder) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    Simulator sim(SimOptions{.seed = seed, .shuffle_ties = true});
    auto near = BodyStream::create(sim, "near");
    std::shared_ptr<BodyStream> far;
    std::vector<std::pair<Time, std::string>> got;
    std::string error;
    Time error_at;
    sim.spawn("producer", [&] {
      near->write("early");  // at 0, before the hop exists
      sim.sleep_for(3ms);
      far = near->relay(7ms, "far");  // the hop starts at 3 ms
      sim.sleep_for(10ms);
      for (int i = 0; i < 5; ++i) near->write(std::to_string(i));  // five at 13 ms
      sim.sleep_for(1ms);
      near->fail("boom");
    });
    sim.spawn("reader", [&] {
      sim.sleep_for(4ms);
      try {
        while (std::optional<std::string> c = far->read()) got.emplace_back(sim.now(), *c);
      } catch (const BodyStreamError& e) {
        error = e.what();
        error_at = sim.now();
      }
    });
    sim.run();
    ASSERT_EQ(got.size(), 6u) << "seed " << seed;
    EXPECT_EQ(got[0], std::make_pair(at(10ms), std::string("early"))) << "max(written, hop start) + latency";
    for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i + 1], std::make_pair(at(20ms), std::to_string(i))) << "seed " << seed;
    EXPECT_EQ(error, "boom");
    EXPECT_EQ(error_at, at(21ms)) << "the failure crosses the hop too";
    EXPECT_EQ(far->bytes_written(), 10u);
  }
}

TEST(BodyStream, OnEndRunsOnceAtTheEndOrAtOnce) {
  Simulator sim;
  auto s = BodyStream::create(sim, "b");
  std::vector<std::string> ends;
  s->on_end([&](const BodyStream& b) { ends.push_back(b.failed() ? "failed:" + *b.error() : "ok"); });
  s->write("123");
  EXPECT_TRUE(ends.empty());
  s->fail("gone");
  s->fail("gone twice");
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0], "failed:gone");
  s->on_end([&](const BodyStream& b) { ends.push_back("late:" + std::to_string(b.bytes_written())); });
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[1], "late:3");
}

// --- through the container, the Durable Object and the Worker ----------------------------------------

struct Config {
  Duration sleep_after = 60s;
  Duration first_chunk_after = 1s;  // from the handler's return to the first chunk
  Duration chunk_interval = 1min;
  int chunks = 3;
};

struct App;

struct Log {
  std::vector<Time> writes;  // when the container wrote each chunk
  std::optional<Time> closed;
  std::optional<Time> handler_returned;
  App* app = nullptr;  // the live instance
  int instances_destroyed = 0;
};

ContainerImage make_image(Config* cfg, Log* log) {
  ContainerImage img;
  img.main = [cfg, log](Process& p) {
    p.listen(8080, [&p, cfg, log](const Request& r) -> Response {
      if (r.path() == "/") return Response(200, "pong");
      if (r.path() == "/hello") {
        log->handler_returned = p.sim().now();
        return Response(200, "hello");
      }
      if (r.path() == "/stream") {
        auto body = BodyStream::create(p.sim(), "app body");
        p.spawn("producer", [&p, cfg, log, body] {
          p.sim().sleep_for(cfg->first_chunk_after);
          for (int i = 0; i < cfg->chunks; ++i) {
            if (i > 0) p.sim().sleep_for(cfg->chunk_interval);
            body->write(fmt::format("chunk{};", i));
            log->writes.push_back(p.sim().now());
          }
          p.sim().sleep_for(cfg->chunk_interval);
          body->close();
          log->closed = p.sim().now();
        });
        log->handler_returned = p.sim().now();
        return streaming_response(body);
      }
      return Response(404, "no route");
    });
  };
  return img;
}

struct App : Container {
  Log& log;
  App(DurableObjectState& s, ContainerPlatform& p, Log& l, const Config& cfg) : Container(s, p), log(l) {
    default_port = 8080;
    sleep_after = cfg.sleep_after;
    log.app = this;
  }
  ~App() override {
    ++log.instances_destroyed;
    if (log.app == this) log.app = nullptr;
  }
};

struct Received {
  int status = 0;
  Time headers;
  std::vector<std::pair<Time, std::string>> chunks;
  std::optional<Time> end;
  std::string error;
  Time error_at;
};

// The shared test world (testing/test_world.h) with App bound as APP and a Worker that sends every
// request to APP/a through stub.fetch.
struct World : testing_support::TestWorld {
  Config cfg;
  Log log;
  DurableObjectNamespace& ns;

  static ContainerPlatformOptions platform_options(Duration hop, bool exact) {
    ContainerPlatformOptions o;
    o.hop_latency = hop;
    if (exact) {
      o.cold_start = {2s, 0};
    }
    return o;
  }
  static WorkerOptions worker_options(bool exact) {
    WorkerOptions o;
    o.client_latency.median = 20ms;
    o.client_latency.sigma = exact ? 0.0 : 0.5;
    return o;
  }

  explicit World(Config c = {}, Duration hop = 5ms, bool exact = true, uint64_t seed = 1)
      : TestWorld(seed, world_options(hop, exact)),
        cfg(c),
        ns(add_container("APP", make_image(&cfg, &log),
                         [this](DurableObjectState& s) { return std::make_unique<App>(s, platform, log, cfg); })) {
    world.set_worker([](const Request& r, Env& env) { return get_container(env.durable_object("APP"), "a").fetch(r); });
  }
  static WorldOptions world_options(Duration hop, bool exact) {
    WorldOptions o = testing_support::exact_world_options(platform_options(hop, exact));
    o.worker = worker_options(exact);
    return o;
  }

  // A client that sends `path` at `when` and reads the whole body as it arrives.
  void client(std::string path, Received* out, Time when = Time::zero()) {
    sim.spawn("client", [this, path, out, when] {
      sim.sleep_until(when);
      Request r;
      r.url = "https://app.example" + path;
      Response resp = worker.client_fetch(r);
      out->status = resp.status;
      out->headers = sim.now();
      if (!resp.stream) {
        out->chunks.emplace_back(sim.now(), resp.body);
        out->end = sim.now();
        return;
      }
      try {
        while (std::optional<std::string> c = resp.stream->read()) out->chunks.emplace_back(sim.now(), *c);
        out->end = sim.now();
      } catch (const BodyStreamError& e) {
        out->error = e.what();
        out->error_at = sim.now();
      }
    });
  }
  // Samples the instance's in-flight count at `t` (-1: no instance).
  void sample_in_flight(Time t, int* out) {
    sim.spawn("sample", [this, t, out] {
      sim.sleep_until(t);
      *out = log.app ? log.app->in_flight() : -1;
    });
  }
  ContainerRuntime& rt() { return runtime(ns, "a"); }

  std::vector<Time> when(std::string_view category, std::string_view name, std::string_view key = "",
                         std::string_view value = "") const {
    return times(category, name, key, value);
  }
  const Record* body_end(std::string_view stream) const { return first("body", "end", "stream", stream); }
};

TEST(Streaming, EachChunkReachesTheClientHopPlusClientLatencyAfterTheContainerWroteIt_S1_5) {
  Config cfg;
  cfg.chunks = 4;
  cfg.chunk_interval = 250ms;
  World w(cfg, 5ms);
  Received got;
  w.client("/stream", &got);
  w.run_until(at(1h));
  ASSERT_EQ(got.status, 200);
  ASSERT_TRUE(w.log.handler_returned.has_value());
  ASSERT_EQ(w.log.writes.size(), 4u);
  ASSERT_EQ(got.chunks.size(), 4u);
  EXPECT_LT(got.headers, got.chunks[0].first) << "the headers come first";
  for (size_t i = 0; i < 4; ++i) {
    // Written on a fixed schedule from the handler's return...
    EXPECT_EQ(w.log.writes[i], *w.log.handler_returned + 1s + Duration::millis(250 * static_cast<int64_t>(i)));
    // ... and each arrives 5 ms (container -> DO) + 20 ms (edge -> client) later, in order.
    EXPECT_EQ(got.chunks[i].first, w.log.writes[i] + 25ms) << "chunk " << i;
    EXPECT_EQ(got.chunks[i].second, fmt::format("chunk{};", i));
  }
  ASSERT_TRUE(w.log.closed.has_value() && got.end.has_value());
  EXPECT_EQ(*got.end, *w.log.closed + 25ms) << "the end of the body crosses both hops too";
  EXPECT_TRUE(got.error.empty());
  // One end record per stream (container, container -> DO, worker -> client), with the byte count.
  ASSERT_EQ(w.when("body", "end").size(), 3u);
  const Record* origin = w.body_end("app body");
  ASSERT_NE(origin, nullptr);
  EXPECT_EQ(origin->field_text("bytes"), "28");
  EXPECT_EQ(origin->field_text("chunks"), "4");
  EXPECT_EQ(origin->field_text("ok"), "true");
  EXPECT_EQ(origin->time, *w.log.closed);
  const Record* at_client = w.body_end("worker#1 -> client");
  ASSERT_NE(at_client, nullptr);
  EXPECT_EQ(at_client->time, *w.log.closed + 25ms);
}

// §8 item 8 / §1.5: the handler returns at once, the body streams for 20 minutes; sleep_after is
// 60 s. Without the in-flight count lasting to the end of the body, SIGTERM would come 60 s after
// the handler returned, mid-body.
TEST(Streaming, Item8_BodyStreamingPastTheDeadlineKeepsTheContainerAliveSigtermAtEndPlusSleepAfter) {
  for (Duration hop : {Duration::zero(), Duration(5ms)}) {
    Config cfg;
    cfg.chunks = 20;  // one a minute: the last at first + 19 min, the end a minute later
    World w(cfg, hop);
    Received got;
    w.client("/stream", &got);
    w.run_until(at(10s));
    ASSERT_TRUE(w.log.handler_returned.has_value());
    // The producer closes 1 s + 19 min + 1 min after the handler returned.
    const Time closes = *w.log.handler_returned + 1s + 20min;
    const Time body_end_at_do = closes + hop;
    int mid = -2, just_before = -2, after = -2;
    w.sample_in_flight(at(10min), &mid);
    w.sample_in_flight(body_end_at_do - 1ms, &just_before);
    w.sample_in_flight(body_end_at_do + 1ms, &after);
    w.run_until(at(2h));
    EXPECT_EQ(mid, 1) << "in flight while the body streams";
    EXPECT_EQ(just_before, 1);
    EXPECT_EQ(after, 0) << "released at the end of the body";
    ASSERT_TRUE(got.end.has_value()) << got.error;
    EXPECT_EQ(got.chunks.size(), 20u) << "every chunk arrived: the container was not stopped mid-body";
    EXPECT_EQ(w.log.closed, closes);
    // The window restarts at the end of the body (as it reaches the Durable Object); the alarm
    // loop sleeps to exactly that deadline and stop() delivers SIGTERM one hop later.
    ASSERT_EQ(w.sigterms().size(), 1u) << "hop " << format_duration(hop);
    EXPECT_EQ(w.sigterms()[0], body_end_at_do + 60s + hop) << "hop " << format_duration(hop);
    EXPECT_FALSE(w.rt().running());
    EXPECT_EQ(w.rt().last_exit()->exit_code, 143);
  }
}

TEST(Streaming, Item8_TheWindowRestartsWhenTheLastOfTwoBodiesEnds) {
  Config cfg;
  cfg.chunks = 5;  // each body: first chunk 1 s after its handler, the end 5 min after that
  World w(cfg, Duration::zero());
  Received a, b;
  w.client("/stream", &a);
  w.client("/stream", &b, at(2min));
  int both = -2;
  w.sample_in_flight(at(4min), &both);
  w.run_until(at(2h));
  EXPECT_EQ(both, 2);
  ASSERT_TRUE(a.end && b.end);
  const Record* first = w.body_end("APP/a:8080 -> do");
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(w.when("body", "end", "stream", "APP/a:8080 -> do").size(), 2u);
  const Time last_end = w.when("body", "end", "stream", "APP/a:8080 -> do")[1];
  EXPECT_EQ(last_end, *w.log.closed) << "hop 0: the second body ends at the DO when the container closes it";
  ASSERT_EQ(w.sigterms().size(), 1u);
  EXPECT_EQ(w.sigterms()[0], last_end + 60s) << "not 60 s after the first body ended";
}

// The process stops mid-body (a crash): the reader gets "Network connection lost." after the
// chunks already on their way, and the request is no longer in flight (runtime fault model,
// §1.8; the SDK's decrementInflight also runs for a body that errors).
TEST(Streaming, ProcessStoppingMidBodyFailsTheReaderAndEndsTheInFlightCount) {
  Config cfg;
  cfg.chunks = 10;
  cfg.first_chunk_after = 10s;
  cfg.chunk_interval = 1s;
  cfg.sleep_after = 10h;
  World w(cfg, 5ms);
  Received got;
  w.client("/stream", &got);
  w.run_until(at(5s));
  ASSERT_TRUE(w.log.handler_returned.has_value());
  ASSERT_TRUE(w.log.writes.empty());
  const Time crash_at = *w.log.handler_returned + 12500ms;  // after chunks 0..2 (at +10, +11, +12 s)
  w.sim.spawn("fault", [&] {
    w.sim.sleep_until(crash_at);
    w.rt().crash(1);
  });
  int before = -2, between = -2, after = -2;
  w.sample_in_flight(crash_at - 1ms, &before);
  w.sample_in_flight(crash_at + 2ms, &between);  // the failure is still crossing the 5 ms hop
  w.sample_in_flight(crash_at + 6ms, &after);
  w.run_until(at(1h));
  EXPECT_EQ(got.status, 200) << "the headers had arrived";
  ASSERT_EQ(got.chunks.size(), 3u);
  EXPECT_EQ(got.chunks[2].second, "chunk2;");
  EXPECT_FALSE(got.end.has_value());
  EXPECT_EQ(got.error, std::string(kConnectionLost));
  EXPECT_EQ(got.error_at, crash_at + 5ms + 20ms);
  EXPECT_EQ(before, 1);
  EXPECT_EQ(between, 1);
  EXPECT_EQ(after, 0) << "the failed body ended the in-flight count";
  EXPECT_EQ(w.log.writes.size(), 3u) << "the producer fiber died with the process";
  const Record* origin = w.body_end("app body");
  ASSERT_NE(origin, nullptr);
  EXPECT_EQ(origin->time, crash_at);
  EXPECT_EQ(origin->field_text("ok"), "false");
  EXPECT_EQ(origin->field_text("error"), kConnectionLost);
  EXPECT_EQ(origin->field_text("chunks"), "3");
  EXPECT_EQ(w.rt().last_exit()->exit_code, 1);
}

// A reset of the object mid-body drops its in-flight count (it lives in the instance); the end of
// the body then touches nothing of the old instance (an ASan run checks the "nothing").
TEST(Streaming, ObjectResetMidBodyForgetsTheCountAndTheEndIsHarmless) {
  Config cfg;
  cfg.chunks = 3;
  cfg.sleep_after = 10h;
  World w(cfg, 5ms);
  Received got;
  w.client("/stream", &got);
  w.run_until(at(30s));
  ASSERT_NE(w.log.app, nullptr);
  EXPECT_EQ(w.log.app->in_flight(), 1);
  w.ns.host(w.ns.id_from_name("a")).reset("test");
  w.run_until(at(31s));
  EXPECT_EQ(w.log.instances_destroyed, 1) << "the instance that counted the request is gone";
  EXPECT_FALSE(w.body_end("APP/a:8080 -> do")) << "while its body still streams";
  w.run_until(at(1h));
  ASSERT_TRUE(got.end.has_value()) << "the container (and the body) outlive the object's reset: " << got.error;
  EXPECT_EQ(got.chunks.size(), 3u);
  ASSERT_NE(w.log.app, nullptr) << "the alarm constructed a new instance";
  EXPECT_EQ(w.log.app->in_flight(), 0) << "not -1: the old request's end did not reach the new instance";
}

// Plain bodies are unchanged: no stream, no body records, released when the response returns
// (§8 item 7: SIGTERM at exactly the last activity + sleep_after).
TEST(Streaming, PlainResponsesAreUnchanged) {
  World w(Config{}, Duration::zero());
  Received got;
  w.client("/hello", &got);
  int after = -2;
  w.run_until(at(10s));
  w.sample_in_flight(at(11s), &after);
  w.run_until(at(1h));
  EXPECT_EQ(got.status, 200);
  ASSERT_EQ(got.chunks.size(), 1u);
  EXPECT_EQ(got.chunks[0].second, "hello");
  EXPECT_EQ(after, 0);
  EXPECT_TRUE(w.when("body", "end").empty()) << "no streams were made";
  ASSERT_TRUE(w.log.handler_returned.has_value());
  ASSERT_EQ(w.sigterms().size(), 1u);
  EXPECT_EQ(w.sigterms()[0], *w.log.handler_returned + 60s);
}

TEST(Streaming, SameSeedSameTraceOtherSeedOtherTrace) {
  auto run = [](uint64_t seed) {
    Config cfg;
    cfg.chunks = 4;
    cfg.chunk_interval = 700ms;
    World w(cfg, 1ms, /*exact=*/false, seed);  // random cold starts and client latencies
    Received a, b;
    w.client("/stream", &a);
    w.client("/stream", &b, at(3s));
    w.sim.spawn("fault", [&] {
      w.sim.sleep_for(5s);
      w.rt().crash(2);
    });
    w.run_until(at(30min));
    // The workload, not the trace hash: the header holds the seed, so trace hashes always differ.
    return std::make_pair(testing_support::workload_hash(w.sink->records), a.chunks.size() * 100 + b.chunks.size());
  };
  auto first = run(7);
  EXPECT_EQ(first, run(7));
  EXPECT_NE(first.first, run(8).first) << "the seed drives the latencies, so the trace differs";
}

}  // namespace
