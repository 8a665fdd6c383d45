// FillRollups: synthetic rollup rows for benchmarks and report tests, made
// by PostgreSQL itself (INSERT ... SELECT over generate_series, no client
// round trip per row), so 10,000 checks x 3 regions x 30 days of daily and
// hourly rows take seconds. The data is deterministic (a function of check,
// region and bucket), so a test can compute what a report must say with
// ExpectedFailures below. Runs on the caller's connection (any thread),
// after the migrations.
#ifndef SONDE_TESTS_TESTING_ROLLUP_FILL_H_
#define SONDE_TESTS_TESTING_ROLLUP_FILL_H_

#include <libpq-fe.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sonde::testing {

struct RollupFill {
  int checks = 100;   // check ids "check-00000" ... (5 digits), services "svc-<check % 100>"
  int regions = 3;    // regions "region-0" ...
  absl::Time from;    // the first UTC day (rounded down to a day)
  int days = 30;      // [from, from + days)
  bool minute = false;  // rollup_minute rows (checks x regions x 1440 per day: keep it small)
  bool hour = true;     // rollup_hour rows
  bool day = true;      // rollup_day rows
  // Probes per minute of every check x region; a minute fails `failures`
  // of them when (check + region + minute index since from) % fail_every == 0.
  int probes_per_minute = 1;
  int fail_every = 97;
};

// Inserts the rows (upserting is not needed: call it on empty tables). The
// three levels agree with each other: an hour row is the sum of its minutes,
// a day row the sum of its hours. Failed probes are class "TCP_REFUSED";
// every probe has total latency 42 ms (one bucket of `total_hist`).
absl::Status FillRollups(PGconn* conn, const RollupFill& fill);

// Failed probes of check `check` x region `region` over minutes
// [first_minute, end_minute) counted from `fill.from` (same rule as above).
int64_t ExpectedFailures(const RollupFill& fill, int check, int region, int64_t first_minute,
                         int64_t end_minute);

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_ROLLUP_FILL_H_
