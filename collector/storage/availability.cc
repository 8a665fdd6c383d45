#include "collector/storage/availability.h"

#include "absl/strings/numbers.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace sonde::collector {

using pg::ExecParams;
using pg::PgResultPtr;

absl::StatusOr<std::vector<v1::AvailabilityRow>> QueryAvailability(
    PGconn* c, absl::Time from, absl::Time to, const std::string& check_filter,
    const std::string& region_filter) {
  // Minute buckets that overlap [from, to).
  const std::string lo = PgTime(MinuteOf(from));
  const std::string hi = PgTime(to);
  static constexpr char kSql[] = R"sql(
WITH m AS (
  SELECT check_id, region,
         (array_agg(service ORDER BY minute DESC))[1] AS service,
         sum(probes)::bigint AS probes,
         sum(failures)::bigint AS failures,
         max(last_result) AS last_result
  FROM rollup_minute
  WHERE minute >= $1::timestamptz AND minute < $2::timestamptz
    AND ($3::text = '' OR check_id = $3::text)
    AND ($4::text = '' OR region = $4::text)
  GROUP BY check_id, region
), c AS (
  SELECT DISTINCT ON (check_id, region) check_id, region, failure_class
  FROM (
    SELECT check_id, region, failure_class, sum(n) AS n
    FROM rollup_minute_class
    WHERE minute >= $1::timestamptz AND minute < $2::timestamptz
      AND ($3::text = '' OR check_id = $3::text)
      AND ($4::text = '' OR region = $4::text)
      AND failure_class <> 'OK'
    GROUP BY check_id, region, failure_class
  ) per_class
  ORDER BY check_id, region, (failure_class = 'PROBER_ERROR'), n DESC, failure_class
)
SELECT m.check_id, m.service, m.region, m.probes, m.failures,
       (extract(epoch FROM m.last_result) * 1000000)::bigint,
       coalesce(c.failure_class, '')
FROM m LEFT JOIN c USING (check_id, region)
ORDER BY m.check_id COLLATE "C", m.region COLLATE "C"
)sql";
  ASSIGN_OR_RETURN(PgResultPtr res, ExecParams(c, kSql, {lo, hi, check_filter, region_filter},
                                               "availability query"));
  std::vector<v1::AvailabilityRow> rows;
  rows.reserve(PQntuples(res.get()));
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    v1::AvailabilityRow row;
    row.set_check_id(PQgetvalue(res.get(), i, 0));
    row.set_service(PQgetvalue(res.get(), i, 1));
    row.set_region(PQgetvalue(res.get(), i, 2));
    uint64_t probes = 0, failures = 0;
    int64_t last_us = 0;
    if (!absl::SimpleAtoi(PQgetvalue(res.get(), i, 3), &probes) ||
        !absl::SimpleAtoi(PQgetvalue(res.get(), i, 4), &failures) ||
        !absl::SimpleAtoi(PQgetvalue(res.get(), i, 5), &last_us)) {
      return absl::InternalError("availability query: unexpected number format");
    }
    row.set_probes(probes);
    row.set_failures(failures);
    row.set_availability(probes == 0 ? 100.0
                                     : 100.0 * static_cast<double>(probes - failures) /
                                           static_cast<double>(probes));
    v1::FailureClass::Code code = v1::FailureClass::UNSPECIFIED;
    v1::FailureClass::Code_Parse(PQgetvalue(res.get(), i, 6), &code);
    row.set_top_failure_class(code);
    common::SetTimestampMicros(last_us, row.mutable_last_result());
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<v1::DataGap>> QueryGaps(PGconn* c, absl::Time from, absl::Time to,
                                                   const std::string& region_filter) {
  ASSIGN_OR_RETURN(PgResultPtr res,
                   ExecParams(c,
                              "SELECT prober_id, region, sum(results)::bigint,"
                              " extract(epoch FROM min(from_time))::bigint,"
                              " extract(epoch FROM max(to_time))::bigint"
                              " FROM gaps WHERE to_time >= $1::timestamptz"
                              " AND from_time < $2::timestamptz"
                              " AND ($3::text = '' OR region = $3::text)"
                              " GROUP BY prober_id, region ORDER BY region, prober_id",
                              {PgTime(from), PgTime(to), region_filter}, "gaps query"));
  std::vector<v1::DataGap> gaps;
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    v1::DataGap g;
    g.set_prober_id(PQgetvalue(res.get(), i, 0));
    g.set_region(PQgetvalue(res.get(), i, 1));
    uint64_t results = 0;
    int64_t a = 0, b = 0;
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 2), &results);
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 3), &a);
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 4), &b);
    g.set_results(results);
    g.mutable_from()->set_seconds(a);
    g.mutable_to()->set_seconds(b);
    gaps.push_back(std::move(g));
  }
  return gaps;
}

}  // namespace sonde::collector
