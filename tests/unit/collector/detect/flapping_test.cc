#include "collector/detect/flapping.h"

#include <gtest/gtest.h>

namespace sonde::detect {
namespace {

TEST(FlapDetectorTest, NagiosWeightedPercentStateChange) {
  struct Case {
    uint32_t bits;
    double percent;
  } cases[] = {
      {0x000000, 0},                // steady
      {0x1fffff, 0},                // steadily failing
      {0x155555, 100},              // alternating every sample
      {0x000001, 1.25 * 100 / 20},  // newest transition weighs 1.25
      {0x100000, 0.75 * 100 / 20},  // oldest weighs 0.75
      {0x000003, (1.25 - 0.5 / 19) * 100 / 20},
  };
  for (const Case& c : cases) {
    EXPECT_NEAR(FlapDetector::PercentStateChange(c.bits, 21), c.percent, 1e-9)
        << std::hex << c.bits;
  }
}

TEST(FlapDetectorTest, EntersAtThirtyLeavesAtTwenty) {
  FlapDetector f;
  // Two on, two off: a change every other sample.
  int samples = 0;
  while (!f.flapping() && samples < 100) {
    f.AddSample((samples / 2) % 2 == 0, 21, 30, 20);
    ++samples;
  }
  EXPECT_TRUE(f.flapping());
  EXPECT_GE(f.percent(), 30);
  EXPECT_LT(samples, 21);
  int steady = 0;
  while (f.flapping() && steady < 100) {
    f.AddSample(false, 21, 30, 20);
    ++steady;
  }
  EXPECT_FALSE(f.flapping());
  EXPECT_LE(f.percent(), 20);
  EXPECT_GT(steady, 1);  // hysteresis: not at the first quiet sample
}

}  // namespace
}  // namespace sonde::detect
