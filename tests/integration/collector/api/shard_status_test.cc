// The shard status rows (collector/api/shard_status_board.h) against
// PostgreSQL: a shard's state is written only under its live lease (owner,
// epoch, expiry by the database clock), a newer owner's row replaces the
// older one's, and a reader gets only rows published within its freshness.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "absl/time/clock.h"
#include "collector/api/shard_status_board.h"
#include "collector/cluster/shard_leases.h"
#include "collector/storage/migrations.h"
#include "collector/storage/pg/pg.h"
#include "tests/testing/postgres_fixture.h"

namespace sonde::collector {
namespace {

// The PostgreSQL server is registered once for the binary, in
// ingest_service_test.cc.

v1::StatusReply OneRow(const std::string& check, const std::string& state) {
  v1::StatusReply reply;
  v1::CheckRegionStatus* row = reply.add_statuses();
  row->set_check(check);
  row->set_service("shop");
  row->set_region("fra");
  row->set_state(state);
  return reply;
}

TEST(ShardStatusTest, WrittenOnlyUnderTheLiveLeaseAndReadWhileFresh) {
  auto c = pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "shard-status-test");
  ASSERT_TRUE(c.ok()) << c.status();
  PGconn* conn = c->get();
  ASSERT_TRUE(ApplyMigrations(conn).ok());
  ASSERT_TRUE(pg::Exec(conn, "TRUNCATE shard_leases, shard_status", "clean").ok());
  const cluster::ShardLeases leases(absl::Seconds(1));
  auto a = leases.Acquire(conn, 5, "a");
  ASSERT_TRUE(a.ok() && a->has_value());
  const cluster::LeaseFence fence{5, "a", (*a)->epoch};

  // Another owner, another epoch, a shard not held: nothing written.
  for (const cluster::LeaseFence& wrong :
       {cluster::LeaseFence{5, "b", fence.epoch}, cluster::LeaseFence{5, "a", fence.epoch + 1},
        cluster::LeaseFence{6, "a", fence.epoch}}) {
    auto written = PublishShardStatus(conn, wrong, OneRow("x", "DOWN"));
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_FALSE(*written) << wrong.shard << " " << wrong.owner << " " << wrong.epoch;
  }
  auto read = ReadShardStatus(conn, absl::Seconds(10));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());

  // The owner writes, and rewrites, its shard's one row.
  for (const char* state : {"DOWN", "UP"}) {
    auto written = PublishShardStatus(conn, fence, OneRow("web", state));
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_TRUE(*written);
  }
  read = ReadShardStatus(conn, absl::Seconds(10));
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  ASSERT_EQ(read->at(5).statuses_size(), 1);
  EXPECT_EQ(read->at(5).statuses(0).state(), "UP");

  // The lease expires: the old owner writes nothing; "b" takes the shard
  // under a new epoch and its row replaces a's.
  absl::SleepFor(absl::Milliseconds(1200));
  auto late = PublishShardStatus(conn, fence, OneRow("web", "DOWN"));
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(*late) << "written past the lease";
  auto b = leases.Acquire(conn, 5, "b");
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_GT((*b)->epoch, fence.epoch);
  auto taken = PublishShardStatus(conn, {5, "b", (*b)->epoch}, OneRow("web", "FLAPPING"));
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(*taken);
  read = ReadShardStatus(conn, absl::Seconds(10));
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(read->at(5).statuses(0).state(), "FLAPPING");

  // A row older than the reader's freshness is not read.
  absl::SleepFor(absl::Milliseconds(300));
  read = ReadShardStatus(conn, absl::Milliseconds(200));
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->empty());
}

}  // namespace
}  // namespace sonde::collector
