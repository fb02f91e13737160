#include "model/workers_kv.h"

#include <fmt/format.h>

#include <algorithm>

namespace cfsim {

namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;

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
  return {{prefix + "default_cache_ttl", format_duration(o.default_cache_ttl)},
          {prefix + "min_cache_ttl", format_duration(o.min_cache_ttl)},
          {prefix + "write_visible_locally", o.write_visible_locally ? "true" : "false"},
          {prefix + "list_lag", format_duration(o.list_lag)},
          {prefix + "list_tombstone_retention", format_duration(o.list_tombstone_retention)},
          {prefix + "min_write_interval", format_duration(o.min_write_interval)},
          {prefix + "epoch_at_start_s", std::to_string(o.epoch_at_start_s)},
          {prefix + "read_hit_latency_median", format_duration(o.read_hit_latency_median)},
          {prefix + "central_latency_median", format_duration(o.central_latency_median)},
          {prefix + "latency_sigma", fmt::format("{}", o.latency_sigma)}};
}

KvNamespace::KvNamespace(Simulator& sim, std::string name, KvOptions options)
    : sim_(sim), name_(std::move(name)), options_(options), rng_(sim.random("kv/" + name_)) {
  if (name_.empty()) throw std::invalid_argument("KvNamespace: the namespace name must not be empty");
  if (options_.default_cache_ttl < options_.min_cache_ttl)
    throw std::invalid_argument(fmt::format("KvOptions: default_cache_ttl {} is below min_cache_ttl {}",
                                            format_duration(options_.default_cache_ttl),
                                            format_duration(options_.min_cache_ttl)));
  if (options_.list_lag < Duration::zero() || options_.list_tombstone_retention < Duration::zero() ||
      options_.min_write_interval < Duration::zero())
    throw std::invalid_argument("KvOptions: list_lag, list_tombstone_retention and min_write_interval must be >= 0");
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
  // Cap absurd values at ~100 years so the deadline cannot overflow.
  const int64_t capped = std::min<int64_t>(s, int64_t{100} * 365 * 24 * 3600);
  if (Duration::seconds(capped) < options_.min_cache_ttl)
    fail("GET", 400,
         fmt::format("Invalid cache_ttl of {}. Cache TTL must be at least {}.", s,
                     (options_.min_cache_ttl.ns + kNsPerSecond - 1) / kNsPerSecond));
  return Duration::seconds(capped);
}

// --- the stores ---------------------------------------------------------------------------------

KvNamespace::EntryPtr KvNamespace::central_at(std::string_view key, int64_t t_ns) const {
  auto it = central_.find(key);
  if (it == central_.end()) return nullptr;
  const auto& versions = it->second.versions;
  for (auto v = versions.rbegin(); v != versions.rend(); ++v)
    if (v->at.ns <= t_ns) return v->entry;
  return nullptr;
}

std::optional<std::string> KvNamespace::central_value(std::string_view key) const {
  EntryPtr e = central_at(key, sim_.now().ns);
  if (!e || !e->live_at(sim_.now().ns)) return std::nullopt;
  return e->value;
}

KvNamespace::EntryPtr KvNamespace::read_through(const std::string& location, const std::string& key, Duration ttl,
                                                bool& hit) {
  const Time now = sim_.now();
  auto& cache = caches_[location];
  auto it = cache.find(key);
  EntryPtr e;
  if (it != cache.end() && now < it->second.cached_until) {
    hit = true;
    e = it->second.entry;
  } else {
    // A miss reads the central store and caches what it found, absence included [K2][K3].
    hit = false;
    e = central_at(key, now.ns);
    cache[key] = CacheEntry{e, now + ttl};
  }
  // Expiration beats cacheTtl [K4]: an expired value reads as missing wherever it is held.
  if (e && !e->live_at(now.ns)) return nullptr;
  return e;
}

void KvNamespace::wait(Duration median) {
  if (sim_.in_fiber()) sim_.sleep_for(rng_.lognormal(median, options_.latency_sigma));
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
  wait(hit ? options_.read_hit_latency_median : options_.central_latency_median);
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
  wait(misses == 0 ? options_.read_hit_latency_median : options_.central_latency_median);
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
  wait(options_.central_latency_median);  // the write travels to the central store, then lands
  const Time now = sim_.now();
  auto [it, inserted] = central_.try_emplace(std::string(key));
  KeyState& ks = it->second;
  // [K1]: one write per second per key; the rejected write changes nothing.
  if (options_.min_write_interval > Duration::zero() && ks.last_write && now - *ks.last_write < options_.min_write_interval)
    fail(op, 429, "Too Many Requests");
  ks.versions.push_back(Version{now, std::move(entry)});
  ks.last_write = now;
  ++writes_;
  // Keep what a list snapshot (now - list_lag, tombstones retained before it) may still need:
  // the last version at or before the cutoff, and everything after it.
  const int64_t cutoff = now.ns - options_.list_lag.ns - options_.list_tombstone_retention.ns;
  size_t keep_from = 0;
  for (size_t i = 0; i < ks.versions.size(); ++i)
    if (ks.versions[i].at.ns <= cutoff) keep_from = i;
  if (keep_from > 0) ks.versions.erase(ks.versions.begin(), ks.versions.begin() + static_cast<ptrdiff_t>(keep_from));
  // Read-your-write in the writer's location [K2]: its cached copy is dropped.
  if (options_.write_visible_locally) {
    auto c = caches_.find(location);
    if (c != caches_.end()) {
      auto e = c->second.find(key);
      if (e != c->second.end()) c->second.erase(e);
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
    const auto& versions = it->second.versions;
    const Version* v = nullptr;
    for (auto r = versions.rbegin(); r != versions.rend(); ++r)
      if (r->at.ns <= as_of) { v = &*r; break; }
    if (!v) continue;
    const bool live = v->entry && v->entry->live_at(as_of);
    if (!live) {
      const int64_t dead_since = v->entry ? std::max(v->at.ns, v->entry->expires_at.ns) : v->at.ns;
      if (as_of - dead_since >= options_.list_tombstone_retention.ns) continue;
    }
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
  wait(options_.central_latency_median);
  return out;
}

}  // namespace cfsim
