#include "prober/uplink/spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

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

  std::unique_ptr<Spool> Open(uint64_t max_bytes = 1 << 20, uint64_t segment_bytes = 1 << 16,
                              uint64_t hold_bytes = 0) {
    Spool::Options o;
    o.dir = dir_;
    o.max_bytes = max_bytes;
    o.segment_bytes = segment_bytes;
    o.hold_bytes = hold_bytes;
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

  // Appends batches 1..3 (4 results each), then damages batch 2 on disk.
  void AppendThreeDamageSecond(Spool* s);

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
  // The torn batch names itself in its first bytes: reported as lost.
  std::vector<v1::Gap> gaps = s->TakeGaps();
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].first_batch_seq(), 3u);
  EXPECT_EQ(gaps[0].last_batch_seq(), 3u);
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
  std::vector<v1::Gap> gaps = s->TakeGaps();
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].first_batch_seq(), 3u);
}

// The one segment of a spool and the offsets of its records.
struct Layout {
  std::string path;
  std::vector<uint64_t> offsets;
};
Layout ReadLayout(const std::string& dir) {
  Layout l;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".log") {
      l.path = e.path().string();
    }
  }
  int fd = open(l.path.c_str(), O_RDONLY);
  uint64_t size = fs::file_size(l.path), pos = 0;
  while (pos + 9 <= size) {
    unsigned char h[9];
    EXPECT_EQ(pread(fd, h, 9, pos), 9);
    l.offsets.push_back(pos);
    pos += 9 + (h[0] | h[1] << 8 | h[2] << 16 | static_cast<uint64_t>(h[3]) << 24);
  }
  close(fd);
  return l;
}

void Overwrite(const std::string& path, uint64_t offset, const std::string& bytes) {
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), offset), static_cast<ssize_t>(bytes.size()));
  close(fd);
}

void SpoolTest::AppendThreeDamageSecond(Spool* s) {
  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(s->Append(Batch(i, 4)).ok());
  }
  s->Sync();
  Layout l = ReadLayout(dir_);
  ASSERT_EQ(l.offsets.size(), 3u);
  Overwrite(l.path, l.offsets[1] + 30, "Z");
}

// A record damaged in the middle of a segment is skipped and reported as a
// gap; the records after it are kept (not cut as a torn tail), also across
// another reopen.
TEST_F(SpoolTest, DamagedRecordInTheMiddleIsAGapNotACut) {
  struct Case {
    const char* name;
    uint64_t at;  // offset in batch 3's record
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"payload bit flip (checksum)", 40, "Z"},
      {"garbage length", 0, "\xff\xff\xff\x7f"},
      {"first bytes gone too (named by its neighbours)", 9, std::string(12, '\xee')},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    {
      auto s = Open();
      for (uint64_t i = 1; i <= 5; ++i) {
        ASSERT_TRUE(s->Append(Batch(i, 2)).ok());
      }
    }
    Layout l = ReadLayout(dir_);
    ASSERT_EQ(l.offsets.size(), 5u);
    const uint64_t size = fs::file_size(l.path);
    Overwrite(l.path, l.offsets[2] + c.at, c.bytes);
    {
      auto s = Open();
      EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{1, 2, 4, 5}));
      EXPECT_EQ(s->stats().torn_tails, 0u);
      EXPECT_EQ(s->stats().unreadable_records, 1u);
      std::vector<v1::Gap> gaps = s->TakeGaps();
      ASSERT_EQ(gaps.size(), 1u);
      EXPECT_EQ(gaps[0].first_batch_seq(), 3u);
      EXPECT_EQ(gaps[0].last_batch_seq(), 3u);
      // Between its neighbours' times.
      EXPECT_GE(gaps[0].from().seconds(), 1700000002);
      EXPECT_LE(gaps[0].to().seconds(), 1700000004);
    }
    EXPECT_EQ(fs::file_size(l.path), size) << "the segment was cut";
    auto again = Open();
    EXPECT_EQ(Unacked(again.get()), (std::vector<uint64_t>{1, 2, 4, 5}));
  }
}

// A damaged ack record loses no result, so no gap is reported.
TEST_F(SpoolTest, DamagedAckRecordIsNoGap) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Append(Batch(1, 2)).ok());
    ASSERT_TRUE(s->Append(Batch(2, 2)).ok());
    s->Ack(1);
    ASSERT_TRUE(s->Append(Batch(3, 2)).ok());
  }
  Layout l = ReadLayout(dir_);
  ASSERT_EQ(l.offsets.size(), 4u);  // batch 1, batch 2, ack 1, batch 3
  Overwrite(l.path, l.offsets[2] + 9, "\x07");
  auto s = Open();
  // Without the watermark batch 1 is sent again; the collector's dedup
  // stores it once.
  EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(s->stats().unreadable_records, 1u);
  EXPECT_TRUE(s->TakeGaps().empty());
}

// A batch that was good when spooled but cannot be read back to be sent is
// given up: counted as dropped, reported as a gap with its exact range and
// count, and the next batch is sent.
TEST_F(SpoolTest, BatchUnreadableOnReadBackIsAGap) {
  auto s = Open();
  AppendThreeDamageSecond(s.get());
  EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{1, 3}));
  std::vector<v1::Gap> gaps = s->TakeGaps();
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].first_batch_seq(), 2u);
  EXPECT_EQ(gaps[0].last_batch_seq(), 2u);
  EXPECT_EQ(gaps[0].results(), 4u);
  EXPECT_EQ(gaps[0].from().seconds(), 1700000002);
  Spool::Stats st = s->stats();
  EXPECT_EQ(st.unreadable_records, 1u);
  EXPECT_EQ(st.dropped_results, 4u);
  EXPECT_EQ(st.unacked_batches, 2u);
}

// CRC-32 as zlib's crc32() computes it (reflected, polynomial 0xEDB88320),
// bit by bit: the spool's record checksum since its first version.
uint32_t ReferenceCrc32(absl::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

std::string U32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) {
    s[i] = static_cast<char>(v >> (8 * i));
  }
  return s;
}

// The record format on disk stays what older probers wrote: a segment made
// by hand, checksummed bit by bit, is read; a record the spool writes
// carries the same checksum.
TEST_F(SpoolTest, RecordChecksumIsZlibsCrc32) {
  ASSERT_EQ(ReferenceCrc32("123456789"), 0xCBF43926u);  // the CRC-32 check value
  const std::string payload = EncodeBatch(Batch(7, 2)).bytes;
  const std::string typed = "\x01" + payload;  // type 1: a batch
  {
    std::ofstream f(dir_ + "/seg-00000000000000000001.log", std::ios::binary);
    f << U32(payload.size()) << U32(ReferenceCrc32(typed)) << typed;
  }
  auto s = Open();
  EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{7}));
  EXPECT_EQ(s->stats().unreadable_records, 0u);
  ASSERT_TRUE(s->Append(Batch(8, 3)).ok());
  s->Sync();
  std::string newest;  // the newest segment ends with batch 8's record
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() == ".log") {
      newest = std::max(newest, e.path().string());
    }
  }
  std::ifstream f(newest, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string batch8 = EncodeBatch(Batch(8, 3)).bytes;
  ASSERT_GE(all.size(), 9 + batch8.size());
  const std::string written = all.substr(all.size() - 9 - batch8.size());
  EXPECT_EQ(written.substr(0, 4), U32(batch8.size()));
  EXPECT_EQ(written.substr(4, 4), U32(ReferenceCrc32(written.substr(8))));
}

// Held batches are handed out from memory, once: the file is not read for
// them (a record damaged on disk after it was written is still sent whole),
// and a second ask (a resend after a reconnect) reads the file.
TEST_F(SpoolTest, HeldBatchIsHandedOutFromMemoryOnce) {
  auto s = Open(1 << 20, 1 << 16, /*hold_bytes=*/1 << 20);
  AppendThreeDamageSecond(s.get());
  std::optional<EncodedBatch> b = s->NextEncoded(1);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->batch_seq, 2u);
  EXPECT_EQ(b->bytes, EncodeBatch(Batch(2, 4)).bytes);
  EXPECT_EQ(b->meta.results, 4u);
  EXPECT_EQ(b->meta.first_seq, 2000u);
  EXPECT_EQ(s->stats().unreadable_records, 0u);
  // Asked again: read back, and the damage is found and reported.
  EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(s->stats().unreadable_records, 1u);
}

// Past hold_bytes the oldest held batches give way: they are read back.
TEST_F(SpoolTest, BatchesPastTheHoldAreReadBack) {
  const uint64_t one = EncodeBatch(Batch(1, 4)).bytes.size();
  auto s = Open(1 << 20, 1 << 16, /*hold_bytes=*/2 * one + one / 2);
  for (uint64_t i = 1; i <= 4; ++i) {
    ASSERT_TRUE(s->Append(Batch(i, 4)).ok());
  }
  s->Sync();
  Layout l = ReadLayout(dir_);
  ASSERT_EQ(l.offsets.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    Overwrite(l.path, l.offsets[i] + 30, "Z");  // every record damaged on disk
  }
  // 1 and 2 gave way (read back: damaged), 3 and 4 are held.
  EXPECT_EQ(Unacked(s.get()), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(s->stats().unreadable_records, 2u);
}

// An ack drops what it covers from the hold; the rest is still handed out.
TEST_F(SpoolTest, AckDropsHeldBatches) {
  auto s = Open(1 << 20, 1 << 16, /*hold_bytes=*/1 << 20);
  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(s->Append(Batch(i, 4)).ok());
  }
  s->Ack(2);
  std::optional<EncodedBatch> b = s->NextEncoded(0);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->batch_seq, 3u);
  EXPECT_FALSE(s->NextEncoded(3).has_value());
}

// A write the disk refuses part-way (here the file size limit, as a full
// disk would): no half record stays behind, the batch stays with the caller
// as it was, and once the disk takes writes again the same batch is
// spooled and handed out from the hold.
TEST_F(SpoolTest, AWriteRefusedPartWayLeavesTheBatchWithTheCaller) {
  auto s = Open(1 << 20, 1 << 16, /*hold_bytes=*/1 << 20);
  ASSERT_TRUE(s->Append(Batch(1, 2)).ok());
  s->Sync();
  const Layout before = ReadLayout(dir_);
  const uint64_t size = fs::file_size(before.path);
  EncodedBatch second = EncodeBatch(Batch(2, 4, 200));
  const std::string bytes = second.bytes;
  {
    // Room for the record's header and a few bytes of the batch: writev
    // returns short, the retry fails with EFBIG (SIGXFSZ ignored).
    struct rlimit old;
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    struct rlimit low = old;
    low.rlim_cur = size + 20;
    sighandler_t was = signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &low), 0);
    const absl::Status st = s->Append(&second);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, was);
    EXPECT_FALSE(st.ok());
  }
  EXPECT_EQ(second.bytes, bytes);
  EXPECT_EQ(s->stats().write_errors, 1u);
  EXPECT_EQ(fs::file_size(before.path), size);  // cut back to the last whole record
  ASSERT_TRUE(s->Append(&second).ok());
  EXPECT_TRUE(second.bytes.empty());  // the hold has them now
  std::optional<EncodedBatch> b = s->NextEncoded(1);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->batch_seq, 2u);
  EXPECT_EQ(b->bytes, bytes);
  // And on disk: both records whole, read back after a reopen.
  s.reset();
  auto again = Open(1 << 20, 1 << 16);
  EXPECT_EQ(Unacked(again.get()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(again->stats().torn_tails, 0u);
}

TEST_F(SpoolTest, FilesAreOwnerOnly) {
  auto s = Open();
  ASSERT_TRUE(s->Append(Batch(1, 1)).ok());
  for (const auto& e : fs::directory_iterator(dir_)) {
    struct stat st;
    ASSERT_EQ(stat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << e.path();
  }
  EXPECT_EQ(s->stats().sync_errors, 0u);
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
