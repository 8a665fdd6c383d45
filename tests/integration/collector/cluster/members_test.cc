// Collector replicas in PostgreSQL (collector/cluster/members.h): every
// replica's row renewed by the database clock, and the config agreement --
// a replica started with another file is out of step while the recorded
// version runs elsewhere, a reload moves the recorded version, and a
// version nobody live runs any more gives way.
#include "collector/cluster/members.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "collector/storage/migrations.h"
#include "collector/storage/pg/pg.h"
#include "tests/testing/postgres_fixture.h"

namespace sonde::collector::cluster {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

class MembersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "members-test");
    ASSERT_TRUE(c.ok()) << c.status();
    conn_ = *std::move(c);
    ASSERT_TRUE(ApplyMigrations(conn_.get()).ok());
    ASSERT_TRUE(pg::Exec(conn_.get(), "TRUNCATE collector_members, cluster_config", "clean").ok());
  }

  // A replica whose members count as gone 1 s after their last beat.
  std::unique_ptr<MemberHeartbeat> Replica(const std::string& id, const std::string& version) {
    auto h = std::make_unique<MemberHeartbeat>(sonde::testing::PostgresEnvironment::conninfo(),
                                               kBeatEvery, absl::Seconds(1));
    h->SetIdentity({id, id + ":7600", "test"});
    h->SetConfigVersion(version, /*reloaded=*/false);
    return h;
  }

  std::string Recorded() {
    auto r = pg::Exec(conn_.get(), "SELECT version FROM cluster_config", "read");
    return r.ok() && PQntuples(r->get()) == 1 ? PQgetvalue(r->get(), 0, 0) : "";
  }

  pg::PgConnPtr conn_;
};

TEST_F(MembersTest, RowsAreRenewedByTheDatabaseClockAndReadBackByEveryReplica) {
  auto a = Replica("a", "v1");
  auto b = Replica("b", "");  // without --config
  ASSERT_TRUE(a->BeatOnce().ok());
  ASSERT_TRUE(b->BeatOnce().ok());
  ASSERT_TRUE(a->BeatOnce().ok());
  const ClusterView view = a->View();
  ASSERT_TRUE(view.known);
  EXPECT_EQ(view.recorded_version, "v1") << "the first replica with a config records it";
  EXPECT_EQ(view.recorded_by, "a");
  ASSERT_EQ(view.members.size(), 2u);
  for (const MemberRow& m : view.members) {
    EXPECT_TRUE(m.live) << m.replica_id;
    EXPECT_LE(m.started_at, m.last_seen) << m.replica_id;
    EXPECT_LE(m.last_seen, view.as_of) << m.replica_id;
  }
  const v1::CollectorsReply reply = CollectorsReplyFrom(view, "a");
  ASSERT_EQ(reply.members_size(), 2);
  EXPECT_EQ(reply.members(0).replica_id(), "a");
  EXPECT_TRUE(reply.members(0).in_step());
  EXPECT_EQ(reply.members(1).config_version(), "");
  EXPECT_FALSE(reply.members(1).in_step());
  EXPECT_EQ(b->View().agreement, Agreement::kNoConfig);

  // A new run of "a" starts its row's clock again.
  const absl::Time first_start = view.members[0].started_at;
  auto a2 = Replica("a", "v1");
  ASSERT_TRUE(a2->BeatOnce().ok());
  EXPECT_GT(a2->View().members[0].started_at, first_start);
}

TEST_F(MembersTest, AnotherFileIsOutOfStepUntilReloadedOrUntilNobodyRunsTheRecordedOne) {
  auto a = Replica("a", "v1");
  auto b = Replica("b", "v2");
  ASSERT_TRUE(a->BeatOnce().ok());
  ASSERT_TRUE(b->BeatOnce().ok());
  EXPECT_EQ(b->View().agreement, Agreement::kOutOfStep) << "a restart took the cluster along";
  EXPECT_EQ(Recorded(), "v1");

  // "a" is reloaded with the new file: an operator's change moves the
  // recorded version, and "b" is in step with it.
  a->SetConfigVersion("v2", /*reloaded=*/true);
  ASSERT_TRUE(a->BeatOnce().ok());
  EXPECT_EQ(a->View().agreement, Agreement::kRecordMine);
  EXPECT_EQ(Recorded(), "v2");
  ASSERT_TRUE(b->BeatOnce().ok());
  EXPECT_EQ(b->View().agreement, Agreement::kInStep);
  ASSERT_TRUE(a->BeatOnce().ok());
  EXPECT_EQ(a->View().agreement, Agreement::kInStep) << "a reload is recorded once";

  // "b" restarts with v3 while "a" runs v2: out of step; once "a" has not
  // been seen for the member TTL, nobody runs v2 and v3 is recorded.
  auto b2 = Replica("b", "v3");
  ASSERT_TRUE(b2->BeatOnce().ok());
  EXPECT_EQ(b2->View().agreement, Agreement::kOutOfStep);
  absl::SleepFor(absl::Milliseconds(1200));
  ASSERT_TRUE(b2->BeatOnce().ok());
  EXPECT_EQ(b2->View().agreement, Agreement::kRecordMine);
  EXPECT_EQ(Recorded(), "v3");
  bool a_live = true;
  for (const MemberRow& m : b2->View().members) {
    if (m.replica_id == "a") {
      a_live = m.live;
    }
  }
  EXPECT_FALSE(a_live);
}

}  // namespace
}  // namespace sonde::collector::cluster
