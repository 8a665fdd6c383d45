#include "collector/detect/reorder_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace sonde::detect {
namespace {

Sample At(int64_t t, uint32_t series, uint16_t req = 0) {
  Sample s;
  s.time_us = t;
  s.start_us = t - 10;
  s.series = series;
  s.request_index = req;
  return s;
}

TEST(ReorderBufferTest, PopsInEventTimeOrderWhateverThePushOrder) {
  std::mt19937 rng(7);
  std::vector<Sample> all;
  for (int i = 0; i < 5000; ++i) {
    // Mostly in order, with local reordering up to ~50 steps.
    all.push_back(At(i * 100 + static_cast<int64_t>(rng() % 5000), rng() % 30, rng() % 3));
  }
  ReorderBuffer buf;
  for (const Sample& s : all) {
    buf.Push(s);
  }
  EXPECT_EQ(buf.size(), all.size());
  std::sort(all.begin(), all.end(), SampleBefore);
  for (const Sample& want : all) {
    ASSERT_FALSE(buf.empty());
    EXPECT_EQ(buf.NextTime(), want.time_us);
    const Sample got = buf.Pop();
    EXPECT_EQ(got.time_us, want.time_us);
    EXPECT_EQ(got.series, want.series);
    EXPECT_EQ(got.request_index, want.request_index);
  }
  EXPECT_TRUE(buf.empty());
}

TEST(ReorderBufferTest, InterleavedPushAndPopAndRewrite) {
  ReorderBuffer buf;
  buf.Push(At(10, 1));
  buf.Push(At(30, 1));
  buf.Push(At(20, 2));
  EXPECT_EQ(buf.Pop().time_us, 10);
  buf.Push(At(15, 3));
  buf.Rewrite([](Sample* s) {
    if (s->series == 2) {
      return false;
    }
    s->series += 100;
    return true;
  });
  ASSERT_EQ(buf.size(), 2u);
  const Sample a = buf.Pop();
  EXPECT_EQ(a.time_us, 15);
  EXPECT_EQ(a.series, 103u);
  EXPECT_EQ(buf.Pop().time_us, 30);
}

}  // namespace
}  // namespace sonde::detect
