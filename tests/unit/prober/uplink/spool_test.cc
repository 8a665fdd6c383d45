#include "prober/uplink/spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace sonde::prober {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sonde-spool.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Spool> Open(uint64_t max_bytes = 1 << 20, uint64_t segment_bytes = 1 << 16) {
    Spool::Options o;
    o.dir = dir_;
    o.max_bytes = max_bytes;
    o.segment_bytes = segment_bytes;
    auto s = Spool::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  static v1::ResultBatch Batch(uint64_t seq, int results, int detail_bytes = 10) {
    v1::ResultBatch b;
    b.set_prober_id("p");
    b.set_region("fra");
    b.set_batch_seq(seq);
    for (int i = 0; i < results; ++i) {
      v1::ProbeResult* r = b.add_results();
      r->set_seq(seq * 1000 + i);
      r->set_check_id("c");
      r->set_detail(std::string(detail_bytes, 'x'));
      r->mutable_start_time()->set_seconds(1700000000 + seq);
    }
    return b;
  }

  std::vector<uint64_t> Unacked(Spool* s) {
    std::vector<uint64_t> out;
    uint64_t after = 0;
    while (auto b = s->Next(after)) {
      out.push_back(b->batch_seq());
      after = b->batch_seq();
    }
    return out;
  }

  std::string dir_;
};

TEST_F(SpoolTest, AppendAckAndRecoverAcrossReopen) {
  {
    auto s = Open();
    for (uint64_t i = 1; i <= 5; ++i) {
      ASSERT_TRUE(s->Append(Batch(i, 3)).ok());
    }
    s->Ack(2);
    EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{3, 4, 5}));
    EXPECT_EQ(s->stats().unacked_results, 9u);
  }
  auto s = Open();
  EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(s->max_batch_seq(), 5u);
  EXPECT_EQ(s->max_result_seq(), 5002u);
  auto b = s->Next(3);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->batch_seq(), 4u);
  EXPECT_EQ(b->results_size(), 3);
  EXPECT_EQ(b->results(2).seq(), 4002u);
}

TEST_F(SpoolTest, TornTailIsCutNotFatal) {
  {
    auto s = Open();
    for (uint64_t i = 1; i <= 3; ++i) {
      ASSERT_TRUE(s->Append(Batch(i, 2)).ok());
    }
  }
  // Simulate a crash mid-write: half a record at the end of the last segment.
  std::string last;
  for (const auto& e : fs::directory_iterator(dir_)) {
    last = std::max(last, e.path().string());
  }
  auto size = fs::file_size(last);
  // Remove the tail of batch 3 and append garbage.
  fs::resize_file(last, size - 7);
  int fd = open(last.c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(write(fd, "\x05\x00", 2), 2);
  close(fd);
  auto s = Open();
  EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(s->stats().torn_tails, 1u);
  // Appending after the cut works and survives another reopen.
  ASSERT_TRUE(s->Append(Batch(4, 1)).ok());
  s.reset();
  auto again = Open();
  EXPECT_EQ(Unacked(again.get()), (std::vector<uint64_t>{1, 2, 4}));
  EXPECT_EQ(again->stats().torn_tails, 0u);
}

TEST_F(SpoolTest, CorruptChecksumIsDetected) {
  {
    auto s = Open();
    for (uint64_t i = 1; i <= 3; ++i) {
      ASSERT_TRUE(s->Append(Batch(i, 2)).ok());
    }
  }
  std::string seg;
  for (const auto& e : fs::directory_iterator(dir_)) {
    seg = e.path().string();
  }
  auto size = fs::file_size(seg);
  int fd = open(seg.c_str(), O_WRONLY);
  ASSERT_EQ(pwrite(fd, "Z", 1, size - 3), 1);  // flip a byte inside batch 3
  close(fd);
  auto s = Open();
  EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(s->stats().torn_tails, 1u);
}

TEST_F(SpoolTest, CapDropsOldestAndReportsGap) {
  // Segments of 4 KiB, cap 16 KiB; each batch ~1.1 KiB.
  auto s = Open(16 << 10, 4 << 10);
  for (uint64_t i = 1; i <= 40; ++i) {
    ASSERT_TRUE(s->Append(Batch(i, 10, 100)).ok());
  }
  Spool::Stats st = s->stats();
  EXPECT_LE(st.bytes, 16u << 10);
  EXPECT_GT(st.dropped_batches, 0u);
  EXPECT_EQ(st.dropped_results, st.dropped_batches * 10);
  auto gaps = s->TakeGaps();
  ASSERT_FALSE(gaps.empty());
  uint64_t gap_results = 0;
  for (const auto& g : gaps) {
    gap_results += g.results();
  }
  EXPECT_EQ(gap_results, st.dropped_results);
  EXPECT_EQ(gaps.front().first_batch_seq(), 1u);
  // What is left is the newest, contiguous, ending at 40.
  auto left = Unacked(s.get());
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(left.back(), 40u);
  EXPECT_EQ(left.front(), gaps.back().last_batch_seq() + 1);
  EXPECT_TRUE(s->TakeGaps().empty());  // reported once
}

TEST_F(SpoolTest, AckedSegmentsAreDeleted) {
  auto s = Open(1 << 20, 4 << 10);
  for (uint64_t i = 1; i <= 30; ++i) {
    ASSERT_TRUE(s->Append(Batch(i, 10, 100)).ok());
  }
  EXPECT_GT(s->stats().segments, 3u);
  s->Ack(30);
  EXPECT_EQ(s->stats().segments, 1u);
  EXPECT_EQ(s->stats().unacked_batches, 0u);
  EXPECT_FALSE(s->Next(0).has_value());
  s.reset();
  auto again = Open();
  EXPECT_FALSE(again->Next(0).has_value());  // the watermark survived
}

TEST_F(SpoolTest, UnwritableDirectoryIsAClearError) {
  Spool::Options o;
  o.dir = "/proc/sonde-no-such-dir/spool";
  auto s = Spool::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("spool directory"), std::string::npos);
}

}  // namespace
}  // namespace sonde::prober
