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
// UNION ALL, filtered by $1 (check ids) and $2 (regions); `suffix` picks the
// family ("" or "_class").
std::string UnionSql(const std::vector<std::vector<RollupSpan>>& parts, const std::string& columns,
                     const char* suffix) {
  std::vector<std::string> selects;
  for (size_t p = 0; p < parts.size(); ++p) {
    for (int l = 0; l < 3; ++l) {
      const std::string range = RangeSql(static_cast<RollupLevel>(l), parts[p]);
      if (range.empty()) {
        continue;
      }
      selects.push_back(absl::StrCat(
          "SELECT ", p, " AS part, ", columns, " FROM ", kTable[l], suffix, " WHERE (", range,
          ") AND (cardinality($1::text[]) = 0 OR check_id = ANY($1::text[]))"
          " AND (cardinality($2::text[]) = 0 OR region = ANY($2::text[]))"));
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

// Totals (and, with `with_latency`, histograms) per part x check x region:
// out[part] sorted by check_id, then region.
absl::StatusOr<std::vector<std::vector<RollupTotals>>> ReadTotals(
    PGconn* c, const std::vector<std::vector<RollupSpan>>& parts, const RollupQuery& q) {
  std::vector<std::vector<RollupTotals>> out(parts.size());
  bool any = false;
  for (const std::vector<RollupSpan>& p : parts) {
    any = any || !p.empty();
  }
  if (!any) {
    return out;
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
  // the newest one here.
  const std::string totals_sql = absl::StrCat(
      "SELECT part, check_id, region, service,"
      " sum(probes)::bigint, sum(failures)::bigint, sum(prober_errors)::bigint,"
      " (extract(epoch FROM max(last_result)) * 1000000)::bigint FROM (",
      UnionSql(parts, "check_id, region, service, probes, failures, prober_errors, last_result",
               ""),
      ") x GROUP BY part, check_id, region, service");
  ASSIGN_OR_RETURN(PgResultPtr totals, ExecParams(c, totals_sql, params, "rollup totals"));
  std::map<std::tuple<int64_t, std::string, std::string>, RollupTotals> merged;
  for (int i = 0; i < PQntuples(totals.get()); ++i) {
    const int64_t part = Int(totals.get(), i, 0);
    if (part < 0 || part >= static_cast<int64_t>(parts.size())) {
      continue;
    }
    RollupTotals& row =
        merged[{part, PQgetvalue(totals.get(), i, 1), PQgetvalue(totals.get(), i, 2)}];
    const absl::Time last = absl::FromUnixMicros(Int(totals.get(), i, 7));
    const std::string service = PQgetvalue(totals.get(), i, 3);
    if (row.check_id.empty() || last > row.last_result ||
        (last == row.last_result && service > row.service)) {
      row.service = service;
    }
    row.check_id = PQgetvalue(totals.get(), i, 1);
    row.region = PQgetvalue(totals.get(), i, 2);
    row.probes += Int(totals.get(), i, 4);
    row.failures += Int(totals.get(), i, 5);
    row.prober_errors += Int(totals.get(), i, 6);
    row.last_result = std::max(row.last_result, last);
  }
  totals.reset();
  // The map is in (part, check_id, region) order, bytewise.
  std::map<std::tuple<int64_t, std::string, std::string>, size_t> index;
  for (auto& [key, row] : merged) {
    index[key] = out[std::get<0>(key)].size();
    out[std::get<0>(key)].push_back(std::move(row));
  }
  auto find = [&](const PGresult* r, int i) -> RollupTotals* {
    auto it = index.find({Int(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)});
    return it == index.end() ? nullptr : &out[std::get<0>(it->first)][it->second];
  };

  const std::string class_sql =
      absl::StrCat("SELECT part, check_id, region, failure_class, sum(n)::bigint FROM (",
                   UnionSql(parts, "check_id, region, failure_class, n", "_class"),
                   ") x GROUP BY part, check_id, region, failure_class");
  ASSIGN_OR_RETURN(PgResultPtr classes, ExecParams(c, class_sql, params, "rollup classes"));
  for (int i = 0; i < PQntuples(classes.get()); ++i) {
    if (RollupTotals* row = find(classes.get(), i)) {
      row->failures_by_class[PQgetvalue(classes.get(), i, 3)] += Int(classes.get(), i, 4);
    }
  }
  if (!q.with_latency) {
    return out;
  }
  const std::string latency_sql = absl::StrCat(
      "SELECT part, check_id, region, ph, i - 1, sum(v)::bigint FROM (",
      UnionSql(parts,
               "check_id, region, dns_hist, connect_hist, tls_hist, first_byte_hist, total_hist",
               ""),
      ") x CROSS JOIN LATERAL (VALUES (0, dns_hist), (1, connect_hist), (2, tls_hist),"
      " (3, first_byte_hist), (4, total_hist)) AS h(ph, arr)"
      " CROSS JOIN LATERAL unnest(arr) WITH ORDINALITY AS u(v, i)"
      " WHERE v IS NOT NULL AND v <> 0 GROUP BY part, check_id, region, ph, i");
  ASSIGN_OR_RETURN(PgResultPtr latency, ExecParams(c, latency_sql, params, "rollup latency"));
  for (int i = 0; i < PQntuples(latency.get()); ++i) {
    RollupTotals* row = find(latency.get(), i);
    const int64_t phase = Int(latency.get(), i, 3);
    const int64_t bucket = Int(latency.get(), i, 4);
    if (row == nullptr || phase < 0 || phase >= kPhaseCount || bucket < 0 ||
        bucket >= kLatencyBucketCount) {
      continue;
    }
    LatencyHistogram& h = row->latency[phase];
    if (h.size() <= static_cast<size_t>(bucket)) {
      h.resize(bucket + 1, 0);
    }
    h[bucket] += Int(latency.get(), i, 5);
  }
  return out;
}

}  // namespace

absl::StatusOr<RollupWindow> ReadRollups(PGconn* c, const RollupQuery& q) {
  RollupWindow w = PlanRollupSpans(q.from, q.to, q.retention, q.now);
  ASSIGN_OR_RETURN(std::vector<std::vector<RollupTotals>> rows, ReadTotals(c, {w.spans}, q));
  w.rows = std::move(rows.front());
  return w;
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
  ASSIGN_OR_RETURN(out.parts, ReadTotals(c, spans, counts));
  // The window's totals: the parts added up.
  std::map<std::pair<std::string, std::string>, RollupTotals> sum;
  for (const std::vector<RollupTotals>& part : out.parts) {
    for (const RollupTotals& r : part) {
      RollupTotals& t = sum[{r.check_id, r.region}];
      if (t.check_id.empty() || r.last_result >= t.last_result) {
        t.service = r.service;
      }
      t.check_id = r.check_id;
      t.region = r.region;
      t.probes += r.probes;
      t.failures += r.failures;
      t.prober_errors += r.prober_errors;
      t.last_result = std::max(t.last_result, r.last_result);
      for (const auto& [name, n] : r.failures_by_class) {
        t.failures_by_class[name] += n;
      }
    }
  }
  for (auto& [key, t] : sum) {
    out.window.rows.push_back(std::move(t));
  }
  return out;
}

}  // namespace sonde::collector
