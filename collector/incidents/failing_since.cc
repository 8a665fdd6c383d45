#include "collector/incidents/failing_since.h"

#include "absl/strings/str_cat.h"
#include "collector/storage/pg/pg.h"

namespace sonde::collector {

absl::Status RecordFailingSince(PGconn* conn, const std::string& id,
                                const std::vector<std::string>& checks,
                                const std::vector<std::string>& regions, absl::Time opened_at) {
  static constexpr char kSql[] = R"sql(
WITH scope AS (
  SELECT started_at, ok, failure_class FROM results
  WHERE check_id = ANY($2::text[]) AND region = ANY($3::text[])
    AND started_at > $4::timestamptz - make_interval(secs => $5::double precision)
    AND started_at <= $4::timestamptz
), last_pass AS (
  SELECT coalesce(max(started_at), '-infinity'::timestamptz) AS t FROM scope WHERE ok
)
UPDATE incidents SET failing_since = least(opened_at, coalesce(
  (SELECT min(started_at) FROM scope, last_pass
   WHERE NOT ok AND failure_class <> 'PROBER_ERROR' AND started_at > last_pass.t),
  opened_at))
WHERE id = $1 AND failing_since IS NULL
)sql";
  return pg::ExecParams(conn, kSql,
                        {id, pg::ToArray(checks), pg::ToArray(regions), pg::Timestamp(opened_at),
                         absl::StrCat(absl::ToDoubleSeconds(kFailingSinceLookback))},
                        absl::StrCat("record failing_since of ", id))
      .status();
}

}  // namespace sonde::collector
