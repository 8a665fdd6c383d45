// The availability engine's arithmetic on hand-made intervals and counts
// (docs/availability.md's worked examples), the calendar month across a DST
// change, SLO counts and burn rates, and the `slos:` validation.
#include "collector/report/engine.h"

#include <gtest/gtest.h>

#include "common/config/config.h"
#include "common/config/slo_rules.h"

namespace sonde::report {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1790000000);  // 2026-09-21

absl::Time At(int minutes) { return kT0 + absl::Minutes(minutes); }

SeriesInput Series(const std::string& region, uint64_t probes, uint64_t failures) {
  SeriesInput s;
  s.region = region;
  s.probes = probes;
  s.failures = failures;
  return s;
}

CheckInput ThreeRegions() {
  CheckInput in;
  in.check = "app-login";
  in.service = "app";
  in.regions = {Series("ams", 1440, 0), Series("ber", 1440, 0), Series("fra", 1440, 0)};
  return in;
}

const Interval kDay{At(0), At(24 * 60)};

TEST(IntervalsTest, SetOperations) {
  const IntervalSet a =
      Normalize({{At(10), At(20)}, {At(0), At(5)}, {At(4), At(6)}, {At(30), At(30)}});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].from, At(0));
  EXPECT_EQ(a[0].to, At(6));
  const IntervalSet b = {{At(3), At(12)}};
  EXPECT_EQ(Length(Intersect(a, b)), absl::Minutes(3 + 2));
  EXPECT_EQ(Length(Subtract(a, b)), absl::Minutes(3 + 8));
  EXPECT_EQ(Length(Union(a, b)), absl::Minutes(20));
  EXPECT_EQ(Length(Clip(a, {At(5), At(15)})), absl::Minutes(1 + 5));
}

TEST(EngineTest, OneRegionOfThreeDownForAnHourWeighsAThird) {
  CheckInput in = ThreeRegions();
  in.regions[0].failures = 60;  // ams fails every probe for an hour
  in.outages.push_back({{At(60), At(120)}, "REGIONAL_OUTAGE", {"ams"}, 1});
  const CheckRows rows = ComputeCheck(in, kDay);
  ASSERT_EQ(rows.regions.size(), 3u);
  EXPECT_DOUBLE_EQ(rows.regions[0].availability(), 100.0 * 23 / 24);
  EXPECT_DOUBLE_EQ(rows.regions[0].reachability(), 100.0 * 1380 / 1440);
  EXPECT_DOUBLE_EQ(rows.regions[1].availability(), 100.0);
  EXPECT_DOUBLE_EQ(rows.overall.down_seconds(), 3600.0 / 3);
  EXPECT_DOUBLE_EQ(rows.overall.availability(), 100.0 * (1 - (1.0 / 3) / 24));
  EXPECT_DOUBLE_EQ(rows.overall.reachability(), 100.0 * (4320 - 60) / 4320);
  EXPECT_EQ(rows.overall.counted_seconds(), 86400);
  EXPECT_EQ(rows.overall.probes(), 4320u);
}

TEST(EngineTest, GlobalOutageCountsFully) {
  CheckInput in = ThreeRegions();
  in.outages.push_back({{At(60), At(120)}, "GLOBAL_OUTAGE", {"ams", "ber", "fra"}, 1});
  const CheckRows rows = ComputeCheck(in, kDay);
  EXPECT_DOUBLE_EQ(rows.overall.availability(), 100.0 * 23 / 24);
  for (const auto& r : rows.regions) {
    EXPECT_DOUBLE_EQ(r.availability(), 100.0 * 23 / 24) << r.region();
  }
}

TEST(EngineTest, PartialFailureWeighsItsShareAndOverlapsTakeTheLargest) {
  CheckInput in = ThreeRegions();
  // 25 % failing for 4 hours; inside it a regional outage of one region for
  // an hour: that hour weighs max(0.25, 1/3).
  in.outages.push_back({{At(0), At(240)}, "PARTIAL_FAILURE", {"ams", "ber", "fra"}, 0.25});
  in.outages.push_back({{At(60), At(120)}, "REGIONAL_OUTAGE", {"ber"}, 1});
  const CheckRows rows = ComputeCheck(in, kDay);
  EXPECT_DOUBLE_EQ(rows.overall.down_seconds(), 3 * 3600 * 0.25 + 3600.0 / 3);
  EXPECT_DOUBLE_EQ(rows.regions[1].down_seconds(), 3 * 3600 * 0.25 + 3600);
}

TEST(EngineTest, OtherKindsAreNotDowntime) {
  CheckInput in = ThreeRegions();
  in.outages.push_back({{At(0), At(600)}, "LATENCY_DEGRADATION", {"ams"}, 1});
  in.outages.push_back({{At(0), At(600)}, "PROBER_FAULT", {"ams"}, 1});
  EXPECT_DOUBLE_EQ(ComputeCheck(in, kDay).overall.availability(), 100.0);
}

TEST(EngineTest, MaintenanceAndNoDataAreExcludedAndShown) {
  CheckInput in = ThreeRegions();
  in.maintenance = {{At(0), At(120)}};
  in.outages.push_back({{At(60), At(180)}, "GLOBAL_OUTAGE", {}, 1});  // half inside maintenance
  in.regions[0].no_data = {{At(600), At(660)}};                       // ams silent 1 h
  for (auto& s : in.regions) {
    s.no_data.push_back({At(1380), At(1440)});  // everyone silent the last hour
  }
  const CheckRows rows = ComputeCheck(in, kDay);
  EXPECT_EQ(rows.overall.maintenance_seconds(), 7200);
  EXPECT_EQ(rows.overall.no_data_seconds(), 3600);
  EXPECT_EQ(rows.overall.counted_seconds(), 86400 - 7200 - 3600);
  EXPECT_DOUBLE_EQ(rows.overall.down_seconds(), 3600);
  EXPECT_EQ(rows.regions[0].no_data_seconds(), 7200);
  EXPECT_EQ(rows.regions[0].counted_seconds(), 86400 - 7200 - 7200);
}

TEST(EngineTest, NothingCountedReadsFullAndSaysSo) {
  CheckInput in;
  in.check = "idle";
  const CheckRows rows = ComputeCheck(in, kDay);
  EXPECT_EQ(rows.overall.counted_seconds(), 0);
  EXPECT_EQ(rows.overall.no_data_seconds(), 86400);
  EXPECT_DOUBLE_EQ(rows.overall.availability(), 100.0);
}

TEST(EngineTest, ServiceSumsItsChecks) {
  v1::AvailabilityRow a;
  a.set_probes(100);
  a.set_failures(10);
  a.set_counted_seconds(1000);
  a.set_down_seconds(100);
  v1::AvailabilityRow b;
  b.set_probes(300);
  b.set_counted_seconds(3000);
  const v1::AvailabilityRow s = SumRows({&a, &b}, "", "app");
  EXPECT_DOUBLE_EQ(s.reachability(), 100.0 * 390 / 400);
  EXPECT_DOUBLE_EQ(s.availability(), 100.0 * 3900 / 4000);
}

TEST(DailyTest, CalendarDaysAreClippedAndFollowTheZone) {
  absl::TimeZone berlin;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Berlin", &berlin));
  // 2026-10-24 12:00 .. 2026-10-27 06:00 Berlin: the 25th has 25 hours.
  const absl::Time from = absl::FromCivil(absl::CivilSecond(2026, 10, 24, 12, 0, 0), berlin);
  const absl::Time to = absl::FromCivil(absl::CivilSecond(2026, 10, 27, 6, 0, 0), berlin);
  const std::vector<Interval> days = CalendarDays({from, to}, berlin);
  ASSERT_EQ(days.size(), 4u);
  EXPECT_EQ(days[0].from, from);
  EXPECT_EQ(days[0].to - days[0].from, absl::Hours(12));
  EXPECT_EQ(days[1].to - days[1].from, absl::Hours(25));
  EXPECT_EQ(days[2].to - days[2].from, absl::Hours(24));
  EXPECT_EQ(days[3].to, to);
  EXPECT_EQ(days[3].to - days[3].from, absl::Hours(6));
  EXPECT_TRUE(CalendarDays({to, to}, berlin).empty());
}

// Minutes after the UTC midnight before kT0.
absl::Time Mid(int minutes) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(kT0) / 86400 * 86400) + absl::Minutes(minutes);
}

TEST(DailyTest, AnOutageShowsInItsDayOnlyAndTheDaysAddUpToTheRow) {
  // Two UTC days; ams fails for an hour on the second; a maintenance window
  // and a no-data stretch straddle midnight.
  const Interval window{Mid(0), Mid(48 * 60)};
  const std::vector<Interval> days = CalendarDays(window, absl::UTCTimeZone());
  ASSERT_EQ(days.size(), 2u);
  CheckInput in = ThreeRegions();
  for (SeriesInput& s : in.regions) {
    s.probes = 2880;
    s.days = {{1440, 0}, {1440, 0}};
  }
  in.regions[0].failures = 60;
  in.regions[0].days[1].failures = 60;
  in.outages.push_back({{Mid(30 * 60), Mid(31 * 60)}, "REGIONAL_OUTAGE", {"ams"}, 1});
  in.maintenance = {{Mid(23 * 60 + 30), Mid(24 * 60 + 30)}};
  in.regions[1].no_data = {{Mid(23 * 60), Mid(25 * 60)}};
  const CheckRows rows = ComputeCheckDaily(in, window, days);
  const CheckRows plain = ComputeCheck(in, window);
  std::vector<const v1::AvailabilityRow*> all = {&rows.overall};
  for (const v1::AvailabilityRow& r : rows.regions) {
    all.push_back(&r);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    const v1::AvailabilityRow& row = *all[i];
    const v1::AvailabilityRow& same = i == 0 ? plain.overall : plain.regions[i - 1];
    EXPECT_EQ(row.counted_seconds(), same.counted_seconds());  // the row is unchanged
    ASSERT_EQ(row.days_size(), 2) << row.region();
    uint64_t probes = 0;
    uint64_t failures = 0;
    double down = 0;
    int64_t counted = 0;
    int64_t maintenance = 0;
    int64_t no_data = 0;
    for (const v1::DayAvailability& d : row.days()) {
      probes += d.probes();
      failures += d.failures();
      down += d.down_seconds();
      counted += d.counted_seconds();
      maintenance += d.maintenance_seconds();
      no_data += d.no_data_seconds();
    }
    EXPECT_EQ(probes, row.probes()) << row.region();
    EXPECT_EQ(failures, row.failures()) << row.region();
    EXPECT_NEAR(down, row.down_seconds(), 1e-6) << row.region();
    EXPECT_EQ(counted, row.counted_seconds()) << row.region();
    EXPECT_EQ(maintenance, row.maintenance_seconds()) << row.region();
    EXPECT_EQ(no_data, row.no_data_seconds()) << row.region();
    EXPECT_DOUBLE_EQ(row.days(0).availability(), 100.0) << row.region();
  }
  // The outage is on the second day only: ams 1 h of its counted day, the
  // check a third of that.
  const v1::DayAvailability& ams = rows.regions[0].days(1);
  EXPECT_EQ(ams.counted_seconds(), 86400 - 1800);
  EXPECT_DOUBLE_EQ(ams.availability(), 100.0 * (1 - 3600.0 / (86400 - 1800)));
  EXPECT_DOUBLE_EQ(ams.reachability(), 100.0 * (1440 - 60) / 1440);
  EXPECT_DOUBLE_EQ(rows.overall.days(1).down_seconds(), 1200);
  EXPECT_DOUBLE_EQ(rows.regions[1].days(1).availability(), 100.0);
  EXPECT_EQ(rows.regions[1].days(0).no_data_seconds(), 1800);
  EXPECT_EQ(rows.regions[1].days(1).no_data_seconds(), 1800);
  EXPECT_EQ(rows.overall.days(0).start().seconds(), absl::ToUnixSeconds(Mid(0)));
  EXPECT_EQ(rows.overall.days(1).end().seconds(), absl::ToUnixSeconds(Mid(48 * 60)));

  // A service sum adds its checks day by day.
  const v1::AvailabilityRow sum = SumRows({&rows.overall, &rows.overall}, "", "app");
  ASSERT_EQ(sum.days_size(), 2);
  EXPECT_EQ(sum.days(1).probes(), 2 * rows.overall.days(1).probes());
  EXPECT_DOUBLE_EQ(sum.days(1).availability(), rows.overall.days(1).availability());
}

TEST(SloTest, CalendarMonthInBerlinAcrossTheDstChangeIs745Hours) {
  absl::StatusOr<Interval> m = CalendarMonth("2026-10", "Europe/Berlin");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->from,
            absl::FromCivil(absl::CivilSecond(2026, 9, 30, 22, 0, 0), absl::UTCTimeZone()));
  EXPECT_EQ(m->to, absl::FromCivil(absl::CivilSecond(2026, 10, 31, 23, 0, 0), absl::UTCTimeZone()));
  EXPECT_EQ(m->to - m->from, absl::Hours(745));
  EXPECT_FALSE(CalendarMonth("2026-13", "UTC").ok());
  EXPECT_FALSE(CalendarMonth("2026-10", "Mars/Olympus").ok());
}

TEST(SloTest, WindowsRollingAndCalendar) {
  const absl::Time now =
      absl::FromCivil(absl::CivilSecond(2026, 10, 26, 12, 0, 0), absl::UTCTimeZone());
  v1::SloSpec slo;
  slo.set_window("month");
  slo.set_time_zone("Europe/Berlin");
  absl::StatusOr<Interval> w = SloWindowAt(slo, now);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->from,
            absl::FromCivil(absl::CivilSecond(2026, 9, 30, 22, 0, 0), absl::UTCTimeZone()));
  EXPECT_EQ(w->to, now);
  slo.set_window("7d");
  w = SloWindowAt(slo, now);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(now - w->from, absl::Hours(7 * 24));
}

TEST(SloTest, BudgetAndBurnRate) {
  v1::AvailabilityRow row;
  row.set_probes(10000);
  row.set_failures(5);
  row.set_counted_seconds(600000);
  row.set_down_seconds(1200);
  const SloCounts occ = CountsFor(row, "occurrences");
  EXPECT_DOUBLE_EQ(occ.total, 10000);
  EXPECT_DOUBLE_EQ(occ.good, 9995);
  EXPECT_NEAR(BurnRate(occ, 99.9), 0.5, 1e-9);  // half the budget spent
  const SloCounts ts = CountsFor(row, "timeslices");
  EXPECT_DOUBLE_EQ(ts.total, 10000);
  EXPECT_DOUBLE_EQ(ts.good, 9980);
  EXPECT_NEAR(BurnRate(ts, 99.9), 2.0, 1e-9);
  EXPECT_EQ(BurnRate(SloCounts{}, 99.9), 0);
}

TEST(SloConfigTest, ValidatesEveryField) {
  const char kYaml[] = R"(
regions: [ams]
checks:
  - name: app-login
    service: app
    http: {url: "https://example.net/"}
slos:
  - {name: ok, service: app, target_percent: 99.9, window: month, time_zone: Europe/Berlin, method: timeslices}
  - {name: ok, check: nope, target_percent: 100, window: 2w, time_zone: Mars/Olympus, method: events}
  - {name: both, check: app-login, service: app, target_percent: 99}
)";
  absl::StatusOr<v1::Config> c = common::ParseConfig(kYaml, "sonde.yaml");
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  for (const char* want :
       {"slos[1] \"ok\": name: duplicate SLO name", "check: no check is named \"nope\"",
        "target_percent: must be a percentage", "window: must be \"month\"",
        "time_zone: unknown time zone \"Mars/Olympus\"", "method: must be \"occurrences\"",
        "slos[2] \"both\": check: give exactly one of check and service"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n" << m;
  }
  const std::string good(kYaml, std::string(kYaml).find("  - {name: ok, check"));
  c = common::ParseConfig(good, "sonde.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->slos_size(), 1);
  EXPECT_EQ(c->slos(0).window(), "month");
}

}  // namespace
}  // namespace sonde::report
