#pragma once
// An R2 bucket as a Worker's binding sees it (env.BUCKET.head/get/put/delete/list and the
// multipart calls) — after platform-facts.md §5.1-§5.4, §8 items 28-33, §9 "R2 list loops", and
// r2-fuse-facts.md §13 (S3-API semantics) and §16.2 (latency). Source tags are the facts' legend:
// [R1] consistency, [R2] limits, [R3] Workers API reference, [R4] multipart objects, [R5] error
// codes, [R6] S3 conditional operations, [R7] troubleshooting. The FUSE view of a bucket (tigrisfs
// in a container) is a different seam and is not modelled here.
//
// Fault model. What can go wrong, and what the model promises:
// - Consistency [R1][R3] (§8 item 28). The bucket is one strongly consistent store. A write (put,
//   delete, completing a multipart upload) takes effect at the instant the call returns (after its
//   latency), and from then on every head/get/list anywhere sees it. A read (head, get, list) sees
//   the store as it is at the instant it is called, then the caller waits its latency. So a read
//   issued while a write is in flight sees the old state; a read issued after the write returned
//   sees the new one. No staleness, no lost writes, no partial objects.
// - Concurrent writers to one key: the last to complete wins [R1] (a put called earlier with a
//   longer latency can overwrite one called later). A multipart upload is invisible until its
//   complete() returns [R1][R4]; a part uploaded twice: the last upload wins [R1].
// - Write rate (§8 item 29, [R2][R5]): at most one write per key per `min_write_interval` (1 s).
//   A put or multipart complete that lands less than that after the last *accepted* write to the
//   same key is rejected with 429 "TooManyRequests (10058)" and changes nothing — with probability
//   `rate_limit_ppm` / 1e6 (default 1e6: always; the facts say the later write "may" get 429), drawn
//   from the stream "r2/<bucket>/ratelimit" so that the knob does not shift latency draws. Deletes
//   are not counted as writes (an assumption: the facts name only writes to the key).
// - Other 5xx under heavy load [R7] are not modelled (a later fault verb can add them).
// - Preconditions (onlyIf) are evaluated at the instant the operation takes effect, so a
//   conditional put is an atomic compare-and-swap. Semantics follow RFC 7232, which the binding's
//   onlyIf mirrors [R3]: etag_matches / etag_does_not_match compare the object's etag (strong, "*"
//   matches any existing object); uploaded_before holds when uploaded < t, uploaded_after when
//   uploaded > t; uploaded_before is ignored when etag_matches is given, uploaded_after when
//   etag_does_not_match is given (RFC 7232 §6). On a missing object, etag_matches fails and every
//   other condition holds (so etag_does_not_match "*" is create-only, as If-None-Match: * [R6]).
//   A failed get precondition returns the object without a body; a failed put precondition returns
//   nullopt and writes nothing (§8 item 32).
// - List (§8 item 33, §9 "R2 list loops"): keys in byte order, at most `limit` (1..1000, default
//   1000) entries per page, a delimited prefix counting as one entry. A page MAY hold fewer than
//   `limit` entries with truncated == true, so callers must loop on `truncated`/`cursor`, never on
//   the count. cfsim produces short pages two ways, both deterministic: (a) when `include` asks for
//   metadata, a page stops before the entry that would take its included metadata (http + custom,
//   key and value bytes) past `list_page_max_metadata_bytes` (the docs: "you may receive fewer than
//   limit results ... to accommodate metadata" [R3]; the size is an assumption), always returning
//   at least one entry; (b) with probability `list_short_page_ppm` / 1e6 per page (default 0), drawn
//   from "r2/<bucket>/list", the page is cut to a uniform size in [1, limit - 1] — a knob for
//   testing that callers loop. The cursor is an opaque position (the last entry returned); the
//   prefix and delimiter come from each call's options, so pass them again with the cursor.
// - Incomplete multipart uploads are aborted `multipart_abort_after` (7 days) after creation
//   [R4][R3]; after that, and after complete or abort, the upload id gives 10024 NoSuchUpload.
//   Expired uploads are dropped when looked up and swept whenever an upload is created, so an
//   app that abandons uploads does not grow the model's memory without bound.
//
// Latency (r2-fuse-facts §16.2; engineering assumptions, not measurements): each call made from a
// fiber waits one lognormal draw (median, sigma) per operation from the stream "r2/<bucket>", plus a
// transfer time for bodies: get + size / get_bytes_per_s (40 MB/s), put and upload_part + size /
// put_bytes_per_s (17 MB/s), complete + complete_per_part per part. Sigma 0 gives exact times.
// A call outside any fiber (test setup) takes no time. A transfer time longer than
// kR2MaxDuration (365 days: a rate of a few bytes per second on a TiB object) is cut to
// kR2MaxDuration, so that a slow-rate option cannot wrap virtual time.
//
// Errors are R2Error, thrown with the Workers API's message form "<op>: <details> (<code>)" [R5]:
// key empty or > 1024 bytes: 10020 InvalidObjectName; custom metadata > 8192 bytes (sum of key and
// value bytes, an assumption on how the size is counted): 10012, with the docs' own text [R5];
// single put or part > 4.995 GiB or object > 4.995 TiB: 100100 EntityTooLarge [R2]; md5 mismatch:
// 10037 BadDigest (code UNCONFIRMED: S3's BadDigest, number not in the facts); unsatisfiable range:
// 10039 InvalidRange (416); write rate: 10058 (429); multipart: 10011 EntityTooSmall, 10048
// InvalidPart (unequal non-final parts, or a final part larger than the others), 10025 InvalidPart
// (a listed part missing or with another etag, or no parts), 10024 NoSuchUpload [R4][R5]. The
// details texts other than 10012's are cfsim's wording. Misuse that the facts do not cover (a list
// limit outside 1..1000, a part number outside 1..10000, a malformed range, cursor or md5, more than
// 1000 keys in one delete) is std::invalid_argument naming the value and the limit. So is an
// R2Options value out of range, at construction (durations are capped at kR2MaxDuration).
//
// Values. A value is bytes, or synthetic content of a declared size (R2Value::synthetic) so that
// GiB-sized objects and the size limits can be simulated without allocating them: its bytes are a
// function of (seed, offset), produced only when a get returns them. A get's body is a real
// std::string, so a get returning more than `max_materialized_body_bytes` (64 MiB) throws
// std::invalid_argument (a cfsim harness limit, not an R2 error): read big objects with ranges.
// A synthetic value's etag is not an MD5 (hashing gigabytes would be slow) but a 128-bit hash of
// (seed, size), and an md5 option cannot be checked against it (invalid_argument). Single-put
// etags are the hex MD5 of the body (S3 convention; UNCONFIRMED for R2 in the facts §5.3);
// multipart etags are the MD5 of the concatenated binary part MD5s plus "-<parts>" [R4].
//
// Trace records, category "r2", one per operation when it takes effect: head {bucket, key, found},
// get {bucket, key, found[, body[, bytes]]} (bytes: the body's length), put {bucket, key, size,
// written}, delete {bucket, key, keys} (key: the first key, "" if none; keys: how many), list
// {bucket, prefix, entries, truncated}, mpu_create / mpu_part / mpu_complete / mpu_abort {bucket,
// key, ...}, and error {bucket, op, code} for every R2Error thrown.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/random.h"
#include "sim/scheduler.h"
#include "sim/time.h"

namespace cfsim {

// MD5 (RFC 1321), cfsim's own: the model links no crypto library.
std::array<uint8_t, 16> md5(std::string_view data);
std::string md5_hex(std::string_view data);

// An error the R2 binding throws; what() ends with " (<code>)" [R5].
class R2Error : public std::runtime_error {
 public:
  R2Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// The value of a put or an uploaded part: bytes, or synthetic content of a declared size.
class R2Value {
 public:
  R2Value() = default;
  R2Value(std::string bytes);  // NOLINT(google-explicit-constructor): put(k, "text") reads well
  R2Value(const char* bytes) : R2Value(std::string(bytes)) {}
  static R2Value synthetic(uint64_t size_bytes, uint64_t seed);

  uint64_t size() const { return bytes_ ? bytes_->size() : synthetic_size_; }
  bool is_synthetic() const { return !bytes_; }
  // The bytes in [offset, offset + length), which must lie within size().
  std::string slice(uint64_t offset, uint64_t length) const;
  // Hex MD5 of the bytes, or for synthetic content a 128-bit hash of (seed, size) (see header).
  std::string digest_hex() const;

 private:
  std::shared_ptr<const std::string> bytes_;  // null for synthetic content
  uint64_t synthetic_size_ = 0;
  uint64_t seed_ = 0;
};

// R2HTTPMetadata [R3]; empty strings are absent.
struct R2HttpMetadata {
  std::string content_type, content_language, content_disposition, content_encoding, cache_control;
  bool operator==(const R2HttpMetadata&) const = default;
};

// R2Conditional [R3]; every field optional. Times are virtual times.
struct R2Conditional {
  std::optional<std::string> etag_matches, etag_does_not_match;  // "*" = any existing object
  std::optional<Time> uploaded_before, uploaded_after;
};

// R2Range [R3]: {offset, length}, {offset} (to the end), {length} (from 0), or {suffix} (the last
// `suffix` bytes). length and suffix must be >= 1.
struct R2Range {
  std::optional<uint64_t> offset, length, suffix;
};

// R2Object / R2ObjectBody [R3]. `body` is set only by a get whose precondition held.
struct R2Object {
  std::string key;
  std::string version;  // unique per write
  uint64_t size = 0;
  std::string etag;       // hex, without quotes
  std::string http_etag;  // the etag in double quotes, as in the ETag header
  Time uploaded;
  R2HttpMetadata http_metadata;
  std::map<std::string, std::string> custom_metadata;
  // For a get with a range: the bytes actually returned ({offset, length}).
  std::optional<std::pair<uint64_t, uint64_t>> range;
  std::optional<std::string> body;
  bool has_body() const { return body.has_value(); }
};

struct R2GetOptions {
  std::optional<R2Conditional> only_if;
  std::optional<R2Range> range;
};

struct R2PutOptions {
  std::optional<R2Conditional> only_if;
  R2HttpMetadata http_metadata;
  std::map<std::string, std::string> custom_metadata;
  std::optional<std::string> md5;  // hex; checked against the body (mismatch: 10037)
};

struct R2ListOptions {
  int limit = 1000;  // 1..1000
  std::string prefix;
  std::string cursor;  // "" for the first page
  std::optional<std::string> delimiter;
  std::optional<std::string> start_after;
  bool include_http_metadata = false;    // include: ["httpMetadata"]
  bool include_custom_metadata = false;  // include: ["customMetadata"]
};

struct R2Objects {
  std::vector<R2Object> objects;  // without bodies; metadata only if included
  std::vector<std::string> delimited_prefixes;
  bool truncated = false;
  std::string cursor;  // set when truncated
};

struct R2MultipartOptions {
  R2HttpMetadata http_metadata;
  std::map<std::string, std::string> custom_metadata;
};

struct R2UploadedPart {
  int part_number = 0;
  std::string etag;  // hex MD5 of the part
};

// The longest duration R2Options accepts (latency medians, complete_per_part x max_parts,
// min_write_interval, multipart_abort_after) and the cap on a transfer time: 365 days, the
// container model's cap (kMaxContainerDuration). Longer would risk pushing virtual time past its
// int64 range (Time::max() is about 292 years).
inline constexpr Duration kR2MaxDuration = Duration::seconds(int64_t{365} * 86400);

// Each operation's latency is a Lognormal (sim/random.h) of median and sigma.
struct R2Options {
  // r2-fuse-facts §16.2 (same region, warm connections; assumptions calibrated on §14).
  Lognormal head{Duration::millis(30), 0.7};
  Lognormal get{Duration::millis(40), 0.7};  // time to first byte
  Lognormal put{Duration::millis(80), 0.8};
  Lognormal del{Duration::millis(50), 0.7};
  Lognormal list{Duration::millis(100), 0.8};
  Lognormal create_multipart{Duration::millis(50), 0.7};
  Lognormal upload_part{Duration::millis(80), 0.8};
  Lognormal complete_multipart{Duration::millis(100), 0.8};
  Lognormal abort_multipart{Duration::millis(50), 0.7};
  Duration complete_per_part = Duration::micros(50);  // complete_per_part x max_parts <= 365 days
  uint64_t get_bytes_per_s = 40'000'000;  // per stream; 0 = transfer takes no time
  uint64_t put_bytes_per_s = 17'000'000;
  // Write rate [R2][R5]: zero switches the check off; at most 365 days.
  Duration min_write_interval = Duration::seconds(1);
  uint32_t rate_limit_ppm = 1'000'000;  // chance (per million) that a too-fast write gets 429
  // Short list pages (see the header comment).
  uint64_t list_page_max_metadata_bytes = 1024 * 1024;
  uint32_t list_short_page_ppm = 0;
  Duration multipart_abort_after = Duration::seconds(7 * 24 * 3600);  // [R4][R3]; > 0, <= 365 days
  // cfsim harness limit, not R2's: the most body bytes one get may return (a get's body is a real
  // std::string, even for synthetic content). Larger: std::invalid_argument asking for a range.
  uint64_t max_materialized_body_bytes = 64 * 1024 * 1024;
  // Limits [R2][R4].
  size_t max_key_bytes = 1024;
  size_t max_custom_metadata_bytes = 8192;
  uint64_t max_put_bytes = 5ull * 1024 * 1024 * 1024 - 5ull * 1024 * 1024;             // 4.995 GiB
  uint64_t max_object_bytes = 5ull * 1024 * 1024 * 1024 * 1024 - 5ull * 1024 * 1024 * 1024;  // 4.995 TiB
  uint64_t min_part_bytes = 5 * 1024 * 1024;
  int max_parts = 10'000;

  // Every latency zero (sigma 0): calls take no virtual time.
  static R2Options no_latency();
};

// R2Options as key/value pairs for SimOptions::run_info (the trace header), keys prefixed.
std::vector<std::pair<std::string, std::string>> run_info(const R2Options& o, const std::string& prefix);

// What this seam's fault knobs change (model/r2/faults.h fills it in once a plan is applied; a
// bucket outside a World keeps the defaults: no change).
struct R2FaultKnobs {
  int64_t latency_percent = 100;  // r2.latency_percent: every operation's latency x N/100
  int64_t error_ppm = 0;          // r2.error_ppm: chance per operation of 10001 InternalError
  int64_t stall_ppm = 0;          // r2.stall_ppm: chance per operation of a stall of 1..10 s
};

class R2Bucket {
 public:
  R2Bucket(Simulator& sim, std::string name, R2Options options = {});
  const std::string& name() const { return name_; }
  // The knobs every operation reads (World attaches its own; it must outlive the bucket).
  void attach_fault_knobs(const R2FaultKnobs* knobs) { knobs_ = knobs; }
  // Fault verb r2-outage: every operation that ends before `until` fails with 10043.
  void outage_until(Time until) { outage_until_ = std::max(outage_until_, until); }
  const R2Options& options() const { return options_; }

  std::optional<R2Object> head(std::string_view key);
  // nullopt if missing; the object without body if only_if fails; else the object with its body
  // (the range's bytes when a range is given).
  std::optional<R2Object> get(std::string_view key, const R2GetOptions& o = {});
  // The stored object, or nullopt if only_if failed (nothing written).
  std::optional<R2Object> put(std::string_view key, const R2Value& value, const R2PutOptions& o = {});
  void del(std::string_view key);                     // delete; a missing key is fine
  void del(const std::vector<std::string>& keys);     // up to 1000 keys, one operation
  R2Objects list(const R2ListOptions& o = {});

  // Multipart [R4][R3]. The upload id is opaque.
  std::string create_multipart_upload(std::string_view key, const R2MultipartOptions& o = {});
  R2UploadedPart upload_part(std::string_view key, std::string_view upload_id, int part_number,
                             const R2Value& value);
  R2Object complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                     const std::vector<R2UploadedPart>& parts);
  void abort_multipart_upload(std::string_view key, std::string_view upload_id);

  // For tests and tools.
  size_t object_count() const { return objects_.size(); }
  uint64_t writes() const { return writes_; }
  size_t open_uploads() const { return uploads_.size(); }  // incl. expired ones not yet swept
  size_t write_rate_entries() const { return last_write_.size(); }  // keys the write-rate check tracks
  uint64_t list_keys_visited() const { return list_keys_visited_; }  // keys list() has looked at

 private:
  struct Stored {
    R2Object meta;  // no body, no range
    std::vector<R2Value> content;  // concatenated
  };
  struct Part {
    R2Value value;
    std::string etag;
    std::array<uint8_t, 16> digest{};
  };
  struct Upload {
    std::string key;
    R2MultipartOptions options;
    Time created;
    std::map<int, Part> parts;
  };

  [[noreturn]] void fail(std::string_view op, int code, const std::string& details);
  void check_key(std::string_view op, std::string_view key);
  void check_custom_metadata(std::string_view op, const std::map<std::string, std::string>& m);
  // The caller waits the operation's latency (x r2.latency_percent, plus a rare stall under
  // r2.stall_ppm); then the operation fails if the bucket is in an outage (10043) or
  // r2.error_ppm draws an internal error (10001).
  void wait(std::string_view op, const Lognormal& l, Duration extra = Duration::zero());
  Duration transfer(uint64_t bytes, uint64_t bytes_per_s) const;
  int list_page_limit(int limit);
  bool condition_holds(const R2Conditional& c, const Stored* s) const;
  // The write-rate check at the instant a write lands: throws 10058 if rejected.
  void check_write_rate(std::string_view op, const std::string& key);
  R2Object store(const std::string& key, std::vector<R2Value> content, uint64_t size, std::string etag,
                 R2HttpMetadata http, std::map<std::string, std::string> custom);
  std::string next_version();
  Upload& find_upload(std::string_view op, std::string_view key, std::string_view upload_id);
  void erase_upload(std::map<std::string, Upload, std::less<>>::iterator it);
  void sweep_expired_uploads();
  void sweep_write_rate_entries();

  Simulator& sim_;
  std::string name_;
  R2Options options_;
  Random rng_, rate_rng_, list_rng_, fault_rng_;
  const R2FaultKnobs* knobs_ = nullptr;
  Time outage_until_;
  std::map<std::string, Stored, std::less<>> objects_;
  // Last accepted write per key; entries older than min_write_interval are dropped when touched
  // and swept once the map doubles in size since the last sweep.
  std::map<std::string, Time, std::less<>> last_write_;
  static constexpr size_t kLastWriteSweepMin = 1024;
  size_t last_write_sweep_at_ = kLastWriteSweepMin;
  std::map<std::string, Upload, std::less<>> uploads_;  // by upload id
  std::set<std::pair<Time, std::string>> uploads_by_created_;  // (created, id) of uploads_
  uint64_t list_keys_visited_ = 0;
  uint64_t writes_ = 0;
  uint64_t versions_ = 0;
  uint64_t uploads_created_ = 0;
};

}  // namespace cfsim
