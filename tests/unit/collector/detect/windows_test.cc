#include "collector/detect/windows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace sonde::detect {
namespace {

TEST(FastWindowTest, SlidesAndForgetsOldBuckets) {
  FastWindow w;
  w.Add(100, 10, 1);
  w.Add(105, 10, 2);
  EXPECT_EQ(w.Sum(105).probes, 20u);
  EXPECT_EQ(w.Sum(105).fails, 3u);
  // Bucket 100 leaves the 12-bucket window at 112.
  EXPECT_EQ(w.Sum(111).probes, 20u);
  EXPECT_EQ(w.Sum(112).probes, 10u);
  EXPECT_EQ(w.Sum(112).fails, 2u);
  EXPECT_EQ(w.Sum(200).probes, 0u);
  w.Add(150, 1, 0);  // older than the window: ignored
  EXPECT_EQ(w.Sum(200).probes, 0u);
}

TEST(FastWindowTest, ShareSinceTheFirstFailureSkipsTheCleanStart) {
  FastWindow w;
  for (int b = 0; b < 12; ++b) {
    w.Add(b, 8, b >= 9 ? 2 : 0);
  }
  EXPECT_EQ(w.Sum(11).probes, 96u);
  ASSERT_EQ(w.FirstFailure(11), 9);
  const Counts since = w.SumFrom(9, 11);
  EXPECT_EQ(since.probes, 24u);
  EXPECT_EQ(since.fails, 6u);
  EXPECT_DOUBLE_EQ(since.share(), 0.25);
  EXPECT_EQ(w.SumFrom(10, 11).probes, 16u);
  EXPECT_EQ(w.SumFrom(-5, 11).probes, 96u);  // before the window: all of it
  EXPECT_EQ(w.FirstFailure(30), -1);         // the failures left the window
}

TEST(MinuteWindowTest, KeepsTheLastNCompleteMinutes) {
  MinuteWindow w;
  w.set_minutes(3);
  for (uint32_t m = 0; m < 5; ++m) {
    w.CloseMinute(RunCounts{10, m, 1, 0});
  }
  EXPECT_EQ(w.complete().probes, 30u);
  EXPECT_EQ(w.complete().fails, 2u + 3u + 4u);
  EXPECT_EQ(w.Recent(1).fails, 4u);
  EXPECT_EQ(w.Recent(2).fails, 7u);
  const RunCounts now = w.WithCurrent(RunCounts{5, 5, 1, 1});
  EXPECT_EQ(now.probes, 35u);
  EXPECT_EQ(now.failed_runs, 1u);
}

TEST(MinuteWindowTest, ShareAfterTheFirstFailingMinuteSkipsTheCleanStartAndTheFirstFailure) {
  MinuteWindow w;
  w.set_minutes(5);
  const RunCounts current{4, 1, 4, 1};  // the minute in progress
  EXPECT_EQ(w.AfterFirstFailingMinute(current).probes, 0u);
  // Clean, then the fault's first minute, then two.
  for (uint32_t fails : {0u, 0u, 1u, 3u, 2u}) {
    w.CloseMinute(RunCounts{10, fails, 10, fails});
  }
  EXPECT_EQ(w.AfterFirstFailingMinute(current).probes, 24u);
  EXPECT_EQ(w.AfterFirstFailingMinute(current).fails, 6u);
  for (int m = 0; m < 4; ++m) {  // the failing minutes leave the window
    w.CloseMinute(RunCounts{10, 0, 10, 0});
  }
  w.CloseMinute(RunCounts{10, 0, 10, 0});
  EXPECT_EQ(w.AfterFirstFailingMinute(current).probes, 0u);
}

TEST(BurnCounterTest, WindowsMatchBruteForceOverThreeDays) {
  BurnLayout layout;
  const int m5 = layout.Add(5 * 60);
  const int m60 = layout.Add(60 * 60);
  const int m360 = layout.Add(6 * 3600);
  const int h72 = layout.Add(72 * 3600);
  EXPECT_EQ(layout.Add(60 * 60), m60);  // shared
  BurnCounter burn;
  std::mt19937 rng(42);
  std::vector<uint32_t> probes;
  std::vector<uint32_t> fails;
  auto brute = [&](int minutes) {
    Counts c;
    for (int k = 0; k < minutes && k < static_cast<int>(probes.size()); ++k) {
      c.probes += probes[probes.size() - 1 - k];
      c.fails += fails[fails.size() - 1 - k];
    }
    return c;
  };
  for (int minute = 0; minute < 5000; ++minute) {
    const uint32_t p = rng() % 100;
    const uint32_t f = p == 0 ? 0 : rng() % (p + 1);
    burn.CloseMinute(layout, Counts{p, f});
    probes.push_back(p);
    fails.push_back(f);
    if (minute % 97 != 0) {
      continue;
    }
    EXPECT_EQ(burn.Window(layout, m5).probes, brute(5).probes) << minute;
    EXPECT_EQ(burn.Window(layout, m5).fails, brute(5).fails) << minute;
    EXPECT_EQ(burn.Window(layout, m60).fails, brute(60).fails) << minute;
    EXPECT_EQ(burn.Window(layout, m360).probes, brute(360).probes) << minute;
    // Hour windows: complete hours plus the complete minutes of this hour.
    const int closed = minute + 1;
    EXPECT_EQ(burn.Window(layout, h72).probes, brute(72 * 60 + closed % 60).probes) << minute;
  }
  EXPECT_EQ(burn.observed_minutes(), 5000);
}

// Against the tail summed term by term from the binomial coefficients
// (exact in long double for these sizes), and at the edges.
TEST(NoiseTailTest, MatchesTheBinomialTail) {
  auto brute = [](uint32_t n, uint32_t k, double p) {
    long double sum = 0;
    for (uint32_t i = k; i <= n; ++i) {
      long double c = 1;
      for (uint32_t j = 0; j < i; ++j) {
        c = c * (n - j) / (j + 1);
      }
      sum += c * std::pow(static_cast<long double>(p), i) *
             std::pow(static_cast<long double>(1 - p), n - i);
    }
    return static_cast<double>(sum);
  };
  for (uint32_t n : {1u, 10u, 39u, 129u, 400u}) {
    for (uint32_t k = 0; k <= std::min(n, 30u); ++k) {
      for (double p : {0.001, 0.01, 0.05, 0.5}) {
        const double want = brute(n, k, p);
        EXPECT_NEAR(NoiseTail(n, k, p), want, 1e-9 + 1e-9 * want) << n << " " << k << " " << p;
      }
    }
  }
  // The young collector's first minute: 2 of 39 at 1% noise is likely
  // (5.8%); 4 of 39 is not (0.07%).
  EXPECT_NEAR(NoiseTail(39, 2, 0.01), 0.0582, 0.0005);
  EXPECT_LT(NoiseTail(39, 4, 0.01), 1e-3);
  EXPECT_GT(NoiseTail(39, 3, 0.01), 1e-3);
  EXPECT_EQ(NoiseTail(39, 0, 0.01), 1);
  EXPECT_EQ(NoiseTail(39, 40, 0.01), 0);
  EXPECT_EQ(NoiseTail(39, 2, 0), 0);
  // Large windows stay finite and ordered: 5% of 50,000 at 1% noise is
  // vanishingly unlikely, 1% of them about a coin toss.
  EXPECT_LT(NoiseTail(50000, 2500, 0.01), 1e-100);
  EXPECT_NEAR(NoiseTail(50000, 500, 0.01), 0.5, 0.05);
}

}  // namespace
}  // namespace sonde::detect
