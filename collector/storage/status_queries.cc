#include "collector/storage/status_queries.h"

#include "absl/strings/numbers.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"

namespace sonde::collector {

absl::StatusOr<std::vector<ServiceDay>> QueryServiceDays(PGconn* conn, absl::Time from,
                                                         absl::Time to) {
  ASSIGN_OR_RETURN(
      pg::PgResultPtr res,
      pg::ExecParams(conn,
                     "SELECT service, to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD'),"
                     " sum(probes)::bigint, sum(failures)::bigint FROM rollup_minute"
                     " WHERE minute >= $1::timestamptz AND minute < $2::timestamptz"
                     " GROUP BY 1, 2 ORDER BY service COLLATE \"C\", 2",
                     {PgTime(from), PgTime(to)}, "status page days"));
  std::vector<ServiceDay> out;
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    ServiceDay d;
    d.service = PQgetvalue(res.get(), i, 0);
    if (!absl::ParseCivilTime(PQgetvalue(res.get(), i, 1), &d.day) ||
        !absl::SimpleAtoi(PQgetvalue(res.get(), i, 2), &d.probes) ||
        !absl::SimpleAtoi(PQgetvalue(res.get(), i, 3), &d.failures)) {
      return absl::InternalError("status page days: unexpected value format");
    }
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<std::vector<ServiceRegionHealth>> QueryRecentHealth(PGconn* conn, absl::Time since) {
  ASSIGN_OR_RETURN(
      pg::PgResultPtr res,
      pg::ExecParams(conn,
                     "SELECT service, region, sum(probes)::bigint, sum(failures)::bigint"
                     " FROM rollup_minute WHERE minute >= $1::timestamptz"
                     " GROUP BY 1, 2 ORDER BY service COLLATE \"C\", region COLLATE \"C\"",
                     {PgTime(since)}, "status page health"));
  std::vector<ServiceRegionHealth> out;
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    ServiceRegionHealth h;
    h.service = PQgetvalue(res.get(), i, 0);
    h.region = PQgetvalue(res.get(), i, 1);
    if (!absl::SimpleAtoi(PQgetvalue(res.get(), i, 2), &h.probes) ||
        !absl::SimpleAtoi(PQgetvalue(res.get(), i, 3), &h.failures)) {
      return absl::InternalError("status page health: unexpected value format");
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace sonde::collector
