#include "model/durable_objects/stored_value.h"

#include <bit>
#include <cstring>

namespace cfsim {

namespace {

constexpr uint8_t kFormatVersion = 0x01;

enum Tag : uint8_t {
  kNull = 0x00,
  kFalse = 0x01,
  kTrue = 0x02,
  kInt = 0x03,
  kDouble = 0x04,
  kString = 0x05,
  kBytes = 0x06,
  kArray = 0x07,
  kMap = 0x08,
};

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(v) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void encode_item(const StoredValue& v, std::string& out, int depth) {
  if (depth > StoredValue::kMaxDepth)
    throw StoredValueError("StoredValue: nesting deeper than " + std::to_string(StoredValue::kMaxDepth) +
                       " levels cannot be encoded");
  switch (v.type()) {
    case StoredValue::Type::null: out.push_back(kNull); return;
    case StoredValue::Type::boolean: out.push_back(v.as_bool() ? kTrue : kFalse); return;
    case StoredValue::Type::int64:
      out.push_back(kInt);
      put_varint(out, zigzag(v.as_int()));
      return;
    case StoredValue::Type::float64: {
      out.push_back(kDouble);
      uint64_t bits = std::bit_cast<uint64_t>(v.as_double());
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(bits >> (8 * i)));
      return;
    }
    case StoredValue::Type::string:
      out.push_back(kString);
      put_varint(out, v.as_string().size());
      out.append(v.as_string());
      return;
    case StoredValue::Type::bytes: {
      const auto& b = v.as_bytes();
      out.push_back(kBytes);
      put_varint(out, b.size());
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
      return;
    }
    case StoredValue::Type::array:
      out.push_back(kArray);
      put_varint(out, v.as_array().size());
      for (const auto& e : v.as_array()) encode_item(e, out, depth + 1);
      return;
    case StoredValue::Type::map:
      out.push_back(kMap);
      put_varint(out, v.as_map().size());
      for (const auto& [k, e] : v.as_map()) {
        put_varint(out, k.size());
        out.append(k);
        encode_item(e, out, depth + 1);
      }
      return;
  }
}

// Reads one encoded value; every read is bounds-checked and every error names the offset.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}

  StoredValue value() {
    uint8_t version = byte();
    if (version != kFormatVersion)
      fail("unknown format version " + std::to_string(version) + " (expected 1)");
    StoredValue v = item(0);
    if (pos_ != in_.size()) fail(std::to_string(in_.size() - pos_) + " trailing bytes after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw StoredValueError("StoredValue::decode: " + what + " at byte " + std::to_string(pos_) + " of " +
                       std::to_string(in_.size()));
  }

  uint8_t byte() {
    if (pos_ >= in_.size()) fail("unexpected end of input");
    return static_cast<uint8_t>(in_[pos_++]);
  }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = byte();
      if (shift == 63 && b > 1) fail("varint overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) {
        if (b == 0 && shift > 0) fail("non-minimal varint");
        return v;
      }
    }
    fail("varint longer than 10 bytes");
  }

  std::string_view take(uint64_t n) {
    if (n > in_.size() - pos_) fail("length " + std::to_string(n) + " runs past the end of input");
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  // A count of elements, each of which takes at least one byte: rejects absurd counts before
  // anything is allocated for them.
  uint64_t count() {
    uint64_t n = varint();
    if (n > in_.size() - pos_) fail("element count " + std::to_string(n) + " exceeds the remaining input");
    return n;
  }

  StoredValue item(int depth) {
    if (depth > StoredValue::kMaxDepth)
      fail("nesting deeper than " + std::to_string(StoredValue::kMaxDepth) + " levels");
    uint8_t tag = byte();
    switch (tag) {
      case kNull: return StoredValue();
      case kFalse: return StoredValue(false);
      case kTrue: return StoredValue(true);
      case kInt: return StoredValue(unzigzag(varint()));
      case kDouble: {
        std::string_view b = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
        return StoredValue(std::bit_cast<double>(bits));
      }
      case kString: return StoredValue(std::string(take(varint())));
      case kBytes: {
        std::string_view b = take(varint());
        return StoredValue(StoredValue::Bytes(b.begin(), b.end()));
      }
      case kArray: {
        uint64_t n = count();
        StoredValue::Array a;
        a.reserve(n);
        for (uint64_t i = 0; i < n; ++i) a.push_back(item(depth + 1));
        return StoredValue(std::move(a));
      }
      case kMap: {
        uint64_t n = count();
        StoredValue::Map m;
        std::string prev;
        for (uint64_t i = 0; i < n; ++i) {
          std::string key(take(varint()));
          if (i > 0 && !(prev < key)) fail("map keys out of byte order or repeated");
          StoredValue e = item(depth + 1);
          m.emplace_hint(m.end(), key, std::move(e));
          prev = std::move(key);
        }
        return StoredValue(std::move(m));
      }
      default:
        --pos_;
        fail("unknown type tag " + std::to_string(tag));
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

void debug_item(const StoredValue& v, std::string& out) {
  switch (v.type()) {
    case StoredValue::Type::null: out += "null"; return;
    case StoredValue::Type::boolean: out += v.as_bool() ? "true" : "false"; return;
    case StoredValue::Type::int64: out += std::to_string(v.as_int()); return;
    case StoredValue::Type::float64: out += std::to_string(v.as_double()); return;
    case StoredValue::Type::string:
      out += '"';
      out += v.as_string().size() > 64 ? v.as_string().substr(0, 64) + "..." : v.as_string();
      out += '"';
      return;
    case StoredValue::Type::bytes: out += "bytes[" + std::to_string(v.as_bytes().size()) + "]"; return;
    case StoredValue::Type::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out += ", ";
        first = false;
        debug_item(e, out);
      }
      out += ']';
      return;
    }
    case StoredValue::Type::map: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.as_map()) {
        if (!first) out += ", ";
        first = false;
        out += '"' + k + "\": ";
        debug_item(e, out);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

const char* to_string(StoredValue::Type t) {
  switch (t) {
    case StoredValue::Type::null: return "null";
    case StoredValue::Type::boolean: return "bool";
    case StoredValue::Type::int64: return "int64";
    case StoredValue::Type::float64: return "double";
    case StoredValue::Type::string: return "string";
    case StoredValue::Type::bytes: return "bytes";
    case StoredValue::Type::array: return "array";
    case StoredValue::Type::map: return "map";
  }
  return "?";
}

#define CFSIM_KV_ACCESS(method, T, type_enum, ret)                                               \
  ret StoredValue::method() const {                                                                \
    if (const T* p = std::get_if<T>(&v_)) return *p;                                           \
    throw StoredValueError(std::string("StoredValue::" #method ": value is ") + to_string(type()) +    \
                       ", not " + to_string(Type::type_enum));                                 \
  }
CFSIM_KV_ACCESS(as_bool, bool, boolean, bool)
CFSIM_KV_ACCESS(as_int, int64_t, int64, int64_t)
CFSIM_KV_ACCESS(as_double, double, float64, double)
CFSIM_KV_ACCESS(as_string, std::string, string, const std::string&)
CFSIM_KV_ACCESS(as_bytes, Bytes, bytes, const StoredValue::Bytes&)
CFSIM_KV_ACCESS(as_array, Array, array, const StoredValue::Array&)
CFSIM_KV_ACCESS(as_map, Map, map, const StoredValue::Map&)
#undef CFSIM_KV_ACCESS

std::string StoredValue::encode() const {
  std::string out;
  encode_to(out);
  return out;
}

void StoredValue::encode_to(std::string& out) const {
  out.push_back(static_cast<char>(kFormatVersion));
  encode_item(*this, out, 0);
}

StoredValue StoredValue::decode(std::string_view encoded) { return Decoder(encoded).value(); }

bool operator==(const StoredValue& a, const StoredValue& b) {
  if (a.v_.index() != b.v_.index()) return false;
  if (a.type() == StoredValue::Type::float64)
    return std::bit_cast<uint64_t>(std::get<double>(a.v_)) == std::bit_cast<uint64_t>(std::get<double>(b.v_));
  if (a.type() == StoredValue::Type::array) return std::get<StoredValue::Array>(a.v_) == std::get<StoredValue::Array>(b.v_);
  if (a.type() == StoredValue::Type::map) return std::get<StoredValue::Map>(a.v_) == std::get<StoredValue::Map>(b.v_);
  return a.v_ == b.v_;
}

std::string StoredValue::debug_string() const {
  std::string out;
  debug_item(*this, out);
  return out;
}

}  // namespace cfsim
