// What ingest admits (collector/api/ingest_limits.h): per-result refusal by
// date, text caps, gap rules, the per-prober stream cap; and the one
// Timestamp conversion at INT64_MAX. No database.
#include "collector/api/ingest_limits.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "common/proto_time.h"

namespace sonde::collector {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

v1::ProbeResult At(int64_t seconds, uint64_t seq) {
  v1::ProbeResult r;
  r.set_check_id("c");
  r.set_seq(seq);
  r.mutable_start_time()->set_seconds(seconds);
  return r;
}

TEST(ProtoTimeTest, Int64MaxNeitherOverflowsNorPassesAsValid) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(kMax);
  ts.set_nanos(999'999'999);
  EXPECT_FALSE(common::IsValidTimestamp(ts));
  EXPECT_EQ(common::ToUnixMicros(ts), common::kMaxTimestampSeconds * 1'000'000 + 999'999);
  ts.set_seconds(std::numeric_limits<int64_t>::min());
  EXPECT_EQ(common::ToUnixMicros(ts), common::kMinTimestampSeconds * 1'000'000 + 999'999);
  ts.set_seconds(1'800'000'000);
  ts.set_nanos(-1);
  EXPECT_FALSE(common::IsValidTimestamp(ts));
}

// SetTimestamp keeps microseconds, truncated toward the past, with nanos
// in [0, 1e9) also before 1970; ToTimestampFields keeps nanoseconds.
TEST(ProtoTimeTest, SetTimestampTruncatesToTheMicrosecondTowardThePast) {
  google::protobuf::Timestamp ts;
  common::SetTimestamp(absl::FromUnixNanos(1'234'567'891), &ts);
  EXPECT_EQ(ts.seconds(), 1);
  EXPECT_EQ(ts.nanos(), 234'567'000);
  common::SetTimestamp(absl::FromUnixMicros(-1500), &ts);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 998'500'000);
  common::SetTimestamp(absl::FromUnixNanos(-1), &ts);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 999'999'000);
  const common::TimestampFields f = common::ToTimestampFields(absl::FromUnixNanos(-1));
  EXPECT_EQ(f.seconds, -1);
  EXPECT_EQ(f.nanos, 999'999'999);
}

TEST(RefuseResultsTest, DropsFutureAndOutOfRangeResultsAndKeepsTheRestInOrder) {
  v1::ResultBatch b;
  const int64_t now = absl::ToUnixSeconds(kNow);
  *b.add_results() = At(now - 60, 1);
  *b.add_results() = At(kMax, 2);                          // time_range
  *b.add_results() = At(now + 5 * 60, 3);                  // exactly at the skew: kept
  *b.add_results() = At(now + 5 * 60 + 1, 4);              // future
  *b.add_results() = At(common::kMaxTimestampSeconds, 5);  // future
  *b.add_results() = At(now, 6);
  Refusals r = RefuseResults(&b, kNow, absl::Minutes(5));
  EXPECT_EQ(r.future, 2);
  EXPECT_EQ(r.time_range, 1);
  ASSERT_EQ(b.results_size(), 3);
  EXPECT_EQ(b.results(0).seq(), 1u);
  EXPECT_EQ(b.results(1).seq(), 3u);
  EXPECT_EQ(b.results(2).seq(), 6u);
}

TEST(CapResultTextTest, CutsAtACharacterBoundaryAndCapsLists) {
  v1::ResultBatch b;
  v1::ProbeResult* big = b.add_results();
  std::string detail;
  while (detail.size() < 10'000) {
    detail += "\xC3\xA9";  // é, 2 bytes: a cut must not split it
  }
  big->set_detail(detail);
  big->set_banner(std::string(5000, 'b'));
  for (int i = 0; i < 100; ++i) {
    big->add_cert_sans("san.example");
  }
  v1::ProbeResult* small = b.add_results();
  small->set_detail("fine");
  EXPECT_EQ(CapResultText(&b), 1);
  EXPECT_LE(b.results(0).detail().size(), kMaxDetailBytes);
  EXPECT_GT(b.results(0).detail().size(), kMaxDetailBytes - 8);
  EXPECT_TRUE(absl::EndsWith(b.results(0).detail(), "\xC3\xA9\xE2\x80\xA6"));
  EXPECT_LE(b.results(0).banner().size(), kMaxResultTextBytes);
  EXPECT_EQ(b.results(0).cert_sans_size(), kMaxResultListItems);
  EXPECT_EQ(b.results(1).detail(), "fine");
}

TEST(ValidateGapsTest, BoundsCountAndRanges) {
  v1::ResultBatch b;
  b.set_prober_id("p");
  b.set_batch_seq(9);
  v1::Gap* g = b.add_gaps();
  g->set_first_batch_seq(3);
  g->set_last_batch_seq(5);
  g->set_results(10);
  g->mutable_from()->set_seconds(100);
  g->mutable_to()->set_seconds(200);
  EXPECT_TRUE(ValidateGaps(b).ok());

  struct Case {
    void (*mutate)(v1::Gap*);
    const char* message;
  };
  const Case cases[] = {
      {[](v1::Gap* x) { x->mutable_to()->set_seconds(kMax); }, "0001-01-01..9999-12-31"},
      {[](v1::Gap* x) { x->mutable_from()->set_seconds(300); }, "from is after to"},
      {[](v1::Gap* x) { x->set_first_batch_seq(6); }, "is after last_batch_seq"},
      {[](v1::Gap* x) { x->set_results(uint64_t{1} << 63); }, "below 2^63"},
  };
  for (const Case& c : cases) {
    v1::ResultBatch bad = b;
    c.mutate(bad.mutable_gaps(0));
    absl::Status st = ValidateGaps(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
    EXPECT_TRUE(absl::StrContains(st.message(), c.message)) << st;
  }
  v1::ResultBatch many = b;
  for (int i = 0; i < kMaxGapsPerBatch; ++i) {
    *many.add_gaps() = b.gaps(0);
  }
  absl::Status st = ValidateGaps(many);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "1001 gaps, at most 1000")) << st;
}

TEST(StreamCapTest, RefusesOverTheCapAndFreesOnRelease) {
  StreamCap cap(2);
  StreamCap::Slot a = cap.Take("p");
  StreamCap::Slot b = cap.Take("p");
  EXPECT_TRUE(a.held());
  EXPECT_TRUE(b.held());
  EXPECT_FALSE(cap.Take("p").held());
  EXPECT_TRUE(cap.Take("q").held());  // another identity has its own slots
  a = StreamCap::Slot();              // the stream ended
  EXPECT_TRUE(cap.Take("p").held());
}

}  // namespace
}  // namespace sonde::collector
