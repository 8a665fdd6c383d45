// The availability and SLO report against a real PostgreSQL: results stored
// by the Store (rollups as in production), incidents decided by the real
// Detector with the shipped defaults and recorded by the IncidentStore
// (failing_since, timeline), read back by the report reader and engine
// (docs/availability.md). Covers issue 12's acceptance 2 (one region of
// three down, all down, maintenance and no data excluded and shown, a
// calendar-month SLO in Europe/Berlin across the DST change), the
// brute-force comparison from raw rows (acceptance 1) and the HTTP JSON
// field names (the contract).
#include "collector/report/report.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collector/api/config_service.h"
#include "collector/api/http_api.h"
#include "collector/api/query_service.h"
#include "collector/detect/detector.h"
#include "collector/incidents/incident_store.h"
#include "collector/report/reader.h"
#include "collector/storage/store.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "common/proto_time.h"
#include "common/result_json.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/rollup_fill.h"
#include "tests/testing/status_matchers.h"

namespace sonde::collector {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

using FC = v1::FailureClass;

// 2026-11-02T00:00:00Z, a Monday; the tests' windows start here.
const absl::Time kT0 = absl::FromUnixSeconds(1793577600);
const std::vector<std::string> kRegions = {"ams", "ber", "fra"};

v1::Config AppConfig(absl::Duration interval) {
  v1::Config c;
  for (const std::string& r : kRegions) {
    c.add_regions(r);
  }
  for (const char* name : {"app-login", "app-api"}) {
    v1::Check* k = c.add_checks();
    k->set_name(name);
    k->set_service("app");
    k->mutable_http()->set_url(absl::StrCat("https://", name, ".example.test/"));
    common::SetDuration(interval, k->mutable_interval());
  }
  return c;
}

// What a probe of `check` in `region` at `t` returns.
using Behaviour =
    std::function<FC::Code(const std::string& check, const std::string& region, absl::Time t)>;

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = sonde::testing::PostgresEnvironment::conninfo();
    ASSERT_FALSE(conninfo_.empty());
    ASSERT_OK_AND_ASSIGN(store_, Store::Connect(conninfo_));
    ASSERT_OK(store_->Migrate());
    ASSERT_OK(store_->Execute(
        "TRUNCATE results, rollup_minute, rollup_minute_class, rollup_hour, rollup_hour_class,"
        " rollup_day, rollup_day_class, gaps, ingested_batches,"
        " incident_events, outbox, incidents CASCADE"));
  }

  // Probes every check of `config` in `regions` every interval over [from,
  // to), stores the results (with the rollups) and, with `detect`, runs
  // the real Detector over them minute by minute and records its events.
  void Run(const v1::Config& config, absl::Time from, absl::Time to, const Behaviour& behaviour,
           bool detect = true, const std::vector<std::string>& regions = kRegions) {
    std::unique_ptr<detect::Detector> detector;
    if (detect) {
      ASSERT_OK_AND_ASSIGN(detector, detect::Detector::Create(detect::DetectorOptions{}));
      ASSERT_OK(detector->SetConfig(config, from));
    }
    IncidentStore incidents(conninfo_);
    const absl::Duration every = common::ToDuration(config.checks(0).interval());
    for (absl::Time t = from; t < to; t += every) {
      for (const std::string& region : regions) {
        v1::ResultBatch batch;
        batch.set_prober_id("p-" + region);
        batch.set_region(region);
        batch.set_batch_seq(++seq_);
        for (const v1::Check& c : config.checks()) {
          const FC::Code code = behaviour(c.name(), region, t);
          if (code == FC::UNSPECIFIED) {
            continue;  // nothing sent
          }
          v1::ProbeResult* r = batch.add_results();
          r->set_check_id(c.name());
          r->set_service(c.service());
          r->set_kind("http");
          r->set_prober_id("p-" + region);
          r->set_region(region);
          r->set_seq(seq_);
          r->set_target(c.http().url());
          common::SetTimestamp(t, r->mutable_start_time());
          r->set_failure_class(code);
          r->set_ok(code == FC::OK);
          r->set_total_us(20000);
          r->set_http_status(code == FC::OK ? 200 : 0);
          r->set_detail(code == FC::OK ? "200 OK" : "connection refused");
        }
        ASSERT_OK(store_->InsertBatch(batch).status());
        if (detector != nullptr) {
          for (const v1::ProbeResult& r : batch.results()) {
            detector->Observe(r);
          }
        }
      }
      if (detector != nullptr) {
        const absl::Time now = t + every;
        std::vector<detect::IncidentEvent> events = detector->Tick(now);
        if (!events.empty()) {
          ASSERT_OK(incidents.Record(events, config, now));
        }
      }
    }
  }

  report::ReportInputs Inputs(absl::Time from, absl::Time to, const v1::Config& config) {
    report::ReportScope scope;
    scope.window = {from, to};
    scope.now = to + absl::Hours(1);  // the minute rollups are all still kept
    absl::StatusOr<report::ReportInputs> in =
        report::ReadInputs(store_->connection(), scope, config);
    EXPECT_TRUE(in.ok()) << in.status();
    return in.ok() ? *in : report::ReportInputs{};
  }

  v1::AvailabilityReply Report(absl::Time from, absl::Time to, const v1::Config& config) {
    report::ReportScope scope;
    scope.window = {from, to};
    return report::BuildAvailability(Inputs(from, to, config), scope, {"test", "UTC"}, config);
  }

  static const v1::AvailabilityRow& Row(const v1::AvailabilityReply& r, const std::string& check,
                                        const std::string& region) {
    static const v1::AvailabilityRow* const kNone = new v1::AvailabilityRow;
    for (const v1::AvailabilityRow& row : region.empty() ? r.overall() : r.rows()) {
      if (row.check_id() == check && row.region() == region) {
        return row;
      }
    }
    ADD_FAILURE() << "no row " << check << " " << region;
    return *kNone;
  }

  std::vector<std::string> Column(const std::string& sql) {
    absl::StatusOr<std::vector<std::string>> rows = store_->QueryColumn(sql);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<std::string>{};
  }

  std::string conninfo_;
  std::unique_ptr<Store> store_;
  uint64_t seq_ = 0;
};

TEST_F(ReportTest, OneRegionOfThreeDownForAnHourIsRegionalAndWeighsAThird) {
  const v1::Config config = AppConfig(absl::Minutes(1));
  const absl::Time fail_from = kT0 + absl::Hours(1);
  const absl::Time fail_to = kT0 + absl::Hours(2);
  Run(config, kT0, kT0 + absl::Hours(3),
      [&](const std::string& check, const std::string& region, absl::Time t) {
        return check == "app-login" && region == "ams" && t >= fail_from && t < fail_to
                   ? FC::TCP_REFUSED
                   : FC::OK;
      });
  // The detector called it regional, and the outage counts from the first
  // failing result, not from when the incident opened.
  EXPECT_EQ(Column("SELECT kind || ' ' || array_to_string(regions, ',') FROM incidents"),
            std::vector<std::string>{"REGIONAL_OUTAGE ams"});
  EXPECT_EQ(Column("SELECT (failing_since = '2026-11-02T01:00:00Z') FROM incidents"),
            std::vector<std::string>{"t"});
  EXPECT_EQ(Column("SELECT failing_since < opened_at FROM incidents"),
            std::vector<std::string>{"t"});

  // Over the failing hour: reachability drops by a third, availability by
  // the weighted share (1 of 3 regions).
  const v1::AvailabilityReply hour = Report(fail_from, fail_to, config);
  const v1::AvailabilityRow& login = Row(hour, "app-login", "");
  EXPECT_NEAR(login.reachability(), 100.0 * 2 / 3, 1e-9);
  EXPECT_NEAR(Row(hour, "app-login", "ams").reachability(), 0, 1e-9);
  EXPECT_NEAR(Row(hour, "app-login", "ber").reachability(), 100, 1e-9);
  // The condition clears some runs after the fix (up_successes): allow 3
  // minutes of the weighted hour.
  EXPECT_NEAR(login.availability(), 100.0 * 2 / 3, 100.0 / 3 * 3 / 60);
  EXPECT_LE(login.availability(), 100.0 * 2 / 3 + 1e-9);
  EXPECT_NEAR(Row(hour, "app-login", "ams").availability(), 0, 1e-9);
  EXPECT_NEAR(Row(hour, "app-login", "fra").availability(), 100, 1e-9);
  EXPECT_NEAR(Row(hour, "app-api", "").availability(), 100, 1e-9);

  // Over three hours the same outage weighs a third of an hour.
  const v1::AvailabilityRow& day = Row(Report(kT0, kT0 + absl::Hours(3), config), "app-login", "");
  EXPECT_GE(day.down_seconds(), 1200 - 1e-6);
  EXPECT_LE(day.down_seconds(), 1200 + 60);
  EXPECT_EQ(day.counted_seconds(), 3 * 3600);
}

// The Query API over HTTP on a loopback port, its clock standing at `now`.
struct HttpReports {
  HttpReports(const std::string& conninfo, const v1::Config& config, absl::Time now)
      : pool(conninfo), holder(config), clock(now), query(&pool, &clock), api(&query, nullptr) {
    query.set_config(&holder);
  }
  ~HttpReports() { api.Stop(); }
  absl::Status Start() {
    if (absl::Status st = api.Start("127.0.0.1:0"); !st.ok()) {
      return st;
    }
    client = std::make_unique<httplib::Client>("127.0.0.1", api.port());
    client->set_read_timeout(20);
    return absl::OkStatus();
  }
  // GET `path`: 200 and its JSON body parsed into `out`, or why not.
  absl::Status GetJson(const std::string& path, google::protobuf::Message* out) {
    auto res = client->Get(path);
    if (!res) {
      return absl::UnavailableError(absl::StrCat("GET ", path, ": no answer"));
    }
    if (res->status != 200) {
      return absl::InternalError(absl::StrCat("GET ", path, ": ", res->status, " ", res->body));
    }
    if (!google::protobuf::util::JsonStringToMessage(res->body, out).ok()) {
      return absl::InternalError(absl::StrCat("GET ", path, ": not the JSON: ", res->body));
    }
    return absl::OkStatus();
  }

  StorePool pool;
  ConfigHolder holder;
  common::FakeClock clock;
  QueryService query;
  HttpApi api;
  std::unique_ptr<httplib::Client> client;
};

// Checks that the days of `row` add up to it; returns the days' down seconds.
std::vector<double> DaysAddUp(const v1::AvailabilityRow& row) {
  std::vector<double> down;
  uint64_t probes = 0;
  uint64_t failures = 0;
  double down_sum = 0;
  int64_t counted = 0;
  for (const v1::DayAvailability& d : row.days()) {
    probes += d.probes();
    failures += d.failures();
    down_sum += d.down_seconds();
    counted += d.counted_seconds();
    down.push_back(d.down_seconds());
  }
  EXPECT_EQ(probes, row.probes()) << row.check_id() << " " << row.region();
  EXPECT_EQ(failures, row.failures()) << row.check_id() << " " << row.region();
  EXPECT_NEAR(down_sum, row.down_seconds(), 1e-6) << row.check_id() << " " << row.region();
  EXPECT_EQ(counted, row.counted_seconds()) << row.check_id() << " " << row.region();
  return down;
}

TEST_F(ReportTest, DailyNumbersShowARegionalOutageInItsDayOnlyAndAddUp) {
  const v1::Config config = AppConfig(absl::Minutes(1));
  // kT0 is a UTC midnight: two hours of the day before, two of kT0's day,
  // ams down for an hour on the second.
  const absl::Time fail_from = kT0 + absl::Minutes(30);
  const absl::Time fail_to = kT0 + absl::Minutes(90);
  Run(config, kT0 - absl::Hours(2), kT0 + absl::Hours(2),
      [&](const std::string& check, const std::string& region, absl::Time t) {
        return check == "app-login" && region == "ams" && t >= fail_from && t < fail_to
                   ? FC::TCP_REFUSED
                   : FC::OK;
      });
  ASSERT_EQ(Column("SELECT kind FROM incidents"), std::vector<std::string>{"REGIONAL_OUTAGE"});
  // Over HTTP (daily=true), as the HTML report and the status page ask.
  HttpReports http(conninfo_, config, kT0 + absl::Hours(2));
  ASSERT_OK(http.Start());
  v1::AvailabilityReply reply;
  ASSERT_OK(http.GetJson("/api/v1/availability?window=4h&daily=true", &reply));
  ASSERT_EQ(reply.overall_size(), 2);
  ASSERT_EQ(reply.rows_size(), 6);
  for (const auto* rows : {&reply.rows(), &reply.overall()}) {
    for (const v1::AvailabilityRow& row : *rows) {
      ASSERT_EQ(row.days_size(), 2) << row.check_id() << " " << row.region();
      EXPECT_EQ(common::ToTime(row.days(0).start()), kT0 - absl::Hours(2));
      EXPECT_EQ(common::ToTime(row.days(1).start()), kT0);
      EXPECT_EQ(row.days(1).counted_seconds(), 7200);
      const std::vector<double> down = DaysAddUp(row);
      EXPECT_EQ(down[0], 0) << "the day before the outage is clean";
      const bool hit =
          row.check_id() == "app-login" && (row.region().empty() || row.region() == "ams");
      EXPECT_EQ(down[1] > 0, hit) << row.check_id() << " " << row.region();
    }
  }
  const v1::AvailabilityRow& ams = Row(reply, "app-login", "ams");
  EXPECT_NEAR(ams.days(1).down_seconds(), 3600, 180);
  EXPECT_NEAR(ams.days(1).reachability(), 100.0 / 2, 1e-9);
  EXPECT_NEAR(Row(reply, "app-login", "").days(1).down_seconds(), ams.days(1).down_seconds() / 3,
              1e-6);
  // Berlin's days (UTC+1): 23:00-00:00 of the first, then the rest; the
  // counts of the split come from hour and minute rollups and still add up.
  v1::AvailabilityReply berlin;
  ASSERT_OK(
      http.GetJson("/api/v1/availability?window=4h&daily=true&time_zone=Europe/Berlin", &berlin));
  for (const auto* rows : {&berlin.rows(), &berlin.overall()}) {
    for (const v1::AvailabilityRow& row : *rows) {
      ASSERT_EQ(row.days_size(), 2) << row.check_id() << " " << row.region();
      EXPECT_EQ(common::ToTime(row.days(1).start()), kT0 - absl::Hours(1));
      EXPECT_EQ(row.days(0).counted_seconds(), 3600);
      EXPECT_EQ(row.days(0).probes(), row.region().empty() ? 180u : 60u);
      DaysAddUp(row);
    }
  }

  // Without daily, the rows are the same and carry no days.
  v1::AvailabilityRequest plain;
  common::SetDuration(absl::Hours(4), plain.mutable_window());
  ASSERT_OK_AND_ASSIGN(v1::AvailabilityReply whole, http.query.reports().Availability(plain));
  const v1::AvailabilityRow& same = Row(whole, "app-login", "ams");
  EXPECT_EQ(same.days_size(), 0);
  EXPECT_EQ(same.probes(), ams.probes());
  EXPECT_EQ(same.counted_seconds(), ams.counted_seconds());
  EXPECT_DOUBLE_EQ(same.down_seconds(), ams.down_seconds());
}

TEST_F(ReportTest, AllRegionsDownIsGlobalAndBothDrop) {
  const v1::Config config = AppConfig(absl::Minutes(1));
  const absl::Time fail_from = kT0 + absl::Hours(1);
  const absl::Time fail_to = kT0 + absl::Minutes(90);
  Run(config, kT0, kT0 + absl::Hours(2),
      [&](const std::string& check, const std::string&, absl::Time t) {
        return check == "app-login" && t >= fail_from && t < fail_to ? FC::TCP_TIMEOUT : FC::OK;
      });
  EXPECT_EQ(Column("SELECT kind FROM incidents"), std::vector<std::string>{"GLOBAL_OUTAGE"});
  const v1::AvailabilityReply r = Report(fail_from, fail_to, config);
  EXPECT_NEAR(Row(r, "app-login", "").reachability(), 0, 1e-9);
  // The weight follows the detector's timeline: until it widens the
  // incident to every region (a minute or two in), the regions it has not
  // named yet do not count as down.
  EXPECT_LT(Row(r, "app-login", "").availability(), 5);
  EXPECT_NEAR(Row(r, "app-api", "").availability(), 100, 1e-9);
  const v1::AvailabilityRow& whole =
      Row(Report(kT0, kT0 + absl::Hours(2), config), "app-login", "");
  EXPECT_NEAR(whole.reachability(), 75, 1e-9);
  EXPECT_GE(whole.down_seconds(), 1800 - 90);
  EXPECT_LE(whole.down_seconds(), 1800 + 180);
}

TEST_F(ReportTest, MaintenanceAndNoDataAreExcludedAndShown) {
  v1::Config config = AppConfig(absl::Minutes(1));
  v1::MaintenanceWindow* m = config.add_maintenance();
  m->set_name("db-upgrade");
  m->add_services("app");
  common::SetTimestamp(kT0 + absl::Hours(1), m->mutable_start());
  common::SetTimestamp(kT0 + absl::Minutes(90), m->mutable_end());
  m->set_reason("PostgreSQL 16");
  const absl::Time silent_from = kT0 + absl::Hours(2);
  const absl::Time silent_to = kT0 + absl::Minutes(150);
  auto ok = [](const std::string&, const std::string&, absl::Time) { return FC::OK; };
  // ber sends nothing for 30 minutes; fra's prober reports 10 lost minutes.
  Run(config, kT0, silent_from, ok, false);
  Run(config, silent_from, silent_to, ok, false, {"ams", "fra"});
  Run(config, silent_to, kT0 + absl::Hours(3), ok, false);
  v1::ResultBatch lost;
  lost.set_prober_id("p-fra");
  lost.set_region("fra");
  lost.set_batch_seq(++seq_);
  v1::Gap* gap = lost.add_gaps();
  gap->set_results(20);
  gap->set_first_batch_seq(1);
  gap->set_last_batch_seq(2);
  common::SetTimestamp(kT0 + absl::Minutes(160), gap->mutable_from());
  common::SetTimestamp(kT0 + absl::Minutes(170), gap->mutable_to());
  ASSERT_OK(store_->InsertBatch(lost).status());

  const v1::AvailabilityReply r = Report(kT0, kT0 + absl::Hours(3), config);
  const v1::AvailabilityRow& all = Row(r, "app-login", "");
  EXPECT_EQ(all.maintenance_seconds(), 1800);
  EXPECT_EQ(all.no_data_seconds(), 0);  // some region had data all along
  EXPECT_EQ(all.counted_seconds(), 3 * 3600 - 1800);
  EXPECT_NEAR(all.availability(), 100, 1e-9);
  EXPECT_EQ(Row(r, "app-login", "ber").no_data_seconds(), 1800);
  EXPECT_EQ(Row(r, "app-login", "ber").counted_seconds(), 3 * 3600 - 1800 - 1800);
  EXPECT_EQ(Row(r, "app-login", "fra").no_data_seconds(), 600);
  EXPECT_EQ(Row(r, "app-login", "ams").no_data_seconds(), 0);
  // Shown in the accounting method.
  std::string exclusions;
  for (const std::string& e : r.method().exclusions()) {
    absl::StrAppend(&exclusions, e, "\n");
  }
  EXPECT_NE(exclusions.find("maintenance \"db-upgrade\" 2026-11-02T01:00:00Z - "
                            "2026-11-02T01:30:00Z (PostgreSQL 16)"),
            std::string::npos)
      << exclusions;
  EXPECT_NE(exclusions.find("no data: region fra prober p-fra lost 20 results"), std::string::npos)
      << exclusions;
  EXPECT_EQ(std::vector<std::string>(r.method().regions().begin(), r.method().regions().end()),
            kRegions);
}

// The October 2026 SLO in Europe/Berlin: the month has 745 hours (the
// clocks go back on the 25th), and a one-hour global outage across the
// change spends 60 of its 44.7 budget minutes.
TEST_F(ReportTest, CalendarMonthSloInBerlinAcrossTheDstChange) {
  v1::Config config = AppConfig(absl::Hours(1));
  config.mutable_checks()->DeleteSubrange(1, 1);
  v1::SloSpec* slo = config.add_slos();
  slo->set_name("app-month");
  slo->set_service("app");
  slo->set_target_percent(99.9);
  slo->set_window("month");
  slo->set_time_zone("Europe/Berlin");
  slo->set_method("timeslices");
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::Time month_from = absl::FromCivil(absl::CivilSecond(2026, 9, 30, 22, 0, 0), utc);
  const absl::Time month_to = absl::FromCivil(absl::CivilSecond(2026, 10, 31, 23, 0, 0), utc);
  auto ok = [](const std::string&, const std::string&, absl::Time) { return FC::OK; };
  Run(config, month_from, month_to + absl::Hours(2), ok, false, {"ams"});
  // One hour down across the change (02:30 CEST -> 02:30 CET is 00:30Z-01:30Z).
  detect::Incident i;
  i.id = "app/global_outage/1793061000";
  i.kind = detect::IncidentKind::kGlobalOutage;
  i.service = "app";
  i.checks = {"app-login"};
  i.regions = {"ams"};
  i.failing_share = 1;
  i.opened_at = absl::FromCivil(absl::CivilSecond(2026, 10, 25, 0, 30, 0), utc);
  i.updated_at = i.opened_at;
  IncidentStore incidents(conninfo_);
  detect::IncidentEvent e;
  e.incident_id = i.id;
  e.at = i.opened_at;
  e.incident = i;
  ASSERT_OK(incidents.Record({e}, config, e.at));
  i.resolved = true;
  i.resolved_at = i.opened_at + absl::Hours(1);
  e.kind = detect::IncidentEventKind::kResolved;
  e.at = i.resolved_at + absl::Minutes(3);  // the hold does not count
  e.incident = i;
  ASSERT_OK(incidents.Record({e}, config, e.at));

  StorePool pool(conninfo_);
  ConfigHolder holder(config);
  common::FakeClock clock(absl::FromCivil(absl::CivilSecond(2026, 11, 3, 12, 0, 0), utc));
  QueryService query(&pool, &clock);
  query.set_config(&holder);

  // The whole month: 745 hours counted, one of them down.
  v1::AvailabilityRequest month;
  month.set_month("2026-10");
  month.set_time_zone("Europe/Berlin");
  ASSERT_OK_AND_ASSIGN(v1::AvailabilityReply r, query.reports().Availability(month));
  EXPECT_EQ(common::ToTime(r.from()), month_from);
  EXPECT_EQ(common::ToTime(r.to()), month_to);
  const v1::AvailabilityRow& row = Row(r, "app-login", "");
  EXPECT_EQ(row.counted_seconds(), 745 * 3600);
  EXPECT_NEAR(row.down_seconds(), 3600, 1e-6);
  EXPECT_NEAR(row.availability(), 100.0 * 744 / 745, 1e-9);
  EXPECT_EQ(r.method().time_zone(), "Europe/Berlin");
  EXPECT_EQ(r.method().window(), "calendar month 2026-10");

  // The SLO while October runs (Oct 31, 23:30 in Berlin).
  clock.Set(month_to - absl::Minutes(30));
  ASSERT_OK_AND_ASSIGN(v1::SloReply slos, query.reports().Slo(v1::SloRequest()));
  ASSERT_EQ(slos.slos_size(), 1);
  const v1::SloStatus& s = slos.slos(0);
  EXPECT_EQ(common::ToTime(s.from()), month_from);
  const double minutes = 745 * 60 - 30;
  EXPECT_NEAR(s.total(), minutes, 1e-6);
  EXPECT_NEAR(s.good(), minutes - 60, 1e-6);
  EXPECT_NEAR(s.budget_remaining_percent(), 100.0 * (1 - (60 / minutes) / 0.001), 1e-6);
  ASSERT_EQ(s.burn_rates_size(), 4);
  EXPECT_EQ(s.burn_rates(0).window(), "1h");
  EXPECT_EQ(s.burn_rates(0).rate(), 0);
  EXPECT_EQ(s.burn_rates(3).window(), "month");
  EXPECT_GT(s.burn_rates(3).rate(), 1);
  EXPECT_EQ(s.method().budgeting_method(), "timeslices");
}

// ---- brute force from raw rows ------------------------------------------

// The brute force steps whole seconds; incident boundaries fall inside a
// second (results' durations, detector event times), so its outage time
// may differ from the exact integral by under a second per boundary.
constexpr double kSweepSlack = 0.5;

struct Truth {
  uint64_t probes = 0;
  uint64_t failures = 0;
  int64_t counted = 0;
  double down = 0;
  int64_t no_data = 0;
};

TEST_F(ReportTest, EqualsABruteForceComputationFromRawRows) {
  v1::Config config = AppConfig(absl::Minutes(1));
  v1::MaintenanceWindow* m = config.add_maintenance();
  m->set_name("m");
  m->add_checks("app-api");
  common::SetTimestamp(kT0 + absl::Minutes(20), m->mutable_start());
  common::SetTimestamp(kT0 + absl::Minutes(35), m->mutable_end());
  const absl::Time end = kT0 + absl::Hours(6);
  // Pseudo-random failures and PROBER_ERRORs, ber down 40 minutes,
  // everything failing 15 minutes, and silences (no data where longer than
  // 2 minutes; hours whose every minute had results are not read by minute,
  // collector/report/silences.h): fra 20 minutes up to an hour boundary,
  // ams app-api 7 minutes inside an hour, ber app-api 15 minutes and ams
  // app-login 20 minutes across one, ber app-login a whole hour and more.
  auto quiet = [](const std::string& check, const std::string& region, absl::Time t) {
    auto in = [&](int from_min, int to_min) {
      return t >= kT0 + absl::Minutes(from_min) && t < kT0 + absl::Minutes(to_min);
    };
    return (region == "fra" && in(100, 120)) ||
           (region == "ams" && check == "app-api" && in(200, 207)) ||
           (region == "ber" && check == "app-api" && in(235, 250)) ||
           (region == "ams" && check == "app-login" && in(170, 190)) ||
           (region == "ber" && check == "app-login" && in(230, 310));
  };
  Run(config, kT0, end, [&](const std::string& check, const std::string& region, absl::Time t) {
    const int64_t s = absl::ToUnixSeconds(t);
    const uint64_t h =
        (static_cast<uint64_t>(s) * 2654435761u) ^ std::hash<std::string>()(check + region);
    if (quiet(check, region, t)) {
      return FC::UNSPECIFIED;  // not sent
    }
    if (t >= kT0 + absl::Minutes(130) && t < kT0 + absl::Minutes(145)) {
      return FC::HTTP_STATUS;
    }
    if (region == "ber" && check == "app-login" && t >= kT0 + absl::Minutes(40) &&
        t < kT0 + absl::Minutes(80)) {
      return FC::TCP_REFUSED;
    }
    return h % 17 == 0 ? FC::TCP_TIMEOUT : h % 23 == 0 ? FC::PROBER_ERROR : FC::OK;
  });
  // Results two hours late fill the middle of ams app-login's silence
  // (175-185) afterwards: 5 minutes without results remain on each side.
  Run(config, kT0 + absl::Minutes(175), kT0 + absl::Minutes(185),
      [](const std::string& check, const std::string&, absl::Time) {
        return check == "app-login" ? FC::OK : FC::UNSPECIFIED;
      },
      false, {"ams"});
  // A window that starts and ends inside an hour.
  const absl::Time w_from = kT0 + absl::Minutes(5);
  const absl::Time w_to = end - absl::Minutes(9) - absl::Seconds(30);
  const v1::AvailabilityReply r = Report(w_from, w_to, config);
  // The silences as the scenario means them (the brute force below checks
  // every row).
  EXPECT_EQ(Row(r, "app-login", "ams").no_data_seconds(), 600);
  EXPECT_EQ(Row(r, "app-api", "ams").no_data_seconds(), 420);
  EXPECT_EQ(Row(r, "app-api", "ber").no_data_seconds(), 900);
  EXPECT_EQ(Row(r, "app-login", "ber").no_data_seconds(), 4800);
  EXPECT_EQ(Row(r, "app-login", "fra").no_data_seconds(), 1200);
  // Minute rollups kept only from minute 61 on: the window's first hour is
  // counted from rollup_hour (approximate), so the no-data scan reads the
  // minute counts of its own range; every silence lies inside it, so every
  // series has the same no-data time.
  {
    report::ReportScope scope;
    scope.window = {w_from, w_to};
    scope.now = w_to + absl::Hours(1);
    scope.retention.minute = scope.now - (kT0 + absl::Minutes(60));
    ASSERT_OK_AND_ASSIGN(report::ReportInputs in,
                         report::ReadInputs(store_->connection(), scope, config));
    int series = 0;
    for (const report::CheckInput& c : in.checks) {
      for (const report::SeriesInput& s : c.regions) {
        absl::Duration silent;
        for (const report::Interval& i : s.no_data) {
          silent += i.to - i.from;
        }
        EXPECT_EQ(absl::ToInt64Seconds(silent), Row(r, c.check, s.region).no_data_seconds())
            << c.check << " " << s.region;
        ++series;
      }
    }
    EXPECT_EQ(series, 6);
  }

  // Raw rows.
  struct Raw {
    std::string check, region;
    absl::Time t;
    bool ok;
    std::string cls;
  };
  std::vector<Raw> raw;
  for (const std::string& line :
       Column("SELECT check_id || '|' || region || '|' || extract(epoch FROM started_at)::bigint"
              " || '|' || ok || '|' || failure_class FROM results")) {
    std::vector<std::string> f = absl::StrSplit(line, '|');
    int64_t s = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[2], &s));
    raw.push_back({f[0], f[1], absl::FromUnixSeconds(s), f[3] == "true", f[4]});
  }
  // Incidents: per check, (from, to, kind, regions, share) per timeline step.
  struct Seg {
    int64_t from, to;
    std::string kind;
    std::set<std::string> regions;
    double share;
  };
  std::map<std::string, std::vector<Seg>> segs;
  for (const std::string& line :
       Column("SELECT array_to_string(i.checks, ',') || '|' ||"
              " extract(epoch FROM coalesce(i.failing_since, i.opened_at))::bigint || '|' ||"
              " coalesce(extract(epoch FROM i.resolved_at)::bigint, 99999999999) || '|' ||"
              " string_agg(extract(epoch FROM e.at)::bigint || '/' || e.incident_kind || '/' ||"
              " array_to_string(e.regions, ';') || '/' || e.failing_share, ',' ORDER BY e.id)"
              " FROM incidents i JOIN incident_events e ON e.incident_id = i.id"
              " WHERE e.kind IN ('OPENED','UPDATED','RECLASSIFIED','REGIONS_CHANGED','PROGRESS')"
              " GROUP BY i.id")) {
    std::vector<std::string> f = absl::StrSplit(line, '|');
    int64_t from = 0, to = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[1], &from));
    ASSERT_TRUE(absl::SimpleAtoi(f[2], &to));
    std::vector<Seg> steps;
    for (const std::string& ev : std::vector<std::string>(absl::StrSplit(f[3], ','))) {
      std::vector<std::string> p = absl::StrSplit(ev, '/');
      int64_t at = 0;
      double share = 0;
      ASSERT_TRUE(absl::SimpleAtoi(p[0], &at));
      ASSERT_TRUE(absl::SimpleAtod(p[3], &share));
      Seg s{steps.empty() ? from : std::max(from, at), to, p[1], {}, share};
      for (absl::string_view reg : absl::StrSplit(p[2], ';', absl::SkipEmpty())) {
        s.regions.insert(std::string(reg));
      }
      if (!steps.empty()) {
        steps.back().to = s.from;
      }
      steps.push_back(s);
    }
    for (const std::string& c : std::vector<std::string>(absl::StrSplit(f[0], ','))) {
      segs[c].insert(segs[c].end(), steps.begin(), steps.end());
    }
  }
  ASSERT_FALSE(segs.empty());
  const int64_t t0 = absl::ToUnixSeconds(kT0);
  const int64_t w0 = absl::ToUnixSeconds(w_from);
  const int64_t w1 = absl::ToUnixSeconds(w_to);
  for (const char* check : {"app-login", "app-api"}) {
    std::map<std::string, Truth> truth;
    std::map<std::string, std::set<int64_t>> minutes;
    for (const Raw& x : raw) {
      const int64_t minute = absl::ToUnixSeconds(x.t) / 60 * 60;
      // The minutes that overlap the window (w0 is a whole minute).
      if (x.check != check || minute < w0 || minute >= w1) {
        continue;
      }
      minutes[x.region].insert(minute);
      if (x.cls != "PROBER_ERROR") {
        ++truth[x.region].probes;
        truth[x.region].failures += x.ok ? 0 : 1;
      }
    }
    const bool maint_check = std::string(check) == "app-api";
    auto in_maintenance = [&](int64_t s) {
      return maint_check && s >= t0 + 20 * 60 && s < t0 + 35 * 60;
    };
    // No data (docs/availability.md): a second outside every minute with
    // results is silent when the minutes with results around it (or the
    // window's edges) are more than two intervals (2 min) apart.
    auto silent = [&](const std::string& region, int64_t s) {
      const std::set<int64_t>& ms = minutes[region];
      const int64_t m = s / 60 * 60;
      if (ms.count(m) > 0) {
        return false;
      }
      auto next = ms.upper_bound(m);
      const bool has_next = next != ms.end();
      const bool has_prev = next != ms.begin();
      if (has_prev && has_next) {
        return *next - *std::prev(next) > 120;
      }
      if (has_next) {
        return *next - w0 > 120;
      }
      return has_prev && w1 - (*std::prev(next) + 60) > 120;
    };
    Truth all;
    for (int64_t s = w0; s < w1; ++s) {
      if (in_maintenance(s)) {
        continue;
      }
      double overall_w = 0;
      bool any_data = false;
      for (const std::string& region : kRegions) {
        if (silent(region, s)) {
          ++truth[region].no_data;
          continue;
        }
        any_data = true;
        double w = 0;
        for (const Seg& g : segs[check]) {
          if (s >= g.from && s < g.to && g.regions.count(region) > 0) {
            w = std::max(w, g.kind == "PARTIAL_FAILURE" ? g.share : 1.0);
          }
        }
        ++truth[region].counted;
        truth[region].down += w;
      }
      if (!any_data) {
        ++all.no_data;
        continue;
      }
      for (const Seg& g : segs[check]) {
        if (s >= g.from && s < g.to) {
          const double w = g.kind == "GLOBAL_OUTAGE" ? 1.0
                           : g.kind == "PARTIAL_FAILURE"
                               ? g.share
                               : static_cast<double>(g.regions.size()) / kRegions.size();
          overall_w = std::max(overall_w, w);
        }
      }
      ++all.counted;
      all.down += overall_w;
    }
    for (const std::string& region : kRegions) {
      const v1::AvailabilityRow& row = Row(r, check, region);
      const Truth& t = truth[region];
      SCOPED_TRACE(absl::StrCat(check, " ", region));
      EXPECT_EQ(row.probes(), t.probes);
      EXPECT_EQ(row.failures(), t.failures);
      EXPECT_DOUBLE_EQ(row.reachability(), 100.0 * (t.probes - t.failures) / t.probes);
      EXPECT_EQ(row.no_data_seconds(), t.no_data);
      EXPECT_EQ(row.counted_seconds(), t.counted);
      EXPECT_NEAR(row.down_seconds(), t.down, kSweepSlack);
      all.probes += t.probes;
      all.failures += t.failures;
    }
    const v1::AvailabilityRow& row = Row(r, check, "");
    SCOPED_TRACE(check);
    EXPECT_EQ(row.probes(), all.probes);
    EXPECT_EQ(row.failures(), all.failures);
    EXPECT_EQ(row.counted_seconds(), all.counted);
    EXPECT_EQ(row.no_data_seconds(), all.no_data);
    EXPECT_NEAR(row.down_seconds(), all.down, kSweepSlack);
    EXPECT_NEAR(row.availability(), 100.0 * (all.counted - all.down) / all.counted,
                100.0 * kSweepSlack / all.counted);
  }
}

// The no-data scan over filled rollups (tests/testing/rollup_fill.h, what
// the benchmark reads): whole days with every minute are not read by
// minute; each silent series' silence (5, 40 or 125 minutes) is found,
// and nothing else.
TEST_F(ReportTest, FilledSilencesAreTheOnlyNoData) {
  sonde::testing::RollupFill fill;
  fill.checks = 12;
  fill.regions = 3;
  fill.days = 3;
  fill.from = kT0;
  fill.silence_every = 4;
  ASSERT_OK(sonde::testing::FillRollups(store_->connection(), fill));
  const absl::Time to = kT0 + absl::Hours(72);
  const report::ReportInputs in = Inputs(kT0 + absl::Minutes(30), to, v1::Config());
  int series = 0;
  std::set<int64_t> lengths;
  for (const report::CheckInput& c : in.checks) {
    for (const report::SeriesInput& s : c.regions) {
      const int check = std::stoi(c.check.substr(6));
      const int region = std::stoi(s.region.substr(7));
      const auto [quiet_from, quiet_to] = sonde::testing::Silence(fill, check, region);
      std::vector<report::Interval> want;
      if (quiet_to > quiet_from) {
        want.push_back({kT0 + absl::Minutes(quiet_from), kT0 + absl::Minutes(quiet_to)});
        lengths.insert(quiet_to - quiet_from);
      }
      ASSERT_EQ(s.no_data.size(), want.size()) << c.check << " " << s.region;
      if (!want.empty()) {
        EXPECT_EQ(s.no_data[0].from, want[0].from) << c.check << " " << s.region;
        EXPECT_EQ(s.no_data[0].to, want[0].to) << c.check << " " << s.region;
      }
      ++series;
    }
  }
  EXPECT_EQ(series, 36);
  EXPECT_EQ(lengths, (std::set<int64_t>{5, 40, 125}));
}

// ---- the HTTP JSON contract ---------------------------------------------

std::set<std::string> Keys(const google::protobuf::Struct& s) {
  std::set<std::string> out;
  for (const auto& [k, v] : s.fields()) {
    out.insert(k);
  }
  return out;
}

TEST_F(ReportTest, HttpJsonFieldNamesArePinned) {
  v1::Config config = AppConfig(absl::Minutes(1));
  v1::SloSpec* slo = config.add_slos();
  slo->set_name("login");
  slo->set_check("app-login");
  slo->set_target_percent(99.5);
  Run(
      config, kT0, kT0 + absl::Minutes(10),
      [](const std::string&, const std::string&, absl::Time) { return FC::OK; }, false);
  HttpReports http(conninfo_, config, kT0 + absl::Minutes(10));
  ASSERT_OK(http.Start());
  google::protobuf::Struct body;
  ASSERT_OK(http.GetJson("/api/v1/availability?window=10m&service=app&daily=true", &body));
  EXPECT_EQ(Keys(body), (std::set<std::string>{"from", "to", "rows", "gaps", "overall", "method"}));
  const auto& row = body.fields().at("rows").list_value().values(0).struct_value();
  EXPECT_EQ(Keys(row), (std::set<std::string>{"check_id", "service", "region", "probes", "failures",
                                              "availability", "top_failure_class", "last_result",
                                              "reachability", "down_seconds", "counted_seconds",
                                              "maintenance_seconds", "no_data_seconds", "days"}));
  EXPECT_EQ(Keys(row.fields().at("days").list_value().values(0).struct_value()),
            (std::set<std::string>{"start", "end", "availability", "reachability", "probes",
                                   "failures", "down_seconds", "counted_seconds",
                                   "maintenance_seconds", "no_data_seconds"}));
  EXPECT_EQ(Keys(body.fields().at("method").struct_value()),
            (std::set<std::string>{"definition", "window", "time_zone", "from", "to", "exclusions",
                                   "regions", "budgeting_method", "source"}));
  EXPECT_EQ(body.fields().at("overall").list_value().values_size(), 2);

  ASSERT_OK(http.GetJson("/api/v1/slos", &body));
  const auto& s = body.fields().at("slos").list_value().values(0).struct_value();
  EXPECT_EQ(Keys(s),
            (std::set<std::string>{"spec", "from", "to", "sli_percent", "budget_remaining_percent",
                                   "good", "total", "burn_rates", "method"}));
  EXPECT_EQ(Keys(s.fields().at("spec").struct_value()),
            (std::set<std::string>{"name", "check", "service", "target_percent", "window",
                                   "time_zone", "method"}));
  EXPECT_EQ(Keys(s.fields().at("burn_rates").list_value().values(0).struct_value()),
            (std::set<std::string>{"window", "duration", "rate"}));
  EXPECT_EQ(s.fields().at("budget_remaining_percent").number_value(), 100);

  auto res = http.client->Get("/api/v1/availability?month=2026-13");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
}

}  // namespace
}  // namespace sonde::collector
