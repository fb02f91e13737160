#include "model/r2/r2.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "sim/hash.h"

namespace cfsim {

// --- MD5 (RFC 1321) -----------------------------------------------------------------------------

namespace {

constexpr uint32_t kMd5K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
constexpr int kMd5S[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                           5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                           4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                           6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

uint32_t rotl(uint32_t x, int c) { return (x << c) | (x >> (32 - c)); }

void md5_block(uint32_t h[4], const unsigned char* p) {
  uint32_t m[16];
  for (int i = 0; i < 16; ++i)
    m[i] = uint32_t(p[4 * i]) | uint32_t(p[4 * i + 1]) << 8 | uint32_t(p[4 * i + 2]) << 16 |
           uint32_t(p[4 * i + 3]) << 24;
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  for (int i = 0; i < 64; ++i) {
    uint32_t f;
    int g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    const uint32_t tmp = d;
    d = c;
    c = b;
    b = b + rotl(a + f + kMd5K[i] + m[g], kMd5S[i]);
    a = tmp;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

// 32 hex digits (either case) to 16 bytes; nullopt if malformed.
std::optional<std::array<uint8_t, 16>> from_hex16(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::array<uint8_t, 16> out{};
  for (size_t i = 0; i < 16; ++i) {
    const int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

// An etag as a caller may pass it: bare or in double quotes.
std::string_view unquote(std::string_view e) {
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') return e.substr(1, e.size() - 2);
  return e;
}

bool etag_matches(std::string_view wanted, const std::string& etag) {
  return wanted == "*" || unquote(wanted) == etag;
}

size_t metadata_bytes(const std::map<std::string, std::string>& m) {
  size_t n = 0;
  for (const auto& [k, v] : m) n += k.size() + v.size();
  return n;
}

size_t metadata_bytes(const R2HttpMetadata& h) {
  return h.content_type.size() + h.content_language.size() + h.content_disposition.size() +
         h.content_encoding.size() + h.cache_control.size();
}

// Cursors are opaque to callers; cfsim's holds the last entry of a page: "k:" + hex(key) for an
// object, "p:" + hex(prefix) for a delimited prefix.
std::string encode_cursor(bool is_prefix, std::string_view s) {
  return std::string(is_prefix ? "p:" : "k:") + to_hex(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The least string greater than every string that starts with p, in byte order (the map's order:
// std::string compares bytes as unsigned char): drop trailing 0xFF bytes, then increment the last
// byte. nullopt when p is empty or all 0xFF bytes: no string is greater than all of those.
std::optional<std::string> prefix_successor(std::string_view p) {
  std::string s(p);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xFF) s.pop_back();
  if (s.empty()) return std::nullopt;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

constexpr uint32_t kPerMillion = 1'000'000;

}  // namespace

std::array<uint8_t, 16> md5(std::string_view data) {
  uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) md5_block(h, p + i);
  // Padding: 0x80, zeros, then the bit length (little-endian) in the last 8 bytes.
  unsigned char tail[128] = {};
  const size_t rest = n - i;
  std::memcpy(tail, p + i, rest);
  tail[rest] = 0x80;
  const size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(n) * 8;
  for (int k = 0; k < 8; ++k) tail[tail_len - 8 + k] = static_cast<unsigned char>(bits >> (8 * k));
  for (size_t off = 0; off < tail_len; off += 64) md5_block(h, tail + off);
  std::array<uint8_t, 16> out{};
  for (int w = 0; w < 4; ++w)
    for (int k = 0; k < 4; ++k) out[4 * w + k] = static_cast<uint8_t>(h[w] >> (8 * k));
  return out;
}

std::string md5_hex(std::string_view data) {
  const auto d = md5(data);
  return to_hex(d.data(), d.size());
}

// --- values -------------------------------------------------------------------------------------

R2Value::R2Value(std::string bytes) : bytes_(std::make_shared<const std::string>(std::move(bytes))) {}

R2Value R2Value::synthetic(uint64_t size_bytes, uint64_t seed) {
  R2Value v;
  v.synthetic_size_ = size_bytes;
  v.seed_ = seed;
  return v;
}

std::string R2Value::slice(uint64_t offset, uint64_t length) const {
  if (offset > size() || length > size() - offset)
    throw std::out_of_range(fmt::format("R2Value::slice: [{}, +{}) is outside a value of {} bytes", offset,
                                        length, size()));
  if (bytes_) return bytes_->substr(offset, length);
  // Synthetic content: byte i is byte (i mod 8) of mix64(seed-derived base + i / 8). One mix64 per
  // 8-byte word, not per byte: a 64 MiB get would otherwise cost 64M mixes.
  std::string out(length, '\0');
  if (length == 0) return out;
  const uint64_t base = mix64(seed_ ^ 0x5EEDC0FFEEull);
  const uint64_t last_word = (offset + length - 1) >> 3;
  uint64_t i = offset;
  size_t k = 0;
  for (uint64_t w = offset >> 3; w <= last_word; ++w) {
    const uint64_t word = mix64(base + w);
    // (i | 7) + 1 is the next word's first byte; not computed for the last word (no overflow).
    const uint64_t word_end = w == last_word ? offset + length : (i | 7) + 1;
    if (word_end - i == 8) {  // a whole word: its bytes little-endian, in one store where we can
      if constexpr (std::endian::native == std::endian::little)
        std::memcpy(out.data() + k, &word, 8);
      else
        for (int b = 0; b < 8; ++b) out[k + b] = static_cast<char>(word >> (8 * b));
      i += 8;
      k += 8;
      continue;
    }
    for (; i < word_end; ++i, ++k) out[k] = static_cast<char>(word >> (8 * (i & 7)));
  }
  return out;
}

std::string R2Value::digest_hex() const {
  if (bytes_) return md5_hex(*bytes_);
  return fmt::format("{:016x}{:016x}", mix64(seed_ ^ mix64(synthetic_size_)),
                     mix64(seed_ + 0x9E3779B97F4A7C15ull * (synthetic_size_ + 1)));
}

// --- options ------------------------------------------------------------------------------------

R2Options R2Options::no_latency() {
  R2Options o;
  for (Lognormal* l : {&o.head, &o.get, &o.put, &o.del, &o.list, &o.create_multipart, &o.upload_part,
                       &o.complete_multipart, &o.abort_multipart})
    *l = Lognormal{Duration::zero(), 0.0};
  o.complete_per_part = Duration::zero();
  o.get_bytes_per_s = 0;
  o.put_bytes_per_s = 0;
  return o;
}

std::vector<std::pair<std::string, std::string>> run_info(const R2Options& o, const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  auto lat = [&](const char* name, const Lognormal& l) {
    out.emplace_back(prefix + name + "_median", format_duration(l.median));
    out.emplace_back(prefix + name + "_sigma", fmt::format("{}", l.sigma));
  };
  lat("head", o.head);
  lat("get", o.get);
  lat("put", o.put);
  lat("delete", o.del);
  lat("list", o.list);
  lat("create_multipart", o.create_multipart);
  lat("upload_part", o.upload_part);
  lat("complete_multipart", o.complete_multipart);
  lat("abort_multipart", o.abort_multipart);
  out.emplace_back(prefix + "complete_per_part", format_duration(o.complete_per_part));
  out.emplace_back(prefix + "get_bytes_per_s", std::to_string(o.get_bytes_per_s));
  out.emplace_back(prefix + "put_bytes_per_s", std::to_string(o.put_bytes_per_s));
  out.emplace_back(prefix + "min_write_interval", format_duration(o.min_write_interval));
  out.emplace_back(prefix + "rate_limit_ppm", std::to_string(o.rate_limit_ppm));
  out.emplace_back(prefix + "list_page_max_metadata_bytes", std::to_string(o.list_page_max_metadata_bytes));
  out.emplace_back(prefix + "list_short_page_ppm", std::to_string(o.list_short_page_ppm));
  out.emplace_back(prefix + "multipart_abort_after", format_duration(o.multipart_abort_after));
  out.emplace_back(prefix + "max_materialized_body_bytes", std::to_string(o.max_materialized_body_bytes));
  return out;
}

// --- the bucket ---------------------------------------------------------------------------------

R2Bucket::R2Bucket(Simulator& sim, std::string name, R2Options options)
    : sim_(sim),
      name_(std::move(name)),
      options_(options),
      rng_(sim.random("r2/" + name_)),
      rate_rng_(sim.random("r2/" + name_ + "/ratelimit")),
      list_rng_(sim.random("r2/" + name_ + "/list")),
      fault_rng_(sim.random("r2/" + name_ + "/faults")) {
  if (name_.empty()) throw std::invalid_argument("R2Bucket: the bucket name must not be empty");
  const std::string max_d = format_duration(kR2MaxDuration);
  const std::pair<const char*, const Lognormal*> latencies[] = {
      {"head", &options_.head},
      {"get", &options_.get},
      {"put", &options_.put},
      {"del", &options_.del},
      {"list", &options_.list},
      {"create_multipart", &options_.create_multipart},
      {"upload_part", &options_.upload_part},
      {"complete_multipart", &options_.complete_multipart},
      {"abort_multipart", &options_.abort_multipart}};
  for (const auto& [what, l] : latencies)
    if (l->median < Duration::zero() || l->median > kR2MaxDuration || !(l->sigma >= 0.0) ||
        !std::isfinite(l->sigma))
      throw std::invalid_argument(
          fmt::format("R2Options: {} latency median {} must be in 0..{} and sigma {} finite and >= 0", what,
                      format_duration(l->median), max_d, l->sigma));
  if (options_.rate_limit_ppm > kPerMillion || options_.list_short_page_ppm > kPerMillion)
    throw std::invalid_argument(fmt::format("R2Options: rate_limit_ppm {} and list_short_page_ppm {} must be <= {}",
                                            options_.rate_limit_ppm, options_.list_short_page_ppm, kPerMillion));
  constexpr uint64_t kMaxBps = 10'000'000'000ull;  // keeps transfer() in 64-bit arithmetic
  if (options_.get_bytes_per_s > kMaxBps || options_.put_bytes_per_s > kMaxBps)
    throw std::invalid_argument(fmt::format("R2Options: get/put_bytes_per_s must be <= {}", kMaxBps));
  if (options_.min_write_interval < Duration::zero() || options_.min_write_interval > kR2MaxDuration)
    throw std::invalid_argument(fmt::format("R2Options: min_write_interval {} must be in 0..{}",
                                            format_duration(options_.min_write_interval), max_d));
  // Zero or negative would expire every upload at once (10024 on its first part).
  if (options_.multipart_abort_after <= Duration::zero() || options_.multipart_abort_after > kR2MaxDuration)
    throw std::invalid_argument(fmt::format("R2Options: multipart_abort_after {} must be > 0 and <= {}",
                                            format_duration(options_.multipart_abort_after), max_d));
  if (options_.max_parts < 1)
    throw std::invalid_argument(fmt::format("R2Options: max_parts {} must be >= 1", options_.max_parts));
  // A complete of max_parts parts waits complete_per_part x parts: keep that within the cap.
  const Duration max_per_part = kR2MaxDuration / options_.max_parts;
  if (options_.complete_per_part < Duration::zero() || options_.complete_per_part > max_per_part)
    throw std::invalid_argument(fmt::format(
        "R2Options: complete_per_part {} must be in 0..{} (x max_parts {} must stay within {})",
        format_duration(options_.complete_per_part), format_duration(max_per_part), options_.max_parts, max_d));
}

void R2Bucket::fail(std::string_view op, int code, const std::string& details) {
  sim_.record("r2", "error", {{"bucket", name_}, {"op", op}, {"code", code}});
  throw R2Error(code, fmt::format("{}: {} ({})", op, details, code));
}

void R2Bucket::check_key(std::string_view op, std::string_view key) {
  if (key.empty() || key.size() > options_.max_key_bytes)
    fail(op, 10020,
         fmt::format("The specified object name is not valid: key of {} bytes, the limit is 1..{} bytes",
                     key.size(), options_.max_key_bytes));
}

void R2Bucket::check_custom_metadata(std::string_view op, const std::map<std::string, std::string>& m) {
  const size_t n = metadata_bytes(m);
  if (n > options_.max_custom_metadata_bytes)
    fail(op, 10012,
         fmt::format("Your metadata headers exceed the maximum allowed metadata size. ({} bytes, the limit is {})",
                     n, options_.max_custom_metadata_bytes));
}

Duration R2Bucket::transfer(uint64_t bytes, uint64_t bytes_per_s) const {
  if (bytes_per_s == 0) return Duration::zero();
  constexpr uint64_t kNs = 1'000'000'000;
  const uint64_t secs = bytes / bytes_per_s, rem = bytes % bytes_per_s;
  // Saturate: at a few hundred bytes per second a TiB object's secs * kNs would wrap.
  const uint64_t max_secs = static_cast<uint64_t>(kR2MaxDuration.ns) / kNs;
  if (secs >= max_secs) return kR2MaxDuration;
  // rem < bytes_per_s <= 1e10 (checked in the constructor), so rem * kNs fits in 64 bits.
  return std::min(kR2MaxDuration, Duration::nanos(static_cast<int64_t>(secs * kNs + rem * kNs / bytes_per_s)));
}

void R2Bucket::wait(std::string_view op, const Lognormal& l, Duration extra) {
  if (!sim_.in_fiber()) return;
  Duration draw = rng_.lognormal(l.median, l.sigma);  // Duration::max() at most
  if (knobs_) {
    draw = draw.scaled_percent(knobs_->latency_percent);
    // r2-fuse-facts §16.2 "rare stalls": U(1 s, 10 s) on top (retry/backoff; an assumption).
    if (knobs_->stall_ppm > 0 && fault_rng_.below(kPerMillion) < static_cast<uint64_t>(knobs_->stall_ppm)) {
      const Duration stall = Duration::millis(fault_rng_.uniform_int(1'000, 10'000));
      sim_.record("r2", "stall", {{"bucket", name_}, {"op", op}, {"stall", stall}});
      draw = draw > Duration::max() - stall ? Duration::max() : draw + stall;
    }
  }
  sim_.sleep_for(extra > Duration::max() - draw ? Duration::max() : draw + extra);
  // R5 (r2/api/error-codes): 10043 ServiceUnavailable, 10001 InternalError; both say "try again".
  if (sim_.now() < outage_until_) fail(op, 10043, "ServiceUnavailable: Unable to service request, please try again");
  if (knobs_ && knobs_->error_ppm > 0 && fault_rng_.below(kPerMillion) < static_cast<uint64_t>(knobs_->error_ppm))
    fail(op, 10001, "InternalError: We encountered an internal error. Please try again.");
}

bool R2Bucket::condition_holds(const R2Conditional& c, const Stored* s) const {
  if (!s) return !c.etag_matches;  // only If-Match needs an object (RFC 7232 §3.1)
  const R2Object& m = s->meta;
  // RFC 7232 §6: an etag condition takes the place of its date condition.
  if (c.etag_matches) {
    if (!etag_matches(*c.etag_matches, m.etag)) return false;
  } else if (c.uploaded_before && !(m.uploaded < *c.uploaded_before)) {
    return false;
  }
  if (c.etag_does_not_match) {
    if (etag_matches(*c.etag_does_not_match, m.etag)) return false;
  } else if (c.uploaded_after && !(m.uploaded > *c.uploaded_after)) {
    return false;
  }
  return true;
}

void R2Bucket::check_write_rate(std::string_view op, const std::string& key) {
  if (options_.min_write_interval == Duration::zero()) return;
  auto it = last_write_.find(key);
  if (it == last_write_.end()) return;
  if (sim_.now() - it->second >= options_.min_write_interval) {
    last_write_.erase(it);  // too old to matter again
    return;
  }
  const uint32_t ppm = options_.rate_limit_ppm;
  const bool reject = ppm >= kPerMillion || (ppm > 0 && rate_rng_.below(kPerMillion) < ppm);
  if (reject)
    fail(op, 10058,
         fmt::format("TooManyRequests: key '{}' was written {} ago; the limit is one write per {} per key", key,
                     format_duration(sim_.now() - it->second), format_duration(options_.min_write_interval)));
}

std::string R2Bucket::next_version() {
  ++versions_;
  const uint64_t b = hash_string(name_);
  return fmt::format("{:016x}{:016x}", mix64(b ^ versions_), mix64(b + versions_ * 0x9E3779B97F4A7C15ull));
}

R2Object R2Bucket::store(const std::string& key, std::vector<R2Value> content, uint64_t size, std::string etag,
                         R2HttpMetadata http, std::map<std::string, std::string> custom) {
  Stored s;
  s.meta.key = key;
  s.meta.version = next_version();
  s.meta.size = size;
  s.meta.http_etag = "\"" + etag + "\"";
  s.meta.etag = std::move(etag);
  s.meta.uploaded = sim_.now();
  s.meta.http_metadata = std::move(http);
  s.meta.custom_metadata = std::move(custom);
  s.content = std::move(content);
  R2Object out = s.meta;
  objects_.insert_or_assign(key, std::move(s));
  if (options_.min_write_interval > Duration::zero()) {
    last_write_.insert_or_assign(key, sim_.now());
    if (last_write_.size() >= last_write_sweep_at_) sweep_write_rate_entries();
  }
  ++writes_;
  return out;
}

void R2Bucket::sweep_write_rate_entries() {
  const Time now = sim_.now();
  std::erase_if(last_write_, [&](const auto& entry) { return now - entry.second >= options_.min_write_interval; });
  // The next sweep when the map has doubled: amortised O(1) per write.
  last_write_sweep_at_ = std::max(kLastWriteSweepMin, 2 * last_write_.size());
}

// --- reads --------------------------------------------------------------------------------------

std::optional<R2Object> R2Bucket::head(std::string_view key) {
  check_key("head", key);
  auto it = objects_.find(key);
  std::optional<R2Object> out;
  if (it != objects_.end()) out = it->second.meta;
  sim_.record("r2", "head", {{"bucket", name_}, {"key", key}, {"found", out.has_value()}});
  wait("head", options_.head);
  return out;
}

std::optional<R2Object> R2Bucket::get(std::string_view key, const R2GetOptions& o) {
  check_key("get", key);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    sim_.record("r2", "get", {{"bucket", name_}, {"key", key}, {"found", false}});
    wait("get", options_.get);
    return std::nullopt;
  }
  const Stored& s = it->second;
  R2Object out = s.meta;
  if (o.only_if && !condition_holds(*o.only_if, &s)) {
    // §8 item 32: a failed precondition gives the object without its body.
    sim_.record("r2", "get", {{"bucket", name_}, {"key", key}, {"found", true}, {"body", false}});
    wait("get", options_.get);
    return out;
  }
  uint64_t offset = 0, length = s.meta.size;
  if (o.range) {
    const R2Range& r = *o.range;
    if (r.suffix) {
      if (r.offset || r.length)
        throw std::invalid_argument("R2 get: a range has either a suffix or an offset/length, not both");
      if (*r.suffix == 0) throw std::invalid_argument("R2 get: range suffix 0 must be >= 1");
      if (s.meta.size == 0) fail("get", 10039, "The requested range is not satisfiable: the object is empty");
      length = std::min(*r.suffix, s.meta.size);
      offset = s.meta.size - length;
    } else {
      if (r.length && *r.length == 0) throw std::invalid_argument("R2 get: range length 0 must be >= 1");
      offset = r.offset.value_or(0);
      if (offset >= s.meta.size)
        fail("get", 10039,
             fmt::format("The requested range is not satisfiable: offset {} of an object of {} bytes", offset,
                         s.meta.size));
      // Over-long ranges return fewer bytes [R3].
      length = r.length ? std::min(*r.length, s.meta.size - offset) : s.meta.size - offset;
    }
    out.range = std::make_pair(offset, length);
  }
  // A harness limit, not R2's: the body is a real string, even for synthetic content.
  if (length > options_.max_materialized_body_bytes)
    throw std::invalid_argument(fmt::format(
        "R2 get: key '{}' would return a body of {} bytes, more than R2Options::max_materialized_body_bytes = {} "
        "(a cfsim harness limit, not an R2 error): get it in ranges of at most that size, or raise the option",
        key, length, options_.max_materialized_body_bytes));
  // The bytes of [offset, offset + length) across the object's content pieces.
  std::string body;
  uint64_t pos = 0;
  for (const R2Value& piece : s.content) {
    const uint64_t end = pos + piece.size();
    if (end > offset && pos < offset + length) {
      const uint64_t from = std::max(offset, pos), to = std::min(offset + length, end);
      if (body.empty())
        body = piece.slice(from - pos, to - from);  // the usual single piece: no second copy
      else
        body += piece.slice(from - pos, to - from);
    }
    pos = end;
  }
  out.body = std::move(body);
  sim_.record("r2", "get", {{"bucket", name_}, {"key", key}, {"found", true}, {"body", true}, {"bytes", length}});
  wait("get", options_.get, transfer(length, options_.get_bytes_per_s));
  return out;
}

namespace {

// Where a list resumes: after `after` (if set), past every key under `skip_prefix` (a folder rolled
// up on an earlier page). From the cursor ("k:" or "p:" and the hex of the last entry) and
// start_after, whichever is later; std::invalid_argument for a malformed cursor.
struct ListResume {
  std::string after;
  bool have_after = false;
  std::string skip_prefix;
};

ListResume list_resume(const R2ListOptions& o) {
  ListResume r;
  if (!o.cursor.empty()) {
    const bool ok = o.cursor.size() >= 2 && (o.cursor[0] == 'k' || o.cursor[0] == 'p') && o.cursor[1] == ':' &&
                    o.cursor.size() % 2 == 0;
    if (!ok) throw std::invalid_argument(fmt::format("R2 list: malformed cursor '{}'", o.cursor));
    std::string decoded;
    for (size_t i = 2; i < o.cursor.size(); i += 2) {
      auto d = [](char c) { return c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= '0' && c <= '9' ? c - '0' : -1; };
      const int hi = d(o.cursor[i]), lo = d(o.cursor[i + 1]);
      if (hi < 0 || lo < 0) throw std::invalid_argument(fmt::format("R2 list: malformed cursor '{}'", o.cursor));
      decoded.push_back(static_cast<char>(hi * 16 + lo));
    }
    r.after = decoded;
    r.have_after = true;
    if (o.cursor[0] == 'p') r.skip_prefix = decoded;
  }
  if (o.start_after && (!r.have_after || *o.start_after > r.after)) {
    r.after = *o.start_after;
    r.have_after = true;
  }
  return r;
}

}  // namespace

// The metadata bytes an object adds to a list page that includes its metadata.
static uint64_t listed_metadata_bytes(const R2ListOptions& o, const R2Object& meta) {
  return (o.include_http_metadata ? metadata_bytes(meta.http_metadata) : 0) +
         (o.include_custom_metadata ? metadata_bytes(meta.custom_metadata) : 0);
}

// A deterministic short page (see the header comment), when list_short_page_ppm is on.
int R2Bucket::list_page_limit(int limit) {
  if (options_.list_short_page_ppm > 0 && limit > 1 && list_rng_.below(kPerMillion) < options_.list_short_page_ppm)
    return static_cast<int>(list_rng_.uniform_int(1, limit - 1));
  return limit;
}

R2Objects R2Bucket::list(const R2ListOptions& o) {
  if (o.limit < 1 || o.limit > 1000)
    throw std::invalid_argument(fmt::format("R2 list: limit {} is outside 1..1000", o.limit));
  const ListResume resume = list_resume(o);
  const std::string& after = resume.after;
  const bool have_after = resume.have_after;
  const std::string& skip_prefix = resume.skip_prefix;
  const int page_limit = list_page_limit(o.limit);
  const bool include = o.include_http_metadata || o.include_custom_metadata;
  const std::string delim = o.delimiter.value_or("");
  R2Objects out;
  int entries = 0;
  uint64_t meta_bytes = 0;
  std::string last_entry;
  bool last_is_prefix = false;
  using Iterator = decltype(objects_)::const_iterator;
  // `it`, or if its key starts with `p`, the first key after every key that does: those are
  // contiguous in byte order, so a rolled-up folder costs one lower_bound, not a walk over it.
  auto skip_past = [&](Iterator i, const std::string& p) {
    if (i == objects_.end() || !starts_with(i->first, p)) return i;
    const std::optional<std::string> next = prefix_successor(p);
    return next ? objects_.lower_bound(*next) : objects_.cend();
  };
  Iterator it = have_after ? objects_.upper_bound(after) : objects_.begin();
  // Start at the later of the resume point and the prefix's first key.
  if (auto p = objects_.lower_bound(o.prefix); p == objects_.end())
    it = p;
  else if (it != objects_.end() && p->first > it->first)
    it = p;
  if (!skip_prefix.empty()) it = skip_past(it, skip_prefix);  // rolled up on an earlier page
  while (it != objects_.end() && starts_with(it->first, o.prefix)) {
    ++list_keys_visited_;
    const std::string& key = it->first;
    std::optional<std::string> rolled;
    if (!delim.empty()) {
      const size_t at = key.find(delim, o.prefix.size());
      if (at != std::string::npos) rolled = key.substr(0, at + delim.size());
    }
    const uint64_t entry_bytes = rolled || !include ? 0 : listed_metadata_bytes(o, it->second.meta);
    // Is the page full? Then there is more: truncated, and this entry starts the next page.
    if (entries >= page_limit ||
        (include && entries > 0 && meta_bytes + entry_bytes > options_.list_page_max_metadata_bytes)) {
      out.truncated = true;
      break;
    }
    ++entries;
    if (rolled) {
      out.delimited_prefixes.push_back(*rolled);
      last_entry = *rolled;
      last_is_prefix = true;
      it = skip_past(it, *rolled);  // every key under it rolls up to the same entry
    } else {
      R2Object obj = it->second.meta;
      if (!o.include_http_metadata) obj.http_metadata = {};
      if (!o.include_custom_metadata) obj.custom_metadata = {};
      out.objects.push_back(std::move(obj));
      meta_bytes += entry_bytes;
      last_entry = key;
      last_is_prefix = false;
      ++it;
    }
  }
  if (out.truncated) out.cursor = encode_cursor(last_is_prefix, last_entry);
  sim_.record("r2", "list",
              {{"bucket", name_}, {"prefix", o.prefix}, {"entries", entries}, {"truncated", out.truncated}});
  wait("list", options_.list);
  return out;
}

// --- writes -------------------------------------------------------------------------------------

std::optional<R2Object> R2Bucket::put(std::string_view key, const R2Value& value, const R2PutOptions& o) {
  check_key("put", key);
  check_custom_metadata("put", o.custom_metadata);
  if (value.size() > options_.max_put_bytes)
    fail("put", 100100,
         fmt::format("EntityTooLarge: a single put of {} bytes exceeds the limit of {} bytes", value.size(),
                     options_.max_put_bytes));
  if (o.md5) {
    if (!from_hex16(*o.md5))
      throw std::invalid_argument(fmt::format("R2 put: md5 '{}' is not 32 hex digits", *o.md5));
    if (value.is_synthetic())
      throw std::invalid_argument("R2 put: an md5 cannot be checked against synthetic content");
  }
  std::string etag = value.digest_hex();
  if (o.md5 && *from_hex16(*o.md5) != *from_hex16(etag))
    fail("put", 10037,
         fmt::format("BadDigest: the md5 you specified ({}) did not match what was received ({})", *o.md5, etag));
  wait("put", options_.put, transfer(value.size(), options_.put_bytes_per_s));
  // The write lands now: precondition, write rate, then the store (§5.1: last to complete wins).
  const std::string k(key);
  auto it = objects_.find(k);
  if (o.only_if && !condition_holds(*o.only_if, it == objects_.end() ? nullptr : &it->second)) {
    sim_.record("r2", "put", {{"bucket", name_}, {"key", key}, {"size", value.size()}, {"written", false}});
    return std::nullopt;  // §8 item 32: nothing written
  }
  check_write_rate("put", k);
  R2Object out = store(k, {value}, value.size(), std::move(etag), o.http_metadata, o.custom_metadata);
  sim_.record("r2", "put", {{"bucket", name_}, {"key", key}, {"size", value.size()}, {"written", true}});
  return out;
}

void R2Bucket::del(std::string_view key) { del(std::vector<std::string>{std::string(key)}); }

void R2Bucket::del(const std::vector<std::string>& keys) {
  if (keys.size() > 1000)
    throw std::invalid_argument(fmt::format("R2 delete: {} keys in one call, the limit is 1000", keys.size()));
  for (const auto& k : keys) check_key("delete", k);
  wait("delete", options_.del);
  for (const auto& k : keys) objects_.erase(k);  // gone from every read from now on [R3]
  sim_.record("r2", "delete",
              {{"bucket", name_}, {"key", keys.empty() ? std::string() : keys.front()}, {"keys", keys.size()}});
}

// --- multipart ----------------------------------------------------------------------------------

R2Bucket::Upload& R2Bucket::find_upload(std::string_view op, std::string_view key, std::string_view upload_id) {
  auto it = uploads_.find(upload_id);
  if (it != uploads_.end() && sim_.now() - it->second.created >= options_.multipart_abort_after) {
    erase_upload(it);  // auto-aborted after 7 days [R4][R3]
    it = uploads_.end();
  }
  if (it == uploads_.end() || it->second.key != key)
    fail(op, 10024, fmt::format("NoSuchUpload: the multipart upload '{}' for key '{}' does not exist", upload_id, key));
  return it->second;
}

void R2Bucket::erase_upload(std::map<std::string, Upload, std::less<>>::iterator it) {
  uploads_by_created_.erase({it->second.created, it->first});
  uploads_.erase(it);
}

// Uploads abandoned past multipart_abort_after: oldest first, so this stops at the first live one.
void R2Bucket::sweep_expired_uploads() {
  while (!uploads_by_created_.empty() &&
         sim_.now() - uploads_by_created_.begin()->first >= options_.multipart_abort_after)
    erase_upload(uploads_.find(uploads_by_created_.begin()->second));
}

std::string R2Bucket::create_multipart_upload(std::string_view key, const R2MultipartOptions& o) {
  check_key("createMultipartUpload", key);
  check_custom_metadata("createMultipartUpload", o.custom_metadata);
  wait("createMultipartUpload", options_.create_multipart);
  ++uploads_created_;
  const uint64_t b = hash_string(name_) ^ 0x4D55ull;
  std::string id = fmt::format("{:016x}{:016x}", mix64(b + uploads_created_), mix64(b ^ (uploads_created_ << 17)));
  sweep_expired_uploads();
  uploads_.insert_or_assign(id, Upload{std::string(key), o, sim_.now(), {}});  // ids are unique
  uploads_by_created_.emplace(sim_.now(), id);
  sim_.record("r2", "mpu_create", {{"bucket", name_}, {"key", key}});
  return id;
}

R2UploadedPart R2Bucket::upload_part(std::string_view key, std::string_view upload_id, int part_number,
                                     const R2Value& value) {
  if (part_number < 1 || part_number > options_.max_parts)
    throw std::invalid_argument(
        fmt::format("R2 uploadPart: part number {} is outside 1..{}", part_number, options_.max_parts));
  if (value.size() > options_.max_put_bytes)
    fail("uploadPart", 100100,
         fmt::format("EntityTooLarge: a part of {} bytes exceeds the limit of {} bytes", value.size(),
                     options_.max_put_bytes));
  find_upload("uploadPart", key, upload_id);
  Part part{value, value.digest_hex(), {}};
  part.digest = *from_hex16(part.etag);
  wait("uploadPart", options_.upload_part, transfer(value.size(), options_.put_bytes_per_s));
  Upload& up = find_upload("uploadPart", key, upload_id);  // it may have been aborted meanwhile
  R2UploadedPart out{part_number, part.etag};
  up.parts.insert_or_assign(part_number, std::move(part));  // a part uploaded twice: the last wins [R1]
  sim_.record("r2", "mpu_part", {{"bucket", name_}, {"key", key}, {"part", part_number}, {"size", value.size()}});
  return out;
}

R2Object R2Bucket::complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                             const std::vector<R2UploadedPart>& parts) {
  const char* op = "completeMultipartUpload";
  Upload& up = find_upload(op, key, upload_id);
  if (parts.empty()) fail(op, 10025, "InvalidPart: a multipart upload needs at least one part");
  std::vector<R2UploadedPart> sorted = parts;
  std::sort(sorted.begin(), sorted.end(),
            [](const R2UploadedPart& a, const R2UploadedPart& b) { return a.part_number < b.part_number; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].part_number == sorted[i - 1].part_number)
      throw std::invalid_argument(fmt::format("R2 completeMultipartUpload: part {} is listed twice",
                                              sorted[i].part_number));
  if (sorted.size() > static_cast<size_t>(options_.max_parts))
    throw std::invalid_argument(fmt::format("R2 completeMultipartUpload: {} parts, the limit is {}", sorted.size(),
                                            options_.max_parts));
  std::vector<const Part*> chosen;
  for (const auto& p : sorted) {
    auto it = up.parts.find(p.part_number);
    if (it == up.parts.end() || unquote(p.etag) != it->second.etag)
      fail(op, 10025,
           fmt::format("InvalidPart: part {} with etag '{}' was not uploaded", p.part_number, p.etag));
    chosen.push_back(&it->second);
  }
  // [R4]: parts >= 5 MiB except the last; every non-final part the same size; the last not larger.
  const uint64_t part_size = chosen.front()->value.size();
  uint64_t total = 0;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const uint64_t sz = chosen[i]->value.size();
    const bool last = i + 1 == chosen.size();
    if (!last && sz < options_.min_part_bytes)
      fail(op, 10011,
           fmt::format("EntityTooSmall: part {} is {} bytes, the minimum for a non-final part is {}",
                       sorted[i].part_number, sz, options_.min_part_bytes));
    if ((!last && sz != part_size) || (last && sz > part_size))
      fail(op, 10048,
           fmt::format("InvalidPart: part {} is {} bytes but the parts before the last must all be {} bytes "
                       "(and the last no larger)",
                       sorted[i].part_number, sz, part_size));
    total += sz;
  }
  if (total > options_.max_object_bytes)
    fail(op, 100100,
         fmt::format("EntityTooLarge: an object of {} bytes exceeds the limit of {} bytes", total,
                     options_.max_object_bytes));
  // ETag: md5 of the concatenated binary part md5s, then "-<parts>" [R4].
  std::string digests;
  std::vector<R2Value> content;
  for (const Part* p : chosen) {
    digests.append(reinterpret_cast<const char*>(p->digest.data()), p->digest.size());
    content.push_back(p->value);
  }
  std::string etag = md5_hex(digests) + "-" + std::to_string(chosen.size());
  R2HttpMetadata http = up.options.http_metadata;
  std::map<std::string, std::string> custom = up.options.custom_metadata;
  const size_t n = chosen.size();
  wait("completeMultipartUpload", options_.complete_multipart, options_.complete_per_part * static_cast<int64_t>(n));
  find_upload(op, key, upload_id);  // aborted while completing: 10024
  const std::string k(key);
  check_write_rate(op, k);
  R2Object out = store(k, std::move(content), total, std::move(etag), std::move(http), std::move(custom));
  erase_upload(uploads_.find(upload_id));
  sim_.record("r2", "mpu_complete", {{"bucket", name_}, {"key", key}, {"parts", n}, {"size", total}});
  return out;
}

void R2Bucket::abort_multipart_upload(std::string_view key, std::string_view upload_id) {
  find_upload("abortMultipartUpload", key, upload_id);
  wait("abortMultipartUpload", options_.abort_multipart);
  auto it = uploads_.find(upload_id);
  if (it != uploads_.end()) erase_upload(it);
  sim_.record("r2", "mpu_abort", {{"bucket", name_}, {"key", key}});
}

}  // namespace cfsim
