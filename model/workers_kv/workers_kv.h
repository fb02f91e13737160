#pragma once
// Workers KV: one namespace per binding, a central store plus one edge cache per location, so a
// read in one place can be stale for up to the cache TTL after a write in another — after
// platform-facts.md §6 (all), §8 items 34-36 and §9 "KV read-your-write across regions".
// Sources are the facts' tags: [K1] limits, [K2] how KV works, [K3] reads, [K4] writes, [K5] list,
// [K6] bulk reads; error texts follow workerd's KV binding (src/workerd/api/kv.c++: key checks and
// the "KV <METHOD> failed: <status> <text>" form) and, for what the KV service answers, miniflare's
// emulator (packages/miniflare/src/workers/kv/validator.worker.ts), as the real service's texts are
// not published.
//
// Fault model. What can go wrong, and what the model promises:
// - Staleness ([K2][K3], §8 item 34). Every read names the caller's location ("WNAM", "EU", ...):
//   the caller chooses the string; cfsim gives Workers and Durable Objects no location of their
//   own, so a test or scenario picks one per simulated client or region. A read served from the location's edge cache
//   returns what the cache holds; a miss reads the central store and fills the cache for
//   `cacheTtl` (default 60 s). A miss is cached too (negative caching), so a create propagates
//   like an update. The cached copy is kept until exactly fill time + cacheTtl; the first read at
//   or after that instant goes to the central store. A later read with another cacheTtl does not
//   move that deadline. A location holding no cached copy (never read the key, or its copy ran
//   out) sees the central value at once: "locations that recently read a key see changes later"
//   [K2]. The real service has further tiers (regional caches) that can add delay even for a
//   location that never read the key; cfsim does not model them.
// - Read-your-write: a write (put or delete) drops the writer's location's cached copy when it
//   reaches the central store, so the writer's next read there sees it (`write_visible_locally`,
//   on by default: [K2] says "usually, not guaranteed"; switch it off to make the writer's own
//   location as stale as any other).
// - Concurrent writes: last write wins, by arrival at the central store [K4]. A write called from a
//   fiber first waits its latency, then lands; so of two racing writes the one that lands later
//   wins, not the one called later.
// - Write rate [K1]: at most one write (put or delete) per key per second. A write that lands less
//   than `min_write_interval` after the last accepted write to that key is rejected with status
//   429 and changes nothing. The exact text is UNCONFIRMED (§10); cfsim uses workerd's error form
//   with the standard status text: "KV PUT failed: 429 Too Many Requests".
// - Expiration [K4]: `expiration` (epoch seconds) or `expirationTtl` (seconds, from the current
//   epoch second); a target less than 60 s ahead is rejected. An expired key reads as missing, in
//   the central store and in every cache: expiration beats cacheTtl. Virtual time 0 is epoch second
//   `epoch_at_start_s`.
// - List [K5] sees the central store as it was `list_lag` ago (default 60 s: "list results lag
//   writes by up to 60 s" — cfsim takes the worst case; set 0 for an up-to-date list). Keys come in
//   UTF-8 byte order, at most `limit` (<= 1000, default 1000) per page. A key deleted or expired
//   less than `list_tombstone_retention` before that snapshot still takes a slot in the page but is
//   not returned (a tombstone), so a page may hold fewer than `limit` keys, even none, with
//   `list_complete == false` (§8 item 36): callers must loop on list_complete. The cursor encodes a
//   position only; the prefix is applied from the options of each call, so a caller must pass the
//   prefix again with the cursor [K5] (omit it and the next page runs past the prefix).
// - Nothing else fails: no lost writes, no partial values, no errors but the limits below.
//
// Latency (an assumption: the facts give no figures): a read served from the edge cache takes a
// lognormal draw `read_hit_latency` (median 5 ms), anything that reaches the central store
// (a read miss, a write, a list) `central_latency` (median 30 ms; both sigma 0.5); a bulk read takes one draw
// (a miss if any key missed). Draws come from the stream "kv/<namespace>". An operation called
// outside any fiber (test setup) takes no time. Reads and lists see the state at the instant they
// are called, then the caller waits; writes wait first, then land.
//
// Limits and their errors (KvError; status 0 marks workerd's client-side TypeErrors):
// - key empty: TypeError "Key name cannot be empty."; "." or "..": TypeError "\".\" is not allowed
//   as a key name." [K1][K4] (workerd validateKeyName).
// - key > 512 bytes: "KV GET failed: 414 UTF-8 encoded length of N exceeds key length limit of
//   512." (PUT/DELETE for writes) [K1].
// - value > 25 MiB: "KV PUT failed: 413 Value length of N exceeds limit of 26214400." [K1].
// - metadata (serialized JSON, taken as a string) > 1024 bytes: "KV PUT failed: 413 Metadata length
//   of N exceeds limit of 1024." [K1].
// - expirationTtl < 60: "KV PUT failed: 400 Invalid expiration_ttl of N. Expiration TTL must be at
//   least 60." (§8 item 35; "Invalid expiration_ttl of N" is the observed prefix); <= 0: "... Please
//   specify integer greater than 0."; expiration not after now, or < now + 60 s: "KV PUT failed: 400
//   Invalid expiration of N. ..." [K4]. With both set, expirationTtl wins (as miniflare does).
// - cacheTtl below `min_cache_ttl` (30 s current [K1], 60 s older [K3]: version-dependent):
//   "KV GET failed: 400 Invalid cache_ttl of N. Cache TTL must be at least M." (rejection
//   behaviour UNCONFIRMED, §8 item 35). A cacheTtl above 100 years is taken as 100 years.
// - bulk get of more than 100 keys or of none [K3][K6]: "KV GET_BULK failed: 400 You can request a
//   maximum of 100 keys" / "... a minimum of 1 key".
// - list limit > 1000: "KV GET failed: 400 Invalid key_count_limit of N. Please specify an integer
//   less than 1000." A limit <= 0 means the default (workerd sends only a positive limit).
// - Options: every Duration option must lie in 0..365 days, epoch_at_start_s in 0..253402300799
//   (9999-12-31T23:59:59Z), latency sigmas finite and >= 0; otherwise the constructor throws
//   std::invalid_argument naming the value and the limit.
// - The 1 000 operations per Worker invocation limit [K1] is not modelled.
//
// Memory. A deleted or expired key is forgotten once nothing can tell it from a key never
// written: no list snapshot shows its tombstone any more (dead for list_tombstone_retention before
// now - list_lag) and the write rate no longer counts its last write. Forgetting happens when a
// write lands or a list runs (a queue ordered by that instant), so dead keys cost a list nothing.
// A cached copy past its cacheTtl is dropped by a sweep that runs whenever the number of cached
// copies has doubled since the last one.
//
// Trace records, category "kv", one per operation: get {ns, loc, key, result ("hit" | "miss"),
// found}; get_bulk {ns, loc, keys, misses}; put / delete {ns, loc, key} when the write lands;
// list {ns, prefix, keys, complete}; rejected {ns, op, status} for a limit error or a 429.

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

// An error the KV binding throws. status() is the HTTP status of "KV <OP> failed: <status> ...",
// or 0 for workerd's client-side TypeErrors (empty, "." and ".." keys).
class KvError : public std::runtime_error {
 public:
  KvError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct KvOptions {
  // Edge cache of a read that names no cacheTtl [K3]. Default 60 s.
  Duration default_cache_ttl = Duration::seconds(60);
  // Smallest cacheTtl a read may ask for: 30 s on the current limits page [K1], 60 s in older
  // docs [K3] (version-dependent).
  Duration min_cache_ttl = Duration::seconds(30);
  // A write drops the writer's location's cached copy, so it reads its own write [K2].
  bool write_visible_locally = true;
  // List results show the central store as of this long ago [K5: "up to 60 s"].
  Duration list_lag = Duration::seconds(60);
  // A key deleted or expired this recently still takes a slot of a list page (a tombstone) [K5].
  // An assumption: the facts say such pages exist, not for how long.
  Duration list_tombstone_retention = Duration::seconds(60);
  // At most one write per key per this interval [K1]; zero switches the check off.
  Duration min_write_interval = Duration::seconds(1);
  // Epoch second (Unix time) at virtual time 0, for `expiration` (default 2026-01-01T00:00:00Z).
  int64_t epoch_at_start_s = 1'767'225'600;
  // Latency, lognormal (an assumption, see the header comment).
  Lognormal read_hit_latency{Duration::millis(5), 0.5};
  Lognormal central_latency{Duration::millis(30), 0.5};
  // Limits [K1][K4][K5][K6].
  size_t max_key_bytes = 512;
  size_t max_value_bytes = 25 * 1024 * 1024;
  size_t max_metadata_bytes = 1024;
  size_t max_bulk_keys = 100;
  int max_list_limit = 1000;
  int64_t min_expiration_ttl_s = 60;
};

// KvOptions as key/value pairs for SimOptions::run_info (the trace header), keys prefixed.
std::vector<std::pair<std::string, std::string>> run_info(const KvOptions& o, const std::string& prefix);

struct KvGetOptions {
  std::optional<int64_t> cache_ttl_s;  // cacheTtl, seconds; >= min_cache_ttl
};

struct KvPutOptions {
  std::optional<int64_t> expiration;         // epoch seconds
  std::optional<int64_t> expiration_ttl_s;   // seconds from now
  std::optional<std::string> metadata_json;  // serialized JSON, <= 1024 bytes
};

struct KvValueWithMetadata {
  std::string value;
  std::optional<std::string> metadata_json;
};

struct KvListOptions {
  std::string prefix;
  int limit = 1000;    // <= 1000; <= 0 means the default (1000)
  std::string cursor;  // "" for the first page
};

struct KvListKey {
  std::string name;
  std::optional<int64_t> expiration;  // epoch seconds
  std::optional<std::string> metadata_json;
};

struct KvListResult {
  std::vector<KvListKey> keys;
  bool list_complete = true;
  std::string cursor;  // set when !list_complete
};

// What this seam's fault knobs change (model/workers_kv/faults.h fills it in once a plan is
// applied; a namespace outside a World keeps the defaults: no change).
struct KvFaultKnobs {
  int64_t latency_percent = 100;      // kv.latency_percent: every operation's latency x N/100
  int64_t cache_ttl_percent = 100;    // kv.cache_ttl_percent: an edge copy is held cacheTtl x N/100
  int64_t propagation_delay_ms = 0;   // kv.propagation_delay_ms: other locations' misses read the
                                      // central store as it was this long ago
};

class KvNamespace {
 public:
  KvNamespace(Simulator& sim, std::string name, KvOptions options = {});
  const std::string& name() const { return name_; }
  const KvOptions& options() const { return options_; }
  // The knobs every operation reads (World attaches its own; it must outlive the namespace).
  void attach_fault_knobs(const KvFaultKnobs* knobs) { knobs_ = knobs; }
  // Fault verb kv-outage: every operation that ends before `until` fails with 503.
  void outage_until(Time until) { outage_until_ = std::max(outage_until_, until); }

  // get(key) as seen from `location`: the value, or nullopt if missing or expired.
  std::optional<std::string> get(std::string_view location, std::string_view key, KvGetOptions o = {});
  std::optional<KvValueWithMetadata> get_with_metadata(std::string_view location, std::string_view key,
                                                       KvGetOptions o = {});
  // get([keys]): 1..100 keys, one operation; every key is in the result, nullopt if missing [K6].
  std::map<std::string, std::optional<std::string>> get_bulk(std::string_view location,
                                                             const std::vector<std::string>& keys, KvGetOptions o = {});
  std::map<std::string, std::optional<KvValueWithMetadata>> get_bulk_with_metadata(
      std::string_view location, const std::vector<std::string>& keys, KvGetOptions o = {});

  void put(std::string_view location, std::string_view key, std::string value, KvPutOptions o = {});
  void del(std::string_view location, std::string_view key);  // delete; missing keys are fine
  KvListResult list(const KvListOptions& o = {});

  // The virtual time of an epoch second and back (floor), per options().epoch_at_start_s.
  int64_t epoch_seconds(Time t) const;
  Time time_of_epoch(int64_t epoch_s) const;

  // For tests and tools: how many writes landed; the value the central store holds right now.
  uint64_t writes() const { return writes_; }
  std::optional<std::string> central_value(std::string_view key) const;
  // For tests: keys the central store still holds (live, or dead but still observable) and cached
  // copies across all locations (including some past their cacheTtl, until the next sweep).
  size_t stored_keys() const { return central_.size(); }
  size_t cached_entries() const { return cache_entries_; }

 private:
  struct Entry {
    std::string value;
    std::optional<std::string> metadata_json;
    std::optional<int64_t> expiration;  // epoch seconds
    Time expires_at = Time::max();
    bool live_at(int64_t t_ns) const { return t_ns < expires_at.ns; }
  };
  using EntryPtr = std::shared_ptr<const Entry>;  // null = absent (never written or deleted)
  struct Version {
    Time at;
    EntryPtr entry;
  };
  struct KeyState {
    std::vector<Version> versions;  // in arrival order, so sorted by `at`; older ones pruned
    std::optional<Time> last_write;
    std::string last_writer;  // the location of the last accepted write (kv.propagation_delay_ms)
    std::optional<int64_t> forget_at_ns;  // this key's entry in forget_queue_, if any
  };
  struct CacheEntry {
    EntryPtr entry;
    Time cached_until;
  };

  [[noreturn]] void fail(std::string_view op, int status, const std::string& message);
  void check_key(std::string_view op, std::string_view key);
  Duration cache_ttl(const KvGetOptions& o);
  EntryPtr central_at(std::string_view key, int64_t t_ns) const;
  // The version a snapshot at t_ns sees (the last one that arrived at or before it), or null.
  static const Version* version_at(const KeyState& ks, int64_t t_ns);
  // Dead keys: when a key can be forgotten (nullopt: never, its value does not expire), queueing
  // it, and forgetting every queued key due by `now`.
  std::optional<int64_t> forget_at(const KeyState& ks) const;
  void schedule_forget(const std::string& key, KeyState& ks);
  void forget_dead_keys(Time now);
  void sweep_caches(Time now);
  // One key through `location`'s cache; `hit` says whether the cache answered.
  EntryPtr read_through(const std::string& location, const std::string& key, Duration ttl, bool& hit);
  int64_t central_view_ns(const std::string& location, const std::string& key, Time now) const;
  void write(std::string_view op, std::string_view location, std::string_view key, EntryPtr entry);
  // Waits an operation's latency; then `op` fails with 503 if the namespace is in an outage.
  void wait(std::string_view op, const Lognormal& latency);
  static std::string checked_location(std::string_view location);

  Simulator& sim_;
  std::string name_;
  KvOptions options_;
  Random rng_;
  const KvFaultKnobs* knobs_ = nullptr;
  Time outage_until_;
  std::map<std::string, KeyState, std::less<>> central_;
  std::map<std::string, std::map<std::string, CacheEntry, std::less<>>, std::less<>> caches_;  // location -> key
  std::set<std::pair<int64_t, std::string>> forget_queue_;  // (when, key) for dead keys
  size_t cache_entries_ = 0;      // entries across caches_
  size_t cache_sweep_at_ = 1024;  // sweep caches_ when cache_entries_ reaches this
  uint64_t writes_ = 0;
};

}  // namespace cfsim
