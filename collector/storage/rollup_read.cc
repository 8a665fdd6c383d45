#include "collector/storage/rollup_read.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"

namespace sonde::collector {
namespace {

using pg::ExecParams;
using pg::PgResultPtr;

constexpr int64_t kWidth[] = {60, 3600, 86400};  // seconds per bucket, by level
constexpr const char* kTable[] = {"rollup_minute", "rollup_hour", "rollup_day"};
constexpr const char* kColumn[] = {"minute", "hour", "day"};

absl::Time Down(absl::Time t, int64_t width) {
  int64_t s = absl::ToUnixSeconds(t);
  int64_t q = s / width;
  if (s % width != 0 && s < 0) {
    --q;
  }
  return absl::FromUnixSeconds(q * width);
}

absl::Time Up(absl::Time t, int64_t width) {
  absl::Time d = Down(t, width);
  return d == t ? d : d + absl::Seconds(width);
}

absl::Duration RetentionOf(const RollupRetention& r, RollupLevel level) {
  switch (level) {
    case RollupLevel::kMinute:
      return r.minute;
    case RollupLevel::kHour:
      return r.hour;
    case RollupLevel::kDay:
      return r.day;
  }
  return absl::ZeroDuration();
}

// The predicate selecting `spans` of `level` (literal times we formatted).
std::string RangeSql(RollupLevel level, const std::vector<RollupSpan>& spans) {
  std::vector<std::string> parts;
  const char* col = kColumn[static_cast<int>(level)];
  for (const RollupSpan& s : spans) {
    if (s.level == level) {
      parts.push_back(absl::StrCat("(", col, " >= '", PgTime(s.from), "' AND ", col, " < '",
                                   PgTime(s.to), "')"));
    }
  }
  return absl::StrJoin(parts, " OR ");
}

// SELECT `columns` FROM every level that has spans, UNION ALL, filtered by
// $1 (check ids) and $2 (regions); `suffix` picks the family ("" or "_class").
std::string UnionSql(const RollupWindow& w, const std::string& columns, const char* suffix) {
  std::vector<std::string> selects;
  for (int l = 0; l < 3; ++l) {
    const std::string range = RangeSql(static_cast<RollupLevel>(l), w.spans);
    if (range.empty()) {
      continue;
    }
    selects.push_back(absl::StrCat("SELECT ", columns, " FROM ", kTable[l], suffix, " WHERE (",
                                   range,
                                   ") AND (cardinality($1::text[]) = 0 OR check_id = ANY($1::text[]))"
                                   " AND (cardinality($2::text[]) = 0 OR region = ANY($2::text[]))"));
  }
  return absl::StrJoin(selects, " UNION ALL ");
}

int64_t Int(const PGresult* r, int row, int col) {
  int64_t v = 0;
  absl::SimpleAtoi(PQgetvalue(r, row, col), &v);
  return v;
}

}  // namespace

const char* RollupLevelName(RollupLevel level) {
  switch (level) {
    case RollupLevel::kMinute:
      return "minute";
    case RollupLevel::kHour:
      return "hour";
    case RollupLevel::kDay:
      return "day";
  }
  return "minute";
}

RollupWindow PlanRollupSpans(absl::Time from, absl::Time to, const RollupRetention& retention,
                             absl::Time now) {
  RollupWindow w;
  w.covered_from = w.covered_to = from;
  if (to <= from) {
    return w;
  }
  const absl::Time f = Down(from, 60);
  const absl::Time t = Up(to, 60);
  std::vector<RollupSpan> spans;
  absl::Time h1 = Up(f, 3600), h2 = Down(t, 3600);
  if (h1 >= h2) {
    spans.push_back({RollupLevel::kMinute, f, t});
  } else {
    absl::Time d1 = Up(h1, 86400), d2 = Down(h2, 86400);
    spans.push_back({RollupLevel::kMinute, f, h1});
    if (d1 >= d2) {
      spans.push_back({RollupLevel::kHour, h1, h2});
    } else {
      spans.push_back({RollupLevel::kHour, h1, d1});
      spans.push_back({RollupLevel::kDay, d1, d2});
      spans.push_back({RollupLevel::kHour, d2, h2});
    }
    spans.push_back({RollupLevel::kMinute, h2, t});
  }
  // A part whose level retention already dropped is read from the next
  // coarser level, rounded outward.
  for (RollupSpan& s : spans) {
    while (s.level != RollupLevel::kDay && s.from < s.to) {
      const absl::Duration keep = RetentionOf(retention, s.level);
      if (keep <= absl::ZeroDuration() || s.from >= now - keep) {
        break;
      }
      s.level = static_cast<RollupLevel>(static_cast<int>(s.level) + 1);
      const int64_t width = kWidth[static_cast<int>(s.level)];
      s.from = Down(s.from, width);
      s.to = Up(s.to, width);
      w.approximate = true;
    }
  }
  // Drop empty parts, then merge parts that now overlap (two edges widened
  // into the same coarser bucket) or touch at the same level; a finer part
  // inside a coarser one goes.
  spans.erase(std::remove_if(spans.begin(), spans.end(),
                             [](const RollupSpan& s) { return s.from >= s.to; }),
              spans.end());
  std::sort(spans.begin(), spans.end(), [](const RollupSpan& a, const RollupSpan& b) {
    return std::tie(a.from, a.to) < std::tie(b.from, b.to);
  });
  for (const RollupSpan& s : spans) {
    if (!w.spans.empty() && (s.from < w.spans.back().to ||
                             (s.from == w.spans.back().to && s.level == w.spans.back().level))) {
      RollupSpan& last = w.spans.back();
      if (static_cast<int>(s.level) > static_cast<int>(last.level)) {
        last.level = s.level;
      }
      last.to = std::max(last.to, s.to);
      continue;
    }
    w.spans.push_back(s);
  }
  if (!w.spans.empty()) {
    w.covered_from = w.spans.front().from;
    w.covered_to = w.spans.back().to;
  }
  return w;
}

absl::StatusOr<RollupWindow> ReadRollups(PGconn* c, const RollupQuery& q) {
  RollupWindow w = PlanRollupSpans(q.from, q.to, q.retention, q.now);
  if (w.spans.empty()) {
    return w;
  }
  const std::vector<std::string> params = {pg::ToArray(q.check_ids), pg::ToArray(q.regions)};
  const std::string totals_sql = absl::StrCat(
      "SELECT check_id, region, (array_agg(service ORDER BY last_result DESC))[1],"
      " sum(probes)::bigint, sum(failures)::bigint, sum(prober_errors)::bigint,"
      " (extract(epoch FROM max(last_result)) * 1000000)::bigint FROM (",
      UnionSql(w, "check_id, region, service, probes, failures, prober_errors, last_result", ""),
      ") x GROUP BY check_id, region ORDER BY check_id COLLATE \"C\", region COLLATE \"C\"");
  ASSIGN_OR_RETURN(PgResultPtr totals, ExecParams(c, totals_sql, params, "rollup totals"));
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (int i = 0; i < PQntuples(totals.get()); ++i) {
    RollupTotals row;
    row.check_id = PQgetvalue(totals.get(), i, 0);
    row.region = PQgetvalue(totals.get(), i, 1);
    row.service = PQgetvalue(totals.get(), i, 2);
    row.probes = Int(totals.get(), i, 3);
    row.failures = Int(totals.get(), i, 4);
    row.prober_errors = Int(totals.get(), i, 5);
    row.last_result = absl::FromUnixMicros(Int(totals.get(), i, 6));
    index[{row.check_id, row.region}] = w.rows.size();
    w.rows.push_back(std::move(row));
  }

  const std::string class_sql = absl::StrCat(
      "SELECT check_id, region, failure_class, sum(n)::bigint FROM (",
      UnionSql(w, "check_id, region, failure_class, n", "_class"),
      ") x GROUP BY check_id, region, failure_class");
  ASSIGN_OR_RETURN(PgResultPtr classes, ExecParams(c, class_sql, params, "rollup classes"));
  for (int i = 0; i < PQntuples(classes.get()); ++i) {
    auto it = index.find({PQgetvalue(classes.get(), i, 0), PQgetvalue(classes.get(), i, 1)});
    if (it != index.end()) {
      w.rows[it->second].failures_by_class[PQgetvalue(classes.get(), i, 2)] +=
          Int(classes.get(), i, 3);
    }
  }
  if (!q.with_latency) {
    return w;
  }
  const std::string latency_sql = absl::StrCat(
      "SELECT check_id, region, ph, i - 1, sum(v)::bigint FROM (",
      UnionSql(w, "check_id, region, dns_hist, connect_hist, tls_hist, first_byte_hist, total_hist",
               ""),
      ") x CROSS JOIN LATERAL (VALUES (0, dns_hist), (1, connect_hist), (2, tls_hist),"
      " (3, first_byte_hist), (4, total_hist)) AS h(ph, arr)"
      " CROSS JOIN LATERAL unnest(arr) WITH ORDINALITY AS u(v, i)"
      " WHERE v IS NOT NULL AND v <> 0 GROUP BY check_id, region, ph, i");
  ASSIGN_OR_RETURN(PgResultPtr latency, ExecParams(c, latency_sql, params, "rollup latency"));
  for (int i = 0; i < PQntuples(latency.get()); ++i) {
    auto it = index.find({PQgetvalue(latency.get(), i, 0), PQgetvalue(latency.get(), i, 1)});
    const int64_t phase = Int(latency.get(), i, 2);
    const int64_t bucket = Int(latency.get(), i, 3);
    if (it == index.end() || phase < 0 || phase >= kPhaseCount || bucket < 0 ||
        bucket >= kLatencyBucketCount) {
      continue;
    }
    LatencyHistogram& h = w.rows[it->second].latency[phase];
    if (h.size() <= static_cast<size_t>(bucket)) {
      h.resize(bucket + 1, 0);
    }
    h[bucket] += Int(latency.get(), i, 4);
  }
  return w;
}

}  // namespace sonde::collector
