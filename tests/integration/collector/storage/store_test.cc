// Store against a real PostgreSQL (tests/testing/postgres_fixture.h).
#include "collector/storage/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "collector/report/reader.h"
#include "collector/report/report.h"
#include "collector/storage/migrations.h"
#include "collector/storage/store_pool.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/process.h"

namespace sonde::collector {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

using FC = v1::FailureClass;

// What the stored rows report through the one report path (collector/report:
// the reader over the rollups and the gaps, the engine): rows per check x
// region over [from, to) and the probers' losses in it.
absl::StatusOr<v1::AvailabilityReply> Report(PGconn* conn, absl::Time from, absl::Time to,
                                             const std::string& check, const std::string& region) {
  report::ReportScope scope;
  scope.window = {from, to};
  scope.check = check;
  scope.region = region;
  const v1::Config config;
  absl::StatusOr<report::ReportInputs> in = report::ReadInputs(conn, scope, config);
  if (!in.ok()) {
    return in.status();
  }
  return report::BuildAvailability(*in, scope, {"test", "UTC"}, config);
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  out->set_seconds(us / 1000000);
  out->set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
}

v1::ProbeResult Result(const std::string& check, uint64_t seq, absl::Time start, bool ok,
                       FC::Code failure_class, const std::string& detail = "") {
  v1::ProbeResult r;
  r.set_check_id(check);
  r.set_service("svc-" + check);
  r.set_kind("http");
  r.set_prober_id("result-says-prober");  // the batch's identity must win
  r.set_region("result-says-region");
  r.set_seq(seq);
  SetTime(start, r.mutable_start_time());
  r.set_ok(ok);
  r.set_failure_class(failure_class);
  r.set_detail(detail);
  r.set_total_us(1234);
  r.set_http_status(ok ? 200 : 503);
  r.set_target("https://example.test/");
  return r;
}

v1::ResultBatch Batch(const std::string& prober, const std::string& region, uint64_t batch_seq,
                      std::vector<v1::ProbeResult> results) {
  v1::ResultBatch b;
  b.set_prober_id(prober);
  b.set_region(region);
  b.set_batch_seq(batch_seq);
  for (auto& r : results) {
    *b.add_results() = std::move(r);
  }
  return b;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(sonde::testing::PostgresEnvironment::conninfo().empty())
        << "no PostgreSQL (see the environment's failure above)";
    store_ = Connect();
    ASSERT_NE(store_, nullptr);
    absl::Status st = store_->Migrate();
    ASSERT_TRUE(st.ok()) << st;
  }

  static std::unique_ptr<Store> Connect(StoreOptions options = {}) {
    auto store = Store::Connect(sonde::testing::PostgresEnvironment::conninfo(), options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::vector<std::string> Column(const std::string& sql) {
    auto rows = store_->QueryColumn(sql);
    EXPECT_TRUE(rows.ok()) << rows.status() << "\n" << sql;
    return rows.ok() ? *rows : std::vector<std::string>{};
  }

  std::string One(const std::string& sql) {
    std::vector<std::string> rows = Column(sql);
    EXPECT_EQ(rows.size(), 1u) << sql;
    return rows.empty() ? "" : rows[0];
  }

  // A trigger that makes every insert into `table` whose `column` is 'boom'
  // fail, and its removal.
  bool AddBoomTrigger(const std::string& table, const std::string& column) {
    return store_
        ->Execute(absl::StrCat(
            "CREATE FUNCTION sonde_test_boom() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN IF NEW.",
            column,
            " = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END$$;"
            "CREATE TRIGGER sonde_test_boom BEFORE INSERT ON ",
            table, " FOR EACH ROW EXECUTE FUNCTION sonde_test_boom()"))
        .ok();
  }
  // `stored` failed (INTERNAL) on a connection that stays usable, and left
  // no row of prober `prober` and no rollup of the checks `checks` (SQL
  // list).
  void ExpectFailedLeavingNothing(const absl::StatusOr<bool>& stored, const std::string& prober,
                                  const std::string& checks) {
    ASSERT_FALSE(stored.ok());
    EXPECT_TRUE(absl::IsInternal(stored.status())) << stored.status();
    EXPECT_TRUE(store_->healthy());
    EXPECT_TRUE(store_->idle());
    for (const char* table : {"ingested_batches", "results"}) {
      EXPECT_EQ(
          One(absl::StrCat("SELECT count(*) FROM ", table, " WHERE prober_id = '", prober, "'")),
          "0")
          << table;
    }
    EXPECT_EQ(
        One(absl::StrCat("SELECT count(*) FROM rollup_minute WHERE check_id IN (", checks, ")")),
        "0");
  }
  bool DropBoomTrigger(const std::string& table) {
    return store_
        ->Execute(absl::StrCat("DROP TRIGGER sonde_test_boom ON ", table,
                               "; DROP FUNCTION sonde_test_boom()"))
        .ok();
  }

  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, MigrationsAreIdempotentAndSafeToRunConcurrently) {
  ASSERT_TRUE(store_->Migrate().ok());  // a second time on the same connection
  std::unique_ptr<Store> a = Connect(), b = Connect();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  absl::Status sa, sb;
  std::thread ta([&] { sa = a->Migrate(); });
  std::thread tb([&] { sb = b->Migrate(); });
  ta.join();
  tb.join();
  EXPECT_TRUE(sa.ok()) << sa;
  EXPECT_TRUE(sb.ok()) << sb;
  std::vector<std::string> all;
  // Every known migration (numbers are assigned per change and may land
  // out of order, so the list is the truth, not 1..latest).
  for (const MigrationInfo& m : KnownMigrations()) {
    all.push_back(absl::StrCat(m.version));
  }
  EXPECT_EQ(Column("SELECT version FROM schema_migrations ORDER BY version"), all);
  for (const char* table : {"results", "results_default", "ingested_batches", "rollup_minute",
                            "rollup_minute_class", "gaps"}) {
    EXPECT_EQ(One(absl::StrCat("SELECT to_regclass('", table, "') IS NOT NULL")), "t") << table;
  }
  // Today's partition exists ahead of the first batch.
  EXPECT_EQ(One(absl::StrCat("SELECT to_regclass('results_p",
                             absl::FormatTime("%Y%m%d", absl::Now(), absl::UTCTimeZone()),
                             "') IS NOT NULL")),
            "t");
}

// Rollup partitions keep room on their pages for the updates every batch
// makes (partitions.h): the ones made ahead, one made on first use, and one
// that an older collector made without it (Migrate gives it the room).
TEST_F(StoreTest, RollupPartitionsLeaveRoomForInPlaceUpdates) {
  ASSERT_TRUE(store_->Execute("ALTER TABLE rollup_hour_default RESET (fillfactor)").ok());
  ASSERT_TRUE(store_->Migrate().ok());
  const absl::Time old = absl::Now() - absl::Hours(24 * 20);
  ASSERT_TRUE(
      store_->InsertBatch(Batch("p-fill", "fra", 1, {Result("fill", 1, old, true, FC::OK)})).ok());
  auto partitions_without = [&](const char* parent, const char* option) {
    return Column(
        absl::StrCat("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                     " WHERE i.inhparent = '",
                     parent, "'::regclass AND NOT coalesce('", option,
                     "' = ANY (c.reloptions), false) ORDER BY 1"));
  };
  EXPECT_EQ(partitions_without("rollup_minute", "fillfactor=70"), std::vector<std::string>{});
  EXPECT_EQ(partitions_without("rollup_hour", "fillfactor=50"), std::vector<std::string>{});
  EXPECT_EQ(partitions_without("rollup_day", "fillfactor=50"), std::vector<std::string>{});
  EXPECT_EQ(One(absl::StrCat("SELECT count(*) FROM pg_inherits WHERE inhparent ="
                             " 'rollup_minute'::regclass AND inhrelid = to_regclass('",
                             "rollup_minute_p",
                             absl::FormatTime("%Y%m%d", old, absl::UTCTimeZone()), "')")),
            "1");
  // Raw rows are never updated: their pages stay full.
  EXPECT_EQ(One("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'results'::regclass AND c.reloptions IS NOT NULL"),
            "0");
}

TEST_F(StoreTest, InsertBatchStoresOneRowPerResultWithTheBatchIdentity) {
  const absl::Time t = absl::Now() - absl::Minutes(5);
  auto dup = store_->InsertBatch(Batch(
      "p-rows", "fra", 7,
      {Result("rows-a", 100, t, true, FC::OK),
       Result("rows-a", 101, t + absl::Seconds(10), false, FC::HTTP_STATUS, "503 from upstream"),
       Result("rows-b", 102, t + absl::Seconds(20), true, FC::OK)}));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_FALSE(*dup);
  EXPECT_EQ(Column("SELECT concat_ws('|', prober_id, region, seq, check_id, ok, "
                   "failure_class,"
                   " http_status, total_us) FROM results WHERE prober_id = 'p-rows' "
                   "ORDER BY seq"),
            (std::vector<std::string>{"p-rows|fra|100|rows-a|t|OK|200|1234",
                                      "p-rows|fra|101|rows-a|f|HTTP_STATUS|503|1234",
                                      "p-rows|fra|102|rows-b|t|OK|200|1234"}));
  EXPECT_EQ(One("SELECT results FROM ingested_batches WHERE prober_id = "
                "'p-rows' AND batch_seq = 7"),
            "3");
  // The full result is kept as JSON, with the result's own fields.
  EXPECT_EQ(One("SELECT extra->>'detail' FROM results WHERE prober_id = "
                "'p-rows' AND seq = 101"),
            "503 from upstream");
  EXPECT_EQ(One("SELECT extra->>'prober_id' FROM results WHERE prober_id = "
                "'p-rows' AND seq = 101"),
            "result-says-prober");
  // Certificates: none given, so NULL rather than a fake date.
  EXPECT_EQ(One("SELECT count(*) FROM results WHERE prober_id = 'p-rows' AND "
                "cert_not_after IS NULL"
                " AND cert_days_left IS NULL"),
            "3");
}

TEST_F(StoreTest, DuplicateBatchIsAckedAsDuplicateAndNotStoredTwice) {
  const absl::Time t = absl::Now() - absl::Minutes(3);
  v1::ResultBatch batch = Batch("p-dup", "ams", 42,
                                {Result("dup-a", 1, t, true, FC::OK),
                                 Result("dup-a", 2, t + absl::Seconds(1), false, FC::TCP_REFUSED)});
  auto first = store_->InsertBatch(batch);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(*first);
  auto second = store_->InsertBatch(batch);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*second);
  EXPECT_EQ(One("SELECT count(*) FROM results WHERE prober_id = 'p-dup'"), "2");
  EXPECT_EQ(One("SELECT sum(probes) || '/' || sum(failures) FROM rollup_minute"
                " WHERE check_id = 'dup-a'"),
            "2/1");
  // The same batch_seq from another prober is a different batch.
  batch.set_prober_id("p-dup-2");
  auto other = store_->InsertBatch(batch);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(*other);
  EXPECT_EQ(One("SELECT count(*) FROM results WHERE check_id = 'dup-a'"), "4");
}

TEST_F(StoreTest, GapsAreStoredOnceAndReportedAsNoData) {
  const absl::Time t = absl::Now() - absl::Minutes(5);
  v1::ResultBatch batch = Batch("p-gap", "ber", 7, {Result("gap-a", 900, t, true, FC::OK)});
  v1::Gap* gap = batch.add_gaps();
  gap->set_results(1200);
  gap->set_first_batch_seq(3);
  gap->set_last_batch_seq(5);
  SetTime(t - absl::Minutes(10), gap->mutable_from());
  SetTime(t - absl::Minutes(2), gap->mutable_to());
  ASSERT_TRUE(store_->InsertBatch(batch).ok());
  auto dup = store_->InsertBatch(batch);  // resent: the gap is not doubled
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(*dup);
  auto report = Report(store_->connection(), t - absl::Hours(1), absl::Now(), "", "ber");
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->gaps_size(), 1);
  EXPECT_EQ(report->gaps(0).prober_id(), "p-gap");
  EXPECT_EQ(report->gaps(0).results(), 1200u);
  EXPECT_EQ(report->gaps(0).from().seconds(), absl::ToUnixSeconds(t - absl::Minutes(10)));
  // Lost results are no data: the report counts only what was stored, and
  // the loss is excluded time, not downtime.
  report = Report(store_->connection(), t - absl::Hours(1), absl::Now(), "gap-a", "");
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->rows_size(), 1);
  EXPECT_EQ(report->rows(0).probes(), 1u);
  EXPECT_EQ(report->rows(0).failures(), 0u);
  EXPECT_GE(report->rows(0).no_data_seconds(), 8 * 60);
  EXPECT_EQ(report->rows(0).down_seconds(), 0);
  // Outside the window: not reported.
  report = Report(store_->connection(), t - absl::Hours(3), t - absl::Hours(2), "", "");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->gaps_size(), 0);
}

TEST_F(StoreTest, HostileStringsRoundTripIntoDetailAndBanner) {
  struct Case {
    std::string input;
    std::string stored;  // what must come back
  };
  const std::vector<Case> cases = {
      {"tab\there", "tab\there"},
      {"line\nbreak\r\nend", "line\nbreak\r\nend"},
      {"back\\slash \\N \\t \\\\", "back\\slash \\N \\t \\\\"},
      {"\\.", "\\."},
      {"\\.\n", "\\.\n"},
      {"quotes ' \" ` $1 %s {}", "quotes ' \" ` $1 %s {}"},
      {std::string("nul\0inside", 10), "nulinside"},
      {"bad \xff\xfe utf8 \xc3(", "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8 \xEF\xBF\xBD("},
      {"overlong \xc0\xaf surrogate \xed\xa0\x80",
       "overlong \xEF\xBF\xBD\xEF\xBF\xBD surrogate "
       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"fine: \xc3\xbc \xe2\x9c\x93 \xf0\x9f\x94\xa5",
       "fine: \xc3\xbc \xe2\x9c\x93 \xf0\x9f\x94\xa5"},
      {"", ""},
      {std::string(1, '\x01') + "\x1b[31mred", std::string(1, '\x01') + "\x1b[31mred"},
  };
  std::vector<v1::ProbeResult> results;
  const absl::Time t = absl::Now() - absl::Minutes(1);
  for (size_t i = 0; i < cases.size(); ++i) {
    v1::ProbeResult r = Result("hostile", i, t, false, FC::BANNER_MISMATCH, cases[i].input);
    r.set_banner(cases[i].input);
    results.push_back(std::move(r));
  }
  auto dup = store_->InsertBatch(Batch("p-hostile", "fra", 1, std::move(results)));
  ASSERT_TRUE(dup.ok()) << dup.status();
  std::vector<std::string> detail =
      Column("SELECT detail FROM results WHERE prober_id = 'p-hostile' ORDER BY seq");
  std::vector<std::string> banner =
      Column("SELECT banner FROM results WHERE prober_id = 'p-hostile' ORDER BY seq");
  std::vector<std::string> json = Column(
      "SELECT coalesce(extra->>'detail', '') FROM results WHERE prober_id = "
      "'p-hostile'"
      " ORDER BY seq");
  ASSERT_EQ(detail.size(), cases.size());
  ASSERT_EQ(banner.size(), cases.size());
  ASSERT_EQ(json.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(detail[i], cases[i].stored) << "case " << i;
    EXPECT_EQ(banner[i], cases[i].stored) << "case " << i;
    EXPECT_EQ(json[i], cases[i].stored) << "case " << i;
  }
}

TEST_F(StoreTest, ReportCountsComeFromTheRollups) {
  const absl::Time now = absl::Now();
  const absl::Time base = absl::Floor(now - absl::UnixEpoch(), absl::Minutes(1)) +
                          absl::UnixEpoch() - absl::Minutes(30);
  auto at = [&](int i) { return base + absl::Seconds(20 * i); };  // 3 per minute
  // av-a/fra: 10 probes, 3 failures (2 HTTP_STATUS, 1 HTTP_TIMEOUT), in two
  // batches whose minutes overlap (exercises the ON CONFLICT path).
  std::vector<v1::ProbeResult> a1, a2;
  for (int i = 0; i < 5; ++i) {
    a1.push_back(Result("av-a", i, at(i), true, FC::OK));
  }
  a2.push_back(Result("av-a", 5, at(5), false, FC::HTTP_STATUS));
  a2.push_back(Result("av-a", 6, at(2), false,
                      FC::HTTP_STATUS));  // same minute as batch 1
  a2.push_back(Result("av-a", 7, at(7), false, FC::HTTP_TIMEOUT));
  a2.push_back(Result("av-a", 8, at(8), true, FC::OK));
  a2.push_back(Result("av-a", 9, at(9), true, FC::OK));
  // av-a/ams: all fine.
  std::vector<v1::ProbeResult> a_ams;
  for (int i = 0; i < 5; ++i) {
    a_ams.push_back(Result("av-a", 20 + i, at(i), true, FC::OK));
  }
  // av-b/fra: 3 ok, 1 DNS_NXDOMAIN, 2 PROBER_ERROR (not counted against it).
  std::vector<v1::ProbeResult> b_fra = {Result("av-b", 30, at(0), true, FC::OK),
                                        Result("av-b", 31, at(1), true, FC::OK),
                                        Result("av-b", 32, at(2), true, FC::OK),
                                        Result("av-b", 33, at(3), false, FC::DNS_NXDOMAIN),
                                        Result("av-b", 34, at(4), false, FC::PROBER_ERROR),
                                        Result("av-b", 35, at(11), false, FC::PROBER_ERROR)};
  // av-b/ams: only prober errors.
  std::vector<v1::ProbeResult> b_ams = {Result("av-b", 40, at(0), false, FC::PROBER_ERROR)};

  const std::vector<v1::ResultBatch> batches = {
      Batch("p-av-fra", "fra", 1, a1), Batch("p-av-fra", "fra", 2, a2),
      Batch("p-av-fra", "fra", 3, b_fra), Batch("p-av-ams", "ams", 1, a_ams),
      Batch("p-av-ams", "ams", 2, b_ams)};
  for (const v1::ResultBatch& batch : batches) {
    auto dup = store_->InsertBatch(batch);
    ASSERT_TRUE(dup.ok()) << dup.status();
    ASSERT_FALSE(*dup);
  }

  auto report = Report(store_->connection(), now - absl::Hours(1), now, "", "");
  ASSERT_TRUE(report.ok()) << report.status();
  const auto* rows = &report->rows();
  std::vector<std::string> got;
  for (const v1::AvailabilityRow& r : *rows) {
    if (r.check_id().rfind("av-", 0) != 0) {
      continue;  // other tests' data
    }
    got.push_back(absl::StrCat(r.check_id(), " ", r.service(), " ", r.region(), " ", r.probes(),
                               " ", r.failures(), " ", r.reachability(), " ",
                               FC::Code_Name(r.top_failure_class())));
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "av-a svc-av-a ams 5 0 100 UNSPECIFIED",
                     "av-a svc-av-a fra 10 3 70 HTTP_STATUS",
                     "av-b svc-av-b ams 0 0 100 PROBER_ERROR",
                     "av-b svc-av-b fra 4 1 75 DNS_NXDOMAIN",
                 }));
  // last_result is the latest start time of the check x region.
  for (const v1::AvailabilityRow& r : *rows) {
    if (r.check_id() == "av-a" && r.region() == "fra") {
      EXPECT_EQ(r.last_result().seconds(), absl::ToUnixSeconds(at(9)));
    }
    if (r.check_id() == "av-b" && r.region() == "fra") {
      EXPECT_EQ(r.last_result().seconds(), absl::ToUnixSeconds(at(11)));
    }
  }

  auto only_a = Report(store_->connection(), now - absl::Hours(1), now, "av-a", "");
  ASSERT_TRUE(only_a.ok()) << only_a.status();
  ASSERT_EQ(only_a->rows_size(), 2);
  EXPECT_EQ(only_a->rows(0).region(), "ams");
  EXPECT_EQ(only_a->rows(1).region(), "fra");

  auto only_ams = Report(store_->connection(), now - absl::Hours(1), now, "av-b", "ams");
  ASSERT_TRUE(only_ams.ok()) << only_ams.status();
  ASSERT_EQ(only_ams->rows_size(), 1);
  EXPECT_EQ(only_ams->rows(0).top_failure_class(), FC::PROBER_ERROR);

  // A window that ends before the data sees none of it.
  auto before = Report(store_->connection(), base - absl::Hours(1), base, "av-a", "");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->rows_size(), 0);
  // Minutes 0 and 1 only: av-a/fra has at(0..5) and the second at(2) there:
  // 7 probes, 2 failures.
  auto early = Report(store_->connection(), base, base + absl::Minutes(2), "av-a", "fra");
  ASSERT_TRUE(early.ok()) << early.status();
  ASSERT_EQ(early->rows_size(), 1);
  EXPECT_EQ(early->rows(0).probes(), 7u);
  EXPECT_EQ(early->rows(0).failures(), 2u);
}

TEST_F(StoreTest, ResultsFarInThePastOrFutureLand) {
  const absl::Time past =
      absl::FromCivil(absl::CivilSecond(1999, 6, 1, 12, 0, 0), absl::UTCTimeZone());
  const absl::Time future =
      absl::FromCivil(absl::CivilSecond(2100, 1, 1, 0, 0, 1), absl::UTCTimeZone());
  const absl::Time now = absl::Now();
  auto dup = store_->InsertBatch(
      Batch("p-far", "fra", 1,
            {Result("far", 1, past, true, FC::OK), Result("far", 2, future, false, FC::TIMEOUT),
             Result("far", 3, now, true, FC::OK)}));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(
      Column("SELECT seq || ' ' || tableoid::regclass FROM results WHERE "
             "prober_id = 'p-far'"
             " ORDER BY seq"),
      (std::vector<std::string>{
          "1 results_default", "2 results_default",
          absl::StrCat("3 results_p", absl::FormatTime("%Y%m%d", now, absl::UTCTimeZone()))}));
  auto report =
      Report(store_->connection(), future - absl::Hours(1), future + absl::Hours(1), "far", "");
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->rows_size(), 1);
  EXPECT_EQ(report->rows(0).failures(), 1u);
}

TEST_F(StoreTest, NonsenseTimestampsAreClampedNotFatal) {
  // A batch that can never be stored would be resent forever.
  v1::ProbeResult lo = Result("clamp", 1, absl::Now(), true, FC::OK);
  lo.mutable_start_time()->set_seconds(std::numeric_limits<int64_t>::min());
  lo.mutable_start_time()->set_nanos(-5);
  v1::ProbeResult hi = Result("clamp", 2, absl::Now(), true, FC::OK);
  hi.mutable_start_time()->set_seconds(std::numeric_limits<int64_t>::max());
  hi.set_cert_not_after("not a date");
  hi.set_total_us(std::numeric_limits<uint32_t>::max());
  auto dup = store_->InsertBatch(Batch("p-clamp", "fra", 1, {lo, hi}));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(Column("SELECT to_char(started_at, 'YYYY-MM-DD') || ' ' || total_us"
                   " FROM results WHERE prober_id = 'p-clamp' ORDER BY seq"),
            (std::vector<std::string>{"0001-01-01 1234", "9999-12-31 2147483647"}));
}

TEST_F(StoreTest, RowsInTheDefaultPartitionMoveWhenTheirDayGetsOne) {
  const absl::Time later = absl::Now() + absl::Hours(24 * 10);
  const std::string partition =
      absl::StrCat("results_p", absl::FormatTime("%Y%m%d", later, absl::UTCTimeZone()));
  auto first =
      store_->InsertBatch(Batch("p-move", "fra", 1, {Result("move", 1, later, true, FC::OK)}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(One("SELECT tableoid::regclass FROM results WHERE prober_id = 'p-move'"),
            "results_default");

  StoreOptions wider;
  wider.partition_future_days = 12;
  std::unique_ptr<Store> other = Connect(wider);
  ASSERT_NE(other, nullptr);
  auto second =
      other->InsertBatch(Batch("p-move", "fra", 2, {Result("move", 2, later, true, FC::OK)}));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(Column("SELECT seq || ' ' || tableoid::regclass FROM results WHERE "
                   "prober_id = 'p-move'"
                   " ORDER BY seq"),
            (std::vector<std::string>{"1 " + partition, "2 " + partition}));
}

TEST_F(StoreTest, AFailedBatchLeavesNothingBehind) {
  ASSERT_TRUE(AddBoomTrigger("results", "detail"));
  const absl::Time t = absl::Now() - absl::Minutes(2);
  v1::ResultBatch batch = Batch("p-fail", "fra", 9,
                                {Result("fail", 1, t, false, FC::HTTP_BODY, "fine"),
                                 Result("fail", 2, t, false, FC::HTTP_BODY, "boom")});
  ExpectFailedLeavingNothing(store_->InsertBatch(batch), "p-fail", "'fail'");

  ASSERT_TRUE(DropBoomTrigger("results"));
  auto retry = store_->InsertBatch(batch);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(*retry) << "the failed attempt must not have recorded the batch";
  EXPECT_EQ(One("SELECT count(*) FROM results WHERE prober_id = 'p-fail'"), "2");
  EXPECT_EQ(One("SELECT sum(n) FROM rollup_minute_class WHERE check_id = 'fail'"
                " AND failure_class = 'HTTP_BODY'"),
            "2");
}

// The rollup upserts and the COMMIT go in one pipeline: one failing there
// also leaves nothing behind, and the connection is usable for the next
// batch.
TEST_F(StoreTest, AFailedRollupUpsertLeavesNothingBehind) {
  ASSERT_TRUE(AddBoomTrigger("rollup_hour", "check_id"));
  const absl::Time t = absl::Now() - absl::Minutes(2);
  auto failed = store_->InsertBatch(
      Batch("p-pipe", "fra", 1,
            {Result("calm", 1, t, true, FC::OK), Result("boom", 2, t, false, FC::HTTP_BODY, "x")}));
  ExpectFailedLeavingNothing(failed, "p-pipe", "'calm', 'boom'");

  auto next = store_->InsertBatch(Batch("p-pipe", "fra", 2, {Result("calm", 3, t, true, FC::OK)}));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(*next);
  EXPECT_EQ(One("SELECT probes FROM rollup_hour WHERE check_id = 'calm'"), "1");
  ASSERT_TRUE(DropBoomTrigger("rollup_hour"));
}

TEST_F(StoreTest, ALostConnectionIsUnavailable) {
  std::unique_ptr<Store> victim = Connect();
  ASSERT_NE(victim, nullptr);
  ASSERT_TRUE(
      store_->Execute(absl::StrCat("SELECT pg_terminate_backend(", victim->backend_pid(), ")"))
          .ok());
  auto dup = victim->InsertBatch(
      Batch("p-lost", "fra", 1, {Result("lost", 1, absl::Now(), true, FC::OK)}));
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(absl::IsUnavailable(dup.status())) << dup.status();
  EXPECT_FALSE(victim->healthy());
  EXPECT_EQ(One("SELECT count(*) FROM results WHERE prober_id = 'p-lost'"), "0");
}

TEST_F(StoreTest, PoolLendsSeparateConnectionsAndReusesHealthyOnes) {
  StorePool pool(sonde::testing::PostgresEnvironment::conninfo());
  int pid_a = 0, pid_b = 0;
  {
    auto a = pool.Acquire();
    auto b = pool.Acquire();
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    pid_a = (*a)->backend_pid();
    pid_b = (*b)->backend_pid();
    EXPECT_NE(pid_a, pid_b);
    EXPECT_EQ(pool.idle_count(), 0u);
  }
  EXPECT_EQ(pool.idle_count(), 2u);
  auto again = pool.Acquire();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->backend_pid() == pid_a || (*again)->backend_pid() == pid_b);
  // A broken connection is not given back.
  ASSERT_TRUE(
      store_->Execute(absl::StrCat("SELECT pg_terminate_backend(", (*again)->backend_pid(), ")"))
          .ok());
  EXPECT_FALSE((*again)->Execute("SELECT 1").ok());
  again->reset();
  EXPECT_EQ(pool.idle_count(), 1u);
}

// After a PostgreSQL restart (here: its backends terminated) the pool's
// idle connections are dead. The pool must find that out itself instead of
// lending one and failing the next batch with it.
TEST_F(StoreTest, PoolDoesNotLendIdleConnectionsTheServerClosed) {
  StorePool pool(sonde::testing::PostgresEnvironment::conninfo());
  int dead_pid = 0;
  {
    auto a = pool.Acquire();
    ASSERT_TRUE(a.ok()) << a.status();
    dead_pid = (*a)->backend_pid();
  }
  ASSERT_EQ(pool.idle_count(), 1u);
  ASSERT_TRUE(store_->Execute(absl::StrCat("SELECT pg_terminate_backend(", dead_pid, ")")).ok());
  // The backend is gone once pg_stat_activity no longer lists it.
  for (int i = 0; i < 100 && One(absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE pid = ",
                                              dead_pid)) != "0";
       ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_NE((*lease)->backend_pid(), dead_pid);
  auto dup = (*lease)->InsertBatch(
      Batch("p-pool", "fra", 1, {Result("pool", 1, absl::Now(), true, FC::OK)}));
  ASSERT_TRUE(dup.ok()) << dup.status();
}

// A session that cannot write (SQLSTATE 25006: it reached a standby, or a
// primary demoted under it) is as useless as a lost one: UNAVAILABLE, the
// connection dropped, so the pool connects anew instead of lending it again.
TEST_F(StoreTest, AReadOnlySessionIsDroppedLikeALostOne) {
  StorePool pool(sonde::testing::PostgresEnvironment::conninfo());
  int read_only_pid = 0;
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    read_only_pid = (*lease)->backend_pid();
    ASSERT_TRUE((*lease)->Execute("SET default_transaction_read_only = on").ok());
    auto dup = (*lease)->InsertBatch(
        Batch("p-ro", "fra", 1, {Result("ro", 1, absl::Now(), true, FC::OK)}));
    ASSERT_FALSE(dup.ok());
    EXPECT_TRUE(absl::IsUnavailable(dup.status())) << dup.status();
    EXPECT_FALSE((*lease)->healthy());
  }
  EXPECT_EQ(pool.idle_count(), 0u) << "the read-only connection went back to the pool";
  EXPECT_EQ(pool.open_count(), 0u);
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_NE((*lease)->backend_pid(), read_only_pid);
  auto dup =
      (*lease)->InsertBatch(Batch("p-ro", "fra", 1, {Result("ro", 1, absl::Now(), true, FC::OK)}));
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_FALSE(*dup);
}

// The collectors' connection string under Patroni (deploy/patroni): several
// hosts, target_session_attrs=read-write. libpq skips a host that refuses
// connections and one whose sessions are read-only.
TEST_F(StoreTest, AMultiHostConnectionStringReachesTheWritableServer) {
  const std::string conninfo = sonde::testing::PostgresEnvironment::conninfo();
  const size_t at = conninfo.find("port=");
  ASSERT_NE(at, std::string::npos) << conninfo;
  const std::string port = conninfo.substr(at + 5, conninfo.find(' ', at) - at - 5);
  const std::string multi =
      absl::StrCat(conninfo, " host=127.0.0.1,127.0.0.1 port=", sonde::testing::FreePort(), ",",
                   port, " target_session_attrs=read-write");
  auto store = Store::Connect(multi);
  ASSERT_TRUE(store.ok()) << store.status();
  auto dup = (*store)->InsertBatch(
      Batch("p-multi", "fra", 1, {Result("multi", 1, absl::Now(), true, FC::OK)}));
  ASSERT_TRUE(dup.ok()) << dup.status();
  // Every host read-only (a cluster mid-failover): no connection, UNAVAILABLE.
  auto none = Store::Connect(absl::StrCat(multi, " options='-c default_transaction_read_only=on'"));
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(absl::IsUnavailable(none.status())) << none.status();
}

// Check ids reach the rollups as array elements: quotes, backslashes,
// commas, braces and the word NULL must stay data.
TEST_F(StoreTest, RollupsKeepCheckIdsWithArraySyntaxIntact) {
  const std::vector<std::string> ids = {"a,b",      "q\"uote", "back\\slash", "{braces}", "NULL",
                                        " spaced ", ""};
  const absl::Time t = absl::Now() - absl::Minutes(2);
  std::vector<v1::ProbeResult> results;
  for (size_t i = 0; i < ids.size(); ++i) {
    results.push_back(Result(ids[i].empty() ? "x" : ids[i], i + 1, t, i % 2 == 0,
                             i % 2 == 0 ? FC::OK : FC::HTTP_STATUS));
  }
  ASSERT_TRUE(store_->InsertBatch(Batch("p-array", "region-array", 1, std::move(results))).ok());
  auto report = Report(store_->connection(), t - absl::Minutes(1), absl::Now(), "", "region-array");
  ASSERT_TRUE(report.ok()) << report.status();
  std::vector<std::string> got;
  for (const auto& r : report->rows()) {
    got.push_back(r.check_id());
    EXPECT_EQ(r.probes(), 1u) << r.check_id();
  }
  std::vector<std::string> want = {"a,b",      "q\"uote", "back\\slash", "{braces}", "NULL",
                                   " spaced ", "x"};
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(One("SELECT sum(n) FROM rollup_minute_class WHERE region = 'region-array'"), "3");
}

}  // namespace
}  // namespace sonde::collector
