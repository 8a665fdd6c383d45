// The no-data scan of the report reader (docs/availability.md,
// "Exclusions"): per check x region, the stretches between two minutes with
// results (rollup_minute rows) that are more than two check intervals (at
// least kMinNoData) apart, and the same at the window's edges.
//
// It reads minute rows only where they can hold such a stretch: a series
// whose every minute of the scanned range had results (the hour and day
// rollups count their minutes with results, migration 7) is skipped; for
// the others, a day or hour whose minutes with results run without a hole
// from its start to its last result stands for its first and last minute,
// and only the minutes of the other hours (and of rows older than
// migration 7, which did not count) are read. The gaps found are the ones
// a scan of every minute row would find.
//
// Read-only; runs on the caller's connection, on the calling thread (the
// report reader's).
#ifndef SONDE_COLLECTOR_REPORT_SILENCES_H_
#define SONDE_COLLECTOR_REPORT_SILENCES_H_

#include <libpq-fe.h>

#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "collector/report/reader.h"
#include "collector/storage/rollup_read.h"
#include "sonde/v1/check.pb.h"

namespace sonde::report {

// The report's series by (check id, region).
using SeriesIndex = std::map<std::pair<std::string, std::string>, SeriesInput*>;

// Adds each series' stretches without results to its `no_data`. `counted`
// is the report's rollup read of the window (its minute counts are used
// when it covers exactly the scanned minutes; otherwise they are read).
// Minute rollups are kept for retention.minute: before that nothing is
// judged no data.
absl::Status ReadSilences(PGconn* conn, const ReportScope& scope, const v1::Config& config,
                          const collector::RollupWindow& counted, const SeriesIndex& series);

}  // namespace sonde::report

#endif  // SONDE_COLLECTOR_REPORT_SILENCES_H_
