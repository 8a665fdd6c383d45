#include "collector/storage/status_queries.h"

#include "absl/strings/numbers.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"

namespace sonde::collector {

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
