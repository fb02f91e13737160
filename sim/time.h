#pragma once
// Virtual time. A Duration is a signed count of nanoseconds; a Time is a count of nanoseconds since
// the world began (never negative). Nothing in cfsim reads a real clock: time only advances when
// the scheduler jumps to the next event.
//
// Durations convert implicitly from std::chrono durations, so the standard literals work:
//   using namespace std::chrono_literals;  sim.sleep_for(300ms);  opts.sleep_after = 10min;
// (std::chrono durations are plain numbers; no clock is read.)

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace cfsim {

struct Duration {
  int64_t ns = 0;

  constexpr Duration() = default;
  template <class Rep, class Period>
  constexpr Duration(std::chrono::duration<Rep, Period> d)  // NOLINT: implicit by design
      : ns(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) {}

  static constexpr Duration nanos(int64_t n) { Duration d; d.ns = n; return d; }
  static constexpr Duration micros(int64_t n) { return nanos(n * 1000); }
  static constexpr Duration millis(int64_t n) { return nanos(n * 1000'000); }
  static constexpr Duration seconds(int64_t n) { return nanos(n * 1000'000'000); }
  static constexpr Duration zero() { return {}; }
  static constexpr Duration max() { return nanos(INT64_MAX); }

  constexpr auto operator<=>(const Duration&) const = default;
  constexpr Duration operator+(Duration o) const { return nanos(ns + o.ns); }
  constexpr Duration operator-(Duration o) const { return nanos(ns - o.ns); }
  constexpr Duration operator-() const { return nanos(-ns); }
  constexpr Duration operator*(int64_t k) const { return nanos(ns * k); }
  constexpr Duration operator/(int64_t k) const { return nanos(ns / k); }
  constexpr int64_t operator/(Duration o) const { return ns / o.ns; }
  constexpr Duration operator%(Duration o) const { return nanos(ns % o.ns); }
  constexpr Duration& operator+=(Duration o) { ns += o.ns; return *this; }
  constexpr Duration& operator-=(Duration o) { ns -= o.ns; return *this; }

  // This duration x percent / 100, rounded down, saturating at max() (a knob's latency multiplier).
  // percent >= 0; a negative duration stays as it is.
  constexpr Duration scaled_percent(int64_t percent) const {
    if (ns <= 0 || percent == 100) return *this;
    __extension__ typedef __int128 wide;
    const wide v = static_cast<wide>(ns) * (percent < 0 ? 0 : percent) / 100;
    return v > INT64_MAX ? max() : nanos(static_cast<int64_t>(v));
  }

  constexpr double seconds_f() const { return static_cast<double>(ns) / 1e9; }
  constexpr int64_t micros_count() const { return ns / 1000; }
  constexpr int64_t millis_count() const { return ns / 1000'000; }
};

struct Time {
  int64_t ns = 0;  // since the world began

  static constexpr Time from_ns(int64_t n) { Time t; t.ns = n; return t; }
  static constexpr Time zero() { return {}; }
  static constexpr Time max() { return from_ns(INT64_MAX); }

  constexpr auto operator<=>(const Time&) const = default;
  constexpr Time operator+(Duration d) const { return from_ns(ns + d.ns); }
  constexpr Time operator-(Duration d) const { return from_ns(ns - d.ns); }
  constexpr Duration operator-(Time o) const { return Duration::nanos(ns - o.ns); }
  constexpr Time& operator+=(Duration d) { ns += d.ns; return *this; }
  constexpr Duration since_start() const { return Duration::nanos(ns); }
};

// "1h02m03.004s", "2m03.000s", "3.004s"; sub-millisecond parts print all nine digits
// ("1.000000001s", "0.000250000s"). Negative durations get a leading '-'.
std::string format_duration(Duration d);
// A Time printed as its offset from the start of the world, same format.
std::string format_time(Time t);

// Parses "300ms", "10min", "1h30m", "2.5s", "90s", "1h02m03.004s", "250us", "7ns", or a plain
// integer (nanoseconds). Units: ns, us, ms, s, m/min, h, d. Throws std::invalid_argument naming
// the input on anything else, including negative values and overflow.
Duration parse_duration(std::string_view text);

}  // namespace cfsim
