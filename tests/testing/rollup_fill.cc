#include "tests/testing/rollup_fill.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/latency_buckets.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"

namespace sonde::testing {
namespace {

constexpr int64_t kSilenceStride = 7919;  // spreads the silences over the window

int64_t WindowMinutes(const RollupFill& f) { return static_cast<int64_t>(f.days) * 1440; }

// The silence rule as SQL over series index `k` (see Silence below).
std::string SilentSql(const RollupFill& f, const std::string& k) {
  if (f.silence_every <= 0) {
    return "false";
  }
  return absl::StrCat("(", k, " % ", f.silence_every, " = 0)");
}
std::string SilenceStartSql(const RollupFill& f, const std::string& k) {
  return absl::StrCat("(", k, " * ", kSilenceStride, " % ",
                      std::max<int64_t>(1, WindowMinutes(f) - 240), " + 60)");
}
std::string SilenceLengthSql(const RollupFill& f, const std::string& k) {
  return absl::StrCat("(CASE (", k, " / ", std::max(1, f.silence_every),
                      ") % 3 WHEN 0 THEN 5 WHEN 1 THEN 40 ELSE 125 END)");
}

// Failed minutes in [a, b) for offset k: count of m with (m + k) % n == 0.
// Written so PostgreSQL's integer division (truncating) agrees: every
// operand is >= 0.
std::string FailedMinutesSql(const std::string& a, const std::string& b, const std::string& k,
                             int n) {
  return absl::StrCat("((", b, " - 1 + ", k, " + ", n, ") / ", n, " - (", a, " - 1 + ", k, " + ", n,
                      ") / ", n, ")");
}

std::string FromSql(absl::Time from) {
  return absl::StrCat("'", collector::PgTime(from), "'::timestamptz");
}

// Rows of `table` (bucket width `width_minutes`) for the series whose SQL
// predicate `series` (over c and r) holds and the buckets b in [b0, b1)
// where `keep` (over c, r, b) holds: every minute of a row has results.
// Rows are written bucket by bucket, as ingest writes them (one bucket's
// rows lie together on disk, not one series' rows).
absl::Status InsertRows(PGconn* c, const RollupFill& f, absl::Time from, const char* table,
                        const char* column, int width_minutes, const std::string& series,
                        int64_t b0, int64_t b1, const std::string& keep) {
  if (b0 >= b1) {
    return absl::OkStatus();
  }
  const std::string w = absl::StrCat(width_minutes);
  const std::string first = absl::StrCat("b * ", w);
  const std::string end = absl::StrCat("(b + 1) * ", w);
  const std::string per_row = absl::StrCat(f.probes_per_minute, " * ", w);
  const std::string from_sql = FromSql(from);
  const int total_bucket = collector::LatencyBucket(42'000);
  const bool minute = width_minutes == 1;
  const std::string sql = absl::StrCat(
      "INSERT INTO ", table, " (check_id, service, region, ", column,
      ", probes, failures, prober_errors, last_result, total_hist",
      minute ? "" : ", minutes_with_results",
      ") SELECT 'check-' || lpad(c::text, 5, '0'), 'svc-' || (c % 100), 'region-' || r, ", from_sql,
      " + b * interval '", w, " minutes', ", per_row, ", ", f.probes_per_minute, " * ",
      FailedMinutesSql(first, end, "c + r", f.fail_every), ", 0, ", from_sql,
      " + (b + 1) * interval '", w, " minutes' - interval '1 second', array_fill(0::bigint, ARRAY[",
      total_bucket, "]) || (", per_row, ")::bigint", minute ? "" : absl::StrCat(", ", w),
      " FROM (SELECT c, r FROM generate_series(0, ", f.checks - 1, ") c, generate_series(0, ",
      f.regions - 1, ") r WHERE ", series, " OFFSET 0) s, generate_series(", b0, ", ", b1 - 1,
      ") b WHERE ", keep, " ORDER BY b, c, r");
  return collector::pg::Exec(c, sql, absl::StrCat("fill ", table)).status();
}

// Hour or day rows (`unit`) of the series with a silence: the sums of their
// minute rows, as ingest's upserts make them.
absl::Status SumMinutes(PGconn* c, const RollupFill& f, absl::Time from, const char* table,
                        const char* unit) {
  const std::string from_sql = FromSql(from);
  const int total_bucket = collector::LatencyBucket(42'000);
  const std::string k =
      absl::StrCat("(substr(check_id, 7)::bigint * ", f.regions, " + substr(region, 8)::bigint)");
  const std::string bucket = absl::StrCat("date_trunc('", unit, "', minute, 'UTC')");
  return collector::pg::Exec(
             c,
             absl::StrCat("INSERT INTO ", table, " (check_id, service, region, ", unit,
                          ", probes, failures, prober_errors, last_result, total_hist,"
                          " minutes_with_results) SELECT check_id, min(service), region, ",
                          bucket,
                          ", sum(probes), sum(failures), 0, max(last_result),"
                          " array_fill(0::bigint, ARRAY[",
                          total_bucket,
                          "]) || sum(probes)::bigint, count(*) FROM rollup_minute"
                          " WHERE minute >= ",
                          from_sql, " AND minute < ", from_sql, " + interval '", f.days,
                          " days' AND check_id LIKE 'check-%' AND ", SilentSql(f, k),
                          " GROUP BY check_id, region, ", bucket, " ORDER BY ", bucket),
             absl::StrCat("fill ", table, " from minutes"))
      .status();
}

// The failed probes of the rows written, by class.
absl::Status InsertClasses(PGconn* c, const RollupFill& f, absl::Time from, const char* table,
                           const char* column) {
  const std::string from_sql = FromSql(from);
  return collector::pg::Exec(
             c,
             absl::StrCat("INSERT INTO ", table, "_class (check_id, region, ", column,
                          ", failure_class, n) SELECT check_id, region, ", column,
                          ", 'TCP_REFUSED', failures FROM ", table, " WHERE failures > 0 AND ",
                          column, " >= ", from_sql, " AND ", column, " < ", from_sql,
                          " + interval '", f.days, " days' AND check_id LIKE 'check-%'"),
             absl::StrCat("fill ", table, "_class"))
      .status();
}

}  // namespace

bool HasSilence(const RollupFill& f, int check, int region) {
  return f.silence_every > 0 &&
         (static_cast<int64_t>(check) * f.regions + region) % f.silence_every == 0;
}

std::pair<int64_t, int64_t> Silence(const RollupFill& f, int check, int region) {
  if (!HasSilence(f, check, region)) {
    return {0, 0};
  }
  const int64_t k = static_cast<int64_t>(check) * f.regions + region;
  const int64_t first = k * kSilenceStride % std::max<int64_t>(1, WindowMinutes(f) - 240) + 60;
  const int64_t lengths[] = {5, 40, 125};
  return {first, first + lengths[(k / f.silence_every) % 3]};
}

absl::Status FillRollups(PGconn* c, const RollupFill& f) {
  const absl::Time from = collector::DayStart(collector::DayOf(f.from));
  const int64_t minutes = WindowMinutes(f);
  const std::string k = absl::StrCat("(c::bigint * ", f.regions, " + r)");
  const std::string silent = SilentSql(f, k);
  const std::string heard = absl::StrCat("NOT (b >= ", SilenceStartSql(f, k), " AND b < ",
                                         SilenceStartSql(f, k), " + ", SilenceLengthSql(f, k), ")");
  // Minutes: the silent series' whole window, the others' last
  // minute_hours (or every day with `minute`).
  const int64_t others_from =
      f.minute ? 0 : std::max<int64_t>(0, minutes - static_cast<int64_t>(f.minute_hours) * 60);
  RETURN_IF_ERROR(InsertRows(c, f, from, "rollup_minute", "minute", 1, absl::StrCat("NOT ", silent),
                             others_from, minutes, "true"));
  if (f.silence_every > 0) {
    RETURN_IF_ERROR(
        InsertRows(c, f, from, "rollup_minute", "minute", 1, silent, 0, minutes, heard));
  }
  RETURN_IF_ERROR(InsertClasses(c, f, from, "rollup_minute", "minute"));
  // Hours and days: the silent series' always (the sums of their minutes),
  // the others' as asked.
  if (f.hour) {
    RETURN_IF_ERROR(InsertRows(c, f, from, "rollup_hour", "hour", 60, absl::StrCat("NOT ", silent),
                               0, minutes / 60, "true"));
  }
  if (f.day) {
    RETURN_IF_ERROR(InsertRows(c, f, from, "rollup_day", "day", 1440, absl::StrCat("NOT ", silent),
                               0, f.days, "true"));
  }
  if (f.silence_every > 0) {
    RETURN_IF_ERROR(SumMinutes(c, f, from, "rollup_hour", "hour"));
    RETURN_IF_ERROR(SumMinutes(c, f, from, "rollup_day", "day"));
  }
  RETURN_IF_ERROR(InsertClasses(c, f, from, "rollup_hour", "hour"));
  RETURN_IF_ERROR(InsertClasses(c, f, from, "rollup_day", "day"));
  return collector::pg::Exec(c, "ANALYZE", "analyze after fill").status();
}

int64_t ExpectedFailures(const RollupFill& f, int check, int region, int64_t first_minute,
                         int64_t end_minute) {
  const auto [quiet_from, quiet_to] = Silence(f, check, region);
  int64_t n = 0;
  for (int64_t m = first_minute; m < end_minute; ++m) {
    if ((m + check + region) % f.fail_every == 0 && (m < quiet_from || m >= quiet_to)) {
      n += f.probes_per_minute;
    }
  }
  return n;
}

}  // namespace sonde::testing
