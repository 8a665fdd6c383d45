// Rollups of a batch at 1 minute, 1 hour and 1 day (UTC), kept in the same
// transaction as its raw rows so reports never scan `results`:
// `rollup_{minute,hour,day}` (probes, failures, prober errors, last result
// and a latency histogram per phase, latency_buckets.h) and
// `rollup_{minute,hour,day}_class` (failed results per class) per check x
// region x bucket. Failures are counted from the normalised result (`ok`,
// which ingest derives from the class); PROBER_ERROR counts as neither
// probe nor failure and adds no latency. A phase adds a latency sample when
// its duration is > 0 (a phase that did not happen is 0).
//
// `rollup_hour` and `rollup_day` also count the distinct minutes of their
// bucket that have a `rollup_minute` row (`minutes_with_results`, migration
// 7): a minute counts when the transaction that creates its minute row
// commits, never again for its later results (several batches, late ones).
// The report's no-data scan reads minutes only where an hour is not
// complete (collector/report/silences.h).
//
// Because every level is upserted by the transaction that stores the raw
// rows, a late result (any lateness) lands in all three levels exactly
// once, like an on-time one. Rows are written in key order (check, bucket),
// levels and tables always in the same order, so concurrent streams lock
// rollup rows in the same order and cannot deadlock. Runs on the caller's
// connection inside its transaction, in one pipeline with the batch's other
// closing statements (store.cc).
#ifndef SONDE_COLLECTOR_STORAGE_ROLLUPS_H_
#define SONDE_COLLECTOR_STORAGE_ROLLUPS_H_

#include <libpq-fe.h>

#include "absl/status/status.h"
#include "collector/storage/pg/pg.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// Queues on `pipeline` the upserts of the rollup rows of `batch` (region
// from the batch), statements prepared once per connection in `prepared`
// (the first batch of a connection prepares them, outside the pipeline).
// Their outcome is the pipeline's.
absl::Status QueueRollups(PGconn* conn, pg::PreparedStatements* prepared,
                          const v1::ResultBatch& batch, pg::Pipeline* pipeline);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_ROLLUPS_H_
