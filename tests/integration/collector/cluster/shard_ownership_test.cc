// The shard loop (collector/cluster/shard_ownership.h) against PostgreSQL:
// two replicas split the 64 detection shards as rendezvous hashing says,
// each under its own lease; when one stops renewing (a crash: no release),
// the other takes every shard by the database clock, under new epochs, and
// the stopped one, waking up, finds its leases lost and drops them.
#include "collector/cluster/shard_ownership.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "collector/cluster/shards.h"
#include "collector/storage/migrations.h"
#include "collector/storage/pg/pg.h"
#include "tests/testing/postgres_fixture.h"

namespace sonde::collector::cluster {
namespace {

// The PostgreSQL server is registered once for the binary, in members_test.cc.

// Leases and member rows of 2 s, so the test sees a crash's leases expire
// in seconds (the shipped TTL is 15 s, docs/ha.md).
constexpr absl::Duration kTtl = absl::Seconds(2);

struct Replica {
  explicit Replica(const std::string& id)
      : beat(sonde::testing::PostgresEnvironment::conninfo(), kBeatEvery, kTtl),
        shards(sonde::testing::PostgresEnvironment::conninfo(), &beat,
               ShardOwnershipOptions{kTtl, kTtl / 3, absl::Milliseconds(200),
                                     absl::Milliseconds(300)}) {
    beat.SetIdentity({id, id + ":7600", "test", /*cluster_mode=*/true});
    beat.SetConfigVersion("v1", /*reloaded=*/false);
    shards.set_on_gained([this](int shard, int64_t epoch) {
      absl::MutexLock l(&mu);
      gained[shard] = epoch;
    });
    shards.set_on_lost([this](int shard, int64_t epoch) {
      absl::MutexLock l(&mu);
      lost[shard] = epoch;
    });
  }
  // One heartbeat and one ownership pass.
  void Step() {
    EXPECT_TRUE(beat.BeatOnce().ok());
    EXPECT_TRUE(shards.PassOnce().ok());
  }

  // Before `shards`: its destructor releases every shard through on_lost.
  absl::Mutex mu;
  std::map<int, int64_t> gained, lost;
  MemberHeartbeat beat;
  ShardOwnership shards;
};

class ShardOwnershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "ownership-test");
    ASSERT_TRUE(c.ok()) << c.status();
    conn_ = *std::move(c);
    ASSERT_TRUE(ApplyMigrations(conn_.get()).ok());
    ASSERT_TRUE(
        pg::Exec(conn_.get(), "TRUNCATE collector_members, cluster_config, shard_leases", "clean")
            .ok());
  }

  // shard -> (owner, epoch) of the running leases.
  std::map<int, std::pair<std::string, int64_t>> Running() {
    std::map<int, std::pair<std::string, int64_t>> out;
    auto r = pg::Exec(conn_.get(),
                      "SELECT shard, owner, epoch FROM shard_leases"
                      " WHERE shard >= 0 AND expires_at > clock_timestamp()",
                      "read");
    EXPECT_TRUE(r.ok());
    for (int i = 0; r.ok() && i < PQntuples(r->get()); ++i) {
      out[std::stoi(PQgetvalue(r->get(), i, 0))] = {PQgetvalue(r->get(), i, 1),
                                                    std::stoll(PQgetvalue(r->get(), i, 2))};
    }
    return out;
  }

  pg::PgConnPtr conn_;
};

TEST_F(ShardOwnershipTest, TwoReplicasSplitTheShardsAndOneTakesAllWhenTheOtherStops) {
  auto a = std::make_unique<Replica>("a");
  auto b = std::make_unique<Replica>("b");
  // Both beat before either passes, so each sees the other live.
  ASSERT_TRUE(a->beat.BeatOnce().ok());
  ASSERT_TRUE(b->beat.BeatOnce().ok());
  a->Step();
  b->Step();

  const std::vector<std::string> both = {"a", "b"};
  const std::set<int> want_a = ShardsFor("a", both);
  const std::set<int> want_b = ShardsFor("b", both);
  ASSERT_FALSE(want_a.empty());
  ASSERT_FALSE(want_b.empty());
  std::set<int> owned_a, owned_b;
  for (const auto& [s, e] : a->shards.Owned()) {
    owned_a.insert(s);
    EXPECT_EQ(e, 1) << "shard " << s;
  }
  for (const auto& [s, e] : b->shards.Owned()) {
    owned_b.insert(s);
  }
  EXPECT_EQ(owned_a, want_a);
  EXPECT_EQ(owned_b, want_b);
  std::map<int, std::pair<std::string, int64_t>> running = Running();
  ASSERT_EQ(running.size(), static_cast<size_t>(kShardCount));
  for (const auto& [s, owner] : running) {
    EXPECT_EQ(owner.first, want_a.count(s) > 0 ? "a" : "b") << "shard " << s;
  }

  // Renewals keep the split (more than one TTL passes).
  for (int i = 0; i < 4; ++i) {
    absl::SleepFor(kTtl / 3);
    a->Step();
    b->Step();
  }
  EXPECT_EQ(a->shards.Owned().size(), want_a.size());
  EXPECT_EQ(b->shards.Owned().size(), want_b.size());
  EXPECT_TRUE(a->lost.empty());
  // Each beat reads who holds what (sondectl status --collectors).
  ASSERT_TRUE(a->beat.BeatOnce().ok());
  const ClusterView view = a->beat.View();
  ASSERT_EQ(view.members.size(), 2u);
  EXPECT_EQ(std::set<int>(view.members[0].shards.begin(), view.members[0].shards.end()), want_a);
  EXPECT_EQ(std::set<int>(view.members[1].shards.begin(), view.members[1].shards.end()), want_b);
  EXPECT_EQ(CollectorsReplyFrom(view, "a").members(1).shards_size(),
            static_cast<int>(want_b.size()));
  EXPECT_EQ(view.notify_scheduler, "") << "no dispatcher runs here";

  // b stops (no release, no beat): a takes every shard once b's member row
  // and leases have expired by the database clock.
  const absl::Time stopped = absl::Now();
  absl::Time all;
  for (int i = 0; i < 100 && a->shards.Owned().size() < static_cast<size_t>(kShardCount); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    a->Step();
    all = absl::Now();
  }
  ASSERT_EQ(a->shards.Owned().size(), static_cast<size_t>(kShardCount));
  const absl::Duration handover = all - stopped;
  std::printf("handover of %zu shards after b stopped: %s (member TTL and lease TTL %s)\n",
              want_b.size(), absl::FormatDuration(handover).c_str(),
              absl::FormatDuration(kTtl).c_str());
  EXPECT_LE(handover, kTtl + absl::Seconds(3));
  for (int s : want_b) {
    EXPECT_EQ(a->shards.EpochOf(s), 2) << "shard " << s << " taken over without a new epoch";
    EXPECT_TRUE(a->gained.count(s) > 0);
  }
  for (const auto& [s, owner] : Running()) {
    EXPECT_EQ(owner.first, "a") << "shard " << s;
  }

  // b wakes: its shards are gone past their deadline, dropped at once and
  // reported lost; it takes back its share only once a hands it over.
  EXPECT_TRUE(b->shards.PassOnce().ok());
  EXPECT_TRUE(b->shards.Owned().empty());
  EXPECT_EQ(b->lost.size(), want_b.size());
}

TEST_F(ShardOwnershipTest, AJoiningReplicaGetsItsShareByHandoverAndAFencedShardIsDropped) {
  auto a = std::make_unique<Replica>("a");
  a->Step();
  a->Step();
  ASSERT_EQ(a->shards.Owned().size(), static_cast<size_t>(kShardCount));

  auto b = std::make_unique<Replica>("b");
  const absl::Time joined = absl::Now();
  const std::set<int> want_b = ShardsFor("b", {"a", "b"});
  for (int i = 0; i < 50 && b->shards.Owned().size() < want_b.size(); ++i) {
    b->Step();
    a->Step();  // sees b live: releases b's share
    absl::SleepFor(absl::Milliseconds(100));
  }
  b->Step();
  std::set<int> owned_b;
  for (const auto& [s, e] : b->shards.Owned()) {
    owned_b.insert(s);
    EXPECT_EQ(e, 2) << "shard " << s << " handed over without a new epoch";
  }
  EXPECT_EQ(owned_b, want_b);
  EXPECT_LT(absl::Now() - joined, kTtl) << "a handover waited for the lease to expire";
  EXPECT_EQ(a->shards.Owned().size(), kShardCount - want_b.size());
  for (int s : want_b) {
    EXPECT_TRUE(a->lost.count(s) > 0) << "shard " << s << " released without on_lost";
  }

  // A fenced write under an old epoch drops nothing; under the held one,
  // the shard at once.
  const int s = *ShardsFor("a", {"a", "b"}).begin();
  a->shards.Fenced(s, 99);
  EXPECT_TRUE(a->shards.EpochOf(s).has_value());
  a->shards.Fenced(s, *a->shards.EpochOf(s));
  EXPECT_FALSE(a->shards.EpochOf(s).has_value());
}

// A fenced write of one shard stalled in flight (its transaction holds the
// lease row FOR SHARE, its writer asleep) holds up no renewal of the other
// shards: the loop waits lock_wait for that row, then leaves the shard
// until the next pass.
TEST_F(ShardOwnershipTest, AStalledWriteOfOneShardHoldsUpNoOtherRenewal) {
  auto a = std::make_unique<Replica>("a");
  a->Step();
  a->Step();
  const std::map<int, int64_t> before = a->shards.Owned();
  ASSERT_EQ(before.size(), static_cast<size_t>(kShardCount));
  constexpr int kStalled = 5;
  auto writer = pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "stalled-writer");
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE(pg::Exec(writer->get(), "BEGIN", "begin").ok());
  ASSERT_TRUE(
      pg::Exec(writer->get(),
               absl::StrCat("SELECT 1 FROM shard_leases WHERE shard = ", kStalled, " FOR SHARE"),
               "hold the row")
          .ok());
  const absl::Time until = absl::Now() + 2 * kTtl;
  while (absl::Now() < until) {
    a->Step();
    absl::SleepFor(absl::Milliseconds(100));
  }
  const std::map<int, int64_t> after = a->shards.Owned();
  for (const auto& [shard, epoch] : before) {
    if (shard != kStalled) {
      auto it = after.find(shard);
      EXPECT_TRUE(it != after.end() && it->second == epoch)
          << "shard " << shard << " lost while shard " << kStalled << "'s row was held";
    }
  }
  EXPECT_TRUE(pg::Exec(writer->get(), "ROLLBACK", "rollback").ok());
}

}  // namespace
}  // namespace sonde::collector::cluster
