// The availability report benchmark (issue 12, acceptance 1): the answer of
// `sondectl report --window 30d` — Query.Availability's handler, without
// the gRPC hop — over synthetic rollups of N checks x R regions x D days
// (tests/testing/rollup_fill.h, made by PostgreSQL: daily rows of every
// series; one series in --silence-every with a stretch without results
// and its minute, hour and day rows for the whole window; with
// --minute-hours N, minute rows of every series for the last N hours too),
// with one regional incident per 100 checks and a maintenance window, on a
// throwaway PostgreSQL. Prints the rows filled, the fill time and the
// report's wall time per run (median of --runs), the storage read's share,
// the series with no data, and the same report with per-day numbers
// (daily).
//
//   sonde-bench-report --postgres CONNINFO [--checks 10000] [--regions 3]
//                      [--days 30] [--runs 5] [--reuse 1]
//                      [--silence-every 300] [--minute-hours 0]
//
// --reuse 1 skips the fill: the database already holds it (an earlier run
// of the same size against the same --postgres, e.g. to compare two builds
// on the same data).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/api/config_service.h"
#include "collector/api/report_query.h"
#include "collector/report/engine.h"
#include "collector/report/silences.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/rollup_read.h"
#include "collector/storage/store.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "common/proto_time.h"
#include "tests/testing/rollup_fill.h"

namespace {

using sonde::collector::Store;

int Fail(const std::string& what) {
  std::fprintf(stderr, "sonde-bench-report: %s\n", what.c_str());
  return 1;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string conninfo;
  int checks = 10000;
  int regions = 3;
  int days = 30;
  int runs = 5;
  int reuse = 0;
  int silence_every = 300;
  int minute_hours = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    bool ok = true;
    if (flag == "--postgres") {
      conninfo = value;
    } else if (flag == "--checks") {
      ok = absl::SimpleAtoi(value, &checks);
    } else if (flag == "--regions") {
      ok = absl::SimpleAtoi(value, &regions);
    } else if (flag == "--days") {
      ok = absl::SimpleAtoi(value, &days);
    } else if (flag == "--runs") {
      ok = absl::SimpleAtoi(value, &runs);
    } else if (flag == "--reuse") {
      ok = absl::SimpleAtoi(value, &reuse);
    } else if (flag == "--silence-every") {
      ok = absl::SimpleAtoi(value, &silence_every);
    } else if (flag == "--minute-hours") {
      ok = absl::SimpleAtoi(value, &minute_hours);
    } else {
      return Fail(absl::StrCat("unknown flag ", flag));
    }
    if (!ok) {
      return Fail(absl::StrCat("bad value for ", flag));
    }
  }
  if (conninfo.empty() || checks < 1 || regions < 1 || days < 1 || runs < 1) {
    return Fail("usage: --postgres CONNINFO [--checks N] [--regions N] [--days N] [--runs N]");
  }
  // The fill is one long statement per table: no session deadline for it.
  sonde::collector::pg::SetSessionLimits({absl::Hours(1)});
  auto store = Store::Connect(conninfo);
  if (!store.ok()) {
    return Fail(std::string(store.status().message()));
  }
  if (absl::Status st = (*store)->Migrate(); !st.ok()) {
    return Fail(std::string(st.message()));
  }
  // The window ends at a whole day: the 30 days are read from rollup_day.
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 86400 * 86400);
  sonde::testing::RollupFill fill;
  fill.checks = checks;
  fill.regions = regions;
  fill.from = now - absl::Hours(24) * days;
  fill.days = days;
  // A window ending at a UTC midnight reads only day rows (rollup_read.h),
  // and the no-data scan reads hours only of the days that do not have
  // every minute (the silent series', which the fill always writes): hour
  // rows of the other series would cost the fill minutes and the report
  // nothing.
  fill.hour = false;
  fill.silence_every = silence_every;
  fill.minute_hours = minute_hours;
  const absl::Time fill_start = absl::Now();
  if (reuse != 0) {
    // Filled by an earlier run.
  } else if (absl::Status st = sonde::testing::FillRollups((*store)->connection(), fill);
             !st.ok()) {
    return Fail(std::string(st.message()));
  }
  // One regional incident per 100 checks, an hour long, with its timeline.
  const std::string t0 =
      absl::StrCat("'", sonde::collector::pg::Timestamp(fill.from), "'::timestamptz");
  const std::string incidents = absl::StrCat(
      "INSERT INTO incidents (id, kind, severity, service, checks, regions, hosts, protocol,"
      " failure_class, failing_share, latency_phase, latency_p95_ms, latency_baseline_p95_ms,"
      " affected_targets, recovered_targets, evidence, opened_at, updated_at, resolved_at,"
      " failing_since)"
      " SELECT 'bench/' || g, 'REGIONAL_OUTAGE', 'PAGE', 'svc-' || (g % 100),"
      " ARRAY['check-' || lpad(g::text, 5, '0')], ARRAY['region-0'], '{}', 'https',"
      " 'TCP_REFUSED', 1, '', 0, 0, 1, 0, '', ",
      t0, " + g * interval '1 minute', ", t0, " + g * interval '1 minute', ", t0,
      " + g * interval '1 minute' + interval '1 hour', ", t0,
      " + g * interval '1 minute' - interval '3 minutes'"
      " FROM generate_series(0, ",
      checks - 1,
      ", 100) AS g;"
      " INSERT INTO incident_events (incident_id, at, kind, incident_kind, regions,"
      " affected_targets, recovered_targets, failing_share, detail)"
      " SELECT id, opened_at, 'OPENED', kind, regions, 1, 0, 1, '' FROM incidents"
      " WHERE id LIKE 'bench/%'; ANALYZE;");
  if (absl::Status st = reuse != 0 ? absl::OkStatus() : (*store)->Execute(incidents); !st.ok()) {
    return Fail(std::string(st.message()));
  }
  const double fill_s = absl::ToDoubleSeconds(absl::Now() - fill_start);
  std::string filled;
  for (const char* table : {"rollup_minute", "rollup_hour", "rollup_day"}) {
    auto n = (*store)->QueryColumn(absl::StrCat("SELECT count(*) FROM ", table));
    absl::StrAppend(&filled, filled.empty() ? "" : ", ", table, " ",
                    n.ok() && !n->empty() ? (*n)[0] : "?");
  }
  std::printf("rows: %s\n", filled.c_str());

  sonde::v1::Config config;
  sonde::v1::MaintenanceWindow* m = config.add_maintenance();
  m->set_name("bench");
  sonde::common::SetTimestamp(now - absl::Hours(50), m->mutable_start());
  sonde::common::SetTimestamp(now - absl::Hours(49), m->mutable_end());
  sonde::collector::ConfigHolder holder(config);
  sonde::collector::StorePool pool(conninfo);
  sonde::common::FakeClock clock(now);
  sonde::collector::ReportQuery query(&pool, &clock);
  query.set_config(&holder);
  sonde::v1::AvailabilityRequest request;
  sonde::common::SetDuration(absl::Hours(24) * days, request.mutable_window());

  std::vector<double> wall;
  size_t rows = 0;
  size_t overall = 0;
  int silent = 0;  // rows with no-data time
  int64_t silent_s = 0;
  for (int r = 0; r < runs; ++r) {
    const absl::Time start = absl::Now();
    auto reply = query.Availability(request);
    wall.push_back(absl::ToDoubleSeconds(absl::Now() - start));
    if (!reply.ok()) {
      return Fail(std::string(reply.status().message()));
    }
    rows = reply->rows_size();
    overall = reply->overall_size();
    silent = 0;
    silent_s = 0;
    for (const sonde::v1::AvailabilityRow& row : reply->rows()) {
      silent += row.no_data_seconds() > 0 ? 1 : 0;
      silent_s += row.no_data_seconds();
    }
  }
  // The same with per-day numbers (AvailabilityRequest.daily: the HTML
  // report, the status page bars).
  std::vector<double> daily;
  request.set_daily(true);
  for (int r = 0; r < runs; ++r) {
    const absl::Time start = absl::Now();
    auto reply = query.Availability(request);
    daily.push_back(absl::ToDoubleSeconds(absl::Now() - start));
    if (!reply.ok()) {
      return Fail(std::string(reply.status().message()));
    }
  }
  // The storage read and the no-data scan alone, for where the time goes.
  std::vector<double> read;
  std::vector<double> scan;
  for (int r = 0; r < runs; ++r) {
    sonde::collector::RollupQuery q;
    q.from = now - absl::Hours(24) * days;
    q.to = now;
    q.now = now;
    const absl::Time start = absl::Now();
    auto counts = sonde::collector::ReadRollups((*store)->connection(), q);
    read.push_back(absl::ToDoubleSeconds(absl::Now() - start));
    if (!counts.ok()) {
      return Fail(std::string(counts.status().message()));
    }
    std::vector<sonde::report::SeriesInput> inputs(counts->rows.size());
    sonde::report::SeriesIndex index;
    for (size_t i = 0; i < inputs.size(); ++i) {
      index[{counts->rows[i].check_id, counts->rows[i].region}] = &inputs[i];
    }
    sonde::report::ReportScope scope;
    scope.window = {q.from, q.to};
    scope.now = now;
    const absl::Time scan_start = absl::Now();
    if (absl::Status st =
            sonde::report::ReadSilences((*store)->connection(), scope, config, *counts, index);
        !st.ok()) {
      return Fail(std::string(st.message()));
    }
    scan.push_back(absl::ToDoubleSeconds(absl::Now() - scan_start));
  }
  std::printf("of which ReadRollups (counts from rollup_day): median %.3f s\n", Median(read));
  std::printf("of which the no-data scan (ReadSilences): median %.3f s (min %.3f, max %.3f)\n",
              Median(scan), *std::min_element(scan.begin(), scan.end()),
              *std::max_element(scan.begin(), scan.end()));
  std::printf(
      "report --window %dd over %d checks x %d regions x %d days of rollups: %zu rows, %zu "
      "overall rows; fill %.1f s; report median %.3f s (min %.3f, max %.3f, %d runs)\n",
      days, checks, regions, days, rows, overall, fill_s, Median(wall),
      *std::min_element(wall.begin(), wall.end()), *std::max_element(wall.begin(), wall.end()),
      runs);
  std::printf("no data: %d check x region rows, %lld s in all\n", silent,
              static_cast<long long>(silent_s));
  std::printf("with daily (%d days per row): median %.3f s (min %.3f, max %.3f)\n", days,
              Median(daily), *std::min_element(daily.begin(), daily.end()),
              *std::max_element(daily.begin(), daily.end()));
  return 0;
}
