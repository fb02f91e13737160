#include "model/workers_kv/workers_kv.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <limits>

namespace cfsim {

namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
// A cacheTtl above this is taken as this: the platform accepts large values, and a century is
// "for the whole run" here while keeping fill time + TTL far from overflow.
constexpr int64_t kMaxCacheTtlS = int64_t{100} * 365 * 24 * 3600;
// Bound of every Duration option, so sums such as now - list_lag - list_tombstone_retention and
// time + option cannot overflow.
constexpr Duration kMaxOptionDuration = Duration::seconds(int64_t{365} * 24 * 3600);
// Bound of epoch_at_start_s (9999-12-31T23:59:59Z), so epoch <-> virtual time cannot overflow.
constexpr int64_t kMaxEpochAtStartS = 253'402'300'799;
// The cache sweep runs no more often than once per this many new cached copies.
constexpr size_t kMinCacheSweep = 1024;

// t + d for d >= 0, saturating at Time::max() instead of overflowing.
int64_t saturating_add(int64_t t_ns, int64_t d_ns) { return d_ns > INT64_MAX - t_ns ? INT64_MAX : t_ns + d_ns; }

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Cursors are opaque to callers; cfsim's holds the last key a page covered.
constexpr std::string_view kCursorTag = "kv1:";

}  // namespace

std::vector<std::pair<std::string, std::string>> run_info(const KvOptions& o, const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out = {{prefix + "default_cache_ttl", format_duration(o.default_cache_ttl)},
          {prefix + "min_cache_ttl", format_duration(o.min_cache_ttl)},
          {prefix + "write_visible_locally", o.write_visible_locally ? "true" : "false"},
          {prefix + "list_lag", format_duration(o.list_lag)},
          {prefix + "list_tombstone_retention", format_duration(o.list_tombstone_retention)},
          {prefix + "min_write_interval", format_duration(o.min_write_interval)},
          {prefix + "epoch_at_start_s", std::to_string(o.epoch_at_start_s)},
          {prefix + "read_hit_latency_median", format_duration(o.read_hit_latency.median)},
          {prefix + "central_latency_median", format_duration(o.central_latency.median)},
          {prefix + "latency_sigma", fmt::format("{}", o.read_hit_latency.sigma)}};
  // The keys above predate one sigma per latency; a central sigma of its own gets its own key (only
  // then, so that the header of a default run is what it always was).
  if (o.central_latency.sigma != o.read_hit_latency.sigma)
    out.emplace_back(prefix + "central_latency_sigma", fmt::format("{}", o.central_latency.sigma));
  return out;
}

KvNamespace::KvNamespace(Simulator& sim, std::string name, KvOptions options)
    : sim_(sim), name_(std::move(name)), options_(options), rng_(sim.random("kv/" + name_)) {
  if (name_.empty()) throw std::invalid_argument("KvNamespace: the namespace name must not be empty");
  if (options_.default_cache_ttl < options_.min_cache_ttl)
    throw std::invalid_argument(fmt::format("KvOptions: default_cache_ttl {} is below min_cache_ttl {}",
                                            format_duration(options_.default_cache_ttl),
                                            format_duration(options_.min_cache_ttl)));
  const std::pair<const char*, Duration> durations[] = {
      {"default_cache_ttl", options_.default_cache_ttl},
      {"min_cache_ttl", options_.min_cache_ttl},
      {"list_lag", options_.list_lag},
      {"list_tombstone_retention", options_.list_tombstone_retention},
      {"min_write_interval", options_.min_write_interval},
      {"read_hit_latency.median", options_.read_hit_latency.median},
      {"central_latency.median", options_.central_latency.median}};
  for (const auto& [what, d] : durations)
    if (d < Duration::zero() || d > kMaxOptionDuration)
      throw std::invalid_argument(fmt::format("KvOptions: {} {} is outside 0s..{} (365 days)", what,
                                              format_duration(d), format_duration(kMaxOptionDuration)));
  if (options_.epoch_at_start_s < 0 || options_.epoch_at_start_s > kMaxEpochAtStartS)
    throw std::invalid_argument(fmt::format("KvOptions: epoch_at_start_s {} is outside 0..{} (9999-12-31T23:59:59Z)",
                                            options_.epoch_at_start_s, kMaxEpochAtStartS));
  for (const auto& [what, l] : {std::pair{"read_hit_latency", options_.read_hit_latency}, std::pair{"central_latency", options_.central_latency}})
    if (!(l.sigma >= 0) || l.sigma == std::numeric_limits<double>::infinity())
      throw std::invalid_argument(fmt::format("KvOptions: {}.sigma {} must be finite and >= 0", what, l.sigma));
  if (options_.max_list_limit < 1) throw std::invalid_argument("KvOptions: max_list_limit must be >= 1");
}

// --- time ---------------------------------------------------------------------------------------

int64_t KvNamespace::epoch_seconds(Time t) const { return options_.epoch_at_start_s + t.ns / kNsPerSecond; }

Time KvNamespace::time_of_epoch(int64_t epoch_s) const {
  if (epoch_s <= options_.epoch_at_start_s) return Time::zero();
  const int64_t since = epoch_s - options_.epoch_at_start_s;  // > 0 here
  if (since >= INT64_MAX / kNsPerSecond) return Time::max();
  return Time::from_ns(since * kNsPerSecond);
}

// --- checks -------------------------------------------------------------------------------------

void KvNamespace::fail(std::string_view op, int status, const std::string& message) {
  sim_.record("kv", "rejected", {{"ns", name_}, {"op", op}, {"status", status}});
  if (status == 0) throw KvError(0, message);  // workerd's TypeError: no "KV ... failed" prefix
  throw KvError(status, fmt::format("KV {} failed: {} {}", op, status, message));
}

void KvNamespace::check_key(std::string_view op, std::string_view key) {
  if (key.empty()) fail(op, 0, "Key name cannot be empty.");
  if (key == "." || key == "..") fail(op, 0, fmt::format("\"{}\" is not allowed as a key name.", key));
  if (key.size() > options_.max_key_bytes)
    fail(op, 414, fmt::format("UTF-8 encoded length of {} exceeds key length limit of {}.", key.size(),
                              options_.max_key_bytes));
}

std::string KvNamespace::checked_location(std::string_view location) {
  if (location.empty()) throw std::invalid_argument("KV: the caller's location must not be empty (e.g. \"WNAM\")");
  return std::string(location);
}

Duration KvNamespace::cache_ttl(const KvGetOptions& o) {
  if (!o.cache_ttl_s) return options_.default_cache_ttl;
  const int64_t s = *o.cache_ttl_s;
  // Compare in whole seconds: converting first would overflow for |s| above ~292 years.
  const int64_t min_s = (options_.min_cache_ttl.ns + kNsPerSecond - 1) / kNsPerSecond;  // >= 0, ceiling
  if (s < min_s)
    fail("GET", 400, fmt::format("Invalid cache_ttl of {}. Cache TTL must be at least {}.", s, min_s));
  return Duration::seconds(std::min(s, kMaxCacheTtlS));
}

// --- the stores ---------------------------------------------------------------------------------

const KvNamespace::Version* KvNamespace::version_at(const KeyState& ks, int64_t t_ns) {
  auto after = std::partition_point(ks.versions.begin(), ks.versions.end(),
                                    [t_ns](const Version& v) { return v.at.ns <= t_ns; });
  return after == ks.versions.begin() ? nullptr : &*std::prev(after);
}

KvNamespace::EntryPtr KvNamespace::central_at(std::string_view key, int64_t t_ns) const {
  auto it = central_.find(key);
  if (it == central_.end()) return nullptr;
  const Version* v = version_at(it->second, t_ns);
  return v ? v->entry : nullptr;
}

namespace {
// The instant from which a version reads as missing: its arrival for a delete, its expiry for a
// put (INT64_MAX for a put that never expires).
template <typename V>
int64_t dead_from(const V& v) {
  return v.entry ? std::max(v.at.ns, v.entry->expires_at.ns) : v.at.ns;
}
}  // namespace

// A key can be forgotten once nothing can tell it from a key never written: every later list
// snapshot (now - list_lag) finds its last version dead for at least list_tombstone_retention, so
// skips it without a slot, every read finds it missing, and the write rate no longer counts its
// last write. Earlier versions do not matter: no later snapshot or read sees them.
std::optional<int64_t> KvNamespace::forget_at(const KeyState& ks) const {
  if (ks.versions.empty()) return std::nullopt;
  const Version& last = ks.versions.back();
  const int64_t dead = dead_from(last);
  if (dead == INT64_MAX) return std::nullopt;  // live for good
  const int64_t listed_until =
      saturating_add(dead, options_.list_lag.ns + options_.list_tombstone_retention.ns);
  const int64_t rate_limited_until = saturating_add(last.at.ns, options_.min_write_interval.ns);
  return std::max(listed_until, rate_limited_until);
}

void KvNamespace::schedule_forget(const std::string& key, KeyState& ks) {
  const std::optional<int64_t> when = forget_at(ks);
  if (when == ks.forget_at_ns) return;
  if (ks.forget_at_ns) forget_queue_.erase({*ks.forget_at_ns, key});
  if (when) forget_queue_.emplace(*when, key);
  ks.forget_at_ns = when;
}

void KvNamespace::forget_dead_keys(Time now) {
  while (!forget_queue_.empty() && forget_queue_.begin()->first <= now.ns) {
    auto node = forget_queue_.extract(forget_queue_.begin());
    auto it = central_.find(node.value().second);
    if (it == central_.end()) continue;
    it->second.forget_at_ns.reset();
    // Due means forgettable, except where forget_at saturated at the end of time: check exactly.
    // (No overflow: now >= 0 and the options are at most 365 days.)
    const Version& last = it->second.versions.back();
    if (now.ns - options_.list_lag.ns - options_.list_tombstone_retention.ns >= dead_from(last) &&
        now.ns - options_.min_write_interval.ns >= last.at.ns)
      central_.erase(it);
  }
}

std::optional<std::string> KvNamespace::central_value(std::string_view key) const {
  EntryPtr e = central_at(key, sim_.now().ns);
  if (!e || !e->live_at(sim_.now().ns)) return std::nullopt;
  return e->value;
}

KvNamespace::EntryPtr KvNamespace::read_through(const std::string& location, const std::string& key, Duration ttl,
                                                bool& hit) {
  const Time now = sim_.now();
  if (cache_entries_ >= cache_sweep_at_) sweep_caches(now);
  auto& cache = caches_[location];
  auto [it, inserted] = cache.try_emplace(key);
  EntryPtr e;
  if (!inserted && now < it->second.cached_until) {
    hit = true;
    e = it->second.entry;
  } else {
    // A miss reads the central store and caches what it found, absence included [K2][K3].
    hit = false;
    e = central_at(key, central_view_ns(location, key, now));
    if (knobs_) ttl = ttl.scaled_percent(knobs_->cache_ttl_percent);
    it->second = CacheEntry{e, Time::from_ns(saturating_add(now.ns, ttl.ns))};
    if (inserted) ++cache_entries_;
  }
  // Expiration beats cacheTtl [K4]: an expired value reads as missing wherever it is held.
  if (e && !e->live_at(now.ns)) return nullptr;
  return e;
}

// A copy past its cached_until answers no read (the next read refills it), so dropping it changes
// nothing. Runs when the number of copies has doubled since the last sweep: amortized O(1) per fill.
void KvNamespace::sweep_caches(Time now) {
  cache_entries_ = 0;
  for (auto loc = caches_.begin(); loc != caches_.end();) {
    auto& cache = loc->second;
    for (auto e = cache.begin(); e != cache.end();) e = now < e->second.cached_until ? std::next(e) : cache.erase(e);
    cache_entries_ += cache.size();
    loc = cache.empty() ? caches_.erase(loc) : std::next(loc);
  }
  cache_sweep_at_ = std::max(kMinCacheSweep, 2 * cache_entries_);
}

// kv.propagation_delay_ms: a location other than the last writer's reads the central store as it
// was that long ago (no earlier than the oldest version a list snapshot keeps, so never a pruned one).
int64_t KvNamespace::central_view_ns(const std::string& location, const std::string& key, Time now) const {
  if (!knobs_ || knobs_->propagation_delay_ms <= 0) return now.ns;
  auto it = central_.find(key);
  if (it == central_.end() || it->second.last_writer == location) return now.ns;
  const int64_t kept = options_.list_lag.ns + options_.list_tombstone_retention.ns;
  return now.ns - std::min(Duration::millis(knobs_->propagation_delay_ms).ns, kept);
}

void KvNamespace::wait(std::string_view op, const Lognormal& latency) {
  if (!sim_.in_fiber()) return;
  Duration d = rng_.lognormal(latency);
  if (knobs_) d = d.scaled_percent(knobs_->latency_percent);
  sim_.sleep_for(d);
  // The KV service unavailable: workerd's "KV <METHOD> failed: <status> <text>" form; the status is
  // an assumption (the service's outage answers are not published).
  if (sim_.now() < outage_until_) fail(op, 503, "Service Unavailable");
}

// --- reads --------------------------------------------------------------------------------------

std::optional<KvValueWithMetadata> KvNamespace::get_with_metadata(std::string_view location, std::string_view key,
                                                                  KvGetOptions o) {
  const std::string loc = checked_location(location);
  check_key("GET", key);
  const Duration ttl = cache_ttl(o);
  bool hit = false;
  EntryPtr e = read_through(loc, std::string(key), ttl, hit);
  sim_.record("kv", "get",
              {{"ns", name_}, {"loc", loc}, {"key", key}, {"result", hit ? "hit" : "miss"}, {"found", e != nullptr}});
  wait("GET", hit ? options_.read_hit_latency : options_.central_latency);
  if (!e) return std::nullopt;
  return KvValueWithMetadata{e->value, e->metadata_json};
}

std::optional<std::string> KvNamespace::get(std::string_view location, std::string_view key, KvGetOptions o) {
  auto r = get_with_metadata(location, key, o);
  if (!r) return std::nullopt;
  return std::move(r->value);
}

std::map<std::string, std::optional<KvValueWithMetadata>> KvNamespace::get_bulk_with_metadata(
    std::string_view location, const std::vector<std::string>& keys, KvGetOptions o) {
  const std::string loc = checked_location(location);
  if (keys.size() > options_.max_bulk_keys)
    fail("GET_BULK", 400, fmt::format("You can request a maximum of {} keys", options_.max_bulk_keys));
  if (keys.empty()) fail("GET_BULK", 400, "You must request a minimum of 1 key");
  for (const auto& k : keys) check_key("GET_BULK", k);
  const Duration ttl = cache_ttl(o);
  std::map<std::string, std::optional<KvValueWithMetadata>> out;
  size_t misses = 0;
  for (const auto& k : keys) {
    bool hit = false;
    EntryPtr e = read_through(loc, k, ttl, hit);
    if (!hit) ++misses;
    out[k] = e ? std::optional<KvValueWithMetadata>(KvValueWithMetadata{e->value, e->metadata_json}) : std::nullopt;
  }
  sim_.record("kv", "get_bulk", {{"ns", name_}, {"loc", loc}, {"keys", keys.size()}, {"misses", misses}});
  // One operation [K6][K1], so one latency: a miss if anything had to reach the central store.
  wait("GET_BULK", misses == 0 ? options_.read_hit_latency : options_.central_latency);
  return out;
}

std::map<std::string, std::optional<std::string>> KvNamespace::get_bulk(std::string_view location,
                                                                        const std::vector<std::string>& keys,
                                                                        KvGetOptions o) {
  std::map<std::string, std::optional<std::string>> out;
  for (auto& [k, v] : get_bulk_with_metadata(location, keys, o))
    out[k] = v ? std::optional<std::string>(std::move(v->value)) : std::nullopt;
  return out;
}

// --- writes -------------------------------------------------------------------------------------

void KvNamespace::put(std::string_view location, std::string_view key, std::string value, KvPutOptions o) {
  const std::string loc = checked_location(location);
  check_key("PUT", key);
  auto entry = std::make_shared<Entry>();
  const int64_t now_s = epoch_seconds(sim_.now());
  if (o.expiration_ttl_s) {
    const int64_t ttl = *o.expiration_ttl_s;
    if (ttl <= 0)
      fail("PUT", 400, fmt::format("Invalid expiration_ttl of {}. Please specify integer greater than 0.", ttl));
    if (ttl < options_.min_expiration_ttl_s)
      fail("PUT", 400,
           fmt::format("Invalid expiration_ttl of {}. Expiration TTL must be at least {}.", ttl,
                       options_.min_expiration_ttl_s));
    entry->expiration = ttl > INT64_MAX - now_s ? INT64_MAX : now_s + ttl;
  } else if (o.expiration) {
    const int64_t exp = *o.expiration;
    if (exp <= now_s)
      fail("PUT", 400,
           fmt::format("Invalid expiration of {}. Please specify integer greater than the current number of "
                       "seconds since the UNIX epoch.",
                       exp));
    if (exp - now_s < options_.min_expiration_ttl_s)
      fail("PUT", 400,
           fmt::format("Invalid expiration of {}. Expiration times must be at least {} seconds in the future.", exp,
                       options_.min_expiration_ttl_s));
    entry->expiration = exp;
  }
  if (entry->expiration) entry->expires_at = time_of_epoch(*entry->expiration);
  if (o.metadata_json && o.metadata_json->size() > options_.max_metadata_bytes)
    fail("PUT", 413,
         fmt::format("Metadata length of {} exceeds limit of {}.", o.metadata_json->size(),
                     options_.max_metadata_bytes));
  if (value.size() > options_.max_value_bytes)
    fail("PUT", 413, fmt::format("Value length of {} exceeds limit of {}.", value.size(), options_.max_value_bytes));
  entry->value = std::move(value);
  entry->metadata_json = std::move(o.metadata_json);
  write("PUT", loc, key, std::move(entry));
}

void KvNamespace::del(std::string_view location, std::string_view key) {
  const std::string loc = checked_location(location);
  check_key("DELETE", key);
  write("DELETE", loc, key, nullptr);
}

void KvNamespace::write(std::string_view op, std::string_view location, std::string_view key, EntryPtr entry) {
  wait(op, options_.central_latency);  // the write travels to the central store, then lands
  const Time now = sim_.now();
  forget_dead_keys(now);  // first, so a key due now is forgotten, not rate-limited
  auto [it, inserted] = central_.try_emplace(std::string(key));
  KeyState& ks = it->second;
  // [K1]: one write per second per key; the rejected write changes nothing.
  if (options_.min_write_interval > Duration::zero() && ks.last_write && now - *ks.last_write < options_.min_write_interval)
    fail(op, 429, "Too Many Requests");
  ks.versions.push_back(Version{now, std::move(entry)});
  ks.last_write = now;
  ks.last_writer = std::string(location);
  ++writes_;
  // Keep what a list snapshot (now - list_lag, tombstones retained before it) may still need:
  // the last version at or before the cutoff, and everything after it. Versions are sorted by
  // arrival, so a binary search finds it; the older ones go in batches of at least half the vector,
  // so a hot key's writes cost amortized O(log n), not a scan or a shift of every version.
  // (No overflow: now >= 0 and both options are at most 365 days.)
  const int64_t cutoff = now.ns - options_.list_lag.ns - options_.list_tombstone_retention.ns;
  auto after = std::partition_point(ks.versions.begin(), ks.versions.end(),
                                    [cutoff](const Version& v) { return v.at.ns <= cutoff; });
  const size_t keep_from = after == ks.versions.begin() ? 0 : static_cast<size_t>(after - ks.versions.begin()) - 1;
  if (keep_from > 0 && 2 * keep_from >= ks.versions.size())
    ks.versions.erase(ks.versions.begin(), ks.versions.begin() + static_cast<ptrdiff_t>(keep_from));
  schedule_forget(it->first, ks);
  // Read-your-write in the writer's location [K2]: its cached copy is dropped.
  if (options_.write_visible_locally) {
    auto c = caches_.find(location);
    if (c != caches_.end()) {
      auto e = c->second.find(key);
      if (e != c->second.end()) {
        c->second.erase(e);
        --cache_entries_;
      }
    }
  }
  sim_.record("kv", op == "PUT" ? "put" : "delete", {{"ns", name_}, {"loc", location}, {"key", key}});
}

// --- list ---------------------------------------------------------------------------------------

KvListResult KvNamespace::list(const KvListOptions& o) {
  if (o.limit > options_.max_list_limit)
    fail("GET", 400,
         fmt::format("Invalid key_count_limit of {}. Please specify an integer less than {}.", o.limit,
                     options_.max_list_limit));
  const size_t limit = static_cast<size_t>(o.limit <= 0 ? options_.max_list_limit : o.limit);
  if (o.prefix.size() > options_.max_key_bytes)
    fail("GET", 414,
         fmt::format("UTF-8 encoded length of {} exceeds key length limit of {}.", o.prefix.size(),
                     options_.max_key_bytes));
  forget_dead_keys(sim_.now());  // dead keys would cost the walk below without taking a slot
  auto it = central_.lower_bound(o.prefix);
  if (!o.cursor.empty()) {
    std::optional<std::string> after;
    if (o.cursor.starts_with(kCursorTag)) after = from_hex(std::string_view(o.cursor).substr(kCursorTag.size()));
    if (!after) fail("GET", 400, fmt::format("Invalid cursor '{}' (not one a list() returned)", o.cursor));
    // Start after the cursor's key, but never before the prefix: the later of the two positions.
    auto past = central_.upper_bound(*after);
    if (it != central_.end() && (past == central_.end() || past->first > it->first)) it = past;
  }
  const int64_t as_of = sim_.now().ns - options_.list_lag.ns;
  KvListResult out;
  size_t slots = 0;
  std::string last;
  for (; it != central_.end() && it->first.starts_with(o.prefix); ++it) {
    // The key as the lagging snapshot sees it: live, a recent tombstone, or nothing.
    const Version* v = version_at(it->second, as_of);
    if (!v) continue;
    const bool live = v->entry && v->entry->live_at(as_of);
    // Not live means dead_from(*v) <= as_of, so the difference cannot overflow.
    if (!live && as_of - dead_from(*v) >= options_.list_tombstone_retention.ns) continue;
    if (slots == limit) {  // another key (or tombstone) exists past a full page
      out.list_complete = false;
      out.cursor = std::string(kCursorTag) + to_hex(last);
      break;
    }
    ++slots;
    last = it->first;
    if (live) out.keys.push_back(KvListKey{it->first, v->entry->expiration, v->entry->metadata_json});
  }
  sim_.record("kv", "list",
              {{"ns", name_}, {"prefix", o.prefix}, {"keys", out.keys.size()}, {"complete", out.list_complete}});
  wait("LIST", options_.central_latency);
  return out;
}

}  // namespace cfsim
