#pragma once
// The trace: every observable step of a run is a record (time, fiber, category, name, phase,
// key/value fields). A running 64-bit hash over a canonical encoding of the records is the run's
// fingerprint: two runs with the same hash took the same steps. The encoding holds no pointers or
// addresses, only values, so the hash is the same on every machine running the same build.
//
// Recording is cheap when no sink is attached: fields are views, hashed in place, never copied.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sim/hash.h"
#include "sim/time.h"

namespace cfsim {

// Instant records mark a step; begin/end records bound a span (a fiber's life, a container's
// uptime, a fault's duration). A span's begin and end share category, name and the "id" field.
enum class Phase : uint8_t { instant = 0, begin = 1, end = 2 };

// A field value while recording: strings are borrowed for the duration of the call.
using FieldValue = std::variant<int64_t, bool, double, std::string_view>;

struct Field {
  std::string_view key;
  FieldValue value;

  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, Duration d) : key(k), value(d.ns) {}
  Field(std::string_view k, Time t) : key(k), value(t.ns) {}
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  Field(std::string_view k, I v) : key(k), value(static_cast<int64_t>(v)) {}
};

// An owned value, as stored by sinks and read back from files.
using Value = std::variant<int64_t, bool, double, std::string>;

// A record as sinks and readers hold it.
struct Record {
  uint64_t index = 0;  // position in the run, from 0
  Time time;
  uint32_t fiber = 0;  // 0 = the scheduler itself
  std::string fiber_name;  // for people; not part of the hash (the id is)
  std::string category;
  std::string name;
  Phase phase = Phase::instant;
  std::vector<std::pair<std::string, Value>> fields;

  const Value* field(std::string_view key) const;
  std::string field_text(std::string_view key) const;  // "" if absent
};

// The canonical hash of one record (its own fingerprint, independent of its position).
uint64_t record_hash(Time time, uint32_t fiber, std::string_view category, std::string_view name,
                     Phase phase, std::span<const Field> fields);
uint64_t record_hash(const Record& r);
// The hash state after the parts of a record that do not change from one instance to the next
// (category, name, phase, field count); record_hash() continues from it with time, fiber and
// fields. Lets a hot path (the scheduler's resume record) hash only what varies.
Hasher record_prefix(std::string_view category, std::string_view name, Phase phase, size_t field_count);

std::string value_text(const Value& v);  // strings unquoted; doubles shortest round-trip

// Where records go. Sinks see every record in order.
class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void write(const Record& r) = 0;
  // Called once when the run's owner closes the trace: the final hash and record count.
  virtual void close(uint64_t hash, uint64_t records) { (void)hash; (void)records; }
};

class Trace {
 public:
  void add_sink(std::shared_ptr<TraceSink> sink) { sinks_.push_back(std::move(sink)); }
  bool has_sinks() const { return !sinks_.empty(); }

  // Throws std::invalid_argument if two fields share a key (a trace file could not hold both).
  void record(Time t, uint32_t fiber, std::string_view fiber_name, std::string_view category,
              std::string_view name, Phase phase, std::span<const Field> fields);

  // The same as record() for a record without fields, given record_prefix(category, name, phase, 0).
  void record_prehashed(const Hasher& prefix, Time t, uint32_t fiber, std::string_view fiber_name,
                        std::string_view category, std::string_view name, Phase phase);

  // Running fingerprint of every record so far, and how many there were.
  uint64_t hash() const { return hash_; }
  uint64_t count() const { return count_; }

  // Closes every sink (writes footers, renames files into place). Idempotent. Later records (a
  // world being torn down) still move the hash but reach no sink.
  void close();

 private:
  std::vector<std::shared_ptr<TraceSink>> sinks_;
  uint64_t hash_ = 0x243F6A8885A308D3ull;
  uint64_t count_ = 0;
  bool closed_ = false;
};

// Keeps every record in memory (tests, the timeline printer, diffing two runs).
class MemorySink : public TraceSink {
 public:
  void write(const Record& r) override { records.push_back(r); }
  std::vector<Record> records;
};

// The first place two traces differ.
struct TraceDifference {
  uint64_t index = 0;                 // position of the first differing record
  std::optional<Record> left, right;  // absent when that trace ended earlier
};
std::optional<TraceDifference> first_difference(std::span<const Record> left, std::span<const Record> right);

// "     1m02.500s [3 client] http.request method=GET path=/" — one line per record: the time
// right-aligned in 14 columns, "[kernel]" or "[id name]", "begin "/"end " for spans, then
// category.name and key=value fields. A string value that is empty or holds a space, a control
// character, '"', '=' or '\\' is printed in double quotes with C-style escapes (\" \\ \n \t \r \xHH).
std::string format_record(const Record& r);

}  // namespace cfsim
