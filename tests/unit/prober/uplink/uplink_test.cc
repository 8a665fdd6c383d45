// Uplink against an in-process Ingest server on a loopback port: losses the
// spool has not reported yet survive a stop (issue 4: a prober stopped right
// after its spool dropped data must not lose the gap marker).
#include "prober/uplink/uplink.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "prober/uplink/spool.h"

namespace sonde::prober {
namespace {

namespace fs = std::filesystem;

// Stores every batch it reads and acks it, like a collector whose database
// always commits.
class RecordingIngest final : public v1::Ingest::Service {
 public:
  grpc::Status Report(grpc::ServerContext*,
                      grpc::ServerReaderWriter<v1::Ack, v1::ResultBatch>* stream) override {
    v1::ResultBatch batch;
    while (stream->Read(&batch)) {
      {
        absl::MutexLock l(&mu_);
        batches_.push_back(batch);
      }
      v1::Ack ack;
      ack.set_batch_seq(batch.batch_seq());
      if (!stream->Write(ack)) {
        break;
      }
    }
    return grpc::Status::OK;
  }
  std::vector<v1::ResultBatch> batches() {
    absl::MutexLock l(&mu_);
    return batches_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::ResultBatch> batches_ ABSL_GUARDED_BY(mu_);
};

v1::ProbeResult Result(int i, size_t detail_bytes) {
  v1::ProbeResult r;
  r.set_check_id(absl::StrCat("c-", i % 10));
  r.set_ok(true);
  r.set_detail(std::string(detail_bytes, 'x'));
  r.mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  return r;
}

uint64_t GapResults(const v1::ResultBatch& b) {
  uint64_t n = 0;
  for (const v1::Gap& g : b.gaps()) {
    n += g.results();
  }
  return n;
}

class UplinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sonde-uplink.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  Uplink::Options SmallSpool() const {
    Uplink::Options o;
    o.prober_id = "p-test";
    o.region = "fra";
    o.spool_dir = dir_;
    o.spool_max_bytes = 64 << 10;  // segments of 16 KiB
    o.max_batch = 10;
    o.backoff_initial = absl::Milliseconds(100);
    return o;
  }

  std::string dir_;
};

TEST_F(UplinkTest, ALossNotYetReportedAtStopIsSpooledAndSentByTheNextRun) {
  // Run 1: the collector is unreachable (nothing listens on port 1). 20 small
  // batches (~100 KiB, over the 64 KiB cap), then a 40 KiB result in a batch
  // of its own: spooling it drops older segments, and that loss has no later
  // batch to ride on.
  constexpr int kSmall = 200;
  uint64_t dropped = 0;
  {
    auto channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
    auto uplink = Uplink::Create(channel, SmallSpool());
    ASSERT_TRUE(uplink.ok()) << uplink.status();
    for (int i = 0; i < kSmall; ++i) {
      (*uplink)->Add(Result(i, 500));
    }
    (*uplink)->Add(Result(kSmall, 40 << 10));
    (*uplink)->Stop(absl::ZeroDuration());  // never started: stores and returns
    Uplink::Stats st = (*uplink)->stats();
    ASSERT_GT(st.dropped, 0u) << "the spool did not overflow";
    dropped = st.dropped;
  }

  // What is on disk closes the books: unacked + reported lost = produced.
  {
    Spool::Options so;
    so.dir = dir_;
    so.max_bytes = 1ull << 40;
    auto spool = Spool::Open(so);
    ASSERT_TRUE(spool.ok()) << spool.status();
    uint64_t lost = 0, results = 0;
    for (auto b = (*spool)->Next(0); b; b = (*spool)->Next(b->batch_seq())) {
      lost += GapResults(*b);
      results += b->results_size();
      for (const v1::Gap& g : b->gaps()) {
        EXPECT_GT(g.from().seconds(), 0);
        EXPECT_LT(g.to().seconds(), absl::ToUnixSeconds(absl::Now()) + 60);
      }
    }
    EXPECT_EQ(lost, dropped) << "the loss was not kept for the next run";
    EXPECT_EQ(results + lost, static_cast<uint64_t>(kSmall + 1));
  }

  // Run 2, collector up: the kept report reaches it.
  RecordingIngest ingest;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&ingest);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  auto uplink = Uplink::Create(channel, SmallSpool());
  ASSERT_TRUE(uplink.ok()) << uplink.status();
  (*uplink)->Start();
  // Not stopped until it all arrived: the next run sends the report on its
  // own, not only because it stops.
  uint64_t lost = 0, results = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (lost < dropped || (*uplink)->backlog() > 0) {
    ASSERT_LT(absl::Now(), deadline) << "run 2 did not deliver the spool; lost reported: " << lost;
    absl::SleepFor(absl::Milliseconds(20));
    lost = results = 0;
    for (const v1::ResultBatch& b : ingest.batches()) {
      lost += GapResults(b);
      results += b.results_size();
    }
  }
  (*uplink)->Stop(absl::Seconds(5));
  EXPECT_EQ(lost, dropped);
  EXPECT_EQ(results + lost, static_cast<uint64_t>(kSmall + 1));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

TEST_F(UplinkTest, ALossPendingAtStopIsSentBeforeExitWhenTheCollectorIsUp) {
  // A port that was free a moment ago; the collector starts on it later.
  int port = 0;
  {
    RecordingIngest unused;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&unused);
    std::unique_ptr<grpc::Server> probe = builder.BuildAndStart();
    ASSERT_NE(probe, nullptr);
    probe->Shutdown();
  }
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  auto uplink = Uplink::Create(channel, SmallSpool());
  ASSERT_TRUE(uplink.ok()) << uplink.status();
  (*uplink)->Start();
  constexpr int kSmall = 200;
  for (int i = 0; i < kSmall; ++i) {
    (*uplink)->Add(Result(i, 500));
  }
  (*uplink)->Add(Result(kSmall, 40 << 10));
  // The big result's batch is formed after the 1 s batch delay; spooling it
  // drops older segments, and no later result will carry that loss.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*uplink)->stats().spooled_batches < kSmall / 10 + 1) {
    ASSERT_LT(absl::Now(), deadline) << "the spool did not overflow";
    absl::SleepFor(absl::Milliseconds(20));
  }

  RecordingIngest ingest;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials());
  builder.RegisterService(&ingest);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  (*uplink)->Stop(absl::Seconds(10));
  EXPECT_EQ((*uplink)->backlog(), 0u);

  uint64_t lost = 0, results = 0;
  int gap_only = 0;
  for (const v1::ResultBatch& b : ingest.batches()) {
    lost += GapResults(b);
    results += b.results_size();
    if (b.results_size() == 0 && b.gaps_size() > 0) {
      ++gap_only;
    }
  }
  EXPECT_GE(gap_only, 1);
  EXPECT_GT(lost, 0u);
  EXPECT_EQ(lost, (*uplink)->stats().dropped) << "a loss was not reported before exit";
  EXPECT_EQ(results + lost, static_cast<uint64_t>(kSmall + 1));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace
}  // namespace sonde::prober
