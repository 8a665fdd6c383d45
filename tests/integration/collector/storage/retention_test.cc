// Issue 12, acceptance 3, against a real PostgreSQL: with short retentions
// old partitions are dropped, reports over hourly and daily rollups still
// answer for the dropped days, and ingest does not wait on retention.
#include "collector/storage/retention.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/partitions.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/rollup_read.h"
#include "collector/storage/store.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/store_test_base.h"

namespace sonde::collector {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

using FC = v1::FailureClass;

v1::ResultBatch Batch(uint64_t seq, absl::Time start, int n, int failing) {
  v1::ResultBatch b;
  b.set_prober_id("p-ret");
  b.set_region("fra");
  b.set_batch_seq(seq);
  for (int i = 0; i < n; ++i) {
    v1::ProbeResult* r = b.add_results();
    r->set_check_id("web");
    r->set_service("svc");
    r->set_kind("http");
    r->set_seq(seq * 1000 + i);
    r->mutable_start_time()->set_seconds(absl::ToUnixSeconds(start) + i * 60);
    const bool fail = i < failing;
    r->set_failure_class(fail ? FC::TCP_REFUSED : FC::OK);
    r->set_ok(!fail);
    r->set_total_us(42'000);
  }
  return b;
}

class RetentionTest : public sonde::testing::MigratedStoreTest {
 protected:
  void SetUp() override {
    MigratedStoreTest::SetUp();
    settings_.raw = absl::Hours(48);
    settings_.minute = absl::Hours(48);
    settings_.batches = absl::Hours(24);
  }

  common::StorageSettings settings_;
};

TEST_F(RetentionTest, OldPartitionsGoReportsStillAnswerFromHoursAndDays) {
  const absl::Time now = absl::Now();
  const absl::Time old_day = DayStart(DayOf(now) - 10);
  // 10 probes from 03:00 on the old day, 4 failing; 5 probes today.
  ASSERT_TRUE(store_->InsertBatch(Batch(1, old_day + absl::Hours(3), 10, 4)).ok());
  ASSERT_TRUE(store_->InsertBatch(Batch(2, DayStart(DayOf(now)), 5, 0)).ok());
  const std::string old_results = PartitionName(DayOf(old_day));
  ASSERT_EQ(One(absl::StrCat("SELECT to_regclass('", old_results, "') IS NOT NULL")), "t");

  Retention retention(sonde::testing::PostgresEnvironment::conninfo());
  retention.SetSettings(settings_);
  ASSERT_TRUE(retention.RunOnce(now).ok());
  EXPECT_EQ(One(absl::StrCat("SELECT to_regclass('", old_results, "') IS NULL")), "t");
  EXPECT_EQ(
      One(absl::StrCat("SELECT to_regclass('rollup_minute_p",
                       absl::FormatTime("%Y%m%d", old_day, absl::UTCTimeZone()), "') IS NULL")),
      "t");
  EXPECT_GE(retention.counters().partitions_dropped.load(), 3);  // results, minute, minute_class
  EXPECT_EQ(One("SELECT count(*) FROM results"), "5");
  EXPECT_EQ(One("SELECT count(*) FROM rollup_minute"), "5");

  // The report over the dropped day: from the day row.
  RollupQuery q;
  q.from = old_day;
  q.to = old_day + absl::Hours(24);
  q.retention.minute = settings_.minute;
  q.now = now;
  auto conn = pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "retention-test");
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto day = ReadRollups(conn->get(), q);
  ASSERT_TRUE(day.ok()) << day.status();
  ASSERT_EQ(day->spans.size(), 1u);
  EXPECT_EQ(day->spans[0].level, RollupLevel::kDay);
  ASSERT_EQ(day->rows.size(), 1u);
  EXPECT_EQ(day->rows[0].probes, 10);
  EXPECT_EQ(day->rows[0].failures, 4);
  EXPECT_EQ(day->rows[0].failures_by_class.at("TCP_REFUSED"), 4);
  // Minutes 03:00-03:05 of that day: minutes are gone, the hour answers
  // (wider than asked, and says so).
  q.from = old_day + absl::Hours(3);
  q.to = q.from + absl::Minutes(5);
  auto edge = ReadRollups(conn->get(), q);
  ASSERT_TRUE(edge.ok()) << edge.status();
  EXPECT_TRUE(edge->approximate);
  EXPECT_EQ(edge->covered_from, old_day + absl::Hours(3));
  EXPECT_EQ(edge->covered_to, old_day + absl::Hours(4));
  ASSERT_EQ(edge->rows.size(), 1u);
  EXPECT_EQ(edge->rows[0].probes, 10);
}

TEST_F(RetentionTest, IngestDoesNotWaitWhileRetentionWantsALock) {
  const absl::Time now = absl::Now();
  const absl::Time old_day = DayStart(DayOf(now) - 10);
  ASSERT_TRUE(store_->InsertBatch(Batch(1, old_day + absl::Hours(3), 3, 0)).ok());
  // A long report holds the old partition: retention's DETACH must wait
  // for it, and would queue every ingest statement behind it.
  auto reader = pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "long-report");
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_TRUE(pg::Exec(reader->get(), "BEGIN", "begin").ok());
  ASSERT_TRUE(pg::Exec(reader->get(), "SELECT count(*) FROM results", "read").ok());

  Retention retention(sonde::testing::PostgresEnvironment::conninfo());
  retention.SetSettings(settings_);
  absl::Status pass;
  std::thread t([&] { pass = retention.RunOnce(now); });
  absl::SleepFor(absl::Milliseconds(50));
  for (uint64_t seq = 2; seq < 6; ++seq) {
    const absl::Time start = absl::Now();
    ASSERT_TRUE(store_->InsertBatch(Batch(seq, absl::Now(), 5, 1)).ok());
    // lock_timeout is 200 ms; the margin is for a loaded machine.
    EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "batch " << seq;
  }
  t.join();
  EXPECT_TRUE(pass.ok()) << pass;
  EXPECT_GE(retention.counters().failures.load(), 1);  // the busy partition
  EXPECT_EQ(
      One(absl::StrCat("SELECT to_regclass('", PartitionName(DayOf(old_day)), "') IS NOT NULL")),
      "t");
  // Once the report is done, the next pass drops it.
  ASSERT_TRUE(pg::Exec(reader->get(), "COMMIT", "commit").ok());
  ASSERT_TRUE(retention.RunOnce(now).ok());
  EXPECT_EQ(One(absl::StrCat("SELECT to_regclass('", PartitionName(DayOf(old_day)), "') IS NULL")),
            "t");
  EXPECT_EQ(One("SELECT count(*) FROM results"), "20");
}

}  // namespace
}  // namespace sonde::collector
