#include "collector/storage/rollups.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/copy_rows.h"
#include "common/status_macros.h"

namespace sonde::collector {
namespace {

using pg::ArrayLiteral;

constexpr const char* kHistColumns[kPhaseCount] = {"dns_hist", "connect_hist", "tls_hist",
                                                   "first_byte_hist", "total_hist"};

// Histogram buckets one upsert adds to an existing row: a window of this
// many consecutive buckets ending at the last element of the parameter.
constexpr int kWindow = 8;

constexpr uint64_t kCountMask = (uint64_t{1} << RollupDelta::Cell::kSlotShift) - 1;

// One rollup level: its tables, bucket width and the two upserts.
struct Level {
  const char* table;   // rollup_minute
  const char* column;  // minute
  int64_t width_s;     // 60; buckets are aligned to the Unix epoch (UTC)
  bool minute;         // the finest level: its upsert returns the minutes it created
  std::string upsert_sql;
  std::string class_sql;
  std::string upsert_name;
  std::string class_name;
};

// The upsert of `level`: one array per column, one element per row. A
// histogram parameter holds, per row, an array whose non-zero counts all
// lie in its last kWindow elements: a new row stores it as it is; an
// existing row adds that window in place (`h[s:e] = (ARRAY[h[s] + x[s],
// ...])[1:e-s+1]`), a few operations instead of a function call per
// histogram. A row with samples spread wider is sent in several rounds (see
// UpsertLevel). Indexes past the end of the stored array are padded with
// NULL by PostgreSQL: NULL counts as 0.
//
// Minutes with results (migration 7): the minute upsert marks a row it
// updates `merged` and returns the rows it created (`merged` still false:
// `xmax = 0` cannot be returned from a partitioned table), so a minute
// counts once however many batches bring its results; the hour and day
// upserts then add $14, the new minutes of each bucket, to
// `minutes_with_results` (NULL on rows older than migration 7 stays NULL:
// unknown).
std::string UpsertSql(const char* table, const char* column, bool minute) {
  std::string sql = absl::StrCat(
      minute ? "WITH w AS (" : "", "INSERT INTO ", table, " AS r (check_id, service, region, ",
      column,
      ", probes, failures, prober_errors, last_result, dns_hist, connect_hist, tls_hist,"
      " first_byte_hist, total_hist",
      minute ? "" : ", minutes_with_results",
      ") SELECT c, s, g, m, p, f, e, l, h0::bigint[], h1::bigint[], h2::bigint[],"
      " h3::bigint[], h4::bigint[]",
      minute ? "" : ", n",
      " FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],"
      " $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::text[], $10::text[],"
      " $11::text[], $12::text[], $13::text[]",
      minute ? "" : ", $14::smallint[]", ") AS u(c, s, g, m, p, f, e, l, h0, h1, h2, h3, h4",
      minute ? "" : ", n", ") ON CONFLICT (check_id, region, ", column, ") DO UPDATE SET",
      minute ? " merged = true,"
             : " minutes_with_results = r.minutes_with_results + excluded.minutes_with_results,",
      " service = CASE WHEN excluded.last_result >= r.last_result THEN excluded.service"
      " ELSE r.service END,"
      " probes = r.probes + excluded.probes,"
      " failures = r.failures + excluded.failures,"
      " prober_errors = r.prober_errors + excluded.prober_errors,"
      " last_result = greatest(r.last_result, excluded.last_result)");
  for (const char* h : kHistColumns) {
    const std::string e = absl::StrCat("greatest(cardinality(excluded.", h, "), 1)");
    const std::string s = absl::StrCat("greatest(", e, " - ", kWindow - 1, ", 1)");
    absl::StrAppend(&sql, ", ", h, "[", s, ":", e, "] = (ARRAY[");
    for (int j = 0; j < kWindow; ++j) {
      const std::string i = absl::StrCat(s, " + ", j);
      absl::StrAppend(&sql, j == 0 ? "" : ", ", "coalesce(r.", h, "[", i,
                      "], 0) + coalesce(excluded.", h, "[", i, "], 0)");
    }
    absl::StrAppend(&sql, "])[1:", e, " - ", s, " + 1]");
  }
  if (minute) {
    absl::StrAppend(&sql,
                    " RETURNING check_id, region, minute, merged) SELECT check_id, region,"
                    " extract(epoch FROM minute)::bigint FROM w WHERE NOT merged");
  }
  return sql;
}

std::string ClassSql(const char* table, const char* column) {
  return absl::StrCat("INSERT INTO ", table, "_class AS r (check_id, region, ", column,
                      ", failure_class, n) SELECT c, g, m, k, n FROM unnest($1::text[],"
                      " $2::text[], $3::timestamptz[], $4::text[], $5::bigint[])"
                      " AS u(c, g, m, k, n) ON CONFLICT (check_id, region, ",
                      column, ", failure_class) DO UPDATE SET n = r.n + excluded.n");
}

Level MakeLevel(const char* table, const char* column, int64_t width_s) {
  const bool minute = width_s == 60;
  return Level{table,
               column,
               width_s,
               minute,
               UpsertSql(table, column, minute),
               ClassSql(table, column),
               absl::StrCat("sonde_", table, "_v10"),
               absl::StrCat("sonde_", table, "_class_v10")};
}

// Finest first; every transaction writes them in this order.
const std::array<Level, 3>& Levels() {
  static const std::array<Level, 3> kLevels = {MakeLevel("rollup_minute", "minute", 60),
                                               MakeLevel("rollup_hour", "hour", 3600),
                                               MakeLevel("rollup_day", "day", 86400)};
  return kLevels;
}

// A level's rows: the delta's minute cells folded into the level's buckets.
struct Row {
  RollupDelta::Cell cell;
  int64_t new_minutes = 0;  // minutes of this bucket the minute upsert created
  // Per phase, the histogram parameter of each round (see Chunks).
  std::array<std::vector<std::string>, kPhaseCount> rounds;
};
using Rows = absl::flat_hash_map<RollupDelta::Key, Row>;

int64_t Floor(int64_t t, int64_t width) {
  int64_t q = t / width;
  if (t % width != 0 && t < 0) {
    --q;
  }
  return q * width;
}

// The histogram parameters of one phase, one per round: the highest
// buckets first, each round's array as long as its highest bucket with its
// samples in the last kWindow elements ("{0}" when there is no sample).
std::vector<std::string> Chunks(const std::array<int64_t, kLatencyBucketCount>& buckets) {
  std::vector<std::string> out;
  int top = kLatencyBucketCount - 1;
  for (;;) {
    while (top >= 0 && buckets[static_cast<size_t>(top)] == 0) {
      --top;
    }
    if (top < 0) {
      break;
    }
    const int low = std::max(0, top - kWindow + 1);
    std::string literal = "{";
    for (int i = 0; i <= top; ++i) {
      absl::StrAppend(&literal, i == 0 ? "" : ",", i < low ? 0 : buckets[static_cast<size_t>(i)]);
    }
    literal.push_back('}');
    out.push_back(std::move(literal));
    top = low - 1;
  }
  if (out.empty()) {
    out.push_back("{0}");
  }
  return out;
}

Rows FoldLevel(const RollupDelta& delta, const Level& level) {
  // Sized once for the most rows a level can have (a Row holds a whole
  // Cell: rehashing moves kilobytes per row).
  Rows rows;
  rows.reserve(delta.cells().size());
  if (level.minute) {
    for (const auto& [key, cell] : delta.cells()) {
      rows[key].cell = cell;
    }
    return rows;
  }
  for (const auto& [key, cell] : delta.cells()) {
    rows[RollupDelta::Key{key.check_id, key.region, Floor(key.start, level.width_s)}].cell.Merge(
        cell);
  }
  return rows;
}

// The rows in key order: every writer locks rollup rows in the same order.
std::vector<std::pair<const RollupDelta::Key*, Row*>> Ordered(Rows* rows) {
  std::vector<std::pair<const RollupDelta::Key*, Row*>> out;
  out.reserve(rows->size());
  for (auto& [key, row] : *rows) {
    out.emplace_back(&key, &row);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });
  return out;
}

// Upserts one level: round 0 carries the counters and the highest window
// of each phase, round k the (k+1)-th window of the rows that have one
// (counters 0). The minute level's first round runs at once, before
// anything is queued on `pipeline`: its answer names the minutes it created
// (check id, region, minute start), appended to `new_minutes` for the hour
// and day levels; every other round is queued.
absl::Status UpsertLevel(PGconn* c, pg::PreparedStatements* prepared, const Level& level,
                         const std::vector<std::pair<const RollupDelta::Key*, Row*>>& rows,
                         pg::Pipeline* pipeline, std::vector<RollupDelta::Key>* new_minutes) {
  const pg::PreparedStatement statement = {level.upsert_name.c_str(), level.upsert_sql.c_str()};
  for (const auto& [key, row] : rows) {
    for (int p = 0; p < kPhaseCount; ++p) {
      row->rounds[p] = Chunks(row->cell.Histogram(p));
    }
  }
  for (size_t round = 0;; ++round) {
    ArrayLiteral check_ids, services, regions, starts, probes, failures, prober_errors, lasts,
        minutes;
    std::array<ArrayLiteral, kPhaseCount> hists;
    bool any = false;
    for (const auto& [key, row] : rows) {
      bool more = round == 0;
      for (const auto& phase : row->rounds) {
        more = more || phase.size() > round;
      }
      if (!more) {
        continue;
      }
      any = true;
      const RollupDelta::Cell& b = row->cell;
      check_ids.Add(key->check_id);
      regions.Add(key->region);
      services.Add(b.service);
      starts.Add(PgTime(absl::FromUnixSeconds(key->start)));
      probes.Add(round == 0 ? absl::StrCat(b.probes) : "0");
      failures.Add(round == 0 ? absl::StrCat(b.failures) : "0");
      prober_errors.Add(round == 0 ? absl::StrCat(b.prober_errors) : "0");
      minutes.Add(round == 0 ? absl::StrCat(row->new_minutes) : "0");
      lasts.Add(PgTime(b.last));
      for (int p = 0; p < kPhaseCount; ++p) {
        hists[p].Add(row->rounds[p].size() > round ? row->rounds[p][round] : "{0}");
      }
    }
    if (!any) {
      return absl::OkStatus();
    }
    std::vector<std::string> params = {
        check_ids.Done(), services.Done(),      regions.Done(), starts.Done(),   probes.Done(),
        failures.Done(),  prober_errors.Done(), lasts.Done(),   hists[0].Done(), hists[1].Done(),
        hists[2].Done(),  hists[3].Done(),      hists[4].Done()};
    if (!level.minute) {
      params.push_back(minutes.Done());
    }
    if (!level.minute || round > 0) {
      pipeline->AddPrepared(statement, params, absl::StrCat("update ", level.table));
      continue;
    }
    ASSIGN_OR_RETURN(pg::PgResultPtr res,
                     prepared->Query(c, statement, params, absl::StrCat("update ", level.table)));
    for (int i = 0; i < PQntuples(res.get()); ++i) {
      int64_t start = 0;
      if (absl::SimpleAtoi(PQgetvalue(res.get(), i, 2), &start)) {
        new_minutes->push_back(
            RollupDelta::Key{PQgetvalue(res.get(), i, 0), PQgetvalue(res.get(), i, 1), start});
      }
    }
  }
}

void UpsertClasses(const Level& level,
                   const std::vector<std::pair<const RollupDelta::Key*, Row*>>& rows,
                   pg::Pipeline* pipeline) {
  ArrayLiteral class_checks, class_regions, class_starts, class_names, counts;
  bool any = false;
  for (const auto& [key, row] : rows) {
    std::vector<std::pair<std::string, int64_t>> classes = row->cell.classes;
    std::sort(classes.begin(), classes.end());
    for (const auto& [name, n] : classes) {
      any = true;
      class_checks.Add(key->check_id);
      class_regions.Add(key->region);
      class_starts.Add(PgTime(absl::FromUnixSeconds(key->start)));
      class_names.Add(name);
      counts.Add(absl::StrCat(n));
    }
  }
  if (!any) {
    return;
  }
  const pg::PreparedStatement statement = {level.class_name.c_str(), level.class_sql.c_str()};
  pipeline->AddPrepared(statement,
                        {class_checks.Done(), class_regions.Done(), class_starts.Done(),
                         class_names.Done(), counts.Done()},
                        absl::StrCat("update ", level.table, "_class"));
}

}  // namespace

void RollupDelta::Cell::AddClass(absl::string_view name, int64_t n) {
  for (auto& [k, v] : classes) {
    if (k == name) {
      v += n;
      return;
    }
  }
  classes.emplace_back(std::string(name), n);
}

void RollupDelta::Cell::AddLatency(int phase, int bucket, int64_t n) {
  AddToSlot(static_cast<uint64_t>(phase * kLatencyBucketCount + bucket), static_cast<uint64_t>(n));
}

void RollupDelta::Cell::AddToSlot(uint64_t slot, uint64_t n) {
  for (uint64_t& e : latency) {
    if ((e >> kSlotShift) == slot) {
      e += n;
      return;
    }
  }
  latency.push_back(slot << kSlotShift | n);
}

std::array<int64_t, kLatencyBucketCount> RollupDelta::Cell::Histogram(int phase) const {
  std::array<int64_t, kLatencyBucketCount> out = {};
  for (uint64_t e : latency) {
    const int slot = static_cast<int>(e >> kSlotShift);
    if (slot / kLatencyBucketCount == phase) {
      out[static_cast<size_t>(slot % kLatencyBucketCount)] += static_cast<int64_t>(e & kCountMask);
    }
  }
  return out;
}

void RollupDelta::Cell::Merge(const Cell& other) {
  if (other.last >= last) {
    service = other.service;
  }
  last = std::max(last, other.last);
  probes += other.probes;
  failures += other.failures;
  prober_errors += other.prober_errors;
  for (uint64_t e : other.latency) {
    AddToSlot(e >> kSlotShift, e & kCountMask);
  }
  for (const auto& [name, n] : other.classes) {
    AddClass(name, n);
  }
}

void RollupDelta::Add(const std::string& region, const RollupSample& s) {
  ++results_;
  const int64_t minute = Floor(absl::ToUnixSeconds(s.start), 60);
  auto it = cells_.find(KeyView{s.check_id, region, minute});
  if (it == cells_.end()) {
    it = cells_.emplace(Key{std::string(s.check_id), region, minute}, Cell()).first;
  }
  Cell& b = it->second;
  if (s.start >= b.last) {
    b.service.assign(s.service.data(), s.service.size());
  }
  b.last = std::max(b.last, s.start);
  if (s.prober_error || !s.ok) {
    b.AddClass(s.failure_class, 1);
  }
  if (s.prober_error) {
    ++b.prober_errors;
    return;
  }
  ++b.probes;
  if (!s.ok) {
    ++b.failures;
  }
  for (int p = 0; p < kPhaseCount; ++p) {
    if (s.phases_us[p] > 0) {
      b.AddLatency(p, LatencyBucket(s.phases_us[p]), 1);
    }
  }
}

void RollupDelta::Add(const std::string& region, const v1::ProbeResult& r) {
  RollupSample s;
  s.check_id = r.check_id();
  s.service = r.service();
  s.start = StartTime(r);
  s.prober_error = r.failure_class() == v1::FailureClass::PROBER_ERROR;
  s.ok = r.ok();
  std::string class_name;
  if (s.prober_error || !s.ok) {
    class_name = ClassName(r.failure_class());
    s.failure_class = class_name;
  }
  s.phases_us = {r.dns_us(), r.connect_us(), r.tls_us(), r.first_byte_us(), r.total_us()};
  Add(region, s);
}

void RollupDelta::Merge(const RollupDelta& other) {
  results_ += other.results_;
  for (const auto& [key, cell] : other.cells_) {
    cells_[key].Merge(cell);
  }
}

absl::Status QueueRollups(PGconn* c, pg::PreparedStatements* prepared, const RollupDelta& delta,
                          pg::Pipeline* pipeline) {
  if (delta.empty()) {
    return absl::OkStatus();
  }
  // Prepared before the first statement is queued: a pipeline runs them by
  // name.
  for (const Level& level : Levels()) {
    RETURN_IF_ERROR(prepared->Prepare(c, {level.upsert_name.c_str(), level.upsert_sql.c_str()},
                                      absl::StrCat("update ", level.table)));
    RETURN_IF_ERROR(prepared->Prepare(c, {level.class_name.c_str(), level.class_sql.c_str()},
                                      absl::StrCat("update ", level.table, "_class")));
  }
  std::vector<RollupDelta::Key> new_minutes;  // filled by the minute level, the first
  for (const Level& level : Levels()) {
    Rows rows = FoldLevel(delta, level);
    if (!level.minute) {
      for (const RollupDelta::Key& m : new_minutes) {
        auto it = rows.find(RollupDelta::Key{m.check_id, m.region, Floor(m.start, level.width_s)});
        if (it != rows.end()) {
          ++it->second.new_minutes;
        }
      }
    }
    const auto ordered = Ordered(&rows);
    RETURN_IF_ERROR(UpsertLevel(c, prepared, level, ordered, pipeline, &new_minutes));
    UpsertClasses(level, ordered, pipeline);
  }
  return absl::OkStatus();
}

}  // namespace sonde::collector
