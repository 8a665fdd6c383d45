#include "collector/storage/rollup_read.h"

#include <algorithm>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
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
// "{minutes}" in a select list, by level: the distinct minutes with results
// of the rows grouped, and how many rows did not know theirs (migration 7).
constexpr const char* kMinutes[] = {"count(*)::bigint, 0::bigint",
                                    "coalesce(sum(minutes_with_results), 0)::bigint,"
                                    " (count(*) - count(minutes_with_results))::bigint",
                                    "coalesce(sum(minutes_with_results), 0)::bigint,"
                                    " (count(*) - count(minutes_with_results))::bigint"};

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

// The predicate selecting the spans of `level` (literal times we formatted).
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

// SELECT part index, `columns` FROM every level that has spans in each part,
// filtered by $1 (check ids) and $2 (regions), GROUP BY `group` (when not
// empty) within each such select, UNION ALL; `suffix` picks the family (""
// or "_class"). Aggregating inside each part keeps every hash table as
// small as one part's series.
std::string UnionSql(const std::vector<std::vector<RollupSpan>>& parts, const std::string& columns,
                     const char* suffix, const std::string& group = "") {
  std::vector<std::string> selects;
  for (size_t p = 0; p < parts.size(); ++p) {
    for (int l = 0; l < 3; ++l) {
      const std::string range = RangeSql(static_cast<RollupLevel>(l), parts[p]);
      if (range.empty()) {
        continue;
      }
      selects.push_back(absl::StrCat(
          "(SELECT ", p, " AS part, ", absl::StrReplaceAll(columns, {{"{minutes}", kMinutes[l]}}),
          " FROM ", kTable[l], suffix, " WHERE (", range,
          ") AND (cardinality($1::text[]) = 0 OR check_id = ANY($1::text[]))"
          " AND (cardinality($2::text[]) = 0 OR region = ANY($2::text[]))",
          group.empty() ? "" : " GROUP BY ", group, ")"));
    }
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

namespace {

// Reads the totals of `parts` into `out`: out->window.rows the totals over
// every part (sorted by check_id, then region), out->counts[p][i] the probes
// and failures of row i in part p; with `with_latency`, the histograms too.
absl::Status ReadTotals(PGconn* c, const std::vector<std::vector<RollupSpan>>& parts,
                        const RollupQuery& q, RollupParts* out) {
  out->counts.assign(parts.size(), {});
  bool any = false;
  for (const std::vector<RollupSpan>& p : parts) {
    any = any || !p.empty();
  }
  if (!any) {
    return absl::OkStatus();
  }
  const std::vector<std::string> params = {pg::ToArray(q.check_ids), pg::ToArray(q.regions)};
  // The aggregates read many rows into few: more memory than the default
  // keeps PostgreSQL's hash tables off disk, and JIT compiling costs more
  // than it saves here. Reset when done, whatever happens.
  RETURN_IF_ERROR(
      pg::Exec(c, "SET work_mem = '64MB'; SET jit = off", "rollup read settings").status());
  struct Reset {
    PGconn* c;
    ~Reset() { pg::Exec(c, "RESET work_mem; RESET jit", "rollup read settings").IgnoreError(); }
  } reset{c};
  // Grouped with the service too (a hash aggregate, no per-group sort);
  // a series renamed inside the window comes back once per name and takes
  // the newest one here; the rows of one part's levels are added up here.
  const std::string totals_sql =
      UnionSql(parts,
               "check_id, region, service, sum(probes)::bigint, sum(failures)::bigint,"
               " sum(prober_errors)::bigint,"
               " (extract(epoch FROM max(last_result)) * 1000000)::bigint, {minutes}",
               "", "check_id, region, service");
  ASSIGN_OR_RETURN(PgResultPtr totals, ExecParams(c, totals_sql, params, "rollup totals"));
  std::vector<RollupTotals> rows;
  std::unordered_map<std::string, size_t> index;  // check_id '\0' region -> rows
  auto key = [](const PGresult* r, int i, int col) {
    return absl::StrCat(absl::string_view(PQgetvalue(r, i, col), PQgetlength(r, i, col)),
                        absl::string_view("\0", 1),
                        absl::string_view(PQgetvalue(r, i, col + 1), PQgetlength(r, i, col + 1)));
  };
  for (int i = 0; i < PQntuples(totals.get()); ++i) {
    const int64_t part = Int(totals.get(), i, 0);
    if (part < 0 || part >= static_cast<int64_t>(parts.size())) {
      continue;
    }
    auto [it, added] = index.try_emplace(key(totals.get(), i, 1), rows.size());
    if (added) {
      rows.emplace_back();
      rows.back().check_id = PQgetvalue(totals.get(), i, 1);
      rows.back().region = PQgetvalue(totals.get(), i, 2);
    }
    RollupTotals& row = rows[it->second];
    const absl::Time last = absl::FromUnixMicros(Int(totals.get(), i, 7));
    const char* service = PQgetvalue(totals.get(), i, 3);
    if (added || last > row.last_result || (last == row.last_result && service > row.service)) {
      row.service = service;
    }
    const int64_t probes = Int(totals.get(), i, 4);
    const int64_t failures = Int(totals.get(), i, 5);
    row.probes += probes;
    row.failures += failures;
    row.prober_errors += Int(totals.get(), i, 6);
    row.last_result = std::max(row.last_result, last);
    row.minutes += Int(totals.get(), i, 8);
    row.minutes_unknown = row.minutes_unknown || Int(totals.get(), i, 9) > 0;
    std::vector<RollupCounts>& counts = out->counts[part];
    if (counts.size() <= it->second) {
      counts.resize(it->second + 1);
    }
    counts[it->second].probes += probes;
    counts[it->second].failures += failures;
  }
  totals.reset();

  // Classes and histograms over the whole window (not per part).
  const std::string class_sql = UnionSql(parts, "check_id, region, failure_class, sum(n)::bigint",
                                         "_class", "check_id, region, failure_class");
  ASSIGN_OR_RETURN(PgResultPtr classes, ExecParams(c, class_sql, params, "rollup classes"));
  for (int i = 0; i < PQntuples(classes.get()); ++i) {
    auto it = index.find(key(classes.get(), i, 1));
    if (it != index.end()) {
      rows[it->second].failures_by_class[PQgetvalue(classes.get(), i, 3)] +=
          Int(classes.get(), i, 4);
    }
  }
  classes.reset();
  if (q.with_latency) {
    const std::string latency_sql = absl::StrCat(
        "SELECT check_id, region, ph, i - 1, sum(v)::bigint FROM (",
        UnionSql(parts,
                 "check_id, region, dns_hist, connect_hist, tls_hist, first_byte_hist, total_hist",
                 ""),
        ") x CROSS JOIN LATERAL (VALUES (0, dns_hist), (1, connect_hist), (2, tls_hist),"
        " (3, first_byte_hist), (4, total_hist)) AS h(ph, arr)"
        " CROSS JOIN LATERAL unnest(arr) WITH ORDINALITY AS u(v, i)"
        " WHERE v IS NOT NULL AND v <> 0 GROUP BY check_id, region, ph, i");
    ASSIGN_OR_RETURN(PgResultPtr latency, ExecParams(c, latency_sql, params, "rollup latency"));
    for (int i = 0; i < PQntuples(latency.get()); ++i) {
      auto it = index.find(key(latency.get(), i, 0));
      const int64_t phase = Int(latency.get(), i, 2);
      const int64_t bucket = Int(latency.get(), i, 3);
      if (it == index.end() || phase < 0 || phase >= kPhaseCount || bucket < 0 ||
          bucket >= kLatencyBucketCount) {
        continue;
      }
      LatencyHistogram& h = rows[it->second].latency[phase];
      if (h.size() <= static_cast<size_t>(bucket)) {
        h.resize(bucket + 1, 0);
      }
      h[bucket] += Int(latency.get(), i, 4);
    }
  }
  // Sorted by check_id, then region (bytewise), the counts with them.
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&rows](size_t a, size_t b) {
    return std::tie(rows[a].check_id, rows[a].region) < std::tie(rows[b].check_id, rows[b].region);
  });
  out->window.rows.clear();
  out->window.rows.reserve(rows.size());
  for (size_t i : order) {
    out->window.rows.push_back(std::move(rows[i]));
  }
  for (std::vector<RollupCounts>& counts : out->counts) {
    counts.resize(order.size());
    std::vector<RollupCounts> sorted;
    sorted.reserve(order.size());
    for (size_t i : order) {
      sorted.push_back(counts[i]);
    }
    counts = std::move(sorted);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RollupWindow> ReadRollups(PGconn* c, const RollupQuery& q) {
  RollupParts out;
  out.window = PlanRollupSpans(q.from, q.to, q.retention, q.now);
  RETURN_IF_ERROR(ReadTotals(c, {out.window.spans}, q, &out));
  return std::move(out.window);
}

absl::StatusOr<RollupParts> ReadRollupParts(PGconn* c, const RollupQuery& q,
                                            const std::vector<RollupPart>& parts) {
  RollupParts out;
  std::vector<std::vector<RollupSpan>> spans;
  absl::Time reached = absl::InfinitePast();
  out.window.covered_from = out.window.covered_to = q.from;
  for (const RollupPart& part : parts) {
    RollupWindow w = PlanRollupSpans(part.from, part.to, q.retention, q.now);
    out.window.approximate = out.window.approximate || w.approximate;
    std::vector<RollupSpan> mine;
    for (RollupSpan s : w.spans) {
      s.from = std::max(s.from, reached);
      if (s.from < s.to) {
        mine.push_back(s);
        out.window.spans.push_back(s);
      }
    }
    if (!mine.empty()) {
      reached = std::max(reached, mine.back().to);
    }
    spans.push_back(std::move(mine));
  }
  if (!out.window.spans.empty()) {
    out.window.covered_from = out.window.spans.front().from;
    out.window.covered_to = out.window.spans.back().to;
  }
  RollupQuery counts = q;
  counts.with_latency = false;
  RETURN_IF_ERROR(ReadTotals(c, spans, counts, &out));
  return out;
}

}  // namespace sonde::collector
