// Rollups at three levels and the report read over them, against a real
// PostgreSQL (tests/testing/postgres_fixture.h): what ingest writes
// (rollups.h), late results, and ReadRollups over filled data
// (tests/testing/rollup_fill.h).
#include "collector/storage/rollup_read.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/store.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/rollup_fill.h"
#include "tests/testing/store_test_base.h"

namespace sonde::collector {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

using FC = v1::FailureClass;

v1::ProbeResult Result(const std::string& check, uint64_t seq, absl::Time start, FC::Code cls,
                       uint32_t total_us) {
  v1::ProbeResult r;
  r.set_check_id(check);
  r.set_service("svc");
  r.set_kind("http");
  r.set_seq(seq);
  const int64_t us = absl::ToUnixMicros(start);
  r.mutable_start_time()->set_seconds(us / 1000000);
  r.mutable_start_time()->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
  r.set_failure_class(cls);
  r.set_ok(cls == FC::OK);
  r.set_dns_us(cls == FC::PROBER_ERROR ? 0 : 800);
  r.set_total_us(cls == FC::PROBER_ERROR ? 0 : total_us);
  r.set_target("https://example.test/");
  return r;
}

class RollupReadTest : public sonde::testing::MigratedStoreTest {
 protected:
  void SetUp() override {
    MigratedStoreTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    auto conn = pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "rollup-read-test");
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = std::move(*conn);
  }

  // Run directly, the cases share one server (postgres_fixture.h): a case
  // whose counts would see another's rows uses its own `key` (prober ids and
  // check ids).
  void Insert(const std::string& region, uint64_t seq, std::vector<v1::ProbeResult> results) {
    Insert(region, "", seq, std::move(results));
  }
  void Insert(const std::string& region, const std::string& key, uint64_t seq,
              std::vector<v1::ProbeResult> results) {
    v1::ResultBatch b;
    b.set_prober_id("p-" + key + region);
    b.set_region(region);
    b.set_batch_seq(seq);
    for (auto& r : results) {
      *b.add_results() = std::move(r);
    }
    auto dup = store_->InsertBatch(b);
    ASSERT_TRUE(dup.ok()) << dup.status();
  }

  pg::PgConnPtr conn_;
};

TEST_F(RollupReadTest, EveryLevelCountsEveryResultOnceLateOnesIncluded) {
  const absl::Time hour =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 3600 * 3600) - absl::Hours(3);
  Insert("fra", 1,
         {Result("web", 1, hour + absl::Minutes(1), FC::OK, 42'000),
          Result("web", 2, hour + absl::Minutes(1) + absl::Seconds(20), FC::TCP_REFUSED, 900),
          Result("web", 3, hour + absl::Minutes(2), FC::PROBER_ERROR, 0)});
  Insert("iad", 1, {Result("web", 1, hour + absl::Minutes(1), FC::OK, 1'800'000)});
  // Two hours late: it still folds into its minute, hour and day.
  Insert("fra", 2, {Result("web", 4, hour + absl::Minutes(1), FC::TCP_REFUSED, 42'000)});

  for (const char* t : {"rollup_minute", "rollup_hour", "rollup_day"}) {
    EXPECT_EQ(One(absl::StrCat("SELECT sum(probes) || '/' || sum(failures) || '/' ||"
                               " sum(prober_errors) FROM ",
                               t, " WHERE region = 'fra'")),
              "3/2/1")
        << t;
    EXPECT_EQ(One(absl::StrCat("SELECT sum(n) FROM ", t,
                               "_class WHERE region = 'fra' AND failure_class = 'TCP_REFUSED'")),
              "2")
        << t;
  }
  EXPECT_EQ(One("SELECT count(*) FROM rollup_minute WHERE region = 'fra'"), "2");

  RollupQuery q;
  q.from = hour;
  q.to = hour + absl::Minutes(5);
  q.with_latency = true;
  auto w = ReadRollups(conn_.get(), q);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->rows.size(), 2u);
  const RollupTotals& fra = w->rows[0];
  EXPECT_EQ(fra.region, "fra");
  EXPECT_EQ(fra.probes, 3);
  EXPECT_EQ(fra.failures, 2);
  EXPECT_EQ(fra.prober_errors, 1);
  EXPECT_EQ(fra.failures_by_class.at("TCP_REFUSED"), 2);
  EXPECT_EQ(fra.failures_by_class.at("PROBER_ERROR"), 1);
  const auto& total = fra.latency[static_cast<int>(Phase::kTotal)];
  EXPECT_EQ(HistogramCount(total), 3);
  EXPECT_EQ(total.at(LatencyBucket(42'000)), 2);
  EXPECT_EQ(HistogramCount(fra.latency[static_cast<int>(Phase::kDns)]), 3);
  EXPECT_EQ(HistogramCount(fra.latency[static_cast<int>(Phase::kTls)]), 0);

  // Merged across regions, p95 is in iad's slow bucket.
  LatencyHistogram both = total;
  MergeHistogram(w->rows[1].latency[static_cast<int>(Phase::kTotal)], &both);
  EXPECT_GT(Percentile(both, 0.95), 1'500'000);

  // The same totals from the hour level (a whole hour asked).
  q.to = hour + absl::Hours(1);
  auto hourly = ReadRollups(conn_.get(), q);
  ASSERT_TRUE(hourly.ok()) << hourly.status();
  ASSERT_EQ(hourly->spans.size(), 1u);
  EXPECT_EQ(hourly->spans[0].level, RollupLevel::kHour);
  ASSERT_EQ(hourly->rows.size(), 2u);
  EXPECT_EQ(hourly->rows[0].failures, 2);
  EXPECT_EQ(hourly->rows[0].latency[static_cast<int>(Phase::kTotal)], total);
}

// Migration 7: hour and day rows count the distinct minutes with results;
// a minute counts once whichever batch brings it, late ones included, and
// a row that did not count (older than the migration, NULL) stays unknown.
TEST_F(RollupReadTest, HourAndDayCountEachMinuteWithResultsOnce) {
  const absl::Time hour = absl::FromCivil(absl::CivilHour(2026, 1, 12, 10), absl::UTCTimeZone());
  // Minute 1 twice in one batch, then again in a second batch; minute 2
  // only a PROBER_ERROR (a minute row all the same).
  Insert("fra", "minutes", 1,
         {Result("minutes", 1, hour + absl::Minutes(1), FC::OK, 42'000),
          Result("minutes", 2, hour + absl::Minutes(1) + absl::Seconds(20), FC::OK, 900),
          Result("minutes", 3, hour + absl::Minutes(2), FC::PROBER_ERROR, 0)});
  Insert("fra", "minutes", 2,
         {Result("minutes", 4, hour + absl::Minutes(1) + absl::Seconds(40), FC::OK, 50'000)});
  Insert("iad", "minutes", 1, {Result("minutes", 1, hour + absl::Minutes(1), FC::OK, 42'000)});
  // The next hour, then results two hours late for the first one: a new
  // minute (5) and one it had (2), in several latency buckets (rounds).
  Insert("fra", "minutes", 3, {Result("minutes", 5, hour + absl::Minutes(65), FC::OK, 42'000)});
  Insert(
      "fra", "minutes", 4,
      {Result("minutes", 6, hour + absl::Minutes(5), FC::OK, 900),
       Result("minutes", 7, hour + absl::Minutes(5) + absl::Seconds(30), FC::OK, 1'800'000),
       Result("minutes", 8, hour + absl::Minutes(2) + absl::Seconds(30), FC::TCP_REFUSED, 42'000)});
  const std::string q =
      "SELECT string_agg(coalesce(minutes_with_results::text, 'null'), ','"
      " ORDER BY region, ";
  EXPECT_EQ(One(q + "hour) FROM rollup_hour WHERE check_id = 'minutes'"),
            "3,1,1");  // fra, fra, iad
  EXPECT_EQ(One(q + "day) FROM rollup_day WHERE check_id = 'minutes'"), "4,1");
  EXPECT_EQ(One("SELECT count(*) FROM rollup_minute WHERE region = 'fra' AND check_id = 'minutes'"),
            "4");
  EXPECT_EQ(One("SELECT string_agg(merged::text, ',' ORDER BY minute) FROM rollup_minute"
                " WHERE region = 'fra' AND check_id = 'minutes'"),
            "true,true,true,false");  // 1, 2 by later batches, 5 by its second round

  RollupQuery read;
  read.from = hour;
  read.to = hour + absl::Hours(2);
  read.regions = {"fra"};
  read.check_ids = {"minutes"};
  auto w = ReadRollups(conn_.get(), read);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->rows.size(), 1u);
  EXPECT_EQ(w->rows[0].minutes, 4);
  EXPECT_FALSE(w->rows[0].minutes_unknown);

  // A row from before migration 7 does not know its minutes, and stays so.
  ASSERT_TRUE(store_
                  ->Execute("UPDATE rollup_hour SET minutes_with_results = NULL"
                            " WHERE region = 'fra' AND check_id = 'minutes' AND hour = '" +
                            PgTime(hour) + "'")
                  .ok());
  Insert("fra", "minutes", 5, {Result("minutes", 9, hour + absl::Minutes(7), FC::OK, 42'000)});
  EXPECT_EQ(One(q + "hour) FROM rollup_hour WHERE check_id = 'minutes'"), "null,1,1");
  EXPECT_EQ(One(q + "day) FROM rollup_day WHERE check_id = 'minutes'"), "5,1");
  w = ReadRollups(conn_.get(), read);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(w->rows[0].minutes_unknown);
}

TEST_F(RollupReadTest, FilledRollupsReadBackAsTheFillRuleSays) {
  sonde::testing::RollupFill fill;
  fill.checks = 10;
  fill.regions = 3;
  fill.days = 3;
  fill.minute = true;
  fill.from = absl::FromCivil(absl::CivilDay(2026, 1, 10), absl::UTCTimeZone());
  ASSERT_TRUE(sonde::testing::FillRollups(conn_.get(), fill).ok());

  RollupQuery q;
  q.from = fill.from + absl::Hours(5) + absl::Minutes(7);  // minutes, hours, day, hours, minutes
  q.to = fill.from + absl::Hours(24 * 2 + 3) + absl::Minutes(30);
  q.check_ids = {"check-00007", "check-00003"};
  q.regions = {"region-2"};
  q.now = fill.from + absl::Hours(24 * 4);
  auto w = ReadRollups(conn_.get(), q);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->spans.size(), 5u);
  ASSERT_EQ(w->rows.size(), 2u);
  const int64_t first = 5 * 60 + 7, end = (24 * 2 + 3) * 60 + 30;
  EXPECT_EQ(w->rows[0].check_id, "check-00003");  // sorted by check id
  EXPECT_EQ(w->rows[1].check_id, "check-00007");
  EXPECT_EQ(w->rows[1].probes, end - first);
  EXPECT_EQ(w->rows[0].failures, sonde::testing::ExpectedFailures(fill, 3, 2, first, end));
  EXPECT_EQ(w->rows[1].failures, sonde::testing::ExpectedFailures(fill, 7, 2, first, end));
  EXPECT_GT(w->rows[1].failures, 0);
}

}  // namespace
}  // namespace sonde::collector
