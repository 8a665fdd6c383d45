// Shard leases (collector/cluster/shard_leases.h) against PostgreSQL: a
// lease is taken, renewed, lost on expiry and taken over by the database
// clock, a new owner bumps the epoch, and the fence check refuses a lost
// lease and holds off a takeover while a fenced write is in flight, but not
// past a third of the TTL for a writer stalled inside its transaction.
#include "collector/cluster/shard_leases.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "collector/storage/migrations.h"
#include "collector/storage/pg/pg.h"
#include "tests/testing/postgres_fixture.h"

namespace sonde::collector::cluster {
namespace {

// The PostgreSQL server is registered once for the binary, in members_test.cc.

pg::PgConnPtr Connect() {
  auto c = pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "leases-test");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : pg::PgConnPtr();
}

class ShardLeasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = Connect();
    b_ = Connect();
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
    ASSERT_TRUE(ApplyMigrations(a_.get()).ok());
    ASSERT_TRUE(pg::Exec(a_.get(), "TRUNCATE shard_leases", "clean").ok());
  }

  // Leases of 1 s, so a test sees them expire.
  const ShardLeases leases_{absl::Seconds(1)};
  pg::PgConnPtr a_, b_;  // replica "a"'s and replica "b"'s connections
};

TEST_F(ShardLeasesTest, TakenRenewedLostAndTakenOverByTheDatabaseClock) {
  auto got = leases_.Acquire(a_.get(), 3, "a");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->epoch, 1);
  const absl::Time first_expiry = (*got)->expires_at;

  auto other = leases_.Acquire(b_.get(), 3, "b");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value()) << "taken while a's lease runs";
  auto again = leases_.Acquire(a_.get(), 3, "a");
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->epoch, 1) << "the owner's own acquire is a renewal";
  auto renewed = leases_.Renew(a_.get(), 3, "a", 1);
  ASSERT_TRUE(renewed.ok() && renewed->has_value());
  EXPECT_GE((*renewed)->expires_at, first_expiry);
  EXPECT_TRUE(leases_.Fence(a_.get(), 3, "a", 1).ok());

  // Not renewed for longer than the TTL: lost, though nobody took it yet.
  absl::SleepFor(absl::Milliseconds(1300));
  auto late = leases_.Renew(a_.get(), 3, "a", 1);
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->has_value()) << "renewed an expired lease";
  EXPECT_EQ(leases_.Fence(a_.get(), 3, "a", 1).code(), absl::StatusCode::kFailedPrecondition);

  // b takes it over with a new epoch; a's old epoch stays fenced.
  auto taken = leases_.Acquire(b_.get(), 3, "b");
  ASSERT_TRUE(taken.ok() && taken->has_value());
  EXPECT_EQ((*taken)->epoch, 2);
  auto a_back = leases_.Acquire(a_.get(), 3, "a");
  ASSERT_TRUE(a_back.ok());
  EXPECT_FALSE(a_back->has_value());
  EXPECT_EQ(leases_.Fence(a_.get(), 3, "a", 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(leases_.Fence(b_.get(), 3, "b", 2).ok());

  // A handover: b releases, a takes it at once under epoch 3.
  auto released = leases_.Release(b_.get(), 3, "b", 2);
  ASSERT_TRUE(released.ok());
  EXPECT_TRUE(*released);
  auto handed = leases_.Acquire(a_.get(), 3, "a");
  ASSERT_TRUE(handed.ok() && handed->has_value());
  EXPECT_EQ((*handed)->epoch, 3);
  auto twice = leases_.Release(b_.get(), 3, "b", 2);
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(*twice) << "released a lease it no longer held";
  auto row = leases_.Read(b_.get(), 3);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->owner, "a");
  EXPECT_EQ((*row)->epoch, 3);

  // Shards are independent; the notification scheduler's is one more.
  auto sched = leases_.Acquire(b_.get(), kNotifySchedulerShard, "b");
  ASSERT_TRUE(sched.ok() && sched->has_value());
  EXPECT_EQ((*sched)->epoch, 1);
}

TEST_F(ShardLeasesTest, AFencedWriteInFlightHoldsOffTheTakeover) {
  auto got = leases_.Acquire(a_.get(), 7, "a");
  ASSERT_TRUE(got.ok() && got->has_value());
  ASSERT_TRUE(pg::Exec(a_.get(), "BEGIN", "begin").ok());
  ASSERT_TRUE(leases_.Fence(a_.get(), 7, "a", 1).ok());

  std::atomic<bool> done{false};
  std::optional<ShardLease> taken;
  std::thread takeover([&] {
    absl::SleepFor(absl::Milliseconds(1200));  // a's lease has expired
    auto t = leases_.Acquire(b_.get(), 7, "b");
    if (t.ok()) {
      taken = *t;
    }
    done = true;
  });
  // a's write is still running (a statement, not idle) when b tries.
  ASSERT_TRUE(pg::Exec(a_.get(), "SELECT pg_sleep(1.7)", "a long write").ok());
  EXPECT_FALSE(done) << "the takeover did not wait for the fenced write";
  ASSERT_TRUE(pg::Exec(a_.get(), "COMMIT", "commit").ok());
  takeover.join();
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->owner, "b");
  EXPECT_EQ(taken->epoch, 2);
  // The next write of a finds the new epoch: fenced.
  EXPECT_EQ(leases_.Fence(a_.get(), 7, "a", 1).code(), absl::StatusCode::kFailedPrecondition);
}

// A writer stalled inside its fenced transaction (SIGSTOPped between two
// statements) does not hold the lease row, and with it the takeover, until
// it wakes: PostgreSQL ends its session a third of the TTL after its last
// statement and rolls the transaction back.
TEST_F(ShardLeasesTest, AWriterStalledInItsFencedTransactionIsEndedByPostgreSQL) {
  auto got = leases_.Acquire(a_.get(), 7, "a");
  ASSERT_TRUE(got.ok() && got->has_value());
  ASSERT_TRUE(pg::Exec(a_.get(), "BEGIN", "begin").ok());
  ASSERT_TRUE(leases_.Fence(a_.get(), 7, "a", 1).ok());
  absl::SleepFor(absl::Milliseconds(1300));  // stalled past the lease

  const absl::Time tried = absl::Now();
  auto taken = leases_.Acquire(b_.get(), 7, "b");
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ((*taken)->owner, "b");
  EXPECT_EQ((*taken)->epoch, 2);
  EXPECT_LT(absl::Now() - tried, absl::Milliseconds(500))
      << "the takeover waited for the stalled writer";
  // a's transaction is gone: nothing it wrote can commit.
  EXPECT_FALSE(pg::Exec(a_.get(), "COMMIT", "commit").ok());
}

// The detection loop's own mark of how far a shard is recorded skips a
// lease row another session holds (a renewal, a takeover, a stalled fenced
// write) instead of waiting behind it, and moves it at the next mark.
TEST_F(ShardLeasesTest, AMarkOnItsOwnSkipsALeaseRowAnotherSessionHolds) {
  const ShardLeases leases{absl::Seconds(30)};
  auto got = leases.Acquire(a_.get(), 9, "a");
  ASSERT_TRUE(got.ok() && got->has_value());
  // Without the skip the mark below waits for b's row lock: an error after
  // 2 s, not a hung test.
  ASSERT_TRUE(pg::Exec(a_.get(), "SET statement_timeout = '2s'", "timeout").ok());
  ASSERT_TRUE(pg::Exec(b_.get(), "BEGIN", "begin").ok());
  ASSERT_TRUE(pg::Exec(b_.get(), "UPDATE shard_leases SET expires_at = expires_at WHERE shard = 9",
                       "hold the row")
                  .ok());
  const absl::Time until = absl::FromUnixSeconds(1800000000);
  EXPECT_TRUE(
      leases.MarkRecorded(a_.get(), "a", {{9, 1, until}}, ShardLeases::Locked::kSkip).ok());
  ASSERT_TRUE(pg::Exec(b_.get(), "COMMIT", "commit").ok());
  auto row = leases.Read(a_.get(), 9);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->recorded_until, absl::InfinitePast()) << "moved a row it did not hold";

  EXPECT_TRUE(
      leases.MarkRecorded(a_.get(), "a", {{9, 1, until}}, ShardLeases::Locked::kSkip).ok());
  row = leases.Read(a_.get(), 9);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->recorded_until, until);
}

}  // namespace
}  // namespace sonde::collector::cluster
