// The report reader: fetches what the availability engine (engine.h) needs
// for a window from PostgreSQL and the config — probe counts per check x
// region from the rollups, time without results (gaps between rollup
// minutes and the probers' reported losses), outage incidents with their
// timeline (incidents.failing_since .. resolved_at, scope per event) — and
// the maintenance windows that cover each check from the config.
//
// Read-only; runs on the caller's connection (a leased Store's), on the
// calling thread.
#ifndef SONDE_COLLECTOR_REPORT_READER_H_
#define SONDE_COLLECTOR_REPORT_READER_H_

#include <libpq-fe.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/report/engine.h"
#include "collector/storage/rollup_read.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::report {

struct ReportScope {
  Interval window;
  std::string check;    // "" = every check
  std::string region;   // "" = every region
  std::string service;  // "" = every service
  // Which rollup level still holds which part of the window.
  collector::RollupRetention retention;
  absl::Time now = absl::Now();
  // Daily reports: the calendar days of the window (CalendarDays); each
  // series then carries its counts per day. Empty: no per-day numbers.
  std::vector<Interval> days;
};

struct ReportInputs {
  std::vector<CheckInput> checks;  // sorted by check name
  std::vector<v1::DataGap> gaps;   // the probers' reported losses in the window
  std::string source;              // the rollup table the counts came from
};

// A result-less stretch longer than this many check intervals (and at least
// kMinNoData) is no data.
inline constexpr int kNoDataIntervals = 2;
inline constexpr absl::Duration kMinNoData = absl::Minutes(2);

// The rollup read (collector/storage/rollup_read.h) of `scope`'s check,
// region and retention over [from, to).
collector::RollupQuery ScopeRollupQuery(const ReportScope& scope, absl::Time from, absl::Time to);

absl::StatusOr<ReportInputs> ReadInputs(PGconn* conn, const ReportScope& scope,
                                        const v1::Config& config);

}  // namespace sonde::report

#endif  // SONDE_COLLECTOR_REPORT_READER_H_
