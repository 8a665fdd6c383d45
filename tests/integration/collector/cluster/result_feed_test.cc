// The result feed (collector/cluster/result_feed.h, storage/feed_rows.h)
// against PostgreSQL, through the real ingest path (Store::InsertBatch):
// a batch whose transaction took its xid first but commits last is still
// read, once; concurrent writers are read exactly once per (prober, seq);
// a reader gets only its shards; a rebuild and the feed that follows it
// agree on one snapshot; retention drops old feed rows.
#include "collector/cluster/result_feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/cluster/shards.h"
#include "collector/storage/partitions.h"
#include "collector/storage/retention.h"
#include "collector/storage/store.h"
#include "common/proto_time.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/testing/postgres_fixture.h"

namespace sonde::collector::cluster {
namespace {

// The PostgreSQL server is registered once for the binary, in members_test.cc.

using google::protobuf::util::MessageDifferencer;

const std::string& Conninfo() { return sonde::testing::PostgresEnvironment::conninfo(); }

// Services whose checks land in two different shards.
struct TwoShards {
  std::string a, b;
};
TwoShards ServicesInTwoShards() {
  TwoShards t{"svc-0", ""};
  for (int i = 1; t.b.empty(); ++i) {
    const std::string s = absl::StrCat("svc-", i);
    if (ShardOf(s) != ShardOf(t.a)) {
      t.b = s;
    }
  }
  return t;
}

// A batch of `n` results of `prober`, seqs from `first_seq`, checks
// "<service>-<prober>-<k % 5>" of the services given in turn (each prober
// its own checks: their rollup rows are apart), started `start`.
v1::ResultBatch MakeBatch(const std::string& prober, uint64_t batch_seq, uint64_t first_seq, int n,
                          const std::vector<std::string>& services,
                          absl::Time start = absl::Now()) {
  start = absl::FromUnixMicros(absl::ToUnixMicros(start));  // as stored
  v1::ResultBatch b;
  b.set_prober_id(prober);
  b.set_region("fra");
  b.set_batch_seq(batch_seq);
  common::SetTimestamp(start + absl::Seconds(1), b.mutable_complete_before());
  for (int k = 0; k < n; ++k) {
    v1::ProbeResult* r = b.add_results();
    const std::string& service = services[k % services.size()];
    r->set_check_id(absl::StrCat(service, "-", prober, "-", k % 5));
    r->set_service(service);
    r->set_kind("http");
    r->set_prober_id(prober);
    r->set_region("fra");
    r->set_seq(first_seq + k);
    common::SetTimestamp(start + absl::Milliseconds(k), r->mutable_start_time());
    r->set_dns_us(100 + k);
    r->set_connect_us(200 + k);
    r->set_tls_us(300 + k);
    r->set_first_byte_us(400 + k);
    r->set_total_us(1000 + k);
    r->set_target(absl::StrCat("https://", service, ".test/"));
    r->set_resolved_address("192.0.2.1:443");
    r->set_request_index(k % 2);
    if (k % 3 == 0) {  // every field detection reads, set
      r->set_ok(false);
      r->set_failure_class(v1::FailureClass::HTTP_STATUS);
      r->set_detail("HTTP 503, expected 200-399");
      r->set_http_status(503);
      r->set_cert_not_after("2027-01-02T03:04:05Z");
      r->set_cert_days_left(27);
      r->set_chain_not_after("2027-01-01T00:00:00Z");
      r->set_fallback_address("192.0.2.9:443");
      r->set_fallback_class(v1::FailureClass::OK);
      r->set_fallback_http_status(200);
    } else {
      r->set_ok(true);
      r->set_failure_class(v1::FailureClass::OK);
      r->set_http_status(200);
    }
  }
  return b;
}

// Every result of `batches` by (prober, seq).
std::map<std::pair<std::string, uint64_t>, v1::ProbeResult> ByKey(
    const std::vector<v1::ResultBatch>& batches) {
  std::map<std::pair<std::string, uint64_t>, v1::ProbeResult> out;
  for (const v1::ResultBatch& b : batches) {
    for (const v1::ProbeResult& r : b.results()) {
      out[{r.prober_id(), r.seq()}] = r;
    }
  }
  return out;
}

std::unique_ptr<Store> ConnectStore() {
  auto s = Store::Connect(Conninfo());
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

pg::PgConnPtr Connect(const char* name) {
  auto c = pg::Connect(Conninfo(), name);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : pg::PgConnPtr();
}

// A feed of every shard from `from`.
std::unique_ptr<ResultFeed> AllShards(const FeedPosition& from) {
  auto feed = std::make_unique<ResultFeed>();
  for (int s = 0; s < kShardCount; ++s) {
    feed->Follow(s, from);
  }
  return feed;
}

// What a reader got: (prober, seq) -> times seen, and the batches.
struct Seen {
  std::map<std::pair<std::string, uint64_t>, int> times;
  std::vector<v1::ResultBatch> batches;

  FeedSink Sink() {
    return [this](v1::ResultBatch&& b) {
      for (const v1::ProbeResult& r : b.results()) {
        ++times[{r.prober_id(), r.seq()}];
      }
      batches.push_back(std::move(b));
      return absl::OkStatus();
    };
  }
  int Count(const std::string& prober) const {
    int n = 0;
    for (const auto& [key, t] : times) {
      n += key.first == prober ? t : 0;
    }
    return n;
  }
};

class ResultFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = ConnectStore();
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->Migrate().ok());
    reader_ = Connect("feed-reader");
    ASSERT_NE(reader_, nullptr);
  }

  // Runs InsertBatch of `batch` on its own Store and thread while `locker`
  // holds the day rollup row of its first check (stored before): the batch's transaction has
  // its xid (the feed row is its first write) and waits there until the
  // locker's transaction ends. Returns when it waits.
  void StartBlockedBatch(PGconn* locker, const v1::ResultBatch& batch) {
    ASSERT_TRUE(pg::Exec(locker, "BEGIN", "t").ok());
    ASSERT_TRUE(pg::ExecParams(locker, "SELECT 1 FROM rollup_day WHERE check_id = $1 FOR UPDATE",
                               {batch.results(0).check_id()}, "t")
                    .ok());
    blocked_store_ = ConnectStore();
    ASSERT_NE(blocked_store_, nullptr);
    const int pid = blocked_store_->backend_pid();
    blocked_ = std::thread([this, batch] { blocked_result_ = blocked_store_->InsertBatch(batch); });
    for (int i = 0; i < 500; ++i) {  // bounded: 10 s
      auto waiting = store_->QueryColumn(
          absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE pid = ", pid,
                       " AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL"));
      if (waiting.ok() && !waiting->empty() && (*waiting)[0] == "1") {
        return;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    FAIL() << "the batch never waited on the rollup row";
  }

  void FinishBlockedBatch(PGconn* locker) {
    ASSERT_TRUE(pg::Exec(locker, "COMMIT", "t").ok());
    blocked_.join();
    ASSERT_TRUE(blocked_result_.ok()) << blocked_result_.status();
    EXPECT_FALSE(*blocked_result_);
  }

  void TearDown() override {
    if (blocked_.joinable()) {  // a failed assertion left it waiting
      locker_.reset();
      blocked_.join();
    }
  }

  std::unique_ptr<Store> store_;
  pg::PgConnPtr reader_;
  pg::PgConnPtr locker_;
  std::unique_ptr<Store> blocked_store_;
  std::thread blocked_;
  absl::StatusOr<bool> blocked_result_ = false;
};

TEST_F(ResultFeedTest, ABatchCommittingAfterALaterOneIsReadOnce) {
  const TwoShards svc = ServicesInTwoShards();
  // p1's first batch makes the rollup row the locker will hold.
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(store_->InsertBatch(MakeBatch("p1", 1, 1, 10, {svc.a, svc.b}, t0)).ok());
  std::vector<v1::ResultBatch> sent;
  auto start = CurrentFeedPosition(reader_.get());
  ASSERT_TRUE(start.ok()) << start.status();
  std::unique_ptr<ResultFeed> all = AllShards(*start);
  ResultFeed& feed = *all;
  Seen seen;

  // p1's batch 2 takes its xid first and waits; p2's batch (a later xid)
  // commits while it waits.
  locker_ = Connect("locker");
  sent.push_back(MakeBatch("p1", 2, 11, 10, {svc.a, svc.b}, t0));
  sent.push_back(MakeBatch("p2", 1, 1, 10, {svc.a, svc.b}, t0));
  StartBlockedBatch(locker_.get(), sent[0]);
  auto p2 = store_->InsertBatch(sent[1]);
  ASSERT_TRUE(p2.ok()) << p2.status();
  auto xids = store_->QueryColumn("SELECT DISTINCT xid::text FROM result_feed ORDER BY 1");
  ASSERT_TRUE(xids.ok());
  ASSERT_EQ(xids->size(), 2u) << "p1's first batch and p2's are visible";

  auto first = feed.Read(reader_.get(), seen.Sink());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(seen.Count("p2"), 10) << "the later transaction, committed, is read at once";
  EXPECT_EQ(seen.Count("p1"), 0) << "p1's first batch was before the start; its second is open";
  EXPECT_EQ(first->feed_rows, 2) << "p2's batch touched two shards";

  FinishBlockedBatch(locker_.get());
  auto second = feed.Read(reader_.get(), seen.Sink());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(seen.Count("p1"), 10) << "the earlier xid, committed last, is not skipped";
  for (uint64_t seq = 11; seq <= 20; ++seq) {
    EXPECT_EQ((seen.times[{"p1", seq}]), 1) << seq;
  }
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    EXPECT_EQ((seen.times[{"p2", seq}]), 1) << seq;
  }
  auto third = feed.Read(reader_.get(), seen.Sink());
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->results, 0) << "nothing is read twice";

  // The batches are ingest-shaped: identity, promise, and every result as
  // it was sent (MakeBatch sets only fields detection reads).
  const auto sent_results = ByKey(sent);
  const auto read_results = ByKey(seen.batches);
  ASSERT_EQ(read_results.size(), sent_results.size());
  for (const auto& [key, r] : sent_results) {
    EXPECT_TRUE(MessageDifferencer::Equals(read_results.at(key), r))
        << "sent " << r.ShortDebugString() << "\nread " << read_results.at(key).ShortDebugString();
  }
  for (const v1::ResultBatch& b : seen.batches) {
    EXPECT_EQ(b.region(), "fra");
    EXPECT_EQ(common::ToTime(b.complete_before()), common::ToTime(sent[0].complete_before()));
  }
  for (const v1::ResultBatch& batch : seen.batches) {
    std::set<int> shards;
    for (const v1::ProbeResult& r : batch.results()) {
      shards.insert(ShardOf(r));
    }
    EXPECT_EQ(shards.size(), 1u) << "a batch holds one shard's results";
  }
}

TEST_F(ResultFeedTest, ARebuildAndTheFeedAfterItSeeEveryResultOnce) {
  const TwoShards svc = ServicesInTwoShards();
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(store_->InsertBatch(MakeBatch("p1", 1, 1, 10, {svc.a}, t0)).ok());
  locker_ = Connect("locker");
  // In flight while the new owner rebuilds: the rebuild cannot see it, the
  // feed from the rebuild's snapshot must.
  StartBlockedBatch(locker_.get(), MakeBatch("p1", 2, 11, 10, {svc.a}, t0));
  auto p2 = store_->InsertBatch(MakeBatch("p2", 1, 1, 10, {svc.a}, t0));
  ASSERT_TRUE(p2.ok()) << p2.status();

  Seen seen;
  // The new owner's config: the checks of both services.
  v1::Config config;
  for (const std::string& service : {svc.a, svc.b}) {
    for (const char* prober : {"p1", "p2"}) {
      for (int k = 0; k < 5; ++k) {
        v1::Check* check = config.add_checks();
        check->set_name(absl::StrCat(service, "-", prober, "-", k));
        check->set_service(service);
      }
    }
  }
  const std::vector<std::string> checks = ChecksInShards(config, {ShardOf(svc.a)});
  EXPECT_EQ(checks.size(), 10u);
  FeedReadStats rebuilt;
  auto horizon = ReadResultsSince(reader_.get(), checks, t0 - absl::Minutes(1), seen.Sink(),
                                  &rebuilt, FeedReadLimits{/*chunk=*/7, /*max_batch=*/4});
  ASSERT_TRUE(horizon.ok()) << horizon.status();
  EXPECT_EQ(rebuilt.results, 20) << "p1's first batch and p2's";
  for (const v1::ResultBatch& b : seen.batches) {
    EXPECT_LE(b.results_size(), 4);
  }

  ResultFeed feed;
  feed.Follow(ShardOf(svc.a), *horizon);
  ASSERT_TRUE(store_->InsertBatch(MakeBatch("p2", 2, 11, 10, {svc.a}, t0)).ok());
  FinishBlockedBatch(locker_.get());
  auto read = feed.Read(reader_.get(), seen.Sink());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->results, 20) << "the batch in flight and the one after";
  EXPECT_EQ(seen.times.size(), 40u);
  for (const auto& [key, times] : seen.times) {
    EXPECT_EQ(times, 1) << key.first << " " << key.second;
  }
}

TEST_F(ResultFeedTest, ConcurrentWritersAreReadExactlyOnce) {
  constexpr int kWriters = 4;
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 25;
  std::vector<std::string> services;
  for (int i = 0; i < 12; ++i) {
    services.push_back(absl::StrCat("svc-", i));
  }
  std::unique_ptr<ResultFeed> all = AllShards(*CurrentFeedPosition(reader_.get()));
  ResultFeed& feed = *all;
  Seen seen;
  std::atomic<int> done{0};
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::unique_ptr<Store> store = ConnectStore();
      for (int b = 0; store != nullptr && b < kBatches; ++b) {
        auto st = store->InsertBatch(
            MakeBatch(absl::StrCat("w", w), b + 1, b * kPerBatch + 1, kPerBatch, services));
        failures += st.ok() ? 0 : 1;
      }
      ++done;
    });
  }
  int reads = 0;
  while (done.load() < kWriters && reads < 5000) {  // bounded
    auto r = feed.Read(reader_.get(), seen.Sink());
    ASSERT_TRUE(r.ok()) << r.status();
    ++reads;
  }
  for (std::thread& t : writers) {
    t.join();
  }
  ASSERT_TRUE(feed.Read(reader_.get(), seen.Sink()).ok());
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads, 1) << "the reader ran beside the writers";
  EXPECT_EQ(seen.times.size(), static_cast<size_t>(kWriters * kBatches * kPerBatch));
  for (const auto& [key, times] : seen.times) {
    ASSERT_EQ(times, 1) << key.first << " seq " << key.second;
  }
}

TEST_F(ResultFeedTest, AReaderGetsOnlyItsShards) {
  const TwoShards svc = ServicesInTwoShards();
  const FeedPosition start = *CurrentFeedPosition(reader_.get());
  ASSERT_TRUE(store_->InsertBatch(MakeBatch("p1", 1, 1, 30, {svc.a, svc.b})).ok());
  ResultFeed only_a, only_b, neither;
  only_a.Follow(ShardOf(svc.a), start);
  only_b.Follow(ShardOf(svc.b), start);
  for (int shard = 0; shard < kShardCount; ++shard) {
    if (shard != ShardOf(svc.a) && shard != ShardOf(svc.b)) {
      neither.Follow(shard, start);
    }
  }
  Seen a, b, none;
  ASSERT_TRUE(only_a.Read(reader_.get(), a.Sink()).ok());
  ASSERT_TRUE(only_b.Read(reader_.get(), b.Sink()).ok());
  ASSERT_TRUE(neither.Read(reader_.get(), none.Sink()).ok());
  EXPECT_EQ(a.times.size(), 15u);
  EXPECT_EQ(b.times.size(), 15u);
  EXPECT_TRUE(none.times.empty());
  for (const v1::ResultBatch& batch : a.batches) {
    for (const v1::ProbeResult& r : batch.results()) {
      EXPECT_EQ(r.service(), svc.a);
    }
  }
  for (const v1::ResultBatch& batch : b.batches) {
    for (const v1::ProbeResult& r : batch.results()) {
      EXPECT_EQ(r.service(), svc.b);
    }
  }
  // One feed, two shards from two positions (b taken over after the first
  // batch): one read returns each shard's rows after its own position.
  const FeedPosition later = *CurrentFeedPosition(reader_.get());
  ASSERT_TRUE(store_->InsertBatch(MakeBatch("p1", 2, 31, 30, {svc.a, svc.b})).ok());
  ResultFeed both;
  both.Follow(ShardOf(svc.a), start);
  both.Follow(ShardOf(svc.b), later);
  Seen two;
  auto read = both.Read(reader_.get(), two.Sink());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->results, 45) << "a: both batches; b: the second only";
  EXPECT_EQ(both.position(ShardOf(svc.a)), both.position(ShardOf(svc.b)));
  both.Drop(ShardOf(svc.a));
  EXPECT_EQ(both.shards(), std::vector<int>{ShardOf(svc.b)});
}

TEST_F(ResultFeedTest, ADuplicateBatchWritesNoFeedRow) {
  const v1::ResultBatch batch = MakeBatch("p1", 1, 1, 10, {"svc-0"});
  ASSERT_TRUE(store_->InsertBatch(batch).ok());
  auto dup = store_->InsertBatch(batch);
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(*dup);
  auto rows = store_->QueryColumn("SELECT count(*) FROM result_feed");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0], "1");
}

TEST_F(ResultFeedTest, RetentionDropsOldFeedRows) {
  // A feed partition of 5 days ago, a row in it, one in the DEFAULT
  // partition (40 days ago, out of the window) and one of today.
  const absl::Time now = absl::Now();
  Partitions partitions(35, 3);
  const int64_t old_day = absl::ToUnixSeconds(now) / 86400 - 5;
  ASSERT_TRUE(partitions.Ensure(reader_.get(), {old_day}).ok());
  ASSERT_TRUE(store_->InsertBatch(MakeBatch("p1", 1, 1, 3, {"svc-0"})).ok());
  for (int days_ago : {5, 40}) {
    ASSERT_TRUE(store_
                    ->Execute(absl::StrCat(
                        "INSERT INTO result_feed (shard, prober_id, region, first_seq, last_seq,"
                        " from_time, to_time, results, checks, at) VALUES (1, 'old', 'fra', 1, 1,"
                        " now(), now(), 1, '{c}', now() - interval '",
                        days_ago, " days')"))
                    .ok());
  }
  auto count = [&](const std::string& where) {
    auto v = store_->QueryColumn("SELECT count(*) FROM result_feed WHERE " + where);
    return v.ok() && !v->empty() ? (*v)[0] : "?";
  };
  ASSERT_EQ(count("prober_id = 'old'"), "2");

  Retention retention(Conninfo());
  retention.SetSettings(common::StorageSettings{});  // the defaults: feed_retention 1d
  ASSERT_TRUE(retention.RunOnce(now).ok());
  EXPECT_EQ(count("prober_id = 'old'"), "0");
  EXPECT_EQ(count("prober_id = 'p1'"), "1") << "today's row stays";
  auto part = store_->QueryColumn(absl::StrCat(
      "SELECT to_regclass('result_feed_p",
      absl::FormatTime("%Y%m%d", now - absl::Hours(24 * 5), absl::UTCTimeZone()), "') IS NULL"));
  ASSERT_TRUE(part.ok());
  EXPECT_EQ((*part)[0], "t") << "the old day's partition is dropped";
}

}  // namespace
}  // namespace sonde::collector::cluster
