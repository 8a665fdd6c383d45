#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "collector/storage/rollup_folder.h"

namespace sonde::collector {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

absl::Duration WaitAfter(absl::Duration flush) {
  return RollupFolderOptions().WaitAfterFlush(kStart, kStart + flush);
}

// A quick flush (every load but the heaviest) is followed by the pause, a
// second: rollups lag the acks by about a second.
TEST(RollupFolderOptionsTest, AQuickFlushIsFollowedByASecond) {
  EXPECT_EQ(WaitAfter(absl::Milliseconds(20)), absl::Seconds(1));
  EXPECT_EQ(WaitAfter(absl::ZeroDuration()), absl::Seconds(1));
  RollupFolderOptions o;
  o.interval = absl::Seconds(3);  // a longer interval counts from the start
  EXPECT_EQ(o.WaitAfterFlush(kStart, kStart + absl::Milliseconds(20)), absl::Milliseconds(2980));
}

// A slow flush (heavy ingest) is followed by twice its time, at least the
// pause: the folder's connection is busy at most a third of the time, and
// each flush folds more results into the same rows.
TEST(RollupFolderOptionsTest, ASlowFlushIsFollowedByTwiceItsTime) {
  EXPECT_EQ(WaitAfter(absl::Milliseconds(700)), absl::Milliseconds(1400));
  EXPECT_EQ(WaitAfter(absl::Milliseconds(1400)), absl::Milliseconds(2800));
  EXPECT_EQ(WaitAfter(absl::Milliseconds(400)), absl::Seconds(1));  // the pause
}

// Never more than max_pause: a batch stored just after a claim waits a
// flush and a pause for the next, which must stay well under orphan_age
// (or other replicas would take its batches over from `results`).
TEST(RollupFolderOptionsTest, TheWaitIsBoundedWellUnderTheOrphanAge) {
  const RollupFolderOptions o;
  EXPECT_EQ(WaitAfter(absl::Seconds(4)), o.max_pause);
  EXPECT_EQ(WaitAfter(absl::Seconds(30)), o.max_pause);
  EXPECT_LE(absl::Seconds(4) + o.max_pause, o.orphan_age / 1.5);
}

}  // namespace
}  // namespace sonde::collector
