#include "sim/time.h"

#include <fmt/format.h>

#include <stdexcept>

namespace cfsim {

__extension__ typedef __int128 i128;  // exact intermediate arithmetic while parsing

std::string format_duration(Duration d) {
  std::string sign;
  uint64_t n;
  if (d.ns < 0) {
    sign = "-";
    n = static_cast<uint64_t>(-(d.ns + 1)) + 1;  // safe for INT64_MIN
  } else {
    n = static_cast<uint64_t>(d.ns);
  }
  const uint64_t sec_ns = 1000'000'000ull;
  uint64_t total_s = n / sec_ns;
  uint64_t frac_ns = n % sec_ns;
  uint64_t h = total_s / 3600, m = (total_s / 60) % 60, s = total_s % 60;
  std::string frac = frac_ns % 1000'000 == 0 ? fmt::format("{:03}", frac_ns / 1000'000)
                                             : fmt::format("{:09}", frac_ns);
  if (h > 0) return fmt::format("{}{}h{:02}m{:02}.{}s", sign, h, m, s, frac);
  if (m > 0) return fmt::format("{}{}m{:02}.{}s", sign, m, s, frac);
  return fmt::format("{}{}.{}s", sign, s, frac);
}

std::string format_time(Time t) { return format_duration(t.since_start()); }

namespace {

[[noreturn]] void bad_duration(std::string_view text, std::string_view why) {
  throw std::invalid_argument(fmt::format("invalid duration '{}': {}", text, why));
}

// Nanoseconds per unit, or 0 if the unit is unknown.
int64_t unit_ns(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us") return 1000;
  if (u == "ms") return 1000'000;
  if (u == "s") return 1000'000'000;
  if (u == "m" || u == "min") return 60'000'000'000;
  if (u == "h") return 3600'000'000'000;
  if (u == "d") return 86400'000'000'000;
  return 0;
}

}  // namespace

Duration parse_duration(std::string_view text) {
  if (text.empty()) bad_duration(text, "empty");
  size_t i = 0;
  i128 total = 0;
  bool any_unit = false;
  while (i < text.size()) {
    // Integer part.
    size_t start = i;
    i128 whole = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      whole = whole * 10 + (text[i] - '0');
      if (whole > INT64_MAX) bad_duration(text, "too large");
      ++i;
    }
    if (i == start) bad_duration(text, "expected a number (durations are never negative)");
    // Fraction, kept as an exact decimal: digits and their count.
    i128 frac = 0, frac_scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      size_t fstart = i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (frac_scale < 1000'000'000'000'000'000) {
          frac = frac * 10 + (text[i] - '0');
          frac_scale *= 10;
        }
        ++i;
      }
      if (i == fstart) bad_duration(text, "expected digits after '.'");
    }
    size_t ustart = i;
    while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z'))) ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    if (unit.empty()) {
      if (any_unit || frac_scale != 1 || i != text.size()) bad_duration(text, "missing unit");
      total += whole;  // a plain integer: nanoseconds
    } else {
      int64_t per = unit_ns(unit);
      if (per == 0) bad_duration(text, fmt::format("unknown unit '{}' (use ns, us, ms, s, m, min, h, d)", unit));
      total += whole * per + frac * per / frac_scale;
      any_unit = true;
    }
    if (total > INT64_MAX) bad_duration(text, "too large");
  }
  return Duration::nanos(static_cast<int64_t>(total));
}

}  // namespace cfsim
