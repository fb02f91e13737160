#pragma once
// Seeded randomness. One root seed per run; each component draws from its own named stream,
// derived from (root seed, stream name), so adding a component does not shift anyone else's draws.
// The generator (xoshiro256**) and every distribution are cfsim's own code: the standard library's
// distributions differ between implementations, and a run must replay on every machine.

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/time.h"

namespace cfsim {

// SplitMix64, exactly as bench-workloads.md defines it. Used to seed streams and by benchmarks.
struct SplitMix64 {
  uint64_t state;
  explicit constexpr SplitMix64(uint64_t seed) : state(seed) {}
  constexpr uint64_t next() {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

// A latency (or any duration) distribution: lognormal with this median and shape sigma, the form
// of every latency table in the facts (r2-fuse-facts §16.2: mean = median * e^(sigma^2/2),
// p99 = median * e^(2.326 sigma)). sigma 0 is exactly the median, for tests of exact times.
// Every seam's latency options use this one type.
struct Lognormal {
  Duration median;
  double sigma = 0.0;
  bool operator==(const Lognormal&) const = default;
};

class Random {
 public:
  // The stream named `name` under root seed `seed`.
  Random(uint64_t seed, std::string_view name);
  // A stream seeded directly (tests, derived generators).
  explicit Random(uint64_t raw_seed);

  uint64_t next_u64();

  // Uniform integer in [lo, hi], both inclusive, unbiased. Requires lo <= hi.
  int64_t uniform_int(int64_t lo, int64_t hi);
  // Uniform in [0, n). Requires n > 0.
  uint64_t below(uint64_t n);
  // True with probability numerator/denominator exactly. Requires 0 <= numerator <= denominator, denominator > 0.
  bool bernoulli(uint64_t numerator, uint64_t denominator);
  // Uniform double in [0, 1) with 53 random bits.
  double unit();
  // Exponential with the given mean, in nanoseconds, rounded to whole ns. Requires mean >= 0.
  Duration exponential(Duration mean);
  // Lognormal with the given median and shape sigma (the facts' latency tables use this form),
  // rounded to whole ns. Requires median >= 0 and a finite sigma >= 0.
  Duration lognormal(Duration median, double sigma);
  Duration lognormal(const Lognormal& d) { return lognormal(d.median, d.sigma); }
  // Standard normal sample (Marsaglia's polar method, cfsim's own log and sqrt).
  double normal();
  // Index into `weights` with probability proportional to the weight. Requires a positive total.
  size_t weighted_pick(std::span<const uint64_t> weights);

  template <class T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  uint64_t s_[4];
};

// Deterministic elementary functions built only from IEEE-754 + - * / and sqrt, which are
// correctly rounded everywhere (libm's log and exp are not guaranteed to agree across versions).
double det_log(double x);  // x > 0
double det_exp(double x);

}  // namespace cfsim
