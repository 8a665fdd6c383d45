// Uplink against an in-process Ingest server on a loopback port: losses the
// spool has not reported yet survive a stop (issue 4: a prober stopped right
// after its spool dropped data must not lose the gap marker).
#include "prober/uplink/uplink.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/proto_time.h"
#include "grpcpp/grpcpp.h"
#include "prober/uplink/spool.h"

namespace sonde::prober {
namespace {

namespace fs = std::filesystem;

// Stores every batch it reads and acks it, like a collector whose database
// always commits -- except a batch holding a result of check `refused_check`
// (when set), which ends the stream with INVALID_ARGUMENT, and the first
// `refused_streams` streams, which it ends at once with UNAVAILABLE; its
// acks say Ack.spread when set_spread(true).
class RecordingIngest final : public v1::Ingest::Service {
 public:
  explicit RecordingIngest(std::string refused_check = "", int refused_streams = 0)
      : refused_check_(std::move(refused_check)), refused_streams_(refused_streams) {}
  grpc::Status Report(grpc::ServerContext*,
                      grpc::ServerReaderWriter<v1::Ack, v1::ResultBatch>* stream) override {
    {
      absl::MutexLock l(&mu_);
      stream_starts_.push_back(absl::Now());
      if (static_cast<int>(stream_starts_.size()) <= refused_streams_) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not now");
      }
    }
    v1::ResultBatch batch;
    while (stream->Read(&batch)) {
      for (const v1::ProbeResult& r : batch.results()) {
        if (!refused_check_.empty() && r.check_id() == refused_check_) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "results: a bad one");
        }
      }
      {
        absl::MutexLock l(&mu_);
        batches_.push_back(batch);
      }
      v1::Ack ack;
      ack.set_batch_seq(batch.batch_seq());
      ack.set_spread(spread_.load());
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
  std::vector<absl::Time> stream_starts() {
    absl::MutexLock l(&mu_);
    return stream_starts_;
  }
  // Acks say Ack.spread (a replica in cluster mode).
  void set_spread(bool spread) { spread_ = spread; }

 private:
  std::atomic<bool> spread_{false};
  const std::string refused_check_;
  const int refused_streams_;
  std::vector<absl::Time> stream_starts_ ABSL_GUARDED_BY(mu_);
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

  // The batches a stopped Uplink left in the spool, in order.
  std::vector<v1::ResultBatch> Spooled() const {
    Spool::Options so;
    so.dir = dir_;
    auto spool = Spool::Open(so);
    EXPECT_TRUE(spool.ok()) << spool.status();
    std::vector<v1::ResultBatch> out;
    for (auto b = spool.ok() ? (*spool)->Next(0) : std::nullopt; b;
         b = (*spool)->Next(b->batch_seq())) {
      out.push_back(*b);
    }
    return out;
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

// Issue 13: every batch carries the prober's status as it was formed:
// version, lateness p99, and the spool depth before the batch was added.
TEST_F(UplinkTest, EveryBatchCarriesTheProberStatusAsItWasFormed) {
  Uplink::Options o = SmallSpool();
  o.version = "0.0-test";
  o.status_every = absl::ZeroDuration();  // fresh for every batch, for the test
  {
    auto channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
    auto uplink = Uplink::Create(channel, o);
    ASSERT_TRUE(uplink.ok()) << uplink.status();
    (*uplink)->set_lateness_p99(absl::Milliseconds(3));
    for (int i = 0; i < 30; ++i) {
      (*uplink)->Add(Result(i, 100));
    }
    (*uplink)->Stop(absl::ZeroDuration());  // never started: stores 3 batches of 10
  }
  std::vector<v1::ProberStatus> statuses;
  for (const v1::ResultBatch& b : Spooled()) {
    ASSERT_TRUE(b.has_prober_status()) << b.batch_seq();
    statuses.push_back(b.prober_status());
  }
  ASSERT_EQ(statuses.size(), 3u);
  for (size_t i = 0; i < statuses.size(); ++i) {
    const v1::ProberStatus& s = statuses[i];
    EXPECT_EQ(s.version(), "0.0-test");
    EXPECT_EQ(common::ToDuration(s.lateness_p99()), absl::Milliseconds(3));
    EXPECT_TRUE(common::IsSet(s.as_of()));
    EXPECT_EQ(s.unacked_results(), 10 * i) << "batch " << i;  // the ones spooled before it
    EXPECT_EQ(s.spool_bytes() > 0, i > 0) << "batch " << i;
  }
}

// complete_before: only on the batch that took every pending result, the
// earliest running start when a run is going (else about now), and never
// on the batches of a prober whose scheduler never said what is running.
TEST_F(UplinkTest, OnlyTheBatchThatEmptiesPendingCarriesCompleteBefore) {
  auto formed = [&](bool tell, absl::Time running_since) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    {
      auto channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
      auto uplink = Uplink::Create(channel, SmallSpool());
      EXPECT_TRUE(uplink.ok()) << uplink.status();
      for (int i = 0; i < 25; ++i) {
        (*uplink)->Add(Result(i, 100));
      }
      if (tell) {
        (*uplink)->set_running_since(running_since);
      }
      (*uplink)->Stop(absl::ZeroDuration());  // never started: stores 10 + 10 + 5
    }
    return Spooled();
  };
  const absl::Time before = absl::Now();
  const absl::Time running = absl::FromUnixMicros(absl::ToUnixMicros(before - absl::Seconds(7)));
  std::vector<v1::ResultBatch> b = formed(true, running);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_FALSE(b[0].has_complete_before());
  EXPECT_FALSE(b[1].has_complete_before());
  ASSERT_TRUE(b[2].has_complete_before());
  EXPECT_EQ(common::ToTime(b[2].complete_before()), running) << "a run is going: its start";

  b = formed(true, absl::InfiniteFuture());
  ASSERT_EQ(b.size(), 3u);
  ASSERT_TRUE(b[2].has_complete_before());
  EXPECT_GE(common::ToTime(b[2].complete_before()), before) << "nothing running: now";
  EXPECT_LE(common::ToTime(b[2].complete_before()), absl::Now());

  b = formed(false, absl::InfinitePast());
  ASSERT_EQ(b.size(), 3u);
  for (const v1::ResultBatch& batch : b) {
    EXPECT_FALSE(batch.has_complete_before()) << "nothing known, nothing promised";
  }
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

// Issue 10: a batch the collector refuses is never resent as is. Refused as
// invalid: split until the one bad result is alone, which becomes a gap;
// over the collector's receive limit (RESOURCE_EXHAUSTED from gRPC): the
// same, after finding the culprit one batch at a time. Every other result
// arrives, and delivery goes on.
TEST_F(UplinkTest, RefusedBatchesAreSplitAndTheRefusedResultBecomesACountedGap) {
  for (const bool too_large : {false, true}) {
    SCOPED_TRACE(too_large ? "too large" : "invalid");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    RecordingIngest ingest("bad");
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&ingest);
    builder.SetMaxReceiveMessageSize(64 << 10);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    ASSERT_NE(server, nullptr);
    Uplink::Options o = SmallSpool();
    o.spool_max_bytes = 64 << 20;
    o.max_batch = 40;
    o.max_batch_bytes = 1 << 20;  // above the server's limit: the big result goes
    auto channel =
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                  grpc::InsecureChannelCredentials(), Uplink::ChannelArguments(o));
    auto uplink = Uplink::Create(channel, o);
    ASSERT_TRUE(uplink.ok()) << uplink.status();
    constexpr int kResults = 120;
    for (int i = 0; i < kResults; ++i) {
      v1::ProbeResult r = Result(i, i == 57 && too_large ? 100 << 10 : 100);
      if (i == 57 && !too_large) {
        r.set_check_id("bad");
      }
      (*uplink)->Add(std::move(r));
    }
    (*uplink)->Start();
    uint64_t results = 0, lost = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (results + lost < kResults && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      results = lost = 0;
      for (const v1::ResultBatch& b : ingest.batches()) {
        results += b.results_size();
        lost += GapResults(b);
      }
    }
    (*uplink)->Stop(absl::Seconds(2));
    EXPECT_EQ(results, static_cast<uint64_t>(kResults - 1));
    EXPECT_EQ(lost, 1u) << "the refused result was not reported as a gap";
    Uplink::Stats st = (*uplink)->stats();
    EXPECT_EQ(st.refused_batches, 1u);
    EXPECT_GE(st.split_batches, 1u);
    EXPECT_EQ(st.dropped, 1u);
    EXPECT_EQ((*uplink)->backlog(), 0u);
    server->Shutdown(std::chrono::system_clock::now());
  }
}

// A collector that is reachable but keeps ending streams is retried with
// the backoff capped at refused_backoff_max, not grown towards backoff_max
// (which is for a collector that cannot be reached).
TEST_F(UplinkTest, AReachableCollectorThatRefusesIsRetriedAtTheRefusedCap) {
  constexpr int kRefused = 8;
  RecordingIngest ingest("", kRefused);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&ingest);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  Uplink::Options o = SmallSpool();
  o.backoff_initial = absl::Milliseconds(100);
  o.refused_backoff_max = absl::Milliseconds(300);  // 100 ms x 1.6^7 would be 2.7 s
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                grpc::InsecureChannelCredentials(), Uplink::ChannelArguments(o));
  auto uplink = Uplink::Create(channel, o);
  ASSERT_TRUE(uplink.ok()) << uplink.status();
  (*uplink)->Add(Result(1, 100));
  (*uplink)->Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (ingest.batches().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  (*uplink)->Stop(absl::Seconds(1));
  ASSERT_FALSE(ingest.batches().empty());
  std::vector<absl::Time> starts = ingest.stream_starts();
  ASSERT_GT(starts.size(), static_cast<size_t>(kRefused));
  for (size_t i = 1; i < starts.size(); ++i) {
    // 300 ms +20 % jitter, plus scheduling slack.
    EXPECT_LT(starts[i] - starts[i - 1], absl::Milliseconds(600)) << "attempt " << i;
  }
  server->Shutdown(std::chrono::system_clock::now());
}

// A collector that goes away and listens again on the same port (3 times,
// 3 s away each): the uplink streams again within 2 s of it listening, not
// when gRPC's cached connection failure or its re-resolution timer says so.
TEST_F(UplinkTest, StreamsAgainWithinTwoSecondsOfTheCollectorListeningAgain) {
  int port = 0;
  auto serve = [&port](RecordingIngest* ingest) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(ingest);
    return builder.BuildAndStart();
  };
  auto first = std::make_unique<RecordingIngest>();
  std::unique_ptr<grpc::Server> server = serve(first.get());
  ASSERT_NE(server, nullptr);
  Uplink::Options o = SmallSpool();
  o.max_batch_delay = absl::Milliseconds(100);
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                grpc::InsecureChannelCredentials(), Uplink::ChannelArguments(o));
  auto uplink = Uplink::Create(channel, o);
  ASSERT_TRUE(uplink.ok()) << uplink.status();
  (*uplink)->Start();
  std::atomic<bool> feeding{true};
  std::thread feeder([&] {
    for (int i = 0; feeding && i < 100000; ++i) {
      (*uplink)->Add(Result(i, 100));
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  auto await_batch = [](RecordingIngest* ingest, absl::Duration limit) {
    const absl::Time deadline = absl::Now() + limit;
    while (ingest->batches().empty() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return !ingest->batches().empty();
  };
  ASSERT_TRUE(await_batch(first.get(), absl::Seconds(10)));
  std::vector<std::unique_ptr<RecordingIngest>> ingests;
  for (int restart = 1; restart <= 3; ++restart) {
    server->Shutdown(std::chrono::system_clock::now());  // streams cut, port closed
    server->Wait();
    server.reset();
    absl::SleepFor(absl::Seconds(3));
    ingests.push_back(std::make_unique<RecordingIngest>());
    server = serve(ingests.back().get());
    ASSERT_NE(server, nullptr);
    const absl::Time listening = absl::Now();
    const bool got = await_batch(ingests.back().get(), absl::Seconds(10));
    const absl::Duration took = absl::Now() - listening;
    std::cout << "restart " << restart << ": listening -> first batch received "
              << absl::ToInt64Milliseconds(took) << " ms\n";
    EXPECT_TRUE(got);
    EXPECT_LT(took, absl::Seconds(2)) << "restart " << restart;
  }
  feeding = false;
  feeder.join();
  (*uplink)->Stop(absl::Seconds(2));
  server->Shutdown(std::chrono::system_clock::now());
}

// Issue 14: given two collector replicas, the stream fails over to the
// second when the first goes away and back when the second does, losing
// nothing (every result reaches one of them; resends are the collector's
// dedup to absorb).
TEST_F(UplinkTest, FailsOverBetweenReplicasWithoutLosingAResult) {
  std::vector<std::unique_ptr<RecordingIngest>> ingests;
  auto serve = [&](RecordingIngest* ingest, int* port) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", *port), grpc::InsecureServerCredentials(),
                             port);
    builder.RegisterService(ingest);
    return builder.BuildAndStart();
  };
  int ports[2] = {0, 0};
  std::unique_ptr<grpc::Server> servers[2];
  for (int i = 0; i < 2; ++i) {
    ingests.push_back(std::make_unique<RecordingIngest>());
    servers[i] = serve(ingests.back().get(), &ports[i]);
    ASSERT_NE(servers[i], nullptr);
  }
  std::vector<CollectorTargets::Target> list;
  for (int port : ports) {
    const std::string address = absl::StrCat("127.0.0.1:", port);
    list.push_back({address, grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                                       Uplink::ChannelArguments(SmallSpool()))});
  }
  auto targets = std::make_shared<CollectorTargets>(std::move(list));
  const size_t first = targets->current();
  auto uplink = Uplink::Create(targets, SmallSpool());
  ASSERT_TRUE(uplink.ok()) << uplink.status();
  (*uplink)->Start();
  int added = 0;
  auto feed_until = [&](RecordingIngest* ingest, size_t batches) {
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    while (ingest->batches().size() < batches && absl::Now() < deadline) {
      for (int i = 0; i < 10; ++i) {
        (*uplink)->Add(Result(added++, 10));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return ingest->batches().size() >= batches;
  };
  ASSERT_TRUE(feed_until(ingests[first].get(), 3)) << "nothing reached the first replica";
  // The first replica dies; the second takes the stream.
  servers[first]->Shutdown(std::chrono::system_clock::now());
  servers[first]->Wait();
  const size_t second = 1 - first;
  ASSERT_TRUE(feed_until(ingests[second].get(), 3)) << "no failover to the second replica";
  // The first comes back on its port and the second dies: back to the first.
  ingests.push_back(std::make_unique<RecordingIngest>());
  RecordingIngest* again = ingests.back().get();
  servers[first] = serve(again, &ports[first]);
  ASSERT_NE(servers[first], nullptr);
  servers[second]->Shutdown(std::chrono::system_clock::now());
  servers[second]->Wait();
  ASSERT_TRUE(feed_until(again, 3)) << "no failover back to the first replica";
  (*uplink)->Stop(absl::Seconds(5));
  EXPECT_EQ((*uplink)->backlog(), 0u);
  std::set<uint64_t> seqs;
  uint64_t min_seq = UINT64_MAX;
  for (const auto& ingest : ingests) {
    for (const v1::ResultBatch& b : ingest->batches()) {
      for (const v1::ProbeResult& r : b.results()) {
        seqs.insert(r.seq());
        min_seq = std::min(min_seq, r.seq());
      }
    }
  }
  EXPECT_EQ(seqs.size(), static_cast<size_t>(added)) << "results lost";
  EXPECT_EQ(*seqs.rbegin() - min_seq + 1, static_cast<uint64_t>(added)) << "seqs not contiguous";
  servers[first]->Shutdown(std::chrono::system_clock::now());
}

// Cluster mode (Ack.spread): the first ack draws a replica; when that is
// another one, the prober stops sending, waits for its in-flight acks and
// moves there -- nothing is sent twice, nothing lost.
TEST_F(UplinkTest, MovesOnceToTheReplicaDrawnWhenTheAcksSaySpread) {
  // A seed whose first draw, streaming to replica 0, is replica 1.
  uint64_t seed = 1;
  std::vector<CollectorTargets::Target> probe;
  for (int i = 0; i < 2; ++i) {
    probe.push_back(
        {"unused", grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials())});
  }
  while (!CollectorTargets(probe, seed).LearnSpread(true, 0)) {
    ++seed;
  }
  std::vector<std::unique_ptr<RecordingIngest>> ingests;
  std::unique_ptr<grpc::Server> servers[2];
  std::vector<CollectorTargets::Target> list;
  for (int i = 0; i < 2; ++i) {
    ingests.push_back(std::make_unique<RecordingIngest>());
    ingests.back()->set_spread(true);
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(ingests.back().get());
    servers[i] = builder.BuildAndStart();
    ASSERT_NE(servers[i], nullptr);
    const std::string address = absl::StrCat("127.0.0.1:", port);
    list.push_back({address, grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                                       Uplink::ChannelArguments(SmallSpool()))});
  }
  auto targets = std::make_shared<CollectorTargets>(std::move(list), seed);
  auto uplink = Uplink::Create(targets, SmallSpool());
  ASSERT_TRUE(uplink.ok()) << uplink.status();
  (*uplink)->Start();
  int added = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (ingests[1]->batches().size() < 5 && absl::Now() < deadline) {
    for (int i = 0; i < 10; ++i) {
      (*uplink)->Add(Result(added++, 10));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(ingests[1]->batches().size(), 5u) << "the prober did not move to the drawn replica";
  EXPECT_TRUE(targets->spread());
  EXPECT_EQ(targets->current(), 1u);
  EXPECT_GE(ingests[0]->batches().size(), 1u) << "the start went to the first replica";
  EXPECT_EQ(ingests[0]->stream_starts().size(), 1u);
  EXPECT_EQ(ingests[1]->stream_starts().size(), 1u) << "moved more than once";
  (*uplink)->Stop(absl::Seconds(5));
  EXPECT_EQ((*uplink)->backlog(), 0u);
  std::set<uint64_t> batch_seqs, seqs;
  size_t batches = 0;
  for (const auto& ingest : ingests) {
    for (const v1::ResultBatch& b : ingest->batches()) {
      batches++;
      batch_seqs.insert(b.batch_seq());
      for (const v1::ProbeResult& r : b.results()) {
        seqs.insert(r.seq());
      }
    }
  }
  EXPECT_EQ(batch_seqs.size(), batches) << "a batch was sent to both replicas";
  EXPECT_EQ(seqs.size(), static_cast<size_t>(added)) << "results lost";
  for (auto& server : servers) {
    server->Shutdown(std::chrono::system_clock::now());
  }
}

}  // namespace
}  // namespace sonde::prober
