#include "collector/report/reader.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/report/silences.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/rollup_read.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace sonde::report {
namespace {

using collector::pg::ExecParams;
using collector::pg::FromArray;
using collector::pg::FromMicrosText;
using collector::pg::PgResultPtr;

IntervalSet MaintenanceOf(const v1::Config& config, const std::string& check,
                          const std::string& service) {
  std::vector<Interval> out;
  for (const v1::MaintenanceWindow& m : config.maintenance()) {
    const bool all = m.services().empty() && m.checks().empty();
    const bool hit =
        all || std::find(m.services().begin(), m.services().end(), service) != m.services().end() ||
        std::find(m.checks().begin(), m.checks().end(), check) != m.checks().end();
    if (hit && m.has_start() && m.has_end()) {
      out.push_back(WholeSeconds({common::ToTime(m.start()), common::ToTime(m.end())}));
    }
  }
  return Normalize(std::move(out));
}

// The most frequent failure class; PROBER_ERROR only when nothing else
// failed (as the per-minute availability query always did).
v1::FailureClass::Code TopClass(const std::map<std::string, int64_t>& by_class) {
  std::string best;
  int64_t best_n = 0;
  bool best_prober = true;
  for (const auto& [name, n] : by_class) {
    const bool prober = name == "PROBER_ERROR";
    if (name == "OK" || n <= 0) {
      continue;
    }
    if (best.empty() || (best_prober && !prober) || (prober == best_prober && n > best_n)) {
      best = name;
      best_n = n;
      best_prober = prober;
    }
  }
  v1::FailureClass::Code code = v1::FailureClass::UNSPECIFIED;
  v1::FailureClass::Code_Parse(best, &code);
  return code;
}

// "rollup_day 2026-10-04T00:00:00Z - ..., rollup_hour ...": which level
// answered which part of the window.
std::string Source(const collector::RollupWindow& w) {
  std::vector<std::string> parts;
  for (const collector::RollupSpan& s : w.spans) {
    parts.push_back(
        absl::StrCat("rollup_", collector::RollupLevelName(s.level), " ",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", s.from, absl::UTCTimeZone()), " - ",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", s.to, absl::UTCTimeZone())));
  }
  std::string out = absl::StrJoin(parts, ", ");
  if (w.approximate) {
    absl::StrAppend(&out, " (approximate: a finer level was dropped by retention)");
  }
  return out;
}

// Outage segments per check from the incidents overlapping the window and
// their timelines.
absl::Status ReadOutages(PGconn* conn, const ReportScope& scope,
                         std::map<std::string, std::vector<OutageSegment>>* by_check) {
  static constexpr char kSql[] = R"sql(
SELECT i.id, i.checks,
       (extract(epoch FROM coalesce(i.failing_since, i.opened_at)) * 1000000)::bigint,
       coalesce((extract(epoch FROM i.resolved_at) * 1000000)::bigint::text, ''),
       (extract(epoch FROM e.at) * 1000000)::bigint, e.incident_kind, e.regions, e.failing_share
FROM incidents i JOIN incident_events e ON e.incident_id = i.id
WHERE coalesce(i.failing_since, i.opened_at) < $2::timestamptz
  AND (i.resolved_at IS NULL OR i.resolved_at > $1::timestamptz)
  AND ($3::text = '' OR $3::text = ANY (i.checks))
  AND ($4::text = '' OR i.service = $4::text)
  AND e.kind IN ('OPENED', 'UPDATED', 'RECLASSIFIED', 'REGIONS_CHANGED', 'PROGRESS')
ORDER BY i.id, e.id
)sql";
  ASSIGN_OR_RETURN(PgResultPtr res,
                   ExecParams(conn, kSql,
                              {collector::PgTime(scope.window.from),
                               collector::PgTime(scope.window.to), scope.check, scope.service},
                              "incidents query"));
  const int n = PQntuples(res.get());
  for (int i = 0; i < n;) {
    const std::string id = PQgetvalue(res.get(), i, 0);
    const std::vector<std::string> checks = FromArray(PQgetvalue(res.get(), i, 1));
    int64_t start_us = 0;
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 2), &start_us);
    const std::string resolved = PQgetvalue(res.get(), i, 3);
    const absl::Time end = resolved.empty() ? scope.window.to : FromMicrosText(resolved);
    std::vector<OutageSegment> segments;
    for (; i < n && id == PQgetvalue(res.get(), i, 0); ++i) {
      int64_t at_us = 0;
      absl::SimpleAtoi(PQgetvalue(res.get(), i, 4), &at_us);
      OutageSegment s;
      s.span.from = segments.empty()
                        ? absl::FromUnixMicros(start_us)
                        : std::max(absl::FromUnixMicros(start_us), absl::FromUnixMicros(at_us));
      s.kind = PQgetvalue(res.get(), i, 5);
      s.regions = FromArray(PQgetvalue(res.get(), i, 6));
      absl::SimpleAtod(PQgetvalue(res.get(), i, 7), &s.failing_share);
      if (!segments.empty()) {
        segments.back().span.to = s.span.from;
      }
      segments.push_back(std::move(s));
    }
    if (!segments.empty()) {
      segments.back().span.to = end;
    }
    for (const std::string& check : checks) {
      std::vector<OutageSegment>& list = (*by_check)[check];
      for (const OutageSegment& s : segments) {
        if (s.span.from < s.span.to) {
          list.push_back(s);
        }
      }
    }
  }
  return absl::OkStatus();
}

// The probers' reported losses, one per gap row (not merged per prober: two
// losses a week apart are not a week of no data).
absl::StatusOr<std::vector<v1::DataGap>> ReadGaps(PGconn* conn, const ReportScope& scope) {
  ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecParams(
          conn,
          "SELECT prober_id, region, results,"
          " (extract(epoch FROM from_time) * 1000000)::bigint,"
          " (extract(epoch FROM to_time) * 1000000)::bigint"
          " FROM gaps WHERE to_time >= $1::timestamptz AND from_time < $2::timestamptz"
          " AND ($3::text = '' OR region = $3::text)"
          " ORDER BY region, prober_id, from_time",
          {collector::PgTime(scope.window.from), collector::PgTime(scope.window.to), scope.region},
          "gaps query"));
  std::vector<v1::DataGap> gaps;
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    v1::DataGap g;
    g.set_prober_id(PQgetvalue(res.get(), i, 0));
    g.set_region(PQgetvalue(res.get(), i, 1));
    uint64_t results = 0;
    int64_t from_us = 0;
    int64_t to_us = 0;
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 2), &results);
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 3), &from_us);
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 4), &to_us);
    g.set_results(results);
    common::SetTimestampMicros(from_us, g.mutable_from());
    common::SetTimestampMicros(to_us, g.mutable_to());
    gaps.push_back(std::move(g));
  }
  return gaps;
}

}  // namespace

collector::RollupQuery ScopeRollupQuery(const ReportScope& scope, absl::Time from, absl::Time to) {
  collector::RollupQuery q;
  q.from = from;
  q.to = to;
  if (!scope.check.empty()) {
    q.check_ids = {scope.check};
  }
  if (!scope.region.empty()) {
    q.regions = {scope.region};
  }
  q.retention = scope.retention;
  q.now = scope.now;
  return q;
}

absl::StatusOr<ReportInputs> ReadInputs(PGconn* conn, const ReportScope& scope,
                                        const v1::Config& config) {
  ReportInputs out;
  const collector::RollupQuery q = ScopeRollupQuery(scope, scope.window.from, scope.window.to);
  collector::RollupParts counts;
  if (scope.days.empty()) {
    ASSIGN_OR_RETURN(counts.window, collector::ReadRollups(conn, q));
  } else {
    std::vector<collector::RollupPart> parts;
    for (const Interval& d : scope.days) {
      parts.push_back({d.from, d.to});
    }
    ASSIGN_OR_RETURN(counts, collector::ReadRollupParts(conn, q, parts));
  }
  out.source = Source(counts.window);
  std::map<std::string, CheckInput> checks;
  for (size_t i = 0; i < counts.window.rows.size(); ++i) {
    const collector::RollupTotals& row = counts.window.rows[i];
    if (!scope.service.empty() && row.service != scope.service) {
      continue;
    }
    CheckInput& c = checks[row.check_id];
    c.check = row.check_id;
    c.service = row.service;
    SeriesInput s;
    s.region = row.region;
    s.probes = static_cast<uint64_t>(row.probes);
    s.failures = static_cast<uint64_t>(row.failures);
    s.top_failure_class = TopClass(row.failures_by_class);
    s.last_result = row.last_result;
    for (const std::vector<collector::RollupCounts>& day : counts.counts) {
      s.days.push_back(
          {static_cast<uint64_t>(day[i].probes), static_cast<uint64_t>(day[i].failures)});
    }
    c.regions.push_back(std::move(s));
  }
  // Configured checks without a single result in the window: all no data.
  for (const v1::Check& cfg : config.checks()) {
    const std::string service = cfg.service().empty() ? cfg.name() : cfg.service();
    if ((scope.check.empty() || scope.check == cfg.name()) &&
        (scope.service.empty() || scope.service == service) && checks.count(cfg.name()) == 0) {
      CheckInput& c = checks[cfg.name()];
      c.check = cfg.name();
      c.service = service;
    }
  }
  SeriesIndex series;
  for (auto& [name, c] : checks) {
    for (SeriesInput& s : c.regions) {
      series[{name, s.region}] = &s;
    }
  }
  RETURN_IF_ERROR(ReadSilences(conn, scope, config, counts.window, series));
  ASSIGN_OR_RETURN(out.gaps, ReadGaps(conn, scope));
  std::map<std::string, std::vector<OutageSegment>> outages;
  RETURN_IF_ERROR(ReadOutages(conn, scope, &outages));
  for (auto& [name, c] : checks) {
    for (SeriesInput& s : c.regions) {
      for (const v1::DataGap& g : out.gaps) {
        if (g.region() == s.region && g.has_from() && g.has_to()) {
          s.no_data.push_back(WholeSeconds({common::ToTime(g.from()), common::ToTime(g.to())}));
        }
      }
      s.no_data = Normalize(std::move(s.no_data));
    }
    c.maintenance = MaintenanceOf(config, c.check, c.service);
    if (auto it = outages.find(name); it != outages.end()) {
      c.outages = std::move(it->second);
    }
    out.checks.push_back(std::move(c));
  }
  return out;
}

}  // namespace sonde::report
