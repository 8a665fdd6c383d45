// Per-minute rollups of a batch, kept in the same transaction as its raw
// rows so availability queries never scan `results`: `rollup_minute`
// (probes, failures, prober errors, last result per check x region x
// minute) and `rollup_minute_class` (failed results per class). Failures
// are counted from the normalised result (`ok`, which ingest derives from
// the class); PROBER_ERROR counts as neither probe nor failure. Runs on
// the caller's connection inside its transaction.
#ifndef SONDE_COLLECTOR_STORAGE_ROLLUPS_H_
#define SONDE_COLLECTOR_STORAGE_ROLLUPS_H_

#include <libpq-fe.h>

#include "absl/status/status.h"
#include "collector/storage/pg/pg.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// Upserts the rollup rows of `batch` (region from the batch) with two
// statements prepared once per connection in `prepared`.
absl::Status UpdateRollups(PGconn* conn, pg::PreparedStatements* prepared,
                           const v1::ResultBatch& batch);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_ROLLUPS_H_
