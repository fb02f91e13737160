// Unit tests for sim/time.h: Duration/Time arithmetic, chrono conversion, format_duration and
// parse_duration (every unit, every error), and the parse(format(d)) == d round trip.

#include "sim/time.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

using namespace cfsim;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(TimeDuration, FactoriesAndAccessors) {
  EXPECT_EQ(Duration::nanos(7).ns, 7);
  EXPECT_EQ(Duration::micros(250).ns, 250'000);
  EXPECT_EQ(Duration::millis(300).ns, 300'000'000);
  EXPECT_EQ(Duration::seconds(90).ns, 90 * kSec);
  EXPECT_EQ(Duration::zero().ns, 0);
  EXPECT_EQ(Duration().ns, 0);
  EXPECT_EQ(Duration::max().ns, INT64_MAX);
  EXPECT_EQ(Duration::millis(1500).seconds_f(), 1.5);
  EXPECT_EQ(Duration::nanos(2'999'999).millis_count(), 2);   // truncates
  EXPECT_EQ(Duration::nanos(2'999).micros_count(), 2);
  EXPECT_EQ(Duration::nanos(-2'999).micros_count(), -2);    // towards zero, like int64 division
}

TEST(TimeDuration, Arithmetic) {
  Duration a = Duration::seconds(3), b = Duration::millis(500);
  EXPECT_EQ((a + b).ns, 3'500'000'000);
  EXPECT_EQ((a - b).ns, 2'500'000'000);
  EXPECT_EQ((b - a).ns, -2'500'000'000);
  EXPECT_EQ((-a).ns, -3 * kSec);
  EXPECT_EQ((b * 4).ns, 2 * kSec);
  EXPECT_EQ((a / 4).ns, 750'000'000);
  EXPECT_EQ(a / b, 6);                                  // how many b fit in a
  EXPECT_EQ(Duration::seconds(7) / Duration::seconds(2), 3);
  EXPECT_EQ((Duration::millis(3500) % Duration::seconds(1)).ns, 500'000'000);
  Duration c = a;
  c += b;
  EXPECT_EQ(c.ns, 3'500'000'000);
  c -= Duration::seconds(1);
  EXPECT_EQ(c.ns, 2'500'000'000);
}

TEST(TimeDuration, Comparisons) {
  Duration one = Duration::seconds(1), two = Duration::seconds(2);
  EXPECT_LT(one, two);
  EXPECT_LE(one, one);
  EXPECT_GT(two, one);
  EXPECT_GE(two, two);
  EXPECT_EQ(one, Duration::millis(1000));
  EXPECT_NE(one, two);
  EXPECT_LT(-two, -one);
  EXPECT_LT(Duration::zero(), Duration::nanos(1));
}

TEST(TimeDuration, ChronoLiteralsConvertExactly) {
  EXPECT_EQ(Duration(300ms).ns, 300'000'000);
  EXPECT_EQ(Duration(10min).ns, 600 * kSec);
  EXPECT_EQ(Duration(2h).ns, 7200 * kSec);
  EXPECT_EQ(Duration(7ns).ns, 7);
  EXPECT_EQ(Duration(250us).ns, 250'000);
  EXPECT_EQ(Duration(90s).ns, 90 * kSec);
  EXPECT_EQ(Duration(1.5s).ns, 1'500'000'000);  // floating literals convert too
  EXPECT_EQ(Duration(std::chrono::days(1)).ns, 86400 * kSec);
  // Implicit conversion where a Duration is expected.
  Duration d = 10min;
  EXPECT_EQ(d, Duration::seconds(600));
  EXPECT_EQ(Duration(1h) + 30min, Duration::seconds(5400));
}

TEST(TimeTime, Arithmetic) {
  Time t0 = Time::zero();
  EXPECT_EQ(t0.ns, 0);
  EXPECT_EQ(Time().ns, 0);
  Time t1 = t0 + 90s;
  EXPECT_EQ(t1.ns, 90 * kSec);
  EXPECT_EQ((t1 - t0).ns, 90 * kSec);
  EXPECT_EQ((t0 - t1).ns, -90 * kSec);
  EXPECT_EQ((t1 - Duration(30s)).ns, 60 * kSec);
  t1 += 500ms;
  EXPECT_EQ(t1.ns, 90'500'000'000);
  EXPECT_EQ(t1.since_start(), Duration::millis(90'500));
  EXPECT_EQ(Time::from_ns(42).ns, 42);
  EXPECT_EQ(Time::max().ns, INT64_MAX);
}

TEST(TimeTime, Comparisons) {
  Time a = Time::from_ns(5), b = Time::from_ns(6);
  EXPECT_LT(a, b);
  EXPECT_GT(b, a);
  EXPECT_LE(a, a);
  EXPECT_EQ(a, Time::from_ns(5));
  EXPECT_NE(a, b);
  EXPECT_LT(b, Time::max());
}

TEST(TimeFormat, Examples) {
  EXPECT_EQ(format_duration(Duration::zero()), "0.000s");
  EXPECT_EQ(format_duration(Duration::millis(3004)), "3.004s");
  EXPECT_EQ(format_duration(Duration::millis(3723004)), "1h02m03.004s");
  EXPECT_EQ(format_duration(Duration::seconds(123)), "2m03.000s");
  EXPECT_EQ(format_duration(Duration(90s)), "1m30.000s");
  EXPECT_EQ(format_duration(Duration(25h)), "25h00m00.000s");  // no day unit: hours keep counting
  EXPECT_EQ(format_duration(Duration(1h)), "1h00m00.000s");
  EXPECT_EQ(format_duration(Duration(59s)), "59.000s");
  EXPECT_EQ(format_duration(Duration(1ms)), "0.001s");
}

TEST(TimeFormat, SubMillisecondShowsNineDigits) {
  EXPECT_EQ(format_duration(Duration::nanos(1)), "0.000000001s");
  EXPECT_EQ(format_duration(Duration(250us)), "0.000250000s");
  EXPECT_EQ(format_duration(Duration::nanos(kSec + 1)), "1.000000001s");
  EXPECT_EQ(format_duration(Duration::nanos(3'004'000'001)), "3.004000001s");
  EXPECT_EQ(format_duration(Duration::nanos(999'999'999)), "0.999999999s");
}

TEST(TimeFormat, Negative) {
  EXPECT_EQ(format_duration(-Duration::millis(3004)), "-3.004s");
  EXPECT_EQ(format_duration(-Duration::millis(3723004)), "-1h02m03.004s");
  EXPECT_EQ(format_duration(Duration::nanos(-1)), "-0.000000001s");
}

TEST(TimeFormat, ExtremesDoNotOverflow) {
  // INT64_MAX ns = 9223372036 s + 854775807 ns = 2562047 h 47 m 16 s.
  EXPECT_EQ(format_duration(Duration::max()), "2562047h47m16.854775807s");
  // INT64_MIN has no positive counterpart in int64: the sign must be handled without negating it.
  EXPECT_EQ(format_duration(Duration::nanos(INT64_MIN)), "-2562047h47m16.854775808s");
  EXPECT_EQ(format_time(Time::max()), "2562047h47m16.854775807s");
}

TEST(TimeFormat, FormatTimeIsOffsetFromStart) {
  EXPECT_EQ(format_time(Time::zero()), "0.000s");
  EXPECT_EQ(format_time(Time::zero() + 10min), "10m00.000s");
  EXPECT_EQ(format_time(Time::from_ns(3'723'004'000'000)), "1h02m03.004s");
}

TEST(TimeParse, EveryUnit) {
  EXPECT_EQ(parse_duration("7ns"), Duration::nanos(7));
  EXPECT_EQ(parse_duration("250us"), Duration(250us));
  EXPECT_EQ(parse_duration("300ms"), Duration(300ms));
  EXPECT_EQ(parse_duration("90s"), Duration(90s));
  EXPECT_EQ(parse_duration("10m"), Duration(10min));
  EXPECT_EQ(parse_duration("10min"), Duration(10min));
  EXPECT_EQ(parse_duration("2h"), Duration(2h));
  EXPECT_EQ(parse_duration("3d"), Duration(72h));
  EXPECT_EQ(parse_duration("0s"), Duration::zero());
}

TEST(TimeParse, PlainIntegerIsNanoseconds) {
  EXPECT_EQ(parse_duration("0"), Duration::zero());
  EXPECT_EQ(parse_duration("42"), Duration::nanos(42));
  EXPECT_EQ(parse_duration("9223372036854775807"), Duration::max());
}

TEST(TimeParse, FractionsAndCombinations) {
  EXPECT_EQ(parse_duration("2.5s"), Duration(2500ms));
  EXPECT_EQ(parse_duration("0.5ms"), Duration(500us));
  EXPECT_EQ(parse_duration("1.25h"), Duration(75min));
  EXPECT_EQ(parse_duration("0.000000001s"), Duration::nanos(1));
  EXPECT_EQ(parse_duration("1h30m"), Duration(90min));
  EXPECT_EQ(parse_duration("1h02m03.004s"), Duration::millis(3723004));
  EXPECT_EQ(parse_duration("1d2h3m4s5ms6us7ns"),
            Duration(24h) + 2h + 3min + 4s + 5ms + 6us + 7ns);
  EXPECT_EQ(parse_duration("10min30s"), Duration(630s));
  EXPECT_EQ(parse_duration("1m1ms"), Duration(60001ms));  // "m" then "ms" are told apart
  // Digits past nanosecond precision are dropped (truncated), not an error.
  EXPECT_EQ(parse_duration("1.0000000019s"), Duration::nanos(kSec + 1));
  EXPECT_EQ(parse_duration("1.5ns"), Duration::nanos(1));
  // Exact decimal arithmetic: 0.1h is exactly 6 minutes, with no binary rounding.
  EXPECT_EQ(parse_duration("0.1h"), Duration(6min));
}

TEST(TimeParse, LargestValues) {
  EXPECT_EQ(parse_duration("2562047h47m16.854775807s"), Duration::max());
  EXPECT_EQ(parse_duration("106751d"), Duration(std::chrono::days(106751)));
}

// Every error is std::invalid_argument with a message that quotes the input and says why.
void expect_invalid(const std::string& text, const std::string& why) {
  try {
    Duration d = parse_duration(text);
    ADD_FAILURE() << "parse_duration('" << text << "') returned " << d.ns << " ns instead of throwing";
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'" + text + "'"), std::string::npos) << "message does not name the input: " << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << "message does not say '" << why << "': " << msg;
  }
}

TEST(TimeParse, ErrorEmpty) { expect_invalid("", "empty"); }

TEST(TimeParse, ErrorNegative) {
  expect_invalid("-5s", "never negative");
  expect_invalid("-1", "never negative");
}

TEST(TimeParse, ErrorUnknownUnit) {
  expect_invalid("5x", "unknown unit 'x'");
  expect_invalid("5sec", "unknown unit 'sec'");
  expect_invalid("1h5mins", "unknown unit 'mins'");
  expect_invalid("3w", "unknown unit 'w'");
}

TEST(TimeParse, ErrorMissingUnit) {
  expect_invalid("2.5", "missing unit");     // a fraction needs a unit
  expect_invalid("1h30", "missing unit");    // only a whole input may be plain nanoseconds
  expect_invalid("5S", "missing unit");      // units are lower case
  expect_invalid("5 s", "missing unit");
  expect_invalid("5s ", "expected a number");
}

TEST(TimeParse, ErrorOverflow) {
  expect_invalid("9223372036854775808", "too large");
  expect_invalid("99999999999999999999999999h", "too large");
  expect_invalid("106752d", "too large");
  expect_invalid("2562047h47m16.854775808s", "too large");  // INT64_MAX + 1 ns
  expect_invalid("9223372036854775807ns1ns", "too large");
}

TEST(TimeParse, ErrorGarbage) {
  expect_invalid("abc", "expected a number");
  expect_invalid("s", "expected a number");
  expect_invalid(" 5s", "expected a number");
  expect_invalid(".5s", "expected a number");
  expect_invalid("1.s", "expected digits after '.'");
  expect_invalid("5s!", "expected a number");
  expect_invalid("1..5s", "expected digits after '.'");
}

TEST(TimeParse, RoundTripExtremes) {
  for (int64_t ns : {int64_t{0}, int64_t{1}, int64_t{999}, kSec, 3600 * kSec, INT64_MAX - 1, INT64_MAX}) {
    std::string text = format_duration(Duration::nanos(ns));
    EXPECT_EQ(parse_duration(text).ns, ns) << text;
  }
}

RC_GTEST_PROP(TimeProperty, ParseOfFormatIsIdentity, ()) {
  // Mix whole milliseconds (the short format) with arbitrary nanoseconds (nine digits), over
  // both small and huge magnitudes.
  const int64_t ns = *rc::gen::oneOf(rc::gen::inRange<int64_t>(0, INT64_MAX),
                                     rc::gen::inRange<int64_t>(0, 1'000'000'000'000),
                                     rc::gen::map(rc::gen::inRange<int64_t>(0, INT64_MAX / 1'000'000),
                                                  [](int64_t ms) { return ms * 1'000'000; }));
  const std::string text = format_duration(Duration::nanos(ns));
  RC_ASSERT(parse_duration(text).ns == ns);
}

RC_GTEST_PROP(TimeProperty, NegativeFormatsWithLeadingMinus, ()) {
  const int64_t ns = *rc::gen::inRange<int64_t>(1, INT64_MAX);
  RC_ASSERT(format_duration(Duration::nanos(-ns)) == "-" + format_duration(Duration::nanos(ns)));
}

}  // namespace
