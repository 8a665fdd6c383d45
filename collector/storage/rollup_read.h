// The storage-level read for reports: per check x region totals (probes,
// failures, prober errors, failures by class) and, on request, merged
// latency histograms per phase over a window [from, to), read from the
// rollups at 1 minute, 1 hour and 1 day (migration 4), never from raw rows.
// Availability, SLO, status page and metrics code build on this; they do
// not read the rollup tables themselves.
//
// How the window is covered: the coarsest level that covers each part of
// it exactly. Whole UTC days inside the window come from `rollup_day`,
// whole hours at its edges from `rollup_hour`, and the minutes at the very
// edges from `rollup_minute`. A part whose level was already dropped by
// retention (its start lies before now - that level's retention) is read
// from the next coarser level instead, rounded outward to that level's
// buckets: the answer then covers a slightly wider window, reported in
// `RollupWindow::covered_from/covered_to` and `approximate`.
//
// The sums are made by PostgreSQL, per part of the window and rollup level
// (a hash aggregate each), with work_mem 64 MB and JIT off for the session
// while it reads (reset afterwards).
//
// Runs on the caller's connection (any thread that owns it), read-only,
// one statement per table family, no transaction needed.
#ifndef SONDE_COLLECTOR_STORAGE_ROLLUP_READ_H_
#define SONDE_COLLECTOR_STORAGE_ROLLUP_READ_H_

#include <libpq-fe.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/storage/latency_buckets.h"

namespace sonde::collector {

// The three rollup levels, finest first.
enum class RollupLevel { kMinute = 0, kHour = 1, kDay = 2 };
// "minute", "hour", "day".
const char* RollupLevelName(RollupLevel level);

// How long each level is kept (StorageConfig; 0 = forever). The read uses it
// to know which level still holds a part of the window.
struct RollupRetention {
  absl::Duration minute = absl::Hours(24 * 35);
  absl::Duration hour = absl::Hours(24 * 400);
  absl::Duration day = absl::Hours(24 * 365 * 5);
};

struct RollupQuery {
  absl::Time from;
  absl::Time to;                       // exclusive
  std::vector<std::string> check_ids;  // empty: every check
  std::vector<std::string> regions;    // empty: every region
  bool with_latency = false;           // also merge the latency histograms
  RollupRetention retention;
  absl::Time now = absl::Now();  // the clock retention is measured from
};

// Totals of one check x region over the covered window.
struct RollupTotals {
  std::string check_id;
  std::string service;  // the newest service name seen in the window
  std::string region;
  int64_t probes = 0;         // results that measured the target
  int64_t failures = 0;       // of those, failed
  int64_t prober_errors = 0;  // PROBER_ERROR results (neither probe nor failure)
  absl::Time last_result = absl::InfinitePast();
  // Distinct minutes of the covered window with results (rollup_minute rows;
  // hour and day rows count theirs, migration 7). `minutes_unknown`: some
  // hour or day row is older than migration 7 and did not count them.
  int64_t minutes = 0;
  bool minutes_unknown = false;
  // Failed results per FailureClass name ("TCP_REFUSED"), PROBER_ERROR
  // included.
  std::map<std::string, int64_t> failures_by_class;
  // Per Phase (latency_buckets.h), index = static_cast<int>(Phase); filled
  // only with RollupQuery::with_latency. Merge further with MergeHistogram,
  // read percentiles with Percentile.
  std::array<LatencyHistogram, kPhaseCount> latency;
};

// One part of the window and the level it was read from.
struct RollupSpan {
  RollupLevel level;
  absl::Time from;
  absl::Time to;
};

struct RollupWindow {
  absl::Time covered_from;
  absl::Time covered_to;
  bool approximate = false;  // covered != asked (a finer level was dropped)
  std::vector<RollupSpan> spans;
  std::vector<RollupTotals> rows;  // sorted by check_id, then region (bytewise)
};

// Pure: how [from, to) is split into spans (see the header comment).
// Minute edges are the minutes that overlap the window (from rounded down,
// to rounded up), as the existing per-minute availability does.
RollupWindow PlanRollupSpans(absl::Time from, absl::Time to, const RollupRetention& retention,
                             absl::Time now);

absl::StatusOr<RollupWindow> ReadRollups(PGconn* conn, const RollupQuery& query);

// Daily reports: the totals of each of several consecutive parts of the
// window (calendar days) separately, in one statement per table family.
// Each part is planned as a window of its own; a span a retention fallback
// widened into the previous part's buckets starts where that part's spans
// ended, so no bucket counts twice. No latency.
struct RollupPart {
  absl::Time from;
  absl::Time to;
};
struct RollupCounts {
  int64_t probes = 0;
  int64_t failures = 0;
};
struct RollupParts {
  RollupWindow window;  // every part's spans; rows = the totals over all parts
  // counts[p][i]: the probes and failures of window.rows[i] in part p.
  std::vector<std::vector<RollupCounts>> counts;
};
absl::StatusOr<RollupParts> ReadRollupParts(PGconn* conn, const RollupQuery& query,
                                            const std::vector<RollupPart>& parts);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_ROLLUP_READ_H_
