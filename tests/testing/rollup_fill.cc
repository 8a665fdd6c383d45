#include "tests/testing/rollup_fill.h"

#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/latency_buckets.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"

namespace sonde::testing {
namespace {

// Failed minutes in [a, b) for offset k: count of m with (m + k) % n == 0.
// Written so PostgreSQL's integer division (truncating) agrees: every
// operand is >= 0.
std::string FailedMinutesSql(const std::string& a, const std::string& b, const std::string& k,
                             int n) {
  return absl::StrCat("((", b, " - 1 + ", k, " + ", n, ") / ", n, " - (", a, " - 1 + ", k, " + ", n,
                      ") / ", n, ")");
}

// Rows are written bucket by bucket, as ingest writes them (one bucket's
// rows lie together on disk, not one series' rows).
absl::Status FillLevel(PGconn* c, const RollupFill& f, absl::Time from, const char* table,
                       const char* column, int width_minutes) {
  const int64_t buckets = static_cast<int64_t>(f.days) * 1440 / width_minutes;
  const std::string w = absl::StrCat(width_minutes);
  const std::string first = absl::StrCat("b * ", w);
  const std::string end = absl::StrCat("(b + 1) * ", w);
  const std::string per_row = absl::StrCat(f.probes_per_minute, " * ", w);
  const std::string from_sql = absl::StrCat("'", collector::PgTime(from), "'::timestamptz");
  const int total_bucket = collector::LatencyBucket(42'000);
  const std::string sql = absl::StrCat(
      "INSERT INTO ", table, " (check_id, service, region, ", column,
      ", probes, failures, prober_errors, last_result, total_hist)"
      " SELECT 'check-' || lpad(c::text, 5, '0'), 'svc-' || (c % 100), 'region-' || r, ",
      from_sql, " + b * interval '", w, " minutes', ", per_row, ", ", f.probes_per_minute, " * ",
      FailedMinutesSql(first, end, "c + r", f.fail_every), ", 0, ", from_sql,
      " + (b + 1) * interval '", w, " minutes' - interval '1 second', array_fill(0::bigint, ARRAY[",
      total_bucket, "]) || (", per_row, ")::bigint FROM generate_series(0, ", f.checks - 1,
      ") c, generate_series(0, ", f.regions - 1, ") r, generate_series(0, ", buckets - 1,
      ") b ORDER BY b, c, r");
  RETURN_IF_ERROR(collector::pg::Exec(c, sql, absl::StrCat("fill ", table)).status());
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

absl::Status FillRollups(PGconn* c, const RollupFill& f) {
  const absl::Time from = collector::DayStart(collector::DayOf(f.from));
  if (f.minute) {
    RETURN_IF_ERROR(FillLevel(c, f, from, "rollup_minute", "minute", 1));
  }
  if (f.hour) {
    RETURN_IF_ERROR(FillLevel(c, f, from, "rollup_hour", "hour", 60));
  }
  if (f.day) {
    RETURN_IF_ERROR(FillLevel(c, f, from, "rollup_day", "day", 1440));
  }
  return collector::pg::Exec(c, "ANALYZE", "analyze after fill").status();
}

int64_t ExpectedFailures(const RollupFill& f, int check, int region, int64_t first_minute,
                         int64_t end_minute) {
  int64_t n = 0;
  for (int64_t m = first_minute; m < end_minute; ++m) {
    if ((m + check + region) % f.fail_every == 0) {
      n += f.probes_per_minute;
    }
  }
  return n;
}

}  // namespace sonde::testing
