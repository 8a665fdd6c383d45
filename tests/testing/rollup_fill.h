// FillRollups: synthetic rollup rows for benchmarks and report tests, made
// by PostgreSQL itself (INSERT ... SELECT over generate_series, no client
// round trip per row), so 10,000 checks x 3 regions x 30 days of daily and
// hourly rows take seconds. The data is deterministic (a function of check,
// region and bucket), so a test can compute what a report must say with
// ExpectedFailures and Silence below. Runs on the caller's connection (any
// thread), after the migrations.
//
// What it writes, per series (check x region):
// * a series without a silence (HasSilence false): one row per bucket of
//   every level asked, every minute with results (`minutes_with_results`
//   60 per hour, 1440 per day); minute rows for every day with `minute`,
//   else for the last `minute_hours` hours, else none;
// * with `silence_every`, every silence_every-th series has one stretch
//   without results (Silence: 5, 40 or 125 minutes: inside an hour, across
//   an hour boundary, a whole hour and more) and minute rows for the whole
//   window (what the report's no-data scan reads at minute grain); its hour
//   and day rows are the sums of those minutes, as ingest writes them
//   (always written, whatever `hour` and `day` say).
#ifndef SONDE_TESTS_TESTING_ROLLUP_FILL_H_
#define SONDE_TESTS_TESTING_ROLLUP_FILL_H_

#include <libpq-fe.h>

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sonde::testing {

struct RollupFill {
  int checks = 100;      // check ids "check-00000" ... (5 digits), services "svc-<check % 100>"
  int regions = 3;       // regions "region-0" ...
  absl::Time from;       // the first UTC day (rounded down to a day)
  int days = 30;         // [from, from + days)
  bool minute = false;   // rollup_minute rows (checks x regions x 1440 per day: keep it small)
  int minute_hours = 0;  // without `minute`: rollup_minute rows of the last N hours only
  bool hour = true;      // rollup_hour rows (of the series without a silence)
  bool day = true;       // rollup_day rows (the same)
  // Probes per minute of every check x region; a minute fails `failures`
  // of them when (check + region + minute index since from) % fail_every == 0.
  int probes_per_minute = 1;
  int fail_every = 97;
  // 0: no silences; N: series (check * regions + region) % N == 0 have one.
  int silence_every = 0;
};

// Whether series (check, region) has a silence, and its minutes [first,
// end) counted from `fill.from`.
bool HasSilence(const RollupFill& fill, int check, int region);
std::pair<int64_t, int64_t> Silence(const RollupFill& fill, int check, int region);

// Inserts the rows (upserting is not needed: call it on empty tables). The
// three levels agree with each other: an hour row is the sum of its minutes,
// a day row the sum of its hours. Failed probes are class "TCP_REFUSED";
// every probe has total latency 42 ms (one bucket of `total_hist`).
absl::Status FillRollups(PGconn* conn, const RollupFill& fill);

// Failed probes of check `check` x region `region` over minutes
// [first_minute, end_minute) counted from `fill.from` (same rule as above;
// a silent minute has none).
int64_t ExpectedFailures(const RollupFill& fill, int check, int region, int64_t first_minute,
                         int64_t end_minute);

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_ROLLUP_FILL_H_
