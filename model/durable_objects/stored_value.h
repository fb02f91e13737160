#pragma once
// A value stored through the Durable Object KV API (ctx.storage.get/put/list).
//
// On the platform a value is anything the structured-clone algorithm can serialize, stored as its
// V8 serialization and handed back with the type it was written with (platform-facts §4.3). cfsim
// models the subset an application needs: null, bool, 64-bit integer, double, string, bytes,
// array, and map (string keys in byte order). Values are compared structurally; doubles compare
// by bit pattern, so NaN equals an identical NaN and 0.0 differs from -0.0 (structured clone keeps
// both apart too).
//
// encode() gives a deterministic binary form (the same value always gives the same bytes), and the
// storage size limits are measured on it. The platform measures the V8 serialization instead: a
// 2-byte header, a type tag and a varint length before a string or ArrayBuffer, so sizes differ
// from cfsim's by a few bytes (and by more for non-Latin-1 strings, which V8 stores as UTF-16 while
// cfsim stores UTF-8).
//
// Encoding (version 1), all integers little-endian:
//   value    := 0x01 (format version) item
//   item     := 0x00 null | 0x01 false | 0x02 true
//             | 0x03 zigzag-varint int64 | 0x04 8-byte IEEE-754 bits
//             | 0x05 varint length, UTF-8 bytes | 0x06 varint length, bytes
//             | 0x07 varint count, item* | 0x08 varint count, (varint length, key bytes, item)*
// Map keys appear in strictly increasing byte order, and varints are minimal, so every value has
// exactly one encoding; decode() rejects anything else (and nesting deeper than kMaxDepth).

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace cfsim {

// Malformed encoded bytes, or a value nested deeper than StoredValue::kMaxDepth.
class StoredValueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class StoredValue {
 public:
  using Bytes = std::vector<uint8_t>;
  using Array = std::vector<StoredValue>;
  using Map = std::map<std::string, StoredValue>;  // std::string orders by unsigned bytes

  enum class Type : uint8_t { null, boolean, int64, float64, string, bytes, array, map };

  // Deepest nesting of arrays/maps that encode() and decode() accept (a guard for fiber stacks).
  static constexpr int kMaxDepth = 128;

  StoredValue() = default;  // null
  StoredValue(std::nullptr_t) {}
  StoredValue(bool b) : v_(b) {}
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>)
  StoredValue(I i) : v_(to_int64(i)) {}
  StoredValue(double d) : v_(d) {}
  StoredValue(const char* s) : v_(std::string(s)) {}
  StoredValue(std::string s) : v_(std::move(s)) {}
  StoredValue(std::string_view s) : v_(std::string(s)) {}
  StoredValue(Bytes b) : v_(std::move(b)) {}
  StoredValue(Array a) : v_(std::move(a)) {}
  StoredValue(Map m) : v_(std::move(m)) {}

  static StoredValue bytes(std::string_view raw) { return StoredValue(Bytes(raw.begin(), raw.end())); }

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::null; }

  // Typed access; throws StoredValueError naming both types on a mismatch.
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  const Bytes& as_bytes() const;
  const Array& as_array() const;
  const Map& as_map() const;

  std::string encode() const;
  void encode_to(std::string& out) const;  // appends
  static StoredValue decode(std::string_view encoded);  // throws StoredValueError on malformed input

  friend bool operator==(const StoredValue& a, const StoredValue& b);

  // A short human-readable rendering for test failures and traces (not an encoding).
  std::string debug_string() const;

 private:
  template <class I>
  static int64_t to_int64(I i) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(int64_t)) {
      if (i > static_cast<uint64_t>(INT64_MAX))
        throw StoredValueError("StoredValue: unsigned integer " + std::to_string(i) + " exceeds the int64 maximum");
    }
    return static_cast<int64_t>(i);
  }

  std::variant<std::monostate, bool, int64_t, double, std::string, Bytes, Array, Map> v_;
};

const char* to_string(StoredValue::Type t);

}  // namespace cfsim
