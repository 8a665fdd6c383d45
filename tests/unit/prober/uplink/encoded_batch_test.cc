#include "prober/uplink/encoded_batch.h"

#include <gtest/gtest.h>

#include <string>

#include "common/proto_time.h"
#include "google/protobuf/util/message_differencer.h"

namespace sonde::prober {
namespace {

v1::ProbeResult Result(uint64_t seq, int64_t start_s, const std::string& detail) {
  v1::ProbeResult r;
  r.set_check_id("check-" + std::to_string(seq));
  r.set_seq(seq);
  r.set_detail(detail);
  r.set_failure_class(seq % 2 == 0 ? v1::FailureClass::OK : v1::FailureClass::TCP_REFUSED);
  r.mutable_start_time()->set_seconds(start_s);
  r.mutable_start_time()->set_nanos(123456789);
  return r;
}

// The bytes the Uplink spools and streams (a header followed by results
// encoded one by one) parse to the batch a whole-message serialisation
// gives: the collector sees the same ResultBatch.
TEST(EncodedBatchTest, HeaderAndEncodedResultsParseAsTheBatch) {
  v1::ResultBatch header;
  header.set_prober_id("p1");
  header.set_region("fra");
  header.set_batch_seq(42);
  header.add_gaps()->set_results(3);
  common::SetTimestamp(absl::FromUnixSeconds(1000), header.mutable_complete_before());
  header.mutable_prober_status()->set_version("v");

  v1::ResultBatch whole = header;
  std::string results;
  size_t total = 0;
  for (uint64_t seq = 7; seq < 10; ++seq) {
    // A large detail makes a length of more than one varint byte.
    v1::ProbeResult r = Result(seq, 900 + static_cast<int64_t>(seq), std::string(seq * 40, 'x'));
    total += AppendEncodedResult(r, &results);
    *whole.add_results() = r;
  }
  EXPECT_EQ(total, results.size());
  ResultsMeta meta{3, absl::FromUnixSeconds(907) + absl::Nanoseconds(123456789), 7, 9};

  EncodedBatch e = EncodeBatch(header, results, meta);
  v1::ResultBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(e.bytes));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, whole))
      << parsed.DebugString();
  EXPECT_EQ(e.batch_seq, 42u);
  ASSERT_EQ(e.gaps.size(), 1u);
  EXPECT_EQ(e.gaps[0].results(), 3u);

  // The whole-message form describes itself the same way.
  EncodedBatch w = EncodeBatch(whole);
  EXPECT_EQ(w.meta.results, 3u);
  EXPECT_EQ(w.meta.first_seq, 7u);
  EXPECT_EQ(w.meta.last_seq, 9u);
  EXPECT_EQ(w.meta.first_start, meta.first_start);
  EXPECT_EQ(w.batch_seq, 42u);
  // The header leads (the spool's recovery reads batch_seq from a prefix).
  EXPECT_EQ(static_cast<unsigned char>(e.bytes[0]), 0x0A);
}

// A result encoded with its stamp beside it parses as the message with the
// stamp's fields set in it: what the Scheduler's sink hands the Uplink is
// what the collector reads. An empty field is not written (proto3), a long
// one takes a two-byte length, and a start time keeps its nanoseconds (zero
// parts are not written; the epoch is a present, empty Timestamp).
TEST(EncodedBatchTest, StampFieldsParseAsTheResultsOwn) {
  const std::string long_id(300, 'c');
  const absl::Time now = absl::FromUnixSeconds(1'796'000'000) + absl::Nanoseconds(123'456'789);
  const ResultStamp stamps[] = {
      {"shop-health", "shop", "http", "vm-fra-1", "fra", now},
      {long_id, "", "dns", "p\xc3\xa4", "", absl::FromUnixSeconds(1'796'000'000)},
      {"a", "b", "tcp", "p", "r", absl::UnixEpoch() + absl::Nanoseconds(5)},
      {"a", "b", "tcp", "p", "r", absl::UnixEpoch()},
      {"a", "b", "tcp", "p", "r", absl::UnixEpoch() - absl::Milliseconds(1500)},
      {"a", "b", "tcp", "p", "r"},  // no start: the message's own
  };
  for (const ResultStamp& stamp : stamps) {
    v1::ProbeResult r = Result(5, 1000, std::string(200, 'd'));
    r.clear_check_id();
    if (stamp.has_start()) {
      r.clear_start_time();
    }
    std::string bytes;
    const size_t n = AppendEncodedResult(r, stamp, &bytes);
    EXPECT_EQ(n, bytes.size());

    v1::ResultBatch parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    ASSERT_EQ(parsed.results_size(), 1);
    v1::ProbeResult want = r;
    ApplyStamp(stamp, &want);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed.results(0), want))
        << parsed.results(0).DebugString();
    EXPECT_TRUE(parsed.results(0).has_start_time());
    EXPECT_EQ(common::ToTime(parsed.results(0).start_time()),
              stamp.has_start() ? stamp.start : common::ToTime(r.start_time()));
    // Not a byte more than the stamped message's own encoding.
    EXPECT_EQ(parsed.results(0).ByteSizeLong(), want.ByteSizeLong());
    std::string canonical;
    AppendEncodedResult(want, &canonical);
    EXPECT_EQ(bytes.size(), canonical.size());
  }
}

TEST(EncodedBatchTest, EmptyBatchHasNoResults) {
  v1::ResultBatch header;
  header.set_prober_id("p1");
  EncodedBatch e = EncodeBatch(header, "", ResultsMeta{});
  v1::ResultBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(e.bytes));
  EXPECT_EQ(parsed.results_size(), 0);
  EXPECT_EQ(e.meta.results, 0u);
  EXPECT_EQ(EncodeBatch(header).meta.first_start, absl::InfiniteFuture());
}

}  // namespace
}  // namespace sonde::prober
