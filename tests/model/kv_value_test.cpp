// Unit and property tests for model/kv_value.h: every type round-trips, the encoding is exact and
// canonical (one encoding per value; decode rejects everything else), equality is structural with
// doubles compared by bits, map keys sort by bytes, and malformed input never crashes.

#include "model/kv_value.h"

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

KvValue round_trip(const KvValue& v) { return KvValue::decode(v.encode()); }

TEST(KvValue, EveryTypeRoundTrips) {
  std::vector<KvValue> values = {
      KvValue(), KvValue(nullptr), KvValue(true), KvValue(false),
      KvValue(0), KvValue(-1), KvValue(std::numeric_limits<int64_t>::min()), KvValue(std::numeric_limits<int64_t>::max()),
      KvValue(1.5), KvValue(-0.0), KvValue(std::numeric_limits<double>::infinity()),
      KvValue(std::numeric_limits<double>::quiet_NaN()), KvValue(""), KvValue("h\xC3\xA9llo \xF0\x9F\x98\x80"),
      KvValue(std::string("nul\0inside", 10)), KvValue::bytes(""), KvValue(KvValue::Array{}), KvValue(KvValue::Map{}),
      KvValue(KvValue::Array{KvValue(1), KvValue("two"), KvValue(KvValue::Array{KvValue(3.0), KvValue()})}),
      KvValue(KvValue::Map{{"z", KvValue(1)}, {"a", KvValue(KvValue::Map{{"x", KvValue(true)}})}}),
  };
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  values.push_back(KvValue::bytes(all_bytes));
  for (const auto& v : values) {
    KvValue back = round_trip(v);
    EXPECT_EQ(back, v) << v.debug_string();
    EXPECT_EQ(back.type(), v.type());
  }
  EXPECT_EQ(round_trip(KvValue::bytes(all_bytes)).as_bytes().size(), 256u);
  EXPECT_EQ(round_trip(KvValue(std::string("nul\0inside", 10))).as_string().size(), 10u);
}

TEST(KvValue, EncodingIsExact) {
  // version byte 0x01, then tag and payload (see kv_value.h).
  EXPECT_EQ(hex(KvValue().encode()), "0100");
  EXPECT_EQ(hex(KvValue(false).encode()), "0101");
  EXPECT_EQ(hex(KvValue(true).encode()), "0102");
  EXPECT_EQ(hex(KvValue(1).encode()), "010302");     // zigzag(1) = 2
  EXPECT_EQ(hex(KvValue(-1).encode()), "010301");    // zigzag(-1) = 1
  EXPECT_EQ(hex(KvValue(64).encode()), "01038001");  // zigzag 128 = varint 80 01
  EXPECT_EQ(hex(KvValue(1.0).encode()), "0104000000000000f03f");
  EXPECT_EQ(hex(KvValue("ab").encode()), "0105026162");
  EXPECT_EQ(hex(KvValue::bytes("\xff").encode()), "010601ff");
  EXPECT_EQ(hex(KvValue(KvValue::Array{KvValue(), KvValue(true)}).encode()), "0107020002");
  // Map entries in byte order whatever the insertion order.
  KvValue m(KvValue::Map{{"b", KvValue(1)}, {"a", KvValue(2)}});
  EXPECT_EQ(hex(m.encode()), "010802" "016103" "04" "016203" "02");
}

TEST(KvValue, EqualityIsStructuralAndDoublesCompareByBits) {
  EXPECT_EQ(KvValue(std::nan("")), KvValue(std::nan("")));
  EXPECT_NE(KvValue(0.0), KvValue(-0.0));
  EXPECT_NE(KvValue(1), KvValue(1.0));  // int64 and double are different types, as written
  EXPECT_NE(KvValue("a"), KvValue::bytes("a"));
  EXPECT_NE(KvValue(KvValue::Array{KvValue(1)}), KvValue(KvValue::Array{KvValue(2)}));
  EXPECT_EQ(KvValue(KvValue::Map{{"k", KvValue(KvValue::Array{KvValue(0.5)})}}),
            KvValue(KvValue::Map{{"k", KvValue(KvValue::Array{KvValue(0.5)})}}));
  EXPECT_NE(KvValue(KvValue::Map{{"k", KvValue(1)}}), KvValue(KvValue::Map{{"j", KvValue(1)}}));
}

TEST(KvValue, MapKeysIterateInUtf8ByteOrder) {
  // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8 bytes, but after it in UTF-16
  // code units (FF21 > D83D): byte order is the one the platform uses (platform-facts §4.3).
  KvValue::Map m{{"\xF0\x9F\x98\x80", KvValue(1)}, {"z", KvValue(2)}, {"\xEF\xBC\xA1", KvValue(3)},
                 {"\xC3\xA9", KvValue(4)}, {"a", KvValue(5)}, {"b", KvValue(6)}};
  KvValue value(m);
  std::vector<std::string> keys;
  for (const auto& [k, v] : value.as_map()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "z", "\xC3\xA9", "\xEF\xBC\xA1", "\xF0\x9F\x98\x80"}));
}

TEST(KvValue, TypedAccessorsRejectTheWrongType) {
  EXPECT_EQ(KvValue(7).as_int(), 7);
  try {
    (void)KvValue("text").as_int();
    FAIL() << "expected KvValueError";
  } catch (const KvValueError& e) {
    EXPECT_STREQ(e.what(), "KvValue::as_int: value is string, not int64");
  }
  EXPECT_THROW((void)KvValue().as_bool(), KvValueError);
  EXPECT_THROW((void)KvValue(1).as_map(), KvValueError);
  EXPECT_THROW(KvValue(static_cast<uint64_t>(INT64_MAX) + 1), KvValueError);
  EXPECT_EQ(KvValue(static_cast<uint64_t>(INT64_MAX)).as_int(), INT64_MAX);
}

TEST(KvValue, DecodeRejectsMalformedBytes) {
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
      KvValue::decode(bytes);
      ADD_FAILURE() << "decoded malformed " << hex(bytes);
    } catch (const KvValueError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << hex(bytes) << ": " << e.what();
    }
  }
}

TEST(KvValue, NestingDepthIsBounded) {
  KvValue v;
  for (int i = 0; i < KvValue::kMaxDepth; ++i) v = KvValue(KvValue::Array{v});
  EXPECT_EQ(round_trip(v), v);  // exactly kMaxDepth levels of arrays: fine
  KvValue deeper(KvValue::Array{v});
  EXPECT_THROW(deeper.encode(), KvValueError);
  // A hand-made encoding one level too deep is rejected by decode too.
  std::string enc = "\x01";
  for (int i = 0; i <= KvValue::kMaxDepth; ++i) enc += "\x07\x01";
  enc += '\0';
  EXPECT_THROW(KvValue::decode(enc), KvValueError);
}

// --- properties ------------------------------------------------------------------------------

rc::Gen<KvValue> gen_value(int depth) {
  std::vector<rc::Gen<KvValue>> leaves = {
      rc::gen::just(KvValue()),
      rc::gen::map(rc::gen::arbitrary<bool>(), [](bool b) { return KvValue(b); }),
      rc::gen::map(rc::gen::arbitrary<int64_t>(), [](int64_t i) { return KvValue(i); }),
      rc::gen::map(rc::gen::arbitrary<uint64_t>(), [](uint64_t bits) { return KvValue(std::bit_cast<double>(bits)); }),
      rc::gen::map(rc::gen::arbitrary<std::string>(), [](std::string s) { return KvValue(std::move(s)); }),
      rc::gen::map(rc::gen::arbitrary<std::vector<uint8_t>>(), [](std::vector<uint8_t> b) { return KvValue(std::move(b)); }),
  };
  if (depth >= 3) return rc::gen::oneOf(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5]);
  auto array = rc::gen::map(rc::gen::container<std::vector<KvValue>>(rc::gen::lazy([depth] { return gen_value(depth + 1); })),
                            [](std::vector<KvValue> a) { return KvValue(std::move(a)); });
  auto map = rc::gen::map(
      rc::gen::container<std::map<std::string, KvValue>>(rc::gen::arbitrary<std::string>(),
                                                         rc::gen::lazy([depth] { return gen_value(depth + 1); })),
      [](std::map<std::string, KvValue> m) { return KvValue(std::move(m)); });
  return rc::gen::oneOf(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], array, map);
}

RC_GTEST_PROP(KvValueProperty, DecodeOfEncodeIsIdentity, ()) {
  KvValue v = *gen_value(0);
  std::string enc = v.encode();
  KvValue back = KvValue::decode(enc);
  RC_ASSERT(back == v);
  RC_ASSERT(back.encode() == enc);  // canonical: the same bytes again
}

RC_GTEST_PROP(KvValueProperty, RandomBytesDecodeCanonicallyOrThrow, (std::string tail)) {
  // Most random inputs are malformed; the ones that decode must be the one encoding of their value.
  std::string bytes = "\x01" + tail;
  try {
    KvValue v = KvValue::decode(bytes);
    RC_ASSERT(v.encode() == bytes);
  } catch (const KvValueError&) {
    RC_SUCCEED("rejected");
  }
}

}  // namespace
