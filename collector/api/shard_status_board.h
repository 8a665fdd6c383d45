// ShardStatusBoard: Query.Status across shards in cluster mode (docs/ha.md,
// "Current state across shards"). A replica's detector knows only the
// detection shards it owns. Every kShardStatusEvery this board's thread
// publishes each owned shard's current state -- that shard's
// BuildStatusReply (every check x region of its services, its open
// incidents) -- into `shard_status`, in one statement per shard that writes
// only while the shard's lease (owner, epoch) is live by the database
// clock; then it reads every row published within kShardStatusFresh by the
// database clock and keeps them in memory. Status() answers from that copy
// and this replica's own shards (from its detector, fresh), so a request
// never waits for PostgreSQL; while reads fail, other shards' rows are
// used until kShardStatusFresh after the last good read, then their checks
// show NO_DATA.
//
// Owns its thread and its PostgreSQL connection (dropped when lost, made
// again at the next pass). The detection runner is borrowed and must
// outlive it. Start/Stop from the owner's thread; Status() and
// AppendMetrics() from any thread.
#ifndef SONDE_COLLECTOR_API_SHARD_STATUS_BOARD_H_
#define SONDE_COLLECTOR_API_SHARD_STATUS_BOARD_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/cluster/shard_leases.h"
#include "collector/incidents/detection.h"
#include "collector/storage/pg/pg.h"
#include "common/background_loop.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// How often owned shards are published and every shard read.
inline constexpr absl::Duration kShardStatusEvery = absl::Seconds(2);
// A row older than this (database clock) is not used: its owner is gone or
// cut off; the shard's checks show NO_DATA until its new owner publishes.
inline constexpr absl::Duration kShardStatusFresh = absl::Seconds(10);

// Writes `status` as the row of shard `fence.shard` while `fence` is that
// shard's live lease (owner and epoch, expires_at by the database clock).
// Returns whether it was written: false when the lease is another's, of
// another epoch or expired.
absl::StatusOr<bool> PublishShardStatus(PGconn* conn, const cluster::LeaseFence& fence,
                                        const v1::StatusReply& status);
// Every shard's row published within `fresh` by the database clock.
absl::StatusOr<std::map<int, v1::StatusReply>> ReadShardStatus(PGconn* conn, absl::Duration fresh);

class ShardStatusBoard {
 public:
  ShardStatusBoard(std::string conninfo, const DetectionRunner* detection,
                   const common::Clock* clock, absl::Duration every = kShardStatusEvery);
  ~ShardStatusBoard();  // Stop()s
  ShardStatusBoard(const ShardStatusBoard&) = delete;
  ShardStatusBoard& operator=(const ShardStatusBoard&) = delete;

  void Start();
  void Stop();
  // One pass: publish the owned shards, then read every fresh row. The
  // thread's body; tests call it directly.
  absl::Status RefreshOnce();

  // Query.Status for every shard (MergeShardStatus over the rows read and
  // this replica's own shards) for `config` at `now`.
  v1::StatusReply Status(const v1::StatusRequest& request, const v1::Config& config,
                         absl::Time now) const;

  uint64_t shards_published() const { return published_.load(std::memory_order_relaxed); }
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  // sonde_cluster_shard_status_published_total, ..._failures_total.
  void AppendMetrics(common::MetricsText* m) const;

 private:
  using Rows = std::map<int, v1::StatusReply>;  // shard -> its owner's reply

  absl::Status Publish(PGconn* conn);

  const std::string conninfo_;
  const DetectionRunner* const detection_;
  const common::Clock* const clock_;
  const absl::Duration every_;
  pg::PgConnPtr conn_;  // the thread's
  mutable absl::Mutex mu_;
  std::shared_ptr<const Rows> rows_ ABSL_GUARDED_BY(mu_) = std::make_shared<const Rows>();
  absl::Time read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // this replica's clock
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> failures_{0};
  common::BackgroundLoop loop_;  // last: stopped before the members its pass reads
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_SHARD_STATUS_BOARD_H_
