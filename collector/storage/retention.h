// Retention: drops what the `storage:` block (common/config/storage_config.h)
// says is old enough, on its own thread and its own PostgreSQL connection,
// so it never holds an ingest connection.
//
//  - Partitioned tables (partitions.h): a partition whose whole range is
//    older than its level's retention is detached, then dropped. The rows
//    of the DEFAULT partitions (out-of-window days, the rows before
//    migration 4) are pruned by chunked DELETE.
//  - `ingested_batches` (received_at), delivered `outbox` rows
//    (delivered_at) and the `incident_events` of incidents resolved longer
//    ago than the timeline retention: chunked DELETE (10,000 rows per
//    statement, each its own transaction): these tables are small and not
//    partitioned.
//
// Never blocking ingest: every statement runs under lock_timeout (200 ms).
// PostgreSQL refuses DETACH ... CONCURRENTLY on a table with a DEFAULT
// partition, and every partitioned table here has one (an insert never
// fails on range), so the plain DETACH is used: it waits at most 200 ms
// for its lock, and ingest statements queued behind it wait at most that
// long; on lock timeout the partition is left for the next pass and
// counted as a failure. Dropping a detached table touches no table ingest
// writes.
//
// Thread: Start() runs passes every StorageSettings::interval on a thread
// of its own; RunOnce() runs one pass on the caller's thread (tests). The
// counters are atomics, read by AppendMetrics from any thread.
#ifndef SONDE_COLLECTOR_STORAGE_RETENTION_H_
#define SONDE_COLLECTOR_STORAGE_RETENTION_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/storage/pg/pg.h"
#include "common/background_loop.h"
#include "common/config/storage_config.h"
#include "common/metrics.h"

namespace sonde::collector {

struct RetentionCounters {
  std::atomic<int64_t> passes{0};
  std::atomic<int64_t> partitions_dropped{0};
  std::atomic<int64_t> rows_pruned{0};
  std::atomic<int64_t> failures{0};  // lock timeouts and errors; retried next pass
};

class Retention {
 public:
  explicit Retention(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~Retention() { Stop(); }
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  // The settings in force (config load and reload; any thread).
  void SetSettings(const common::StorageSettings& s);

  // One pass with `now` as the clock. Returns the first error; a lock
  // timeout is not an error (counted in failures, retried next pass).
  absl::Status RunOnce(absl::Time now);

  // A pass at once, then every interval, until Stop().
  void Start();
  void Stop();

  const RetentionCounters& counters() const { return counters_; }
  // sonde_retention_* series.
  void AppendMetrics(common::MetricsText* m) const;

 private:
  absl::Status Connect();
  absl::Status DropPartitions(absl::Time now, const common::StorageSettings& s);
  // Repeats `sql` ($1 = cutoff) while it deletes a full chunk.
  absl::Status Prune(const std::string& what, const std::string& sql, absl::Time cutoff);
  // A lock timeout: counted, not an error.
  bool LockTimedOut(const absl::Status& st);

  const std::string conninfo_;
  absl::Mutex mu_;
  common::StorageSettings settings_ ABSL_GUARDED_BY(mu_);
  pg::PgConnPtr conn_;  // the retention thread's own
  RetentionCounters counters_;
  common::BackgroundLoop loop_;  // last: stopped before the members its pass reads
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_RETENTION_H_
