// The pure parts of reporting storage: latency buckets and percentiles
// (latency_buckets.h) and how a window is split over the rollup levels
// (PlanRollupSpans in rollup_read.h).
#include <gtest/gtest.h>

#include <random>

#include "collector/storage/latency_buckets.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/rollup_read.h"
#include "collector/storage/rollups.h"

namespace sonde::collector {
namespace {

TEST(LatencyBuckets, BoundsAreIncreasingAndAtMostOneAndAHalfApart) {
  for (size_t i = 1; i < kLatencyBoundsUs.size(); ++i) {
    EXPECT_GT(kLatencyBoundsUs[i], kLatencyBoundsUs[i - 1]);
    if (i > 1) {
      EXPECT_LE(kLatencyBoundsUs[i], kLatencyBoundsUs[i - 1] * 2) << i;
    }
  }
}

TEST(LatencyBuckets, SamplesFallInTheBucketWhoseUpperBoundIncludesThem) {
  EXPECT_EQ(LatencyBucket(0), 0);
  EXPECT_EQ(LatencyBucket(250), 0);
  EXPECT_EQ(LatencyBucket(251), 1);
  EXPECT_EQ(LatencyBucket(42'000), 13);  // (30 ms, 50 ms]
  EXPECT_EQ(LatencyBucket(60'000'000), kLatencyBucketCount - 2);
  EXPECT_EQ(LatencyBucket(60'000'001), kLatencyBucketCount - 1);  // overflow
}

TEST(LatencyBuckets, PercentileInterpolatesInsideTheBucket) {
  LatencyHistogram h;
  EXPECT_EQ(Percentile(h, 0.5), -1);
  for (int i = 0; i < 100; ++i) {
    AddSample(42'000, &h);  // all in (30 ms, 50 ms]
  }
  EXPECT_DOUBLE_EQ(Percentile(h, 0.5), 40'000);
  EXPECT_DOUBLE_EQ(Percentile(h, 1.0), 50'000);
  EXPECT_DOUBLE_EQ(Percentile(h, 0.0), 30'200);  // the first sample
}

TEST(LatencyBuckets, MergedHistogramsGiveThePercentileOfAllSamples) {
  // Region A: 90 fast probes; region B: 10 slow ones. p95 of both together
  // lies in the slow bucket, which neither region's own p95 averages to.
  LatencyHistogram a, b;
  for (int i = 0; i < 90; ++i) {
    AddSample(900, &a);  // (750, 1000]
  }
  for (int i = 0; i < 10; ++i) {
    AddSample(1'800'000, &b);  // (1.5 s, 2 s]
  }
  LatencyHistogram both = a;
  MergeHistogram(b, &both);
  EXPECT_EQ(HistogramCount(both), 100);
  const double p95 = Percentile(both, 0.95);
  EXPECT_GT(p95, 1'500'000);
  EXPECT_LE(p95, 2'000'000);
  EXPECT_LE(Percentile(both, 0.90), 1'000);
  // Order of merging does not matter.
  LatencyHistogram other = b;
  MergeHistogram(a, &other);
  EXPECT_EQ(Trimmed(other), Trimmed(both));
}

TEST(LatencyBuckets, OverflowReportsTheLargestBound) {
  LatencyHistogram h;
  AddSample(90'000'000, &h);
  EXPECT_DOUBLE_EQ(Percentile(h, 0.99), 60'000'000);
}

TEST(LatencyBuckets, LiteralsRoundTrip) {
  LatencyHistogram h = {0, 3, 0, 7};
  EXPECT_EQ(HistogramLiteral(h), "{0,3,0,7}");
  LatencyHistogram back;
  ASSERT_TRUE(ParseHistogramLiteral("{0,3,0,7}", &back));
  EXPECT_EQ(back, h);
  ASSERT_TRUE(ParseHistogramLiteral("{}", &back));
  EXPECT_TRUE(back.empty());
  EXPECT_FALSE(ParseHistogramLiteral("0,3", &back));
  EXPECT_EQ(Trimmed({1, 0, 0}), LatencyHistogram({1}));
}

// The rollup delta's sparse cells count what five dense histograms would:
// random samples of every phase and bucket, one by one and merged.
TEST(RollupDeltaCell, SparseLatencyCountsLikeDenseHistograms) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> phase(0, kPhaseCount - 1);
  std::uniform_int_distribution<int64_t> us(1, 70'000'000);
  RollupDelta::Cell a, b;
  std::array<LatencyHistogram, kPhaseCount> dense_a, dense_both;
  for (int i = 0; i < 5000; ++i) {
    const int p = phase(rng);
    const int64_t v = i % 3 == 0 ? us(rng) : us(rng) % 20'000;  // many in a few buckets
    const bool into_a = i % 2 == 0;
    (into_a ? a : b).AddLatency(p, LatencyBucket(v), 1);
    if (into_a) {
      AddSample(v, &dense_a[p]);
    }
    AddSample(v, &dense_both[p]);
  }
  auto as_vector = [](const std::array<int64_t, kLatencyBucketCount>& h) {
    return Trimmed(LatencyHistogram(h.begin(), h.end()));
  };
  for (int p = 0; p < kPhaseCount; ++p) {
    EXPECT_EQ(as_vector(a.Histogram(p)), Trimmed(dense_a[p])) << p;
  }
  a.Merge(b);
  for (int p = 0; p < kPhaseCount; ++p) {
    EXPECT_EQ(as_vector(a.Histogram(p)), Trimmed(dense_both[p])) << p;
  }
  RollupDelta::Cell big;
  big.AddLatency(4, kLatencyBucketCount - 1, int64_t{1} << 40);
  big.AddLatency(4, kLatencyBucketCount - 1, int64_t{1} << 40);
  big.AddLatency(0, 0, 1);
  EXPECT_EQ(big.Histogram(4)[kLatencyBucketCount - 1], int64_t{1} << 41);
  EXPECT_EQ(big.Histogram(0)[0], 1);
  EXPECT_EQ(big.Histogram(3), (std::array<int64_t, kLatencyBucketCount>{}));
}

// Array literals quote every element and escape quotes and backslashes
// wherever they are; FromArray reads them back.
TEST(PgArrayLiteral, EscapesQuotesAndBackslashesAnywhere) {
  const std::vector<std::string> elements = {
      "", "plain", "\"", "\\", "a\"b\\c", "\\\"end\"", "{0,1}", "x y", std::string(40, 'z') + "\""};
  const std::string literal = pg::ToArray(elements);
  EXPECT_EQ(literal.substr(0, 26), R"({"","plain","\"","\\","a\")");
  EXPECT_EQ(pg::FromArray(literal), elements);
}

absl::Time At(int d, int h, int m) {
  return absl::FromCivil(absl::CivilMinute(2026, 11, d, h, m), absl::UTCTimeZone());
}

TEST(PlanRollupSpans, WholeDaysFromDaysHoursAndMinutesAtTheEdges) {
  const absl::Time now = At(30, 0, 0);
  RollupWindow w = PlanRollupSpans(At(1, 22, 30), At(4, 2, 15), RollupRetention{}, now);
  ASSERT_EQ(w.spans.size(), 5u);
  EXPECT_EQ(w.spans[0].level, RollupLevel::kMinute);
  EXPECT_EQ(w.spans[0].from, At(1, 22, 30));
  EXPECT_EQ(w.spans[0].to, At(1, 23, 0));
  EXPECT_EQ(w.spans[1].level, RollupLevel::kHour);
  EXPECT_EQ(w.spans[1].to, At(2, 0, 0));
  EXPECT_EQ(w.spans[2].level, RollupLevel::kDay);
  EXPECT_EQ(w.spans[2].from, At(2, 0, 0));
  EXPECT_EQ(w.spans[2].to, At(4, 0, 0));
  EXPECT_EQ(w.spans[3].level, RollupLevel::kHour);
  EXPECT_EQ(w.spans[3].to, At(4, 2, 0));
  EXPECT_EQ(w.spans[4].level, RollupLevel::kMinute);
  EXPECT_EQ(w.spans[4].to, At(4, 2, 15));
  EXPECT_FALSE(w.approximate);
  EXPECT_EQ(w.covered_from, At(1, 22, 30));
  EXPECT_EQ(w.covered_to, At(4, 2, 15));
}

TEST(PlanRollupSpans, ExactDaysAreOneDaySpan) {
  RollupWindow w = PlanRollupSpans(At(1, 0, 0), At(8, 0, 0), RollupRetention{}, At(30, 0, 0));
  ASSERT_EQ(w.spans.size(), 1u);
  EXPECT_EQ(w.spans[0].level, RollupLevel::kDay);
}

TEST(PlanRollupSpans, DroppedMinutesAndHoursFallBackToCoarserLevelsRoundedOutward) {
  RollupRetention short_retention;
  short_retention.minute = absl::Hours(24);
  short_retention.hour = absl::Hours(24 * 5);
  // Minutes of day 10 are gone (now is day 20), hours too: day rows answer.
  RollupWindow w = PlanRollupSpans(At(10, 22, 30), At(12, 2, 15), short_retention, At(20, 0, 0));
  ASSERT_EQ(w.spans.size(), 1u);
  EXPECT_EQ(w.spans[0].level, RollupLevel::kDay);
  EXPECT_EQ(w.covered_from, At(10, 0, 0));
  EXPECT_EQ(w.covered_to, At(13, 0, 0));
  EXPECT_TRUE(w.approximate);
  // Hours kept, minutes not: the minute edges become their hours.
  RollupWindow h = PlanRollupSpans(At(18, 10, 30), At(18, 12, 15), short_retention, At(20, 0, 0));
  ASSERT_EQ(h.spans.size(), 1u);
  EXPECT_EQ(h.spans[0].level, RollupLevel::kHour);
  EXPECT_EQ(h.covered_from, At(18, 10, 0));
  EXPECT_EQ(h.covered_to, At(18, 13, 0));
}

TEST(PlanRollupSpans, EmptyWindowHasNoSpans) {
  EXPECT_TRUE(
      PlanRollupSpans(At(2, 0, 0), At(2, 0, 0), RollupRetention{}, At(3, 0, 0)).spans.empty());
}

}  // namespace
}  // namespace sonde::collector
