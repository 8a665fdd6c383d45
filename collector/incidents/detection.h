// DetectionRunner: the collector's detection loop. Ingest hands it every
// committed batch (Observe); its own thread ticks the Detector every 250 ms
// on the wall clock, and at once (at most every 20 ms) when a batch moved a
// prober's promise (ResultBatch.complete_before), and records what the
// detector decides through IncidentStore (incident rows, timeline and
// outbox in one transaction).
//
// Promises: the runner keeps each prober's latest complete_before. While
// every configured region has a prober heard from in the last 10 minutes,
// the smallest promise of those probers lets the detector evaluate up to it
// instead of now - reorder_window (Detector::Tick(now, complete_before));
// a prober that never sends one (older versions) keeps the reorder window.
//
// When PostgreSQL is down the decided events wait in memory, in order, and
// are recorded when it is back (detection keeps running). On Start the open
// incidents of the previous run are restored, so a restart continues them
// instead of opening duplicates.
//
// Cluster mode (EnableSharding; docs/ha.md, "Detection shards under
// leases"): instead of one detector over the whole config, one detector per
// detection shard this replica owns (cluster::ShardOwnership), built from
// the checks of that shard's services. A gained shard restores its open
// incidents first (same ids, no second OPENED) and then evaluates; its
// events are recorded under the shard's lease (IncidentStore::Record with
// its LeaseFence); a lost shard -- the ownership loop says so, or a write
// was fenced -- is dropped at once with its windows and waiting events.
// In cluster mode results come from the result feed (cluster/result_feed.h),
// whichever replica stored them, not from this replica's ingest (Observe
// ignores them): a gained shard is rebuilt from the stored results of its
// checks of the last kRebuildSpan (what it decides again about that past
// is not recorded a second time: ReplayFilter), then follows the feed from
// the rebuild's snapshot; a lost shard is no longer followed.
// PROBER_FAULT tickets (prober health, config overdue) are raised by the
// shard of the `prober_fault_service` only, so once per cluster.
// Prober health is judged across shards: every replica in cluster mode keeps
// one more detector over every check (the judge), rebuilt like a shard and
// fed every shard's feed rows; each tick it runs first and its verdicts
// (which region's prober leaves the votes, and its ticket) are handed to the
// shards' detectors as timed inputs, so their votes equal one collector's.
//
// Thread-safety: Observe, SetConfig and the ownership callbacks from any
// thread (one mutex guards the detectors); Start/Stop from the owner's
// thread.
#ifndef SONDE_COLLECTOR_INCIDENTS_DETECTION_H_
#define SONDE_COLLECTOR_INCIDENTS_DETECTION_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "collector/cluster/result_feed.h"
#include "collector/cluster/shard_leases.h"
#include "collector/cluster/shard_ownership.h"
#include "collector/detect/detector.h"
#include "collector/incidents/incident_store.h"
#include "collector/incidents/replay_filter.h"
#include "common/clock.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/result.pb.h"

namespace sonde::collector {

struct DetectionCounters {
  std::atomic<uint64_t> events_recorded{0};
  std::atomic<uint64_t> record_errors{0};
  std::atomic<uint64_t> events_waiting{0};  // decided, not yet stored (gauge)
};

class DetectionRunner {
 public:
  DetectionRunner(std::string conninfo, const common::Clock* clock);
  ~DetectionRunner();  // Stop()s

  // Builds the detector from config (checks, regions, `detection:`), restores
  // the open incidents and starts ticking. INVALID_ARGUMENT for detection
  // options that do not validate. When the open incidents cannot be read
  // (PostgreSQL down) the thread retries every second and evaluates nothing
  // until it could.
  absl::Status Start(const v1::Config& config);
  // New checks/regions/notifiers/maintenance. A changed `detection:` block
  // takes effect at the next restart (logged).
  void SetConfig(const v1::Config& config);
  // The same, sharing the caller's copy (a large config is not copied).
  void SetConfig(std::shared_ptr<const v1::Config> config);
  // One committed batch; results take prober_id/region from the batch.
  // Ignored in cluster mode (the result feed brings every replica's).
  void Observe(const v1::ResultBatch& batch);
  // Stores what is still waiting (one attempt) and stops the thread.
  void Stop();

  // Cluster mode: detect only the shards `ownership` (not owned) gives this
  // replica. Before Start, and before the ownership loop starts; stop
  // `ownership` before this runner is destroyed (its callbacks call in).
  void EnableSharding(cluster::ShardOwnership* ownership);

  // Asked before every tick (on the detection thread) for the probers whose
  // config is overdue; each becomes a PROBER_FAULT ticket. Call before Start.
  using ConfigFaultSource = std::function<std::vector<detect::ConfigFault>(absl::Time now)>;
  void set_config_fault_source(ConfigFaultSource source) { config_faults_ = std::move(source); }

  detect::DetectorStats detector_stats() const;

  // One configured check in one region and what the detector thinks of it.
  struct SeriesView {
    std::string check;
    std::string service;
    std::string region;
    detect::SeriesStatus status;
  };
  // The detector's view now (Query.Status): every configured check x region
  // that passes the filters ("" = any), in config order, and the open
  // incidents. Empty before Start. In cluster mode only the checks and
  // incidents of the shards this replica owns. Any thread; holds the detector's mutex
  // for one pass over the checks.
  struct Snapshot {
    std::vector<SeriesView> series;
    std::vector<detect::Incident> open;
  };
  Snapshot TakeSnapshot(const std::string& service, const std::string& check,
                        const std::string& region) const;
  // Cluster mode: the snapshot of each owned shard whose open incidents are
  // restored (every check x region of its services, its open incidents)
  // with the lease it is held under, for the shard status board
  // (api/shard_status_board.h). Empty otherwise. Any thread.
  struct ShardSnapshot {
    cluster::LeaseFence fence;
    Snapshot snapshot;
  };
  std::vector<ShardSnapshot> OwnedShardSnapshots() const;
  // Open incidents per kind, every kind of the table listed (0 when none),
  // by wire name: the /metrics gauge sonde_incidents_open.
  std::vector<std::pair<std::string, int>> OpenIncidentsByKind() const;
  const DetectionCounters& counters() const { return counters_; }

 private:
  // A prober's latest promise (see the header comment).
  struct Promise {
    std::string region;
    absl::Time complete_before = absl::InfinitePast();  // none yet
    absl::Time heard;                                   // collector clock
  };

  // One detector and what it decided but has not stored yet: the whole
  // config (kAllShards: not in cluster mode), or the services of one owned
  // shard under its lease.
  struct Lane {
    int shard = kAllShards;
    uint64_t generation = 0;                   // tells a re-gained shard from the old one
    std::optional<cluster::LeaseFence> fence;  // cluster mode
    std::unique_ptr<detect::Detector> detector;
    std::deque<detect::IncidentEvent> waiting;
    bool restored = false;  // its open incidents restored: it may evaluate
    // Which decided events are written: not those the previous owner (or
    // run) recorded already, which the rebuild's replay decides again.
    ReplayFilter replay;
    bool incidents_restored = false;  // replay told of them, RestoreIncidents done
  };
  static constexpr int kAllShards = -2;
  // A gained shard's windows are rebuilt from this much of its stored
  // results: the longest incident window (partial_window, 15 min) and a
  // minute more. Latency baselines (1 h) start from this part only.
  static constexpr absl::Duration kRebuildSpan = absl::Minutes(16);

  void Loop();
  void TickOnce();
  void TryRestore();
  // Applies `batch` to the lanes of its results (Observe's body).
  void Apply(const v1::ResultBatch& batch);
  // Cluster mode, loop thread: rebuilds the restored-but-not-rebuilt lanes
  // from stored results and follows them; reads the feed.
  void Rebuild(const std::vector<std::pair<int, uint64_t>>& lanes);
  // Cluster mode, loop thread: the judge's rebuild from every check's stored
  // results; then the feed is followed for every shard. True once done.
  bool RebuildJudge();
  // The stored results of the checks of `shards` of the last kRebuildSpan,
  // into `sink`; the feed position they end at.
  absl::StatusOr<cluster::FeedPosition> ReadStored(const std::vector<int>& shards,
                                                   const cluster::FeedSink& sink,
                                                   cluster::FeedReadStats* stats);
  // Under mu_: ticks the judge and hands its new verdicts to the lanes.
  void JudgeProbers(absl::Time now, absl::Time complete_before) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadFeed();
  absl::StatusOr<PGconn*> FeedConn();
  // Loop thread: the recorded_until of each gained shard not yet restored,
  // with its lane's generation (ReplayFilter).
  absl::StatusOr<std::map<int, std::pair<uint64_t, absl::Time>>> ReadRecordedUntil();
  // Loop thread: moves the recorded_until of the owned shards with no
  // event waiting to their detectors' processed_until.
  void MarkRecorded();
  // Under mu_: a lane for `shard` (kAllShards: every check) over config_.
  absl::Status AddLane(int shard, std::optional<cluster::LeaseFence> fence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // config_ reduced to the checks of `shard` (all for kAllShards).
  std::shared_ptr<const v1::Config> ConfigOf(int shard) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `lane` raises prober-level tickets (PROBER_FAULT).
  bool RaisesProberFaults(const Lane& lane) const;
  // The lane that evaluates `check`, or null (another replica's shard).
  const Lane* LaneOf(const v1::Check& check) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores `lane`'s waiting events (outside mu_); drops it when fenced.
  void RecordLane(int shard, uint64_t generation);
  bool Busy() const;  // events waiting, or a lane not yet restored
  // The smallest promise of the probers heard recently, or InfinitePast
  // when some configured region has none of them; forgets silent probers.
  absl::Time CompleteBefore(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const common::Clock* const clock_;
  ConfigFaultSource config_faults_;               // may be empty
  cluster::ShardOwnership* ownership_ = nullptr;  // cluster mode; set before Start
  const std::string conninfo_;
  IncidentStore store_;               // the loop thread's (and Start's)
  pg::PgConnPtr feed_conn_;           // loop thread: rebuilds and the feed
  cluster::ResultFeed feed_;          // loop thread
  std::map<int, uint64_t> followed_;  // loop thread: shard -> lane generation
  int restore_attempts_ = 0;          // loop thread only
  absl::Time last_mark_;              // loop thread: the last MarkRecorded
  detect::DetectorOptions options_;   // set by Start
  int prober_shard_ = kAllShards;     // the shard raising PROBER_FAULT tickets
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generations_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, Lane> lanes_ ABSL_GUARDED_BY(mu_);  // by shard
  std::shared_ptr<const v1::Config> config_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const v1::Config>();                       // never null
  std::map<std::string, Promise> promises_ ABSL_GUARDED_BY(mu_);  // by prober id
  // Cluster mode: prober health over every check (see the header comment),
  // whether its rebuild is done, and its verdicts of the last kRebuildSpan
  // (and each region's latest), which a gained shard's rebuild replays.
  std::unique_ptr<detect::Detector> judge_ ABSL_GUARDED_BY(mu_);
  bool judge_rebuilt_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<detect::ProberVerdict> verdicts_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  // Set (with stop_, or when a promise moved) to tick before the period ends.
  absl::Mutex wake_mu_;
  bool wake_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::thread thread_;
  DetectionCounters counters_;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_INCIDENTS_DETECTION_H_
