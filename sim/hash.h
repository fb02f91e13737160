#pragma once
// Stable 64-bit hashing for trace fingerprints and stream derivation. Defined here, byte by byte,
// so that the same input hashes to the same value on every build (std::hash promises no such thing).

#include <cstdint>
#include <cstring>
#include <string_view>

namespace cfsim {

// The SplitMix64 / MurmurHash3 finaliser: a bijective mix of 64 bits.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Up to 8 bytes as a little-endian integer (zero-padded), whatever the machine's byte order.
inline uint64_t load_le(const char* p, size_t n) {
  unsigned char b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(b, p, n);
  uint64_t w = 0;
  for (int k = 7; k >= 0; --k) w = (w << 8) | b[k];
  return w;
}

// Running hash: absorbs 64-bit words. Order-sensitive.
struct Hasher {
  uint64_t state = 0x6A09E667F3BCC908ull;

  void add(uint64_t word) { state = mix64(state ^ (word + 0x9E3779B97F4A7C15ull)) * 3 + 1; }
  void add_signed(int64_t v) { add(static_cast<uint64_t>(v)); }
  // Bytes are read little-endian, eight at a time; the length goes in first so that "ab"+"c" and
  // "a"+"bc" differ.
  void add_bytes(std::string_view s) {
    add(s.size());
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) add(load_le(s.data() + i, 8));
    if (i < s.size()) add(load_le(s.data() + i, s.size() - i));
  }
  uint64_t value() const { return mix64(state); }
};

inline uint64_t hash_string(std::string_view s) {
  Hasher h;
  h.add_bytes(s);
  return h.value();
}

}  // namespace cfsim
