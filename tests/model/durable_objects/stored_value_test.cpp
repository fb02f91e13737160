// Unit and property tests for model/stored_value.h: every type round-trips, the encoding is exact and
// canonical (one encoding per value; decode rejects everything else), equality is structural with
// doubles compared by bits, map keys sort by bytes, and malformed input never crashes.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §4.3 (keys ordered by UTF-8 bytes): /durable-objects/api/storage-api/ (D3)

#include "model/durable_objects/stored_value.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace cfsim;

namespace {

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

StoredValue round_trip(const StoredValue& v) { return StoredValue::decode(v.encode()); }

TEST(StoredValue, EveryTypeRoundTrips) {
  std::vector<StoredValue> values = {
      StoredValue(), StoredValue(nullptr), StoredValue(true), StoredValue(false),
      StoredValue(0), StoredValue(-1), StoredValue(std::numeric_limits<int64_t>::min()), StoredValue(std::numeric_limits<int64_t>::max()),
      StoredValue(1.5), StoredValue(-0.0), StoredValue(std::numeric_limits<double>::infinity()),
      StoredValue(std::numeric_limits<double>::quiet_NaN()), StoredValue(""), StoredValue("h\xC3\xA9llo \xF0\x9F\x98\x80"),
      StoredValue(std::string("nul\0inside", 10)), StoredValue::bytes(""), StoredValue(StoredValue::Array{}), StoredValue(StoredValue::Map{}),
      StoredValue(StoredValue::Array{StoredValue(1), StoredValue("two"), StoredValue(StoredValue::Array{StoredValue(3.0), StoredValue()})}),
      StoredValue(StoredValue::Map{{"z", StoredValue(1)}, {"a", StoredValue(StoredValue::Map{{"x", StoredValue(true)}})}}),
  };
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  values.push_back(StoredValue::bytes(all_bytes));
  for (const auto& v : values) {
    StoredValue back = round_trip(v);
    EXPECT_EQ(back, v) << v.debug_string();
    EXPECT_EQ(back.type(), v.type());
  }
  EXPECT_EQ(round_trip(StoredValue::bytes(all_bytes)).as_bytes().size(), 256u);
  EXPECT_EQ(round_trip(StoredValue(std::string("nul\0inside", 10))).as_string().size(), 10u);
}

TEST(StoredValue, EncodingIsExact) {
  // version byte 0x01, then tag and payload (see stored_value.h).
  EXPECT_EQ(hex(StoredValue().encode()), "0100");
  EXPECT_EQ(hex(StoredValue(false).encode()), "0101");
  EXPECT_EQ(hex(StoredValue(true).encode()), "0102");
  EXPECT_EQ(hex(StoredValue(1).encode()), "010302");     // zigzag(1) = 2
  EXPECT_EQ(hex(StoredValue(-1).encode()), "010301");    // zigzag(-1) = 1
  EXPECT_EQ(hex(StoredValue(64).encode()), "01038001");  // zigzag 128 = varint 80 01
  EXPECT_EQ(hex(StoredValue(1.0).encode()), "0104000000000000f03f");
  EXPECT_EQ(hex(StoredValue("ab").encode()), "0105026162");
  EXPECT_EQ(hex(StoredValue::bytes("\xff").encode()), "010601ff");
  EXPECT_EQ(hex(StoredValue(StoredValue::Array{StoredValue(), StoredValue(true)}).encode()), "0107020002");
  // Map entries in byte order whatever the insertion order.
  StoredValue m(StoredValue::Map{{"b", StoredValue(1)}, {"a", StoredValue(2)}});
  EXPECT_EQ(hex(m.encode()), "010802" "016103" "04" "016203" "02");
}

TEST(StoredValue, EqualityIsStructuralAndDoublesCompareByBits) {
  EXPECT_EQ(StoredValue(std::nan("")), StoredValue(std::nan("")));
  EXPECT_NE(StoredValue(0.0), StoredValue(-0.0));
  EXPECT_NE(StoredValue(1), StoredValue(1.0));  // int64 and double are different types, as written
  EXPECT_NE(StoredValue("a"), StoredValue::bytes("a"));
  EXPECT_NE(StoredValue(StoredValue::Array{StoredValue(1)}), StoredValue(StoredValue::Array{StoredValue(2)}));
  EXPECT_EQ(StoredValue(StoredValue::Map{{"k", StoredValue(StoredValue::Array{StoredValue(0.5)})}}),
            StoredValue(StoredValue::Map{{"k", StoredValue(StoredValue::Array{StoredValue(0.5)})}}));
  EXPECT_NE(StoredValue(StoredValue::Map{{"k", StoredValue(1)}}), StoredValue(StoredValue::Map{{"j", StoredValue(1)}}));
}

TEST(StoredValue, MapKeysIterateInUtf8ByteOrder) {
  // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8 bytes, but after it in UTF-16
  // code units (FF21 > D83D): byte order is the one the platform uses (platform-facts §4.3).
  StoredValue::Map m{{"\xF0\x9F\x98\x80", StoredValue(1)}, {"z", StoredValue(2)}, {"\xEF\xBC\xA1", StoredValue(3)},
                 {"\xC3\xA9", StoredValue(4)}, {"a", StoredValue(5)}, {"b", StoredValue(6)}};
  StoredValue value(m);
  std::vector<std::string> keys;
  for (const auto& [k, v] : value.as_map()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "z", "\xC3\xA9", "\xEF\xBC\xA1", "\xF0\x9F\x98\x80"}));
}

TEST(StoredValue, TypedAccessorsRejectTheWrongType) {
  EXPECT_EQ(StoredValue(7).as_int(), 7);
  try {
    (void)StoredValue("text").as_int();
    FAIL() << "expected StoredValueError";
  } catch (const StoredValueError& e) {
    EXPECT_STREQ(e.what(), "StoredValue::as_int: value is string, not int64");
  }
  EXPECT_THROW((void)StoredValue().as_bool(), StoredValueError);
  EXPECT_THROW((void)StoredValue(1).as_map(), StoredValueError);
  EXPECT_THROW(StoredValue(static_cast<uint64_t>(INT64_MAX) + 1), StoredValueError);
  EXPECT_EQ(StoredValue(static_cast<uint64_t>(INT64_MAX)).as_int(), INT64_MAX);
}

TEST(StoredValue, DecodeRejectsMalformedBytes) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "unexpected end of input"},
      {std::string("\x02\x00", 2), "unknown format version 2"},
      {"\x01", "unexpected end of input"},
      {"\x01\x09", "unknown type tag 9"},
      {std::string("\x01\x00\x00", 3), "1 trailing bytes"},
      {"\x01\x03\x80", "unexpected end of input"},
      {std::string("\x01\x03\x80\x00", 4), "non-minimal varint"},
      {"\x01\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "varint overflows 64 bits"},
      {"\x01\x04\x00\x00", "runs past the end"},
      {"\x01\x05\x05" "ab", "runs past the end"},
      {"\x01\x07\x7f", "element count 127 exceeds the remaining input"},
      {std::string("\x01\x08\x02\x01" "b\x00\x01" "a\x00", 10), "map keys out of byte order"},
      {std::string("\x01\x08\x02\x01" "a\x00\x01" "a\x00", 10), "map keys out of byte order or repeated"},
  };
  for (const auto& [bytes, what] : bad) {
    try {
      StoredValue::decode(bytes);
      ADD_FAILURE() << "decoded malformed " << hex(bytes);
    } catch (const StoredValueError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << hex(bytes) << ": " << e.what();
    }
  }
}

TEST(StoredValue, NestingDepthIsBounded) {
  StoredValue v;
  for (int i = 0; i < StoredValue::kMaxDepth; ++i) v = StoredValue(StoredValue::Array{v});
  EXPECT_EQ(round_trip(v), v);  // exactly kMaxDepth levels of arrays: fine
  StoredValue deeper(StoredValue::Array{v});
  EXPECT_THROW(deeper.encode(), StoredValueError);
  // A hand-made encoding one level too deep is rejected by decode too.
  std::string enc = "\x01";
  for (int i = 0; i <= StoredValue::kMaxDepth; ++i) enc += "\x07\x01";
  enc += '\0';
  EXPECT_THROW(StoredValue::decode(enc), StoredValueError);
}

// --- properties ------------------------------------------------------------------------------

rc::Gen<StoredValue> gen_value(int depth) {
  std::vector<rc::Gen<StoredValue>> leaves = {
      rc::gen::just(StoredValue()),
      rc::gen::map(rc::gen::arbitrary<bool>(), [](bool b) { return StoredValue(b); }),
      rc::gen::map(rc::gen::arbitrary<int64_t>(), [](int64_t i) { return StoredValue(i); }),
      rc::gen::map(rc::gen::arbitrary<uint64_t>(), [](uint64_t bits) { return StoredValue(std::bit_cast<double>(bits)); }),
      rc::gen::map(rc::gen::arbitrary<std::string>(), [](std::string s) { return StoredValue(std::move(s)); }),
      rc::gen::map(rc::gen::arbitrary<std::vector<uint8_t>>(), [](std::vector<uint8_t> b) { return StoredValue(std::move(b)); }),
  };
  if (depth >= 3) return rc::gen::oneOf(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5]);
  auto array = rc::gen::map(rc::gen::container<std::vector<StoredValue>>(rc::gen::lazy([depth] { return gen_value(depth + 1); })),
                            [](std::vector<StoredValue> a) { return StoredValue(std::move(a)); });
  auto map = rc::gen::map(
      rc::gen::container<std::map<std::string, StoredValue>>(rc::gen::arbitrary<std::string>(),
                                                         rc::gen::lazy([depth] { return gen_value(depth + 1); })),
      [](std::map<std::string, StoredValue> m) { return StoredValue(std::move(m)); });
  return rc::gen::oneOf(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], array, map);
}

RC_GTEST_PROP(StoredValueProperty, DecodeOfEncodeIsIdentity, ()) {
  StoredValue v = *gen_value(0);
  std::string enc = v.encode();
  StoredValue back = StoredValue::decode(enc);
  RC_ASSERT(back == v);
  RC_ASSERT(back.encode() == enc);  // canonical: the same bytes again
}

RC_GTEST_PROP(StoredValueProperty, RandomBytesDecodeCanonicallyOrThrow, (std::string tail)) {
  // Most random inputs are malformed; the ones that decode must be the one encoding of their value.
  std::string bytes = "\x01" + tail;
  try {
    StoredValue v = StoredValue::decode(bytes);
    RC_ASSERT(v.encode() == bytes);
  } catch (const StoredValueError&) {
    RC_SUCCEED("rejected");
  }
}

}  // namespace
