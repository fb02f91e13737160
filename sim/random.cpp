#include "sim/random.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/hash.h"

namespace cfsim {

__extension__ typedef unsigned __int128 u128;

namespace {
constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Random::Random(uint64_t raw_seed) {
  SplitMix64 sm(raw_seed);
  for (auto& s : s_) s = sm.next();
}

Random::Random(uint64_t seed, std::string_view name) : Random(mix64(seed) ^ hash_string(name)) {}

uint64_t Random::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Random::below(uint64_t n) {
  if (n == 0) throw std::invalid_argument("Random::below: n must be > 0");
  // Lemire's nearly divisionless method: unbiased.
  u128 m = static_cast<u128>(next_u64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<u128>(next_u64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

int64_t Random::uniform_int(int64_t lo, int64_t hi) {
  if (lo > hi) throw std::invalid_argument(fmt::format("Random::uniform_int: lo {} > hi {}", lo, hi));
  uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == UINT64_MAX) return static_cast<int64_t>(next_u64());
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + below(span + 1));
}

bool Random::bernoulli(uint64_t numerator, uint64_t denominator) {
  if (denominator == 0 || numerator > denominator)
    throw std::invalid_argument(fmt::format("Random::bernoulli: bad probability {}/{}", numerator, denominator));
  if (numerator == 0) return false;
  if (numerator == denominator) return true;
  return below(denominator) < numerator;
}

double Random::unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Random::normal() {
  // Marsaglia polar method: rejection sampling in the unit disc, then one log and one sqrt.
  for (;;) {
    double u = 2.0 * unit() - 1.0;
    double v = 2.0 * unit() - 1.0;
    double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * det_log(s) / s);
  }
}

namespace {
Duration round_ns(double ns) {
  if (!(ns >= 0)) return Duration::zero();
  if (ns >= 9.0e18) return Duration::max();
  return Duration::nanos(static_cast<int64_t>(ns + 0.5));
}
}  // namespace

Duration Random::exponential(Duration mean) {
  if (mean.ns < 0)
    throw std::invalid_argument(fmt::format("Random::exponential: mean {} must be >= 0", format_duration(mean)));
  if (mean.ns == 0) return Duration::zero();
  double u = 1.0 - unit();  // (0, 1]
  return round_ns(-det_log(u) * static_cast<double>(mean.ns));
}

Duration Random::lognormal(Duration median, double sigma) {
  if (median.ns < 0 || !(sigma >= 0) || sigma == std::numeric_limits<double>::infinity())
    throw std::invalid_argument(fmt::format("Random::lognormal: median {} must be >= 0 and sigma {} finite and >= 0",
                                            format_duration(median), sigma));
  if (median.ns == 0) return Duration::zero();
  return round_ns(static_cast<double>(median.ns) * det_exp(sigma * normal()));
}

size_t Random::weighted_pick(std::span<const uint64_t> weights) {
  uint64_t total = 0;
  for (uint64_t w : weights) {
    if (total + w < total) throw std::invalid_argument("Random::weighted_pick: weights overflow");
    total += w;
  }
  if (total == 0) throw std::invalid_argument("Random::weighted_pick: total weight must be > 0");
  uint64_t r = below(total);
  for (size_t i = 0; i < weights.size(); ++i) {
    if (r < weights[i]) return i;
    r -= weights[i];
  }
  return weights.size() - 1;  // unreachable
}

// --- deterministic log and exp -------------------------------------------------------------
// Both reduce the argument exactly (scaling by powers of two is exact) and evaluate a series
// with a fixed number of terms, using only correctly rounded operations, so every IEEE-754
// machine computes the same bits. Accuracy is a few ulps, far more than latency models need.

namespace {
constexpr double kLn2 = 0.6931471805599453094172321214581766;
constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 0x3FE62E42FEE00000: low 21 bits zero
constexpr double kLn2Lo = 1.90821492927058770002e-10;  // ln2 - kLn2Hi
}

double det_log(double x) {
  if (!(x > 0)) throw std::invalid_argument(fmt::format("det_log: argument {} must be > 0", x));
  if (x == std::numeric_limits<double>::infinity()) return x;
  int e = 0;
  double m = std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1): exact
  if (m < 0.7071067811865476) {  // bring m into [sqrt(1/2), sqrt(2))
    m *= 2.0;
    --e;
  }
  // log(m) = 2 atanh(t), t = (m-1)/(m+1), |t| < 0.1716: the odd series converges fast.
  double t = (m - 1.0) / (m + 1.0);
  double t2 = t * t;
  double term = t, sum = 0.0;
  for (int k = 1; k <= 41; k += 2) {
    sum += term / k;
    term *= t2;
  }
  return 2.0 * sum + static_cast<double>(e) * kLn2;
}

double det_exp(double x) {
  if (x != x) return x;
  // Past these bounds exp(x) is above DBL_MAX, or below half the smallest subnormal.
  if (x > 709.782712893383973096) return std::numeric_limits<double>::infinity();
  if (x < -745.133219101941108420) return 0.0;
  // x = k ln2 + r, |r| <= ln2/2; exp(x) = 2^k exp(r). ln2 is split in two (Cody and Waite) so that
  // k * kLn2Hi is exact (kLn2Hi has 32 significant bits, |k| <= 1075): with a one-piece ln2 the
  // rounding of k * ln2 alone costs hundreds of ulps once |x| is in the hundreds.
  double kd = std::floor(x / kLn2 + 0.5);
  int k = static_cast<int>(kd);
  double r = (x - kd * kLn2Hi) - kd * kLn2Lo;
  // Taylor series for exp(r), |r| < 0.35: 20 terms is well past double precision.
  double term = 1.0, sum = 1.0;
  for (int n = 1; n <= 20; ++n) {
    term *= r / n;
    sum += term;
  }
  return std::ldexp(sum, k);  // exact, or one correct rounding into the subnormals
}

}  // namespace cfsim
