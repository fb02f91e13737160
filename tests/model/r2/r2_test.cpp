// R2 bucket as the Workers binding sees it — after platform-facts §5.1-§5.4, §8 items 28-33, §9 "R2
// list loops", r2-fuse-facts §13 and §16.2. Source tags are the facts' legend: [R1] consistency,
// [R2] limits, [R3] Workers API reference, [R4] multipart, [R5] error codes, [R6] S3 conditional ops.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §5.1 and §8 item 28: /r2/reference/consistency/ (R1); /r2/api/workers/workers-api-reference/ (R3)
//   §5.2 and §8 items 29-30: /r2/platform/limits/ (R2); /r2/api/error-codes/ (R5)
//   §5.3 and §8 item 31: /r2/objects/multipart-objects/ (R4); /r2/api/error-codes/ (R5); the 7-day
//     abort also on /r2/api/workers/workers-api-reference/ (R3). A single-PUT ETag equal to the body's
//     hex MD5 is UNCONFIRMED there (the S3 convention)
//   §5.4, §8 items 32-33 and §9 "R2 list loops": /r2/api/workers/workers-api-reference/ (R3);
//     /r2/api/error-codes/ (R5); /r2/api/s3/conditional-operations/ (R6)
//   r2-fuse-facts §13: /r2/reference/consistency/, /r2/api/s3/conditional-operations/,
//     /r2/objects/multipart-objects/, /r2/platform/limits/, /r2/api/s3/api/
//   r2-fuse-facts §16.2 latencies: engineering assumptions, not measurements, calibrated on the
//     public figures of its §14: https://www.backblaze.com/blog/backblaze-performance-stats-for-q3-2025,
//     https://www.tigrisdata.com/blog/benchmark-small-objects, https://blog.cloudflare.com/r2-local-uploads
#include "model/r2/r2.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "model/worker/worker.h"

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// Moves virtual time to `t` (outside any fiber): an empty event at t, then run.
void advance_to(Simulator& sim, Duration t) {
  sim.call_at(Time::zero() + t, [] {});
  sim.run();
  ASSERT_EQ(sim.now().ns, t.ns);
}

// The message of the R2Error `fn` throws (and its code), or "(no error)".
std::string error_of(const std::function<void()>& fn, int* code = nullptr) {
  try {
    fn();
  } catch (const R2Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "(no error)";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The §16.2 medians with sigma 0 and no transfer time: exact, known latencies.
R2Options exact_latency() {
  R2Options o;
  for (Lognormal* l : {&o.head, &o.get, &o.put, &o.del, &o.list, &o.create_multipart, &o.upload_part,
                       &o.complete_multipart, &o.abort_multipart})
    l->sigma = 0.0;
  o.get_bytes_per_s = 0;
  o.put_bytes_per_s = 0;
  return o;
}

std::vector<std::string> keys_of(const R2Objects& page) {
  std::vector<std::string> out;
  for (const auto& o : page.objects) out.push_back(o.key);
  return out;
}

}  // namespace

// --- MD5 ----------------------------------------------------------------------------------------

TEST(R2Md5, Rfc1321TestVectors) {
  // RFC 1321 appendix A.5.
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5_hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            "d174ab98d277d9f5a5611c2c9f419d9f");
  EXPECT_EQ(md5_hex(std::string("1234567890").append("1234567890").append("1234567890").append("1234567890")
                        .append("1234567890").append("1234567890").append("1234567890").append("1234567890")),
            "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(R2Md5, PaddingBoundaries) {
  // 55, 56 and 64 bytes straddle the one-block / two-block padding cases (values from Python's hashlib).
  EXPECT_EQ(md5_hex(std::string(55, 'x')), "04364420e25c512fd958a70738aa8f72");
  EXPECT_EQ(md5_hex(std::string(56, 'x')), "668a72d5ba17f08e62dabcafad6db14b");
  EXPECT_EQ(md5_hex(std::string(64, 'x')), "c1bb4f81d892b2d57947682aeb252456");
}

// --- §8 item 28: strong consistency ---------------------------------------------------------------

TEST(R2Bucket, Item28_PutVisibleToGetAndListExactlyWhenItResolves_R1_R3) {
  Simulator sim;
  R2Bucket b(sim, "B", exact_latency());  // put takes exactly 80 ms
  std::vector<std::string> seen;
  sim.spawn("writer", [&] {
    b.put("k", "v1");
    seen.push_back(fmt::format("writer@{}", sim.now().ns / 1'000'000));
    auto got = b.get("k");  // from the writer, right after put() resolved
    ASSERT_TRUE(got && got->body);
    EXPECT_EQ(*got->body, "v1");
  });
  // Reads take effect when called (then wait their own latency), so each check is its own fiber.
  const Duration just_before = Duration::millis(80) - Duration::nanos(1);
  const Duration just_after = Duration::millis(80) + Duration::nanos(1);
  sim.spawn("early_head", [&] {
    sim.sleep_for(just_before);
    EXPECT_EQ(b.head("k"), std::nullopt) << "a read issued while the put is in flight sees the old state";
  });
  sim.spawn("early_list", [&] {
    sim.sleep_for(just_before);
    EXPECT_TRUE(b.list().objects.empty());
  });
  sim.spawn("late_get", [&] {
    sim.sleep_for(just_after);  // just after the put resolved, from another fiber
    auto got = b.get("k");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got->body, "v1");
  });
  sim.spawn("late_list", [&] {
    sim.sleep_for(just_after);
    EXPECT_EQ(keys_of(b.list()), std::vector<std::string>{"k"});
  });
  sim.run();
  EXPECT_EQ(seen, std::vector<std::string>{"writer@80"});
}

TEST(R2Bucket, Item28_DeleteGoneForGetAndListWhenItResolves_R1_R3) {
  Simulator sim;
  R2Bucket b(sim, "B", exact_latency());  // delete takes exactly 50 ms
  b.put("a", "1");
  b.put("k", "v");
  bool checked = false;
  sim.spawn("deleter", [&] {
    b.del("k");
    EXPECT_EQ(sim.now().ns, Duration::millis(50).ns);
    EXPECT_EQ(b.get("k"), std::nullopt) << "after delete() resolves, get returns null";
    EXPECT_EQ(keys_of(b.list()), std::vector<std::string>{"a"}) << "and list omits the key";
  });
  sim.spawn("reader", [&] {
    sim.sleep_for(Duration::millis(49));
    EXPECT_TRUE(b.head("k").has_value()) << "not gone before the delete resolves";
    checked = true;
  });
  sim.run();
  EXPECT_TRUE(checked);
  EXPECT_EQ(b.object_count(), 1u);
}

TEST(R2Bucket, ConcurrentWritersLastToCompleteWins_S5_1_R1) {
  Simulator sim;
  R2Options o = exact_latency();
  o.put_bytes_per_s = 1000;  // 1 byte = 1 ms of transfer
  o.min_write_interval = Duration::zero();
  R2Bucket b(sim, "B", o);
  // "slow" starts first but completes at 80 + 100 = 180 ms; "fast" starts at 10 ms, completes at 91 ms.
  sim.spawn("slow", [&] { b.put("k", std::string(100, 's')); });
  sim.spawn("fast", [&] {
    sim.sleep_for(10ms);
    b.put("k", "f");
  });
  sim.run();
  auto got = b.get("k");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got->body, std::string(100, 's')) << "the write that completed last wins, not the one called last";
  EXPECT_EQ(got->uploaded.ns, Duration::millis(180).ns);
}

// --- §8 item 29: one write per second per key ---------------------------------------------------

TEST(R2Bucket, Item29_SecondWriteWithinOneSecondGets10058_R2_R5) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  b.put("k", "v1");
  advance_to(sim, Duration::seconds(1) - Duration::nanos(1));
  int code = 0;
  const std::string msg = error_of([&] { b.put("k", "v2"); }, &code);
  EXPECT_EQ(code, 10058);
  EXPECT_TRUE(ends_with(msg, "(10058)")) << msg;
  EXPECT_TRUE(msg.starts_with("put: ")) << msg;
  EXPECT_EQ(*b.get("k")->body, "v1") << "the rejected write changed nothing";
  b.put("other", "x");  // another key is not limited
  advance_to(sim, Duration::seconds(1));
  b.put("k", "v2");  // one second after the last accepted write
  EXPECT_EQ(*b.get("k")->body, "v2");
  // A failed precondition is not a write and does not count.
  EXPECT_FALSE(b.put("k", "v3", {.only_if = R2Conditional{.etag_matches = "nope"}}).has_value());
}

TEST(R2Bucket, Item29_RateLimitProbabilityIsAKnobDrawnFromTheSeed) {
  auto outcomes = [](uint64_t seed, uint32_t ppm) {
    Simulator sim(SimOptions{.seed = seed});
    R2Options o = R2Options::no_latency();
    o.rate_limit_ppm = ppm;
    R2Bucket b(sim, "B", o);
    std::string out;
    for (int i = 0; i < 40; ++i) {
      int code = 0;
      error_of([&] { b.put("k", std::to_string(i)); }, &code);
      out.push_back(code == 10058 ? 'x' : '.');
    }
    return out;
  };
  EXPECT_EQ(outcomes(1, 0), std::string(40, '.')) << "ppm 0: never 429";
  EXPECT_EQ(outcomes(1, 1'000'000), "." + std::string(39, 'x')) << "default: always 429 after the first";
  const std::string half = outcomes(7, 500'000);
  EXPECT_EQ(half, outcomes(7, 500'000)) << "same seed, same draws";
  const auto rejected = std::count(half.begin(), half.end(), 'x');
  EXPECT_GT(rejected, 5);
  EXPECT_LT(rejected, 35);
}

// --- §8 item 30: limits ---------------------------------------------------------------------------

TEST(R2Bucket, Item30_KeyOver1024BytesIs10020_R2_R5) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  EXPECT_TRUE(b.put(std::string(1024, 'k'), "v").has_value());
  int code = 0;
  const std::string msg = error_of([&] { b.put(std::string(1025, 'k'), "v"); }, &code);
  EXPECT_EQ(code, 10020);
  EXPECT_TRUE(ends_with(msg, "(10020)")) << msg;
  EXPECT_NE(msg.find("1025"), std::string::npos) << "names the value: " << msg;
  EXPECT_NE(msg.find("1024"), std::string::npos) << "and the limit: " << msg;
  code = 0;
  error_of([&] { b.get(std::string(1025, 'k')); }, &code);
  EXPECT_EQ(code, 10020);
  EXPECT_EQ(b.object_count(), 1u);
}

TEST(R2Bucket, Item30_CustomMetadataOver8192BytesIs10012_R2_R5) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  // Key "m" (1 byte) + value: 8192 bytes in all is allowed, 8193 is not.
  EXPECT_TRUE(b.put("ok", "v", {.custom_metadata = {{"m", std::string(8191, 'x')}}}).has_value());
  int code = 0;
  const std::string msg =
      error_of([&] { b.put("big", "v", {.custom_metadata = {{"m", std::string(8192, 'x')}}}); }, &code);
  EXPECT_EQ(code, 10012);
  // [R5]'s own example message.
  EXPECT_TRUE(msg.starts_with("put: Your metadata headers exceed the maximum allowed metadata size.")) << msg;
  EXPECT_TRUE(ends_with(msg, "(10012)")) << msg;
  EXPECT_EQ(b.head("big"), std::nullopt);
  code = 0;
  error_of([&] { b.create_multipart_upload("big", {.custom_metadata = {{"m", std::string(8192, 'x')}}}); }, &code);
  EXPECT_EQ(code, 10012);
}

TEST(R2Bucket, Item30_SinglePutOver4995GiBIs100100_R2_R5) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  const uint64_t limit = 5 * 1024 * kMiB - 5 * kMiB;  // 4.995 GiB
  EXPECT_EQ(b.options().max_put_bytes, limit);
  // Synthetic content: the size is declared, nothing is allocated.
  auto at_limit = b.put("big", R2Value::synthetic(limit, 42));
  ASSERT_TRUE(at_limit.has_value());
  EXPECT_EQ(at_limit->size, limit);
  int code = 0;
  const std::string msg = error_of([&] { b.put("bigger", R2Value::synthetic(limit + 1, 42)); }, &code);
  EXPECT_EQ(code, 100100);
  EXPECT_TRUE(ends_with(msg, "(100100)")) << msg;
  EXPECT_NE(msg.find(std::to_string(limit + 1)), std::string::npos) << msg;
  EXPECT_EQ(b.head("bigger"), std::nullopt);
  // The last bytes of the stored object are readable, and equal the value's own bytes.
  auto tail = b.get("big", {.range = R2Range{.suffix = 16}});
  ASSERT_TRUE(tail && tail->body);
  EXPECT_EQ(*tail->body, R2Value::synthetic(limit, 42).slice(limit - 16, 16));
  EXPECT_NE(*tail->body, R2Value::synthetic(limit, 43).slice(limit - 16, 16)) << "content depends on the seed";
}

// --- §8 item 31: multipart ------------------------------------------------------------------------

TEST(R2Multipart, Item31_EtagIsMd5OfConcatenatedPartMd5sDashN_R4) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  const std::string id = b.create_multipart_upload("obj", {.custom_metadata = {{"who", "test"}}});
  std::vector<R2UploadedPart> parts;
  parts.push_back(b.upload_part("obj", id, 1, std::string(5 * kMiB, 'a')));
  parts.push_back(b.upload_part("obj", id, 2, std::string(5 * kMiB, 'b')));
  parts.push_back(b.upload_part("obj", id, 3, "tail"));
  // Part etags are the parts' MD5s (precomputed with Python's hashlib).
  EXPECT_EQ(parts[0].etag, "79b281060d337b9b2b84ccf390adcf74");
  EXPECT_EQ(parts[2].etag, "7aea2552dfe7eb84b9443b6fc9ba6e01");
  EXPECT_EQ(b.head("obj"), std::nullopt) << "invisible until complete [R1][R4]";
  R2Object obj = b.complete_multipart_upload("obj", id, parts);
  // hashlib.md5(b''.join(md5(p).digest() for p in parts)).hexdigest() + '-3'
  EXPECT_EQ(obj.etag, "1af560d38fa58b7629ca9d6c912c720b-3");
  EXPECT_EQ(obj.http_etag, "\"1af560d38fa58b7629ca9d6c912c720b-3\"");
  EXPECT_EQ(obj.size, 10 * kMiB + 4);
  EXPECT_EQ(obj.custom_metadata.at("who"), "test");
  auto got = b.get("obj", {.range = R2Range{.offset = 5 * kMiB - 2, .length = 4}});
  ASSERT_TRUE(got && got->body);
  EXPECT_EQ(*got->body, "aabb") << "a range across two parts";
  EXPECT_EQ(*b.get("obj", {.range = R2Range{.suffix = 6}})->body, "bbtail");
  int code = 0;
  error_of([&] { b.complete_multipart_upload("obj", id, parts); }, &code);
  EXPECT_EQ(code, 10024) << "a completed upload is gone";
}

TEST(R2Multipart, Item31_NonFinalPartUnder5MiBIs10011_R4_R5) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  const std::string id = b.create_multipart_upload("obj");
  auto p1 = b.upload_part("obj", id, 1, R2Value::synthetic(5 * kMiB - 1, 1));
  auto p2 = b.upload_part("obj", id, 2, R2Value::synthetic(10, 2));
  int code = 0;
  const std::string msg = error_of([&] { b.complete_multipart_upload("obj", id, {p1, p2}); }, &code);
  EXPECT_EQ(code, 10011);
  EXPECT_TRUE(ends_with(msg, "(10011)")) << msg;
  EXPECT_EQ(b.head("obj"), std::nullopt);
  // A single small part is fine: the last part may be any size.
  auto only = b.complete_multipart_upload("obj", id, {p2});
  EXPECT_EQ(only.size, 10u);
  EXPECT_TRUE(ends_with(only.etag, "-1"));
}

TEST(R2Multipart, Item31_UnequalNonFinalPartsAre10048_R4_R5) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  const std::string id = b.create_multipart_upload("obj");
  auto p1 = b.upload_part("obj", id, 1, R2Value::synthetic(5 * kMiB, 1));
  auto p2 = b.upload_part("obj", id, 2, R2Value::synthetic(6 * kMiB, 2));
  auto p3 = b.upload_part("obj", id, 3, R2Value::synthetic(1, 3));
  int code = 0;
  const std::string msg = error_of([&] { b.complete_multipart_upload("obj", id, {p1, p2, p3}); }, &code);
  EXPECT_EQ(code, 10048) << msg;
  EXPECT_TRUE(ends_with(msg, "(10048)")) << msg;
  code = 0;
  error_of([&] { b.complete_multipart_upload("obj", id, {p1, p2}); }, &code);
  EXPECT_EQ(code, 10048) << "the final part may be smaller, never larger [R4]";
  // Equal non-final parts, smaller last: fine; parts may be listed in any order.
  auto p2b = b.upload_part("obj", id, 2, R2Value::synthetic(5 * kMiB, 2));  // re-upload: the last wins [R1]
  auto obj = b.complete_multipart_upload("obj", id, {p3, p2b, p1});
  EXPECT_EQ(obj.size, 10 * kMiB + 1);
}

TEST(R2Multipart, PartOver4995GiBAndObjectOver4995TiBAre100100_S5_2_R2) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  const uint64_t max_part = b.options().max_put_bytes;
  const std::string id = b.create_multipart_upload("huge");
  int code = 0;
  error_of([&] { b.upload_part("huge", id, 1, R2Value::synthetic(max_part + 1, 1)); }, &code);
  EXPECT_EQ(code, 100100) << "a single part is limited like a single put";
  // 4.995 TiB = 1024 parts of 4.995 GiB; one more byte in a 1025th part is too much.
  std::vector<R2UploadedPart> parts;
  for (int n = 1; n <= 1024; ++n) parts.push_back(b.upload_part("huge", id, n, R2Value::synthetic(max_part, n)));
  EXPECT_EQ(uint64_t{1024} * max_part, b.options().max_object_bytes);
  parts.push_back(b.upload_part("huge", id, 1025, R2Value::synthetic(1, 0)));
  code = 0;
  const std::string msg = error_of([&] { b.complete_multipart_upload("huge", id, parts); }, &code);
  EXPECT_EQ(code, 100100) << msg;
  parts.pop_back();
  auto obj = b.complete_multipart_upload("huge", id, parts);  // exactly at the limit: fine
  EXPECT_EQ(obj.size, b.options().max_object_bytes);
  EXPECT_TRUE(ends_with(obj.etag, "-1024"));
}

TEST(R2Multipart, MissingPartOrEtagIs10025_UnknownUploadIs10024_R4_R5) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  const std::string id = b.create_multipart_upload("obj");
  auto p1 = b.upload_part("obj", id, 1, "x");
  int code = 0;
  error_of([&] { b.complete_multipart_upload("obj", id, {{2, p1.etag}}); }, &code);
  EXPECT_EQ(code, 10025) << "part 2 was never uploaded";
  code = 0;
  error_of([&] { b.complete_multipart_upload("obj", id, {{1, std::string(32, '0')}}); }, &code);
  EXPECT_EQ(code, 10025) << "part 1 has another etag";
  code = 0;
  error_of([&] { b.complete_multipart_upload("obj", id, {}); }, &code);
  EXPECT_EQ(code, 10025) << "no parts";
  code = 0;
  error_of([&] { b.upload_part("obj", "no-such-id", 1, "x"); }, &code);
  EXPECT_EQ(code, 10024);
  code = 0;
  error_of([&] { b.upload_part("other-key", id, 1, "x"); }, &code);
  EXPECT_EQ(code, 10024) << "an upload id belongs to its key";
  b.abort_multipart_upload("obj", id);
  code = 0;
  const std::string msg = error_of([&] { b.complete_multipart_upload("obj", id, {p1}); }, &code);
  EXPECT_EQ(code, 10024);
  EXPECT_TRUE(ends_with(msg, "(10024)")) << msg;
  EXPECT_EQ(b.head("obj"), std::nullopt) << "an aborted upload leaves nothing";
  EXPECT_THROW(b.upload_part("obj", id, 0, "x"), std::invalid_argument);
  EXPECT_THROW(b.upload_part("obj", id, 10001, "x"), std::invalid_argument);
}

TEST(R2Multipart, IncompleteUploadsAbortAfterSevenDays_S5_3_R4) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  const std::string id = b.create_multipart_upload("obj");
  auto p1 = b.upload_part("obj", id, 1, "x");
  advance_to(sim, Duration::seconds(7 * 24 * 3600) - Duration::nanos(1));
  b.upload_part("obj", id, 1, "y");  // still alive just before 7 days
  advance_to(sim, Duration::seconds(7 * 24 * 3600));
  int code = 0;
  error_of([&] { b.upload_part("obj", id, 1, "z"); }, &code);
  EXPECT_EQ(code, 10024);
}

// --- §8 item 32: conditional operations -----------------------------------------------------------

TEST(R2Bucket, Item32_FailedOnlyIfOnGetGivesObjectWithoutBody_R3) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  advance_to(sim, 10s);
  const R2Object put = *b.put("k", "hello");
  EXPECT_EQ(put.etag, md5_hex("hello")) << "single-put etag is the body's MD5 (S3 convention)";
  auto miss = b.get("k", {.only_if = R2Conditional{.etag_does_not_match = put.etag}});
  ASSERT_TRUE(miss.has_value()) << "the object, not null";
  EXPECT_FALSE(miss->has_body());
  EXPECT_EQ(miss->etag, put.etag);
  EXPECT_EQ(miss->size, 5u);
  auto hit = b.get("k", {.only_if = R2Conditional{.etag_matches = put.http_etag}});  // quoted form accepted
  ASSERT_TRUE(hit && hit->has_body());
  EXPECT_EQ(*hit->body, "hello");
  EXPECT_FALSE(b.get("k", {.only_if = R2Conditional{.etag_matches = "other"}})->has_body());
  EXPECT_TRUE(b.get("k", {.only_if = R2Conditional{.etag_matches = "*"}})->has_body());
  // Dates: uploaded at 10 s.
  const Time at = Time::zero() + 10s;
  EXPECT_TRUE(b.get("k", {.only_if = R2Conditional{.uploaded_before = at + 1ms}})->has_body());
  EXPECT_FALSE(b.get("k", {.only_if = R2Conditional{.uploaded_before = at}})->has_body());
  EXPECT_TRUE(b.get("k", {.only_if = R2Conditional{.uploaded_after = at - 1ms}})->has_body());
  EXPECT_FALSE(b.get("k", {.only_if = R2Conditional{.uploaded_after = at}})->has_body());
  // RFC 7232 §6: a matching etag overrides a failing uploaded_before.
  EXPECT_TRUE(b.get("k", {.only_if = R2Conditional{.etag_matches = put.etag, .uploaded_before = at}})->has_body());
  EXPECT_EQ(b.get("missing", {.only_if = R2Conditional{.etag_matches = "*"}}), std::nullopt)
      << "a missing object is null whatever the condition";
}

TEST(R2Bucket, Item32_FailedOnlyIfOnPutGivesNullAndWritesNothing_R3_R6) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  // Create-only: etag_does_not_match "*" (If-None-Match: *).
  auto created = b.put("k", "v1", {.only_if = R2Conditional{.etag_does_not_match = "*"}});
  ASSERT_TRUE(created.has_value());
  advance_to(sim, 2s);
  EXPECT_EQ(b.put("k", "v2", {.only_if = R2Conditional{.etag_does_not_match = "*"}}), std::nullopt);
  EXPECT_EQ(b.put("k", "v2", {.only_if = R2Conditional{.etag_matches = "stale"}}), std::nullopt);
  EXPECT_EQ(b.put("new", "v", {.only_if = R2Conditional{.etag_matches = "*"}}), std::nullopt)
      << "etag_matches needs an existing object";
  EXPECT_EQ(b.head("new"), std::nullopt);
  auto got = b.get("k");
  EXPECT_EQ(*got->body, "v1");
  EXPECT_EQ(got->version, created->version) << "nothing written";
  EXPECT_EQ(b.writes(), 1u);
  // Compare-and-swap succeeds with the current etag.
  auto swapped = b.put("k", "v2", {.only_if = R2Conditional{.etag_matches = created->etag}});
  ASSERT_TRUE(swapped.has_value());
  EXPECT_NE(swapped->version, created->version);
  EXPECT_EQ(*b.get("k")->body, "v2");
}

TEST(R2Bucket, ConditionalPutIsEvaluatedWhenTheWriteLands_S5_1) {
  // Two create-only puts racing: both were called while the key was absent; the second to land fails.
  Simulator sim;
  R2Bucket b(sim, "B", exact_latency());
  std::vector<std::string> results;
  for (int i = 0; i < 2; ++i)
    sim.spawn(fmt::format("w{}", i), [&, i] {
      sim.sleep_for(Duration::millis(i));
      auto r = b.put("lock", std::to_string(i), {.only_if = R2Conditional{.etag_does_not_match = "*"}});
      results.push_back(fmt::format("{}:{}", i, r ? "won" : "lost"));
    });
  sim.run();
  EXPECT_EQ(results, (std::vector<std::string>{"0:won", "1:lost"}));
  EXPECT_EQ(*b.get("lock")->body, "0");
}

TEST(R2Bucket, Md5OptionIsChecked_S5_4_R3) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  EXPECT_TRUE(b.put("k", "abc", {.md5 = "900150983CD24FB0D6963F7D28E17F72"}).has_value()) << "either case";
  int code = 0;
  const std::string msg = error_of([&] { b.put("j", "abd", {.md5 = "900150983cd24fb0d6963f7d28e17f72"}); }, &code);
  EXPECT_EQ(code, 10037);
  EXPECT_TRUE(ends_with(msg, "(10037)")) << msg;
  EXPECT_EQ(b.head("j"), std::nullopt);
  EXPECT_THROW(b.put("j", "abc", {.md5 = "xyz"}), std::invalid_argument);
}

// --- ranges ---------------------------------------------------------------------------------------

TEST(R2Bucket, RangesAllFormsAndOverLongRequests_S5_4_R3_R5) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  b.put("k", "0123456789");
  auto body = [&](R2Range r) { return *b.get("k", {.range = r})->body; };
  EXPECT_EQ(body({.offset = 2, .length = 3}), "234");
  EXPECT_EQ(body({.length = 4}), "0123");
  EXPECT_EQ(body({.offset = 7}), "789");
  EXPECT_EQ(body({.suffix = 3}), "789");
  EXPECT_EQ(body({.offset = 8, .length = 100}), "89") << "over-long ranges return fewer bytes";
  EXPECT_EQ(body({.suffix = 100}), "0123456789");
  auto ranged = b.get("k", {.range = R2Range{.offset = 8, .length = 100}});
  EXPECT_EQ(ranged->range, std::make_pair(uint64_t{8}, uint64_t{2}));
  EXPECT_EQ(ranged->size, 10u) << "size is the object's, not the range's";
  int code = 0;
  const std::string msg = error_of([&] { b.get("k", {.range = R2Range{.offset = 10}}); }, &code);
  EXPECT_EQ(code, 10039);
  EXPECT_TRUE(ends_with(msg, "(10039)")) << msg;
  EXPECT_THROW(b.get("k", {.range = R2Range{.offset = 1, .suffix = 2}}), std::invalid_argument);
  EXPECT_THROW(b.get("k", {.range = R2Range{.length = 0}}), std::invalid_argument);
  // A range on a failed precondition: no body, no error.
  auto cond = b.get("k", {.only_if = R2Conditional{.etag_matches = "x"}, .range = R2Range{.offset = 99}});
  EXPECT_FALSE(cond->has_body());
}

// --- §8 item 33 and §9 "R2 list loops": paging ----------------------------------------------------

TEST(R2List, ByteOrderPrefixDelimiterAndCursor_S5_4_R3) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  for (const char* k : {"dir/b", "dir/a", "dir/sub/x", "dir/sub/y", "dir/t/z", "dir2", "Z", "e"}) b.put(k, "v");
  EXPECT_EQ(keys_of(b.list()),
            (std::vector<std::string>{"Z", "dir/a", "dir/b", "dir/sub/x", "dir/sub/y", "dir/t/z", "dir2", "e"}))
      << "byte order: 'Z' < 'd'";
  auto top = b.list({.prefix = "dir/", .delimiter = "/"});
  EXPECT_EQ(keys_of(top), (std::vector<std::string>{"dir/a", "dir/b"}));
  EXPECT_EQ(top.delimited_prefixes, (std::vector<std::string>{"dir/sub/", "dir/t/"}));
  EXPECT_FALSE(top.truncated);
  // Paged two entries at a time; a delimited prefix is one entry and is not repeated.
  std::vector<std::string> entries;
  std::string cursor;
  int pages = 0;
  do {
    auto page = b.list({.limit = 2, .prefix = "dir/", .cursor = cursor, .delimiter = "/"});
    for (const auto& o : page.objects) entries.push_back(o.key);
    for (const auto& p : page.delimited_prefixes) entries.push_back(p);
    EXPECT_LE(page.objects.size() + page.delimited_prefixes.size(), 2u);
    cursor = page.cursor;
    ++pages;
    if (!page.truncated) break;
  } while (pages < 10);
  EXPECT_EQ(pages, 2);
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"dir/a", "dir/b", "dir/sub/", "dir/t/"}));
  EXPECT_EQ(keys_of(b.list({.start_after = "dir/sub/x"})),
            (std::vector<std::string>{"dir/sub/y", "dir/t/z", "dir2", "e"}));
  EXPECT_THROW(b.list({.limit = 1001}), std::invalid_argument);
  EXPECT_THROW(b.list({.limit = 0}), std::invalid_argument);
  EXPECT_THROW(b.list({.cursor = "garbage"}), std::invalid_argument);
}

TEST(R2List, Item33_PageShorterThanLimitWithTruncatedWhenMetadataIsIncluded_R3) {
  Simulator sim;
  R2Options o = R2Options::no_latency();
  o.list_page_max_metadata_bytes = 10'000;  // a small page budget: two entries of 4001 bytes fit, not three
  R2Bucket b(sim, "B", o);
  for (int i = 0; i < 10; ++i)
    b.put(fmt::format("k{:02}", i), "v", {.custom_metadata = {{"m", std::string(4000, 'x')}}});
  // Without include, the full limit.
  auto plain = b.list({.limit = 5});
  EXPECT_EQ(plain.objects.size(), 5u);
  EXPECT_TRUE(plain.objects[0].custom_metadata.empty()) << "metadata only when included";
  // With include, fewer than limit and truncated: the case a count-based loop gets wrong (§9).
  auto first = b.list({.limit = 5, .include_custom_metadata = true});
  EXPECT_EQ(first.objects.size(), 2u);
  EXPECT_TRUE(first.truncated) << "fewer than limit, yet more to come";
  EXPECT_EQ(first.objects[0].custom_metadata.at("m").size(), 4000u);
  // A caller that stops when count < limit sees 2 of 10 keys; looping on truncated sees all 10.
  std::vector<std::string> all;
  std::string cursor;
  for (int guard = 0; guard < 100; ++guard) {
    auto page = b.list({.limit = 5, .cursor = cursor, .include_custom_metadata = true});
    for (const auto& obj : page.objects) all.push_back(obj.key);
    if (!page.truncated) break;
    cursor = page.cursor;
  }
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 10u) << "each key exactly once";
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
}

TEST(R2List, Item33_ShortPageKnobIsDeterministic_R3) {
  auto page_sizes = [](uint64_t seed) {
    Simulator sim(SimOptions{.seed = seed});
    R2Options o = R2Options::no_latency();
    o.list_short_page_ppm = 1'000'000;  // every page is short
    R2Bucket b(sim, "B", o);
    for (int i = 0; i < 50; ++i) b.put(fmt::format("k{:03}", i), "v");
    std::vector<size_t> sizes;
    std::vector<std::string> all;
    std::string cursor;
    for (int guard = 0; guard < 100; ++guard) {
      auto page = b.list({.limit = 10, .cursor = cursor});
      sizes.push_back(page.objects.size());
      for (const auto& obj : page.objects) all.push_back(obj.key);
      if (!page.truncated) break;
      cursor = page.cursor;
    }
    EXPECT_EQ(all.size(), 50u);
    for (size_t s : sizes) EXPECT_LT(s, 10u);
    return sizes;
  };
  const auto a = page_sizes(3);
  EXPECT_EQ(a, page_sizes(3));
  EXPECT_GT(a.size(), 5u) << "short pages mean more pages than 50 / 10";
}

// --- latency (r2-fuse-facts §16.2) ----------------------------------------------------------------

TEST(Lognormal, Sigma0GivesTheSection16_2MediansExactly) {
  Simulator sim;
  R2Options o = exact_latency();
  o.get_bytes_per_s = 40'000'000;
  o.put_bytes_per_s = 17'000'000;
  R2Bucket b(sim, "B", o);
  std::vector<int64_t> us;  // elapsed per op, microseconds
  sim.spawn("client", [&] {
    auto timed = [&](const std::function<void()>& fn) {
      const Time t0 = sim.now();
      fn();
      us.push_back((sim.now() - t0).ns / 1000);
    };
    timed([&] { b.put("k", std::string(17'000, 'x')); });  // 80 ms + 17 KB / 17 MB/s = 81 ms
    timed([&] { b.head("k"); });                            // 30 ms
    timed([&] { b.get("k"); });                             // 40 ms + 17 KB / 40 MB/s = 40.425 ms
    timed([&] { b.get("k", {.range = R2Range{.length = 4000}}); });  // 40.1 ms
    timed([&] { b.list(); });                                        // 100 ms
    timed([&] { b.del("k"); });                                      // 50 ms
    std::string id;
    timed([&] { id = b.create_multipart_upload("m"); });  // 50 ms
    R2UploadedPart p;
    timed([&] { p = b.upload_part("m", id, 1, std::string(1'700, 'y')); });  // 80.1 ms
    timed([&] { b.complete_multipart_upload("m", id, {p}); });              // 100 ms + 50 us
    std::string id2 = b.create_multipart_upload("n");
    timed([&] { b.abort_multipart_upload("n", id2); });  // 50 ms
  });
  sim.run();
  EXPECT_EQ(us, (std::vector<int64_t>{81'000, 30'000, 40'425, 40'100, 100'000, 50'000, 50'000, 80'100, 100'050,
                                      50'000}));
}

TEST(Lognormal, CallsOutsideAFiberTakeNoTime) {
  Simulator sim;
  R2Bucket b(sim, "B");  // default, random latencies
  b.put("k", "v");
  b.get("k");
  b.list();
  EXPECT_EQ(sim.now().ns, 0);
}

// --- determinism, trace, bindings -----------------------------------------------------------------

namespace {

uint64_t workload_hash(uint64_t seed) {
  Simulator sim(SimOptions{.seed = seed, .run_info = run_info(R2Options{}, "r2.")});
  R2Options o;
  o.rate_limit_ppm = 500'000;
  R2Bucket b(sim, "B", o);
  Random pick = sim.random("test/workload");
  for (int w = 0; w < 3; ++w) {
    sim.spawn(fmt::format("client{}", w), [&, w] {
      for (int i = 0; i < 20; ++i) {
        const std::string key = fmt::format("k{}", pick.below(5));
        try {
          switch (pick.below(4)) {
            case 0: b.put(key, fmt::format("{}-{}", w, i)); break;
            case 1: b.get(key); break;
            case 2: b.list({.limit = 2}); break;
            default: b.del(key); break;
          }
        } catch (const R2Error&) {
        }
      }
    });
  }
  return sim.run().trace_hash;
}

}  // namespace

TEST(R2Determinism, SameSeedSameTraceHash) {
  EXPECT_EQ(workload_hash(11), workload_hash(11));
  EXPECT_NE(workload_hash(11), workload_hash(12));
}

TEST(R2Trace, OneRecordPerOperationInCategoryR2) {
  Simulator sim;
  auto sink = std::make_shared<MemorySink>();
  sim.trace().add_sink(sink);
  R2Bucket b(sim, "B", R2Options::no_latency());
  b.put("k", "v");
  b.get("k");
  b.head("missing");
  b.list();
  b.del("k");
  error_of([&] { b.put("k", "again"); });  // 429: within 1 s of the first put
  std::vector<std::string> names;
  for (const auto& r : sink->records)
    if (r.category == "r2") names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"put", "get", "head", "list", "delete", "error"}));
}

TEST(R2Bucket, EnvBindingAndDeleteOfManyKeys) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  Env env;
  env.bind_r2("BUCKET", b);
  EXPECT_EQ(&env.r2("BUCKET"), &b);
  EXPECT_THROW(env.r2("NOPE"), std::out_of_range);
  for (int i = 0; i < 5; ++i) env.r2("BUCKET").put(fmt::format("k{}", i), "v");
  b.del(std::vector<std::string>{"k1", "k3", "never-existed"});
  EXPECT_EQ(keys_of(b.list()), (std::vector<std::string>{"k0", "k2", "k4"}));
  EXPECT_THROW(b.del(std::vector<std::string>(1001, "k")), std::invalid_argument);
}

// --- review fixes: harness limits, option ranges, list skipping, bounded bookkeeping ----------------

namespace {

// The message of the std::invalid_argument `fn` throws, or "(no invalid_argument)".
std::string invalid_argument_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no invalid_argument)";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A 4.995 TiB object of 1024 synthetic parts of 4.995 GiB (part n has seed n): §5.2's largest object.
void put_largest_object(R2Bucket& b, const std::string& key) {
  const std::string id = b.create_multipart_upload(key);
  std::vector<R2UploadedPart> parts;
  for (int n = 1; n <= 1024; ++n)
    parts.push_back(b.upload_part(key, id, n, R2Value::synthetic(b.options().max_put_bytes, n)));
  b.complete_multipart_upload(key, id, parts);
}

}  // namespace

TEST(R2Get, UnrangedGetOfA4995TiBObjectIsAHarnessLimitNotBadAlloc_S5_2_R2) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  put_largest_object(b, "huge");
  const uint64_t size = b.head("huge")->size;
  ASSERT_EQ(size, b.options().max_object_bytes);
  // Before the limit this reserved 4.995 TiB and threw std::bad_alloc (or filled 4 GiB for a 4 GiB one).
  const std::string msg = invalid_argument_of([&] { b.get("huge"); });
  EXPECT_TRUE(contains(msg, std::to_string(size))) << msg;
  EXPECT_TRUE(contains(msg, "max_materialized_body_bytes = 67108864")) << msg;
  EXPECT_TRUE(contains(msg, "not an R2 error")) << msg;
  EXPECT_TRUE(contains(msg, "range")) << msg;
  // Ranges still work, and return the synthetic content: the last MiB lies in part 1024.
  const uint64_t part = b.options().max_put_bytes;
  auto tail = b.get("huge", {.range = R2Range{.suffix = kMiB}});
  ASSERT_TRUE(tail && tail->body);
  EXPECT_EQ(tail->range, std::make_pair(size - kMiB, kMiB));
  EXPECT_EQ(*tail->body, R2Value::synthetic(part, 1024).slice(part - kMiB, kMiB));
  // A range straddling parts 1 and 2.
  auto mid = b.get("huge", {.range = R2Range{.offset = part - 3, .length = 6}});
  EXPECT_EQ(*mid->body, R2Value::synthetic(part, 1).slice(part - 3, 3) + R2Value::synthetic(part, 2).slice(0, 3));
  // A range longer than the limit is refused the same way.
  EXPECT_TRUE(contains(invalid_argument_of([&] { b.get("huge", {.range = R2Range{.length = 64 * kMiB + 1}}); }),
                       "67108865 bytes"));
}

TEST(R2Get, MaxMaterializedBodyBytesIsAnOptionCheckedOnTheReturnedLength) {
  Simulator sim;
  auto sink = std::make_shared<MemorySink>();
  sim.trace().add_sink(sink);
  R2Options o = R2Options::no_latency();
  o.max_materialized_body_bytes = kMiB;
  R2Bucket b(sim, "B", o);
  b.put("at", R2Value::synthetic(kMiB, 1));
  b.put("over", R2Value::synthetic(kMiB + 1, 2));
  EXPECT_EQ(b.get("at")->body->size(), kMiB) << "exactly the limit is fine";
  const std::string msg = invalid_argument_of([&] { b.get("over"); });
  EXPECT_TRUE(contains(msg, "1048577 bytes")) << msg;
  EXPECT_TRUE(contains(msg, "= 1048576")) << msg;
  EXPECT_EQ(b.get("over", {.range = R2Range{.offset = 1}})->body->size(), kMiB) << "the returned length counts";
  // A failed precondition returns no body, so no limit applies.
  EXPECT_FALSE(b.get("over", {.only_if = R2Conditional{.etag_matches = "x"}})->has_body());
  // The refused get is a usage error, not an R2 operation: no trace record, no error record.
  size_t errors = 0;
  for (const auto& r : sink->records) errors += r.category == "r2" && r.name == "error";
  EXPECT_EQ(errors, 0u);
}

TEST(R2Value, SyntheticSliceIsTheDocumentedBytesAtAnyOffset) {
  // The content's definition (r2.h): byte i is byte (i mod 8) of mix64(mix64(seed ^ 0x5EEDC0FFEE) + i / 8),
  // computed here one byte at a time; slice() now mixes once per 8-byte word.
  auto reference = [](uint64_t seed, uint64_t offset, uint64_t length) {
    std::string out;
    const uint64_t base = mix64(seed ^ 0x5EEDC0FFEEull);
    for (uint64_t i = offset; i < offset + length; ++i)
      out.push_back(static_cast<char>(mix64(base + (i >> 3)) >> (8 * (i & 7))));
    return out;
  };
  const R2Value v = R2Value::synthetic(1000, 42);
  for (uint64_t offset : {0, 1, 7, 8, 9, 15, 16, 500, 999})
    for (uint64_t length : {0, 1, 2, 7, 8, 9, 16, 17, 64}) {
      if (offset + length <= v.size()) {
        EXPECT_EQ(v.slice(offset, length), reference(42, offset, length)) << offset << "+" << length;
      }
    }
  EXPECT_EQ(v.slice(0, 1000), reference(42, 0, 1000));
  // The very end of the largest possible value: no overflow in the word arithmetic.
  const R2Value max = R2Value::synthetic(UINT64_MAX, 7);
  EXPECT_EQ(max.slice(UINT64_MAX - 11, 11), reference(7, UINT64_MAX - 11, 11));
  EXPECT_EQ(max.slice(UINT64_MAX, 0), "");
  EXPECT_THROW(v.slice(999, 2), std::out_of_range);
}

TEST(R2Options, OutOfRangeValuesAreRejectedNamingValueAndLimit) {
  Simulator sim;
  const std::string cap = format_duration(kR2MaxDuration);
  auto rejects = [&](const std::function<void(R2Options&)>& change, const std::string& value) {
    R2Options o;
    change(o);
    const std::string msg = invalid_argument_of([&] { R2Bucket b(sim, "B", o); });
    EXPECT_TRUE(contains(msg, value) && contains(msg, cap)) << "value " << value << ": " << msg;
  };
  // A negative (or zero) abort-after expired every upload at once: 10024 on its first part.
  rejects([](R2Options& o) { o.multipart_abort_after = -1s; }, "-1");
  rejects([](R2Options& o) { o.multipart_abort_after = Duration::zero(); }, "multipart_abort_after 0");
  rejects([](R2Options& o) { o.multipart_abort_after = kR2MaxDuration + 1s; }, "multipart_abort_after");
  // 1 day x 10,000 parts would put a complete 27 years out; 365 days x 10,000 overflowed virtual time.
  rejects([](R2Options& o) { o.complete_per_part = 24h; }, format_duration(24h));
  rejects([](R2Options& o) { o.complete_per_part = kR2MaxDuration; }, "complete_per_part");
  rejects([](R2Options& o) { o.min_write_interval = kR2MaxDuration + 1s; }, "min_write_interval");
  rejects([](R2Options& o) { o.get.median = kR2MaxDuration + 1s; }, "get latency median");
  rejects([](R2Options& o) { o.list.sigma = std::numeric_limits<double>::infinity(); }, "list latency");
  // At the limits: accepted.
  R2Options ok;
  ok.multipart_abort_after = kR2MaxDuration;
  ok.min_write_interval = kR2MaxDuration;
  ok.complete_per_part = kR2MaxDuration / ok.max_parts;
  EXPECT_NO_THROW(R2Bucket(sim, "B", ok));
  ok.max_parts = 1;
  ok.complete_per_part = kR2MaxDuration;
  EXPECT_NO_THROW(R2Bucket(sim, "B", ok));
}

TEST(Lognormal, TransferTimeSaturatesInsteadOfWrapping) {
  Simulator sim;
  R2Options o = exact_latency();
  o.put_bytes_per_s = 500;  // 4.995 TiB at 500 B/s: 1.1e19 ns, past int64
  o.max_put_bytes = o.max_object_bytes;
  R2Bucket b(sim, "B", o);
  std::vector<int64_t> ns;
  sim.spawn("client", [&] {
    Time t0 = sim.now();
    b.put("small", std::string(1000, 'x'));  // 80 ms + 1000 B / 500 B/s
    ns.push_back((sim.now() - t0).ns);
    t0 = sim.now();
    b.put("big", R2Value::synthetic(o.max_object_bytes, 1));  // 80 ms + the cap
    ns.push_back((sim.now() - t0).ns);
  });
  const RunResult r = sim.run();
  EXPECT_TRUE(r.failed.empty()) << "before the fix: sleep_for of a negative (wrapped) duration";
  EXPECT_EQ(ns, (std::vector<int64_t>{Duration(2080ms).ns, (Duration(80ms) + kR2MaxDuration).ns}));
  ASSERT_TRUE(b.head("big").has_value());
}

namespace {

// What a delimited list over `keys` returns, in order, entry by entry (objects and prefixes): the
// definition, one key at a time.
std::vector<std::string> reference_list(const std::vector<std::string>& keys, const std::string& prefix,
                                        const std::string& delim, const std::string& start_after) {
  std::vector<std::string> out;
  std::set<std::string> sorted(keys.begin(), keys.end());
  for (const std::string& k : sorted) {
    if (k.compare(0, prefix.size(), prefix) != 0 || k <= start_after) continue;
    const size_t at = k.find(delim, prefix.size());
    const std::string entry = at == std::string::npos ? k : k.substr(0, at + delim.size());
    if (out.empty() || out.back() != entry) out.push_back(entry);
  }
  return out;
}

}  // namespace

TEST(R2List, DelimitedFoldersAreSkippedByJumpingPastThemIncluding0xFFKeys_S5_4_R3) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  const std::string ff = "\xFF";
  const std::vector<std::string> keys = {
      "a/1", "a/2", "a/b/3", "a/b/c/4", "a" + ff + "/x", "a" + ff + "/y", "a" + ff + ff + "/z", "a" + ff + ff,
      "a" + ff + "0", "a0", "b", "b//c", "b//d/e", ff + "/q", ff + ff + "/r", ff + ff + "/s/t", ff + ff,
      ff + ff + ff, ff + ff + ff + "/u", "z" + ff + ff + "/v", "z" + ff + ff + "/w", "z" + ff + ff + "0"};
  for (const auto& k : keys) b.put(k, "v");
  struct Case {
    std::string prefix, delim, start_after;
  };
  const std::vector<Case> cases = {{"", "/", ""},      {"a", "/", ""},  {"a/", "/", ""},   {"", ff, ""},
                                   {"a", ff, ""},      {ff, ff, ""},    {"", "//", ""},    {"b", "/", ""},
                                   {"z", "/", ""},     {"", "/", "a/b/3"}, {"", ff, "a" + ff}, {ff + ff, "/", ""}};
  for (const Case& c : cases) {
    const auto want = reference_list(keys, c.prefix, c.delim, c.start_after);
    for (int limit : {1, 2, 3, 1000}) {
      std::vector<std::string> got;
      std::string cursor;
      for (int guard = 0; guard < 100; ++guard) {
        R2ListOptions lo{.limit = limit, .prefix = c.prefix, .cursor = cursor, .delimiter = c.delim};
        if (!c.start_after.empty()) lo.start_after = c.start_after;
        auto page = b.list(lo);
        std::vector<std::string> entries = keys_of(page);
        entries.insert(entries.end(), page.delimited_prefixes.begin(), page.delimited_prefixes.end());
        std::sort(entries.begin(), entries.end());
        EXPECT_LE(entries.size(), static_cast<size_t>(limit));
        got.insert(got.end(), entries.begin(), entries.end());
        if (!page.truncated) break;
        cursor = page.cursor;
      }
      EXPECT_EQ(got, want) << "prefix '" << c.prefix << "' delimiter '" << c.delim << "' limit " << limit;
    }
  }
}

TEST(R2List, ARolledUpFolderCostsOneStepNotOnePerKey_S9) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  for (int i = 0; i < 3000; ++i) b.put(fmt::format("big/{:05}", i), "v");
  b.put("c", "v");
  b.put("d/1", "v");
  // Two one-entry pages: "big/" (then the p: cursor resumes past its 3000 keys), then "c".
  auto p1 = b.list({.limit = 1, .delimiter = "/"});
  EXPECT_EQ(p1.delimited_prefixes, std::vector<std::string>{"big/"});
  auto p2 = b.list({.limit = 1, .cursor = p1.cursor, .delimiter = "/"});
  EXPECT_EQ(keys_of(p2), std::vector<std::string>{"c"});
  auto p3 = b.list({.limit = 1000, .cursor = p2.cursor, .delimiter = "/"});
  EXPECT_EQ(p3.delimited_prefixes, std::vector<std::string>{"d/"});
  EXPECT_FALSE(p3.truncated);
  // Each page looks at its entries' first keys plus the one that ends it: 2 + 2 + 1. Walking the
  // folder (before the fix) visited all 3000 keys under big/.
  EXPECT_EQ(b.list_keys_visited(), 5u);
}

TEST(R2Bucket, WriteRateBookkeepingForgetsKeysOlderThanTheInterval_Item29) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  for (int i = 0; i < 3000; ++i) b.put(fmt::format("old{:04}", i), "v");
  EXPECT_EQ(b.write_rate_entries(), 3000u) << "all written within the last second";
  advance_to(sim, 2s);
  for (int i = 0; i < 1100; ++i) b.put(fmt::format("new{:04}", i), "v");
  EXPECT_EQ(b.write_rate_entries(), 1100u) << "the 3000 keys last written 2 s ago no longer matter";
  // The check itself is unchanged: a fresh key is still limited, an old one is not.
  int code = 0;
  error_of([&] { b.put("new0000", "again"); }, &code);
  EXPECT_EQ(code, 10058);
  EXPECT_EQ(error_of([&] { b.put("old0000", "again"); }), "(no error)");
  // With the check off, nothing is tracked.
  R2Options off = R2Options::no_latency();
  off.min_write_interval = Duration::zero();
  R2Bucket b2(sim, "B2", off);
  b2.put("k", "v");
  b2.put("k", "w");
  EXPECT_EQ(b2.write_rate_entries(), 0u);
}

TEST(R2Multipart, AbandonedUploadsAreSweptWhenAnUploadIsCreated_S5_3_R4) {
  Simulator sim;
  R2Bucket b(sim, "B", R2Options::no_latency());
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    ids.push_back(b.create_multipart_upload(fmt::format("k{}", i)));
    b.upload_part(fmt::format("k{}", i), ids.back(), 1, "part");
  }
  b.abort_multipart_upload("k0", ids[0]);
  EXPECT_EQ(b.open_uploads(), 99u);
  const Duration week = Duration::seconds(7 * 24 * 3600);
  advance_to(sim, week - Duration::nanos(1));
  const std::string late = b.create_multipart_upload("late");
  EXPECT_EQ(b.open_uploads(), 100u) << "none has expired yet";
  advance_to(sim, week);
  b.create_multipart_upload("now");
  EXPECT_EQ(b.open_uploads(), 2u) << "the 99 abandoned at t=0 are gone; 'late' and 'now' remain";
  int code = 0;
  error_of([&] { b.upload_part("k1", ids[1], 2, "x"); }, &code);
  EXPECT_EQ(code, 10024);
  EXPECT_NO_THROW(b.upload_part("late", late, 1, "x"));
}

TEST(R2Trace, DeleteRecordsTheFirstKeyAndTheCount) {
  Simulator sim;
  auto sink = std::make_shared<MemorySink>();
  sim.trace().add_sink(sink);
  R2Bucket b(sim, "B", R2Options::no_latency());
  b.del(std::vector<std::string>{"x", "y", "z"});
  ASSERT_FALSE(sink->records.empty());
  const Record& r = sink->records.back();
  EXPECT_EQ(r.name, "delete");
  EXPECT_EQ(r.field_text("key"), "x");
  EXPECT_EQ(r.field_text("keys"), "3");
}
