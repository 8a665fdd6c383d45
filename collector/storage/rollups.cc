#include "collector/storage/rollups.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/copy_rows.h"
#include "collector/storage/latency_buckets.h"
#include "common/status_macros.h"

namespace sonde::collector {
namespace {

using pg::ArrayLiteral;

constexpr const char* kHistColumns[kPhaseCount] = {"dns_hist", "connect_hist", "tls_hist",
                                                   "first_byte_hist", "total_hist"};

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

// The upsert of `level`: $1 the batch's region, then one array per column.
// A histogram parameter holds, per row, an array whose LAST element is the
// only one to add (counts at lower indexes are zero): a new row stores it
// as it is; an existing row adds that one element in place
// (`h[i] = h[i] + n`), which costs a few operations instead of a function
// call per histogram. A row with samples in several buckets of a phase is
// sent in several rounds (see QueueRollups). Indexes past the end of the
// stored array are padded with NULL by PostgreSQL: NULL counts as 0.
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
      ") SELECT c, s, $1::text, m, p, f, e, l, h0::bigint[], h1::bigint[], h2::bigint[],"
      " h3::bigint[], h4::bigint[]",
      minute ? "" : ", n",
      " FROM unnest($2::text[], $3::text[], $4::timestamptz[],"
      " $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::text[], $10::text[],"
      " $11::text[], $12::text[], $13::text[]",
      minute ? "" : ", $14::smallint[]", ") AS u(c, s, m, p, f, e, l, h0, h1, h2, h3, h4",
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
    const std::string i = absl::StrCat("greatest(cardinality(excluded.", h, "), 1)");
    absl::StrAppend(&sql, ", ", h, "[", i, "] = coalesce(r.", h, "[", i,
                    "], 0) + coalesce(excluded.", h, "[cardinality(excluded.", h, ")], 0)");
  }
  if (minute) {
    absl::StrAppend(&sql,
                    " RETURNING check_id, minute, merged) SELECT check_id,"
                    " extract(epoch FROM minute)::bigint FROM w WHERE NOT merged");
  }
  return sql;
}

std::string ClassSql(const char* table, const char* column) {
  return absl::StrCat("INSERT INTO ", table, "_class AS r (check_id, region, ", column,
                      ", failure_class, n) SELECT c, $1::text, m, k, n FROM unnest($2::text[],"
                      " $3::timestamptz[], $4::text[], $5::bigint[]) AS u(c, m, k, n)"
                      " ON CONFLICT (check_id, region, ",
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
               absl::StrCat("sonde_", table, "_v7"),
               absl::StrCat("sonde_", table, "_class_v4")};
}

// Finest first; every transaction writes them in this order.
const std::array<Level, 3>& Levels() {
  static const std::array<Level, 3> kLevels = {MakeLevel("rollup_minute", "minute", 60),
                                               MakeLevel("rollup_hour", "hour", 3600),
                                               MakeLevel("rollup_day", "day", 86400)};
  return kLevels;
}

struct Bucket {
  std::string service;
  int64_t new_minutes = 0;  // minutes of this bucket the minute upsert created
  int64_t probes = 0;
  int64_t failures = 0;
  int64_t prober_errors = 0;
  absl::Time last = absl::InfinitePast();
  // Per phase: latency bucket index -> samples (ordered: rounds go low to high).
  std::array<std::map<int, int64_t>, kPhaseCount> latency;
};

using Key = std::tuple<std::string, int64_t>;  // check_id, bucket start (unix seconds)
using ClassKey = std::tuple<std::string, int64_t, std::string>;

int64_t Floor(int64_t t, int64_t width) {
  int64_t q = t / width;
  if (t % width != 0 && t < 0) {
    --q;
  }
  return q * width;
}

// "{0,0,n}": n at index `bucket` (0-based) and zeros before; "{0}" for no sample.
std::string OneBucket(int bucket, int64_t n) {
  std::string out = "{";
  for (int i = 0; i < bucket; ++i) {
    out.append("0,");
  }
  absl::StrAppend(&out, n, "}");
  return out;
}

void Observe(const v1::ProbeResult& r, const std::string& check_id, int64_t start,
             std::map<Key, Bucket>* buckets) {
  Bucket& b = (*buckets)[Key(check_id, start)];
  const absl::Time t = StartTime(r);
  if (t >= b.last) {
    b.service = r.service();
  }
  b.last = std::max(b.last, t);
  if (r.failure_class() == v1::FailureClass::PROBER_ERROR) {
    ++b.prober_errors;
    return;
  }
  ++b.probes;
  if (!r.ok()) {
    ++b.failures;
  }
  const uint32_t phases[kPhaseCount] = {r.dns_us(), r.connect_us(), r.tls_us(), r.first_byte_us(),
                                        r.total_us()};
  for (int p = 0; p < kPhaseCount; ++p) {
    if (phases[p] > 0) {
      ++b.latency[p][LatencyBucket(phases[p])];
    }
  }
}

// Upserts one level: round 0 carries the counters and the lowest latency
// bucket of each phase, round k the (k+1)-th bucket of the rows that have
// one (counters 0). A batch spans about a second, so rows almost always
// have one bucket per phase and one round. The minute level's first round
// runs at once, before anything is queued on `pipeline`: its answer names
// the minutes it created (check id, minute start), added to `new_minutes`
// for the hour and day levels; every other round is queued.
absl::Status UpsertLevel(PGconn* c, pg::PreparedStatements* prepared, const Level& level,
                         const std::string& region, const std::map<Key, Bucket>& buckets,
                         pg::Pipeline* pipeline, std::vector<Key>* new_minutes) {
  const pg::PreparedStatement statement = {level.upsert_name.c_str(), level.upsert_sql.c_str()};
  for (size_t round = 0;; ++round) {
    ArrayLiteral check_ids, services, starts, probes, failures, prober_errors, lasts, minutes;
    std::array<ArrayLiteral, kPhaseCount> hists;
    bool any = false;
    for (const auto& [key, b] : buckets) {
      bool more = round == 0;
      for (const auto& phase : b.latency) {
        more = more || phase.size() > round;
      }
      if (!more) {
        continue;
      }
      any = true;
      check_ids.Add(std::get<0>(key));
      services.Add(b.service);
      starts.Add(PgTime(absl::FromUnixSeconds(std::get<1>(key))));
      probes.Add(round == 0 ? absl::StrCat(b.probes) : "0");
      failures.Add(round == 0 ? absl::StrCat(b.failures) : "0");
      prober_errors.Add(round == 0 ? absl::StrCat(b.prober_errors) : "0");
      minutes.Add(round == 0 ? absl::StrCat(b.new_minutes) : "0");
      lasts.Add(PgTime(b.last));
      for (int p = 0; p < kPhaseCount; ++p) {
        if (b.latency[p].size() <= round) {
          hists[p].Add("{0}");
          continue;
        }
        auto it = std::next(b.latency[p].begin(), static_cast<std::ptrdiff_t>(round));
        hists[p].Add(OneBucket(it->first, it->second));
      }
    }
    if (!any) {
      return absl::OkStatus();
    }
    std::vector<std::string> params = {
        region,          check_ids.Done(),     services.Done(), starts.Done(),   probes.Done(),
        failures.Done(), prober_errors.Done(), lasts.Done(),    hists[0].Done(), hists[1].Done(),
        hists[2].Done(), hists[3].Done(),      hists[4].Done()};
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
      if (absl::SimpleAtoi(PQgetvalue(res.get(), i, 1), &start)) {
        new_minutes->emplace_back(PQgetvalue(res.get(), i, 0), start);
      }
    }
  }
}

absl::Status UpsertClasses(const Level& level, const std::string& region,
                           const std::map<ClassKey, int64_t>& classes, pg::Pipeline* pipeline) {
  if (classes.empty()) {
    return absl::OkStatus();
  }
  ArrayLiteral class_checks, class_starts, class_names, counts;
  for (const auto& [key, n] : classes) {
    class_checks.Add(std::get<0>(key));
    class_starts.Add(PgTime(absl::FromUnixSeconds(std::get<1>(key))));
    class_names.Add(std::get<2>(key));
    counts.Add(absl::StrCat(n));
  }
  const pg::PreparedStatement statement = {level.class_name.c_str(), level.class_sql.c_str()};
  pipeline->AddPrepared(
      statement,
      {region, class_checks.Done(), class_starts.Done(), class_names.Done(), counts.Done()},
      absl::StrCat("update ", level.table, "_class"));
  return absl::OkStatus();
}

}  // namespace

absl::Status QueueRollups(PGconn* c, pg::PreparedStatements* prepared, const v1::ResultBatch& batch,
                          pg::Pipeline* pipeline) {
  // Prepared before the first statement is queued: a pipeline runs them by
  // name.
  for (const Level& level : Levels()) {
    RETURN_IF_ERROR(prepared->Prepare(c, {level.upsert_name.c_str(), level.upsert_sql.c_str()},
                                      absl::StrCat("update ", level.table)));
    RETURN_IF_ERROR(prepared->Prepare(c, {level.class_name.c_str(), level.class_sql.c_str()},
                                      absl::StrCat("update ", level.table, "_class")));
  }
  // Ordered maps: every transaction touches rollup rows in the same order,
  // so concurrent streams cannot deadlock on them.
  std::vector<Key> new_minutes;  // filled by the minute level, the first
  for (const Level& level : Levels()) {
    std::map<Key, Bucket> buckets;
    std::map<ClassKey, int64_t> classes;
    for (const v1::ProbeResult& r : batch.results()) {
      const int64_t start = Floor(absl::ToUnixSeconds(StartTime(r)), level.width_s);
      Observe(r, r.check_id(), start, &buckets);
      if (!r.ok() || r.failure_class() == v1::FailureClass::PROBER_ERROR) {
        ++classes[ClassKey(r.check_id(), start, ClassName(r.failure_class()))];
      }
    }
    if (!level.minute) {
      for (const auto& [check_id, minute] : new_minutes) {
        auto it = buckets.find(Key(check_id, Floor(minute, level.width_s)));
        if (it != buckets.end()) {
          ++it->second.new_minutes;
        }
      }
    }
    RETURN_IF_ERROR(
        UpsertLevel(c, prepared, level, batch.region(), buckets, pipeline, &new_minutes));
    RETURN_IF_ERROR(UpsertClasses(level, batch.region(), classes, pipeline));
  }
  return absl::OkStatus();
}

}  // namespace sonde::collector
