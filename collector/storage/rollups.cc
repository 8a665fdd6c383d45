#include "collector/storage/rollups.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/copy_rows.h"
#include "common/status_macros.h"

namespace sonde::collector {
namespace {

using pg::ArrayLiteral;

// Rollup upserts: $1 the batch's region, then one array per column, rows in
// key order (so concurrent streams lock rollup rows in the same order and
// cannot deadlock).
constexpr pg::PreparedStatement kRollupMinute = {
    "sonde_rollup_minute",
    "INSERT INTO rollup_minute AS r (check_id, service, region, minute, probes,"
    " failures, prober_errors, last_result)"
    " SELECT c, s, $1::text, m, p, f, e, l FROM unnest($2::text[], $3::text[],"
    " $4::timestamptz[], $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[])"
    " AS u(c, s, m, p, f, e, l)"
    " ON CONFLICT (check_id, region, minute) DO UPDATE SET"
    " service = excluded.service,"
    " probes = r.probes + excluded.probes,"
    " failures = r.failures + excluded.failures,"
    " prober_errors = r.prober_errors + excluded.prober_errors,"
    " last_result = greatest(r.last_result, excluded.last_result)"};
constexpr pg::PreparedStatement kRollupMinuteClass = {
    "sonde_rollup_minute_class",
    "INSERT INTO rollup_minute_class AS r (check_id, region, minute, failure_class, n)"
    " SELECT c, $1::text, m, k, n FROM unnest($2::text[], $3::timestamptz[], $4::text[],"
    " $5::bigint[]) AS u(c, m, k, n)"
    " ON CONFLICT (check_id, region, minute, failure_class) DO UPDATE SET n = r.n + excluded.n"};

}  // namespace

absl::Status UpdateRollups(PGconn* c, pg::PreparedStatements* prepared,
                           const v1::ResultBatch& batch) {
  struct Minute {
    std::string service;
    int64_t probes = 0;
    int64_t failures = 0;
    int64_t prober_errors = 0;
    absl::Time last = absl::InfinitePast();
  };
  // Ordered maps: every transaction touches rollup rows in the same order,
  // so concurrent streams cannot deadlock on them.
  using Key = std::tuple<std::string, int64_t>;  // check_id, minute (unix seconds)
  std::map<Key, Minute> minutes;
  std::map<std::tuple<std::string, int64_t, std::string>, int64_t> classes;
  for (const v1::ProbeResult& r : batch.results()) {
    absl::Time t = StartTime(r);
    int64_t minute = absl::ToUnixSeconds(MinuteOf(t));
    Minute& m = minutes[Key(r.check_id(), minute)];
    m.service = r.service();
    m.last = std::max(m.last, t);
    bool prober_error = r.failure_class() == v1::FailureClass::PROBER_ERROR;
    if (prober_error) {
      ++m.prober_errors;
    } else {
      ++m.probes;
      if (!r.ok()) {
        ++m.failures;
      }
    }
    if (!r.ok() || prober_error) {
      ++classes[std::make_tuple(r.check_id(), minute, ClassName(r.failure_class()))];
    }
  }

  // One prepared statement per table, the rows as arrays: PostgreSQL parses
  // and plans it once per connection instead of a VALUES list with
  // thousands of parameters per batch (that was most of its ingest work).
  ArrayLiteral check_ids, services, minute_starts, probes, failures, prober_errors, lasts;
  for (const auto& [key, m] : minutes) {
    check_ids.Add(std::get<0>(key));
    services.Add(m.service);
    minute_starts.Add(PgTime(absl::FromUnixSeconds(std::get<1>(key))));
    probes.Add(absl::StrCat(m.probes));
    failures.Add(absl::StrCat(m.failures));
    prober_errors.Add(absl::StrCat(m.prober_errors));
    lasts.Add(PgTime(m.last));
  }
  RETURN_IF_ERROR(
      prepared->Exec(c, kRollupMinute,
                     {batch.region(), check_ids.Done(), services.Done(), minute_starts.Done(),
                      probes.Done(), failures.Done(), prober_errors.Done(), lasts.Done()},
                     "update rollup_minute"));
  if (classes.empty()) {
    return absl::OkStatus();
  }
  ArrayLiteral class_checks, class_minutes, class_names, counts;
  for (const auto& [key, n] : classes) {
    class_checks.Add(std::get<0>(key));
    class_minutes.Add(PgTime(absl::FromUnixSeconds(std::get<1>(key))));
    class_names.Add(std::get<2>(key));
    counts.Add(absl::StrCat(n));
  }
  return prepared->Exec(c, kRollupMinuteClass,
                        {batch.region(), class_checks.Done(), class_minutes.Done(),
                         class_names.Done(), counts.Done()},
                        "update rollup_minute_class");
}

}  // namespace sonde::collector
