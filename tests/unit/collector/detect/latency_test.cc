#include "collector/detect/latency.h"

#include <gtest/gtest.h>

#include <vector>

namespace sonde::detect {
namespace {

TEST(LatencyHistogramTest, EveryValueFallsInsideItsBucket) {
  for (uint32_t us = 1; us < 200000000u; us = us * 11 / 10 + 1) {
    const int b = LatencyHistogram::Bucket(us);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, LatencyHistogram::kBuckets);
    if (b < LatencyHistogram::kBuckets - 1) {
      EXPECT_LE(LatencyHistogram::LowerBound(b), us) << us;
      EXPECT_GT(LatencyHistogram::UpperBound(b), us) << us;
    }
  }
  EXPECT_EQ(LatencyHistogram::Bucket(255), 0);
  EXPECT_EQ(LatencyHistogram::Bucket(256), 1);
  EXPECT_LT(LatencyHistogram::Bucket(1000), LatencyHistogram::Bucket(1300));
}

TEST(LatencyHistogramTest, PercentileIsWithinABucketOfTheTruth) {
  std::vector<uint32_t> hist(LatencyHistogram::kBuckets);
  for (uint32_t ms = 1; ms <= 1000; ++ms) {
    ++hist[LatencyHistogram::Bucket(ms * 1000)];
  }
  const double p95 = LatencyHistogram::Percentile(hist.data(), 1000, 0.95);
  EXPECT_NEAR(p95, 950000, 950000 * 0.1);
  const double p50 = LatencyHistogram::Percentile(hist.data(), 1000, 0.50);
  EXPECT_NEAR(p50, 500000, 500000 * 0.1);
}

LatencyParams Params() { return LatencyParams{}; }

// Returns the index of the result that changed degraded(), or -1.
int Minute(LatencyTracker* t, uint32_t first_byte_us, int n = 30) {
  int changed = -1;
  for (int i = 0; i < n; ++i) {
    if (t->Add(2000 + 5000 + 10000 + first_byte_us + i * 300, 2000, 5000, 10000,
               first_byte_us + i * 300) &&
        changed < 0) {
      changed = i;
    }
  }
  return changed;
}

TEST(LatencyTrackerTest, DegradedWhenP95LeavesItsBaselineAndNamesThePhase) {
  LatencyTracker t;
  t.Init(Params());
  for (int m = 0; m < 70; ++m) {
    Minute(&t, 50000);
    EXPECT_FALSE(t.CloseMinute(Params())) << m;
  }
  EXPECT_FALSE(t.degraded());
  bool changed = false;
  for (int m = 0; m < 3 && !changed; ++m) {
    changed = Minute(&t, 400000) >= 0;
    changed = t.CloseMinute(Params()) || changed;
  }
  EXPECT_TRUE(changed);
  EXPECT_TRUE(t.degraded());
  t.CloseMinute(Params());  // an empty minute: the slow window decides now
  EXPECT_GT(t.window_percentile_us(), 2 * t.baseline_percentile_us());
  const auto shift = t.PhaseShift();
  // One or two slow minutes of ten in the window: the mean moved by a share
  // of the 350 ms, and only in first_byte.
  EXPECT_GT(shift[kPhaseFirstByte], 20000);
  EXPECT_NEAR(shift[kPhaseConnect], 0, 1);
  EXPECT_NEAR(shift[kPhaseDns], 0, 1);
  // The baseline is frozen while degraded: 20 slow minutes later it still is.
  for (int m = 0; m < 20; ++m) {
    Minute(&t, 400000);
    t.CloseMinute(Params());
  }
  EXPECT_TRUE(t.degraded());
  // And it recovers once the window is fast again.
  for (int m = 0; m < 11; ++m) {
    Minute(&t, 50000);
    t.CloseMinute(Params());
  }
  EXPECT_FALSE(t.degraded());
}

TEST(LatencyTrackerTest, SmallSlowdownBelowTheMarginIsNotDegraded) {
  LatencyTracker t;
  t.Init(Params());
  for (int m = 0; m < 70; ++m) {
    Minute(&t, 50000);
    t.CloseMinute(Params());
  }
  // x3 but still under baseline + 250 ms.
  for (int m = 0; m < 12; ++m) {
    Minute(&t, 150000);
    t.CloseMinute(Params());
    EXPECT_FALSE(t.degraded()) << m;
  }
}

TEST(LatencyTrackerTest, NoBaselineNoVerdict) {
  LatencyTracker t;
  t.Init(Params());
  for (int m = 0; m < 5; ++m) {
    Minute(&t, 2000000);
    t.CloseMinute(Params());
    EXPECT_FALSE(t.degraded());
  }
}

// The fast window: a sustained change is seen within the minute it starts
// in (half of the fast window's results slow), against a baseline of the
// few minutes before it; a few slow results are not.
TEST(LatencyTrackerTest, FastWindowSeesASustainedChangeWithinAMinuteAndIgnoresSpikes) {
  LatencyTracker t;
  t.Init(LatencyParams{});
  for (int m = 0; m < 3; ++m) {
    EXPECT_EQ(Minute(&t, 50000), -1);
    EXPECT_FALSE(t.CloseMinute(LatencyParams{})) << m;
  }
  // Spikes: 5 of 30 results slow in each of two minutes.
  for (int m = 0; m < 2; ++m) {
    EXPECT_EQ(Minute(&t, 50000, 25), -1);
    EXPECT_EQ(Minute(&t, 900000, 5), -1);
    t.CloseMinute(LatencyParams{});
  }
  EXPECT_FALSE(t.degraded());
  Minute(&t, 50000);
  t.CloseMinute(LatencyParams{});
  // Sustained: the previous minute (30 fast) plus 30 slow results of this
  // one: the 30th makes half of 60.
  EXPECT_EQ(Minute(&t, 400000), 29);
  EXPECT_TRUE(t.fast_degraded());
  EXPECT_TRUE(t.degraded());
  EXPECT_GT(t.ReportedPercentileUs(0.95), 400000);
  EXPECT_LT(t.ReportedBaselineUs(), 100000);
  EXPECT_GT(t.PhaseShift()[kPhaseFirstByte], 100000);
  // The slow minutes never become the fast window's baseline: still
  // degraded ten minutes on, and fast again once the results are.
  for (int m = 0; m < 10; ++m) {
    Minute(&t, 400000);
    t.CloseMinute(LatencyParams{});
    EXPECT_TRUE(t.degraded()) << m;
  }
  for (int m = 0; m < 12; ++m) {
    Minute(&t, 50000);
    t.CloseMinute(LatencyParams{});
  }
  EXPECT_FALSE(t.degraded());
}

// A check that started late in a minute: when the change comes, the minute
// before it had no threshold yet (too little baseline before it). That
// minute is judged against the first threshold at the next boundary, so
// the change is seen there, as it is for a check with a long history, not
// a minute later.
TEST(LatencyTrackerTest, AMinuteThatRanWithoutAThresholdIsJudgedAtTheNextBoundary) {
  for (const uint32_t first_byte_us : {uint32_t{50000}, uint32_t{400000}}) {
    SCOPED_TRACE(first_byte_us);
    LatencyTracker t;
    t.Init(LatencyParams{});
    EXPECT_EQ(Minute(&t, 50000, 20), -1);  // the check's first, partial minute
    EXPECT_FALSE(t.CloseMinute(LatencyParams{}));
    EXPECT_EQ(Minute(&t, 50000, 60), -1);  // baseline: 20 results (< 30)
    EXPECT_FALSE(t.CloseMinute(LatencyParams{}));
    // No threshold for this minute: no verdict while it runs.
    EXPECT_EQ(Minute(&t, first_byte_us, 60), -1);
    EXPECT_FALSE(t.degraded());
    const bool slow = first_byte_us > 100000;
    EXPECT_EQ(t.CloseMinute(LatencyParams{}), slow);
    EXPECT_EQ(t.fast_degraded(), slow);
    if (slow) {
      EXPECT_GT(t.ReportedPercentileUs(0.95), 400000);
      EXPECT_LT(t.ReportedBaselineUs(), 100000);
    }
    // And it stays judged: a fast minute after it does not clear a slow one
    // before half of the window is fast.
    EXPECT_EQ(Minute(&t, 50000, 30), -1);
    EXPECT_EQ(t.degraded(), slow);
  }
}

}  // namespace
}  // namespace sonde::detect
