#include "common/clock.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace sonde::common {
namespace {

// The real clock is the wall clock (CLOCK_REALTIME), not the monotonic one
// and not a cached value: it lands between two absl::Now() reads around it,
// to the microsecond, and moves with them.
TEST(ClockTest, RealClockReadsTheWallClock) {
  for (int i = 0; i < 3; ++i) {
    const absl::Time before = absl::Now();
    const absl::Time now = RealClock()->Now();
    const absl::Time after = absl::Now();
    EXPECT_LE(before - absl::Microseconds(1), now);
    EXPECT_GE(after + absl::Microseconds(1), now);
    absl::SleepFor(absl::Milliseconds(2));
  }
  const absl::Time a = RealClock()->Now();
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_GE(RealClock()->Now() - a, absl::Milliseconds(5));
}

}  // namespace
}  // namespace sonde::common
