// MemberHeartbeat: this collector replica's row in `collector_members`
// (docs/ha.md, "Members"), renewed every 2 s by the database clock
// (clock_timestamp(), so replicas with skewed clocks agree on who is live),
// and, in the same transaction, the config agreement of
// config_agreement.h against `cluster_config`. Each beat also reads every
// member row and the recorded version: View() serves them from memory to
// Query.Collectors (`sondectl status --collectors`) and /metrics, so
// neither touches PostgreSQL.
//
// A member is live while its last_seen is within kMemberTtl of the
// database clock. Rows unseen for a day are deleted by any replica's beat.
//
// Thread: Start() beats on a thread of its own with its own PostgreSQL
// connection (never an ingest one); BeatOnce() beats on the caller's
// thread (tests). SetConfigVersion, View and AppendMetrics from any thread.
#ifndef SONDE_COLLECTOR_CLUSTER_MEMBERS_H_
#define SONDE_COLLECTOR_CLUSTER_MEMBERS_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/cluster/config_agreement.h"
#include "collector/storage/pg/pg.h"
#include "common/background_loop.h"
#include "common/metrics.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector::cluster {

inline constexpr absl::Duration kBeatEvery = absl::Seconds(2);
inline constexpr absl::Duration kMemberTtl = absl::Seconds(10);

struct MemberIdentity {
  std::string replica_id;     // unique per replica: --replica-id, default HOST:PORT
  std::string address;        // the gRPC address it listens on
  std::string software;       // its version (--version)
  bool cluster_mode = false;  // --cluster: takes detection shards (shard_ownership.h)
};

struct MemberRow {
  std::string replica_id;
  std::string address;
  std::string software;
  std::string config_version;
  bool cluster_mode = false;
  absl::Time started_at;    // database clock, the first beat of its run
  absl::Time last_seen;     // database clock
  bool live = false;        // last_seen within kMemberTtl of the beat's clock
  std::vector<int> shards;  // detection shards it holds a running lease of
};

// What the last successful beat saw.
struct ClusterView {
  bool known = false;            // no beat has succeeded yet
  absl::Time as_of;              // the database clock at that beat
  std::string recorded_version;  // cluster_config; "" = none
  std::string recorded_by;
  absl::Time recorded_at;
  std::string config_version;  // this replica's
  Agreement agreement = Agreement::kNoConfig;
  std::vector<MemberRow> members;  // by replica id
  std::string notify_scheduler;    // the running lease of shard -1; "" = none
};

// Query.Collectors' answer from a view; `answered_by` names this replica.
v1::CollectorsReply CollectorsReplyFrom(const ClusterView& view, const std::string& answered_by);

class MemberHeartbeat {
 public:
  explicit MemberHeartbeat(std::string conninfo, absl::Duration every = kBeatEvery,
                           absl::Duration ttl = kMemberTtl);
  ~MemberHeartbeat() { Stop(); }
  MemberHeartbeat(const MemberHeartbeat&) = delete;
  MemberHeartbeat& operator=(const MemberHeartbeat&) = delete;

  // Who this replica is; before the first beat (the collector knows its
  // port only once it listens).
  void SetIdentity(MemberIdentity identity);
  // The config version this replica runs ("" without --config); `reloaded`
  // when it comes from a reload (an operator's change), not from the start.
  // A reload to the same version changes nothing.
  void SetConfigVersion(const std::string& version, bool reloaded);

  // One beat: upsert this member, apply the config agreement, read every
  // member. UNAVAILABLE while PostgreSQL is away (the next beat retries).
  absl::Status BeatOnce();
  // Beats at once, then every `every`, until Stop().
  void Start();
  void Stop();

  ClusterView View() const;
  MemberIdentity identity() const;
  // sonde_config_version_info, sonde_cluster_* (docs/metrics.md).
  void AppendMetrics(common::MetricsText* m) const;

 private:
  absl::Status Beat(PGconn* c, ClusterView* view);

  const std::string conninfo_;
  const absl::Duration every_;
  const absl::Duration ttl_;
  pg::PgConnPtr conn_;      // the beating thread's own
  bool first_beat_ = true;  // the beating thread's: started_at is set once per run

  mutable absl::Mutex mu_;
  MemberIdentity identity_ ABSL_GUARDED_BY(mu_);
  std::string config_version_ ABSL_GUARDED_BY(mu_);
  bool reloaded_ ABSL_GUARDED_BY(mu_) = false;  // consumed by a committed beat
  ClusterView view_ ABSL_GUARDED_BY(mu_);

  std::atomic<int64_t> beats_{0};
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> recorded_{0};  // times this replica recorded its version
  common::BackgroundLoop loop_;       // last: stopped before the members its pass reads
};

}  // namespace sonde::collector::cluster

#endif  // SONDE_COLLECTOR_CLUSTER_MEMBERS_H_
