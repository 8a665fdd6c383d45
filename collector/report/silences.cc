#include "collector/report/silences.h"

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace sonde::report {
namespace {

using collector::pg::ExecParams;
using collector::pg::PgResultPtr;
using collector::pg::ToArray;

constexpr absl::Duration kDefaultInterval = absl::Seconds(30);

// The interval each configured check runs at.
std::map<std::string, absl::Duration> Intervals(const v1::Config& config) {
  const absl::Duration fallback = config.defaults().has_interval()
                                      ? common::ToDuration(config.defaults().interval())
                                      : kDefaultInterval;
  std::map<std::string, absl::Duration> out;
  for (const v1::Check& c : config.checks()) {
    out[c.name()] = c.has_interval() ? common::ToDuration(c.interval()) : fallback;
  }
  return out;
}

// $1 the first and $2 the last minute scanned, $3/$4 the series (check id,
// region) to scan, $5/$6 the no-data limit per check (microseconds), $7
// the limit of other checks. A bucket (day `d`, hour `h`) is dense when its
// minutes with results are every minute from its start to its last
// result's: it stands for that run of minutes, [lo, hi] clipped to the
// scan, with no step inside (a minute row is a run of one). A day
// that is not dense is read by its hours, an hour that is not dense by its
// minutes. A day or hour without a row had no results at all (ingest
// writes the three levels in one transaction). Then, as over every minute
// row: each series' first and last run and every step between runs
// longer than the limit (from one run's last minute to the next one's
// first).
constexpr char kSql[] = R"sql(
WITH want AS (
  SELECT * FROM unnest($3::text[], $4::text[]) AS w(check_id, region)
), d AS (
  SELECT d.check_id, d.region, d.day AS b, date_trunc('minute', d.last_result, 'UTC') AS lm,
         coalesce(d.minutes_with_results = extract(epoch FROM
           date_trunc('minute', d.last_result, 'UTC') - d.day)::bigint / 60 + 1, false) AS dense
  FROM want JOIN rollup_day d USING (check_id, region)
  WHERE d.day > $1::timestamptz - interval '1 day' AND d.day <= $2::timestamptz
), h AS (
  SELECT h.check_id, h.region, h.hour AS b, date_trunc('minute', h.last_result, 'UTC') AS lm,
         coalesce(h.minutes_with_results = extract(epoch FROM
           date_trunc('minute', h.last_result, 'UTC') - h.hour)::bigint / 60 + 1, false) AS dense
  FROM d JOIN rollup_hour h ON h.check_id = d.check_id AND h.region = d.region
    AND h.hour >= d.b AND h.hour < d.b + interval '1 day'
  WHERE NOT d.dense AND h.hour > $1::timestamptz - interval '1 hour'
    AND h.hour <= $2::timestamptz
), e AS (
  SELECT check_id, region, greatest(b, $1::timestamptz) AS lo, least(lm, $2::timestamptz) AS hi
  FROM d WHERE dense
  UNION ALL
  SELECT check_id, region, greatest(b, $1::timestamptz), least(lm, $2::timestamptz)
  FROM h WHERE dense
), p AS (
  SELECT check_id, region, lo, hi FROM e WHERE lo <= hi
  UNION ALL
  SELECT m.check_id, m.region, m.minute, m.minute
  FROM h JOIN rollup_minute m ON m.check_id = h.check_id AND m.region = h.region
    AND m.minute >= h.b AND m.minute < h.b + interval '1 hour'
  WHERE NOT h.dense AND m.minute >= $1::timestamptz AND m.minute <= $2::timestamptz
), s AS (
  SELECT check_id, region, lo, hi,
         lag(hi) OVER w AS prev, lead(lo) OVER w AS next
  FROM p
  WINDOW w AS (PARTITION BY check_id, region ORDER BY lo)
), lim AS (
  SELECT * FROM unnest($5::text[], $6::bigint[]) AS l(check_id, us)
)
SELECT s.check_id, s.region,
       coalesce((extract(epoch FROM s.prev) * 1000000)::bigint::text, ''),
       (extract(epoch FROM s.lo) * 1000000)::bigint,
       s.next IS NULL,
       (extract(epoch FROM s.hi) * 1000000)::bigint
FROM s LEFT JOIN lim USING (check_id)
WHERE s.prev IS NULL OR s.next IS NULL
   OR s.lo - s.prev > make_interval(secs => coalesce(lim.us, $7::bigint) / 1e6)
)sql";

}  // namespace

absl::Status ReadSilences(PGconn* conn, const ReportScope& scope, const v1::Config& config,
                          const collector::RollupWindow& counted, const SeriesIndex& series) {
  absl::Time scan_from = scope.window.from;
  if (scope.retention.minute > absl::ZeroDuration()) {
    scan_from = std::max(
        scan_from, collector::MinuteOf(scope.now - scope.retention.minute) + absl::Minutes(1));
  }
  if (scan_from >= scope.window.to) {
    return absl::OkStatus();
  }
  // The minutes scanned: [first, last], those that overlap the window.
  const absl::Time first = collector::MinuteOf(scan_from);
  absl::Time last = collector::MinuteOf(scope.window.to);
  if (last == scope.window.to) {
    last -= absl::Minutes(1);
  }
  // Minutes with results per series over exactly those minutes: the
  // report's counts when they cover them, else read.
  const collector::RollupWindow* minutes = &counted;
  collector::RollupWindow read;
  if (counted.approximate || counted.covered_from != first ||
      counted.covered_to != last + absl::Minutes(1)) {
    ASSIGN_OR_RETURN(read, collector::ReadRollups(
                               conn, ScopeRollupQuery(scope, first, last + absl::Minutes(1))));
    minutes = &read;
  }
  const int64_t every_minute = (last + absl::Minutes(1) - first) / absl::Minutes(1);
  std::vector<std::string> check_ids;
  std::vector<std::string> regions;
  for (const collector::RollupTotals& row : minutes->rows) {
    const bool complete =
        !minutes->approximate && !row.minutes_unknown && row.minutes >= every_minute;
    if (!complete && series.count({row.check_id, row.region}) > 0) {
      check_ids.push_back(row.check_id);
      regions.push_back(row.region);
    }
  }
  if (check_ids.empty()) {
    return absl::OkStatus();
  }
  const std::map<std::string, absl::Duration> intervals = Intervals(config);
  std::vector<std::string> names;
  std::vector<std::string> limits;
  for (const auto& [name, every] : intervals) {
    names.push_back(name);
    limits.push_back(
        absl::StrCat(absl::ToInt64Microseconds(std::max(kMinNoData, every * kNoDataIntervals))));
  }
  ASSIGN_OR_RETURN(PgResultPtr res,
                   ExecParams(conn, kSql,
                              {collector::PgTime(first), collector::PgTime(last),
                               ToArray(check_ids), ToArray(regions), ToArray(names),
                               absl::StrCat("{", absl::StrJoin(limits, ","), "}"),
                               absl::StrCat(absl::ToInt64Microseconds(
                                   std::max(kMinNoData, kDefaultInterval * kNoDataIntervals)))},
                              "no-data query"));
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    auto it = series.find({PQgetvalue(res.get(), i, 0), PQgetvalue(res.get(), i, 1)});
    if (it == series.end()) {
      continue;
    }
    auto lim = intervals.find(it->first.first);
    const absl::Duration limit = std::max(
        kMinNoData, (lim == intervals.end() ? kDefaultInterval : lim->second) * kNoDataIntervals);
    int64_t minute_us = 0;
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 3), &minute_us);
    const absl::Time minute = absl::FromUnixMicros(minute_us);
    const std::string prev_text = PQgetvalue(res.get(), i, 2);
    const bool is_last = PQgetvalue(res.get(), i, 4)[0] == 't';
    IntervalSet& no_data = it->second->no_data;
    if (prev_text.empty()) {
      if (minute - scan_from > limit) {
        no_data.push_back({scan_from, minute});
      }
    } else {
      int64_t prev_us = 0;
      absl::SimpleAtoi(prev_text, &prev_us);
      const absl::Time prev = absl::FromUnixMicros(prev_us);
      if (minute - prev > limit) {
        no_data.push_back({prev + absl::Minutes(1), minute});
      }
    }
    int64_t last_us = 0;
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 5), &last_us);
    const absl::Time last_minute = absl::FromUnixMicros(last_us);
    if (is_last && scope.window.to - (last_minute + absl::Minutes(1)) > limit) {
      no_data.push_back({last_minute + absl::Minutes(1), scope.window.to});
    }
  }
  return absl::OkStatus();
}

}  // namespace sonde::report
