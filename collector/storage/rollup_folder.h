// RollupFolder: writes the rollups (rollups.h) of committed batches outside
// their transactions, many batches in one transaction, on its own thread
// and its own PostgreSQL connection (one per collector replica).
//
// Why: a batch that upserts its own rollup rows writes three to six rollup
// row versions per result beside its `results` row; merged over a second,
// a check's results of that second share one row per level (bench/ingest/
// README.md, "Issue 15").
//
// Nothing is lost on a crash and nothing is counted twice: the batch's
// transaction records its `ingested_batches` row with `rolled = false`
// (migration 10) and, once committed, hands its results to Add, which folds
// them into the pending delta (per check x region x minute). Every interval
// the folder claims the pending batches' rows (`UPDATE ... SET rolled =
// true ... AND NOT rolled`, rows locked by another writer skipped) and, in
// the same transaction, writes the rollups of exactly the batches it
// claimed: the pending delta when it claimed them all, else (another
// replica adopted some meanwhile) the claimed ones read back from
// `results` as an orphan is. A batch still
// unrolled after `orphan_age` (its replica died before its flush, or a
// claim rolled back) is adopted by any replica's folder: claimed the same
// way, its results read back from `results` through its `result_feed` rows
// (the batch transaction's xid, kept on `ingested_batches.xid`), folded and
// written by the same code. Readers see a batch's rollups about `interval`
// after its ack; a flush that takes longer than that is followed by a
// pause (not at once; twice the flush's time, 1-5 s), so under heavy
// ingest they lag by a few seconds (a busy database; docs/availability.md).
//
// Thread-safety: Add, pending_batches and AppendMetrics from any thread (ingest handler
// threads, after their commit); Start/Stop from the owner; Flush and
// AdoptOrphans run on the caller's thread (the folder's thread, or a test)
// under a mutex of the connection.
#ifndef SONDE_COLLECTOR_STORAGE_ROLLUP_FOLDER_H_
#define SONDE_COLLECTOR_STORAGE_ROLLUP_FOLDER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/rollups.h"
#include "common/background_loop.h"
#include "common/metrics.h"

namespace sonde::collector {

struct RollupFolderOptions {
  absl::Duration interval = absl::Seconds(1);  // from one flush's start to the next
  // From one flush's end to the next, at least `pause` and `pause_factor`
  // times the flush's own time, but not more than `max_pause` for the
  // latter: a flush's rows are the series it folds, however many results,
  // so under heavy ingest spacing the flushes out cuts the rollup work per
  // result (the folder's connection busy at most a third of the time),
  // leaving PostgreSQL to the batch transactions the acks wait for
  // (bench/ingest/README.md, "Session 19"). A quick flush (every load but
  // the heaviest) is followed by `pause` as before. The longest wait,
  // a flush's time plus `max_pause`, must stay well under `orphan_age`.
  absl::Duration pause = absl::Seconds(1);
  double pause_factor = 2;
  absl::Duration max_pause = absl::Seconds(5);
  absl::Duration orphan_age = absl::Seconds(15);  // unrolled this long: any replica adopts it
  absl::Duration orphan_scan = absl::Seconds(5);  // how often to look for such batches

  // The wait after a flush that started at `start` and ended at `end`.
  absl::Duration WaitAfterFlush(absl::Time start, absl::Time end) const;
};

class RollupFolder {
 public:
  explicit RollupFolder(std::string conninfo, RollupFolderOptions options = {});
  ~RollupFolder();
  RollupFolder(const RollupFolder&) = delete;
  RollupFolder& operator=(const RollupFolder&) = delete;

  // A committed batch whose row says rolled = false (its results as
  // stored: sanitized and normalised; region from the batch).
  void Add(const std::string& prober_id, const v1::ResultBatch& batch);

  // Flushes every interval and adopts orphans every orphan_scan, until
  // Stop(), which flushes what is pending once more.
  void Start();
  void Stop();

  // Writes the pending deltas now (one transaction). On failure they stay
  // pending for the next flush.
  absl::Status Flush();
  // Adopts the batches unrolled for longer than `older_than` (by the
  // database clock); returns how many it rolled up.
  absl::StatusOr<int64_t> AdoptOrphans(absl::Duration older_than);

  int64_t pending_batches() const;
  // sonde_rollup_* series (docs/operations.md, "Metrics").
  void AppendMetrics(common::MetricsText* m) const;
  int64_t batches_rolled() const { return batches_rolled_.load(std::memory_order_relaxed); }
  int64_t orphans_adopted() const { return orphans_adopted_.load(std::memory_order_relaxed); }

 private:
  struct BatchId {
    std::string prober_id;
    int64_t batch_seq;
  };

  absl::Status Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn_mu_);
  // One flush (and an adoption scan when `*next_scan` is due); returns the
  // wait before the next.
  absl::Duration Pass(absl::Time* next_scan);

  const std::string conninfo_;
  const RollupFolderOptions options_;
  mutable absl::Mutex mu_;
  // The pending batches and their results folded together: a flush that
  // claims all of them writes `pending_delta_`; one that claims fewer (another
  // replica took some) reads the claimed ones back from PostgreSQL.
  std::vector<BatchId> pending_ ABSL_GUARDED_BY(mu_);
  RollupDelta pending_delta_ ABSL_GUARDED_BY(mu_);
  absl::Mutex conn_mu_;
  pg::PgConnPtr conn_ ABSL_GUARDED_BY(conn_mu_);
  pg::PreparedStatements prepared_ ABSL_GUARDED_BY(conn_mu_);
  std::atomic<int64_t> batches_rolled_{0};
  std::atomic<int64_t> orphans_adopted_{0};
  std::atomic<int64_t> failures_{0};  // flushes and adoptions that failed (retried)
  common::BackgroundLoop loop_;       // last: stopped before the members its pass reads
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_ROLLUP_FOLDER_H_
