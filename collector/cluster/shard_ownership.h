// ShardOwnership: which detection shards (shards.h) this collector replica
// owns, kept under the leases of shard_leases.h (docs/ha.md, "Detection
// shards under leases"). The shard's owner should be the member with the
// highest rendezvous score among the live, in-step members in cluster mode
// (MemberHeartbeat's view), so a member that joins or leaves moves only its
// own share. Each pass (every second) this replica
//   - drops a shard whose lease it could not renew in time (its local
//     deadline: the send time of the last good renewal plus the TTL),
//   - releases a shard rendezvous now gives to another member (handover:
//     the other acquires it at its next pass, without waiting for the TTL),
//   - renews the shards it keeps every ttl/3 (a renewal that finds no row
//     means the lease is lost: dropped at once),
//   - acquires the shards rendezvous gives it that are free or expired (a
//     new owner always under a new epoch).
// Lost() drops a shard at once when a fenced write found its lease gone.
// A lease statement waits at most lock_wait (1 s) for a row locked by a
// fenced write in flight (lock_timeout); that shard is then left until the
// next pass, so one stalled writer cannot hold up the renewals of the
// others.
//
// The callbacks run on the thread that decided (the ownership thread, or
// Lost()'s caller), outside this class's lock; they must not call back into
// it. Gained(shard, epoch) comes before any write under that epoch may be
// fenced; Lost(shard, epoch) means: stop writing for the shard now.
//
// Thread: Start() runs the passes on a thread of its own with its own
// PostgreSQL connection; PassOnce() runs one on the caller's thread
// (tests). Owned(), Lost(), AppendMetrics() from any thread.
#ifndef SONDE_COLLECTOR_CLUSTER_SHARD_OWNERSHIP_H_
#define SONDE_COLLECTOR_CLUSTER_SHARD_OWNERSHIP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "collector/cluster/members.h"
#include "collector/cluster/shard_leases.h"
#include "collector/storage/pg/pg.h"
#include "common/metrics.h"

namespace sonde::collector::cluster {

// The rendezvous score of `replica_id` for `shard`: the candidate with the
// highest score should own the shard.
uint64_t RendezvousScore(absl::string_view replica_id, int shard);
// The candidate that should own `shard`; "" when there is none.
std::string RendezvousOwner(int shard, const std::vector<std::string>& candidates);
// The shards (0..kShardCount-1) rendezvous gives `me` among `candidates`.
std::set<int> ShardsFor(const std::string& me, const std::vector<std::string>& candidates);
// The members that may own shards: live, in cluster mode, and on the
// recorded config version (in step). By replica id.
std::vector<std::string> Candidates(const ClusterView& view);

struct ShardOwnershipOptions {
  absl::Duration ttl = kLeaseTtl;
  absl::Duration renew_every = kLeaseTtl / 3;
  absl::Duration pass_every = absl::Seconds(1);
  // The longest a lease statement waits for a locked row (lock_timeout).
  absl::Duration lock_wait = absl::Seconds(1);
};

class ShardOwnership {
 public:
  using Callback = std::function<void(int shard, int64_t epoch)>;

  // `members` (not owned) gives this replica's id and the members' view.
  ShardOwnership(std::string conninfo, const MemberHeartbeat* members,
                 ShardOwnershipOptions options = {});
  ~ShardOwnership() { Stop(); }
  ShardOwnership(const ShardOwnership&) = delete;
  ShardOwnership& operator=(const ShardOwnership&) = delete;

  // Before Start (or the first PassOnce).
  void set_on_gained(Callback cb) { on_gained_ = std::move(cb); }
  void set_on_lost(Callback cb) { on_lost_ = std::move(cb); }

  // One pass (see the header comment). UNAVAILABLE while PostgreSQL is
  // away: owned shards are kept until their local deadline.
  absl::Status PassOnce();
  // Passes at once, then every pass_every, until Stop().
  void Start();
  // Stops the passes and releases every owned shard (a handover: the
  // others take them at their next pass).
  void Stop();

  // This replica's id: the owner in its leases.
  std::string owner() const { return members_->identity().replica_id; }
  // shard -> the epoch this replica holds it under.
  std::map<int, int64_t> Owned() const;
  // The epoch `shard` is held under; nullopt when not held.
  std::optional<int64_t> EpochOf(int shard) const;
  // A write of `shard` under `epoch` was fenced: count it and drop the
  // shard now (nothing when it is no longer held under that epoch).
  void Fenced(int shard, int64_t epoch);

  int64_t fenced_writes() const { return fenced_.load(std::memory_order_relaxed); }
  // sonde_cluster_shards_owned, sonde_cluster_shard_*_total,
  // sonde_detection_fenced_writes_total (docs/metrics.md).
  void AppendMetrics(common::MetricsText* m) const;

 private:
  struct Held {
    int64_t epoch = 0;
    absl::Time renewed;   // local clock, when the last good renewal was sent
    absl::Time deadline;  // renewed + ttl: past it the lease may be gone
  };
  // Removes `shard` (if held under `epoch`) and tells on_lost.
  void Drop(int shard, int64_t epoch);
  void Gain(int shard, int64_t epoch, absl::Time sent);
  absl::Status Pass(PGconn* c, const std::string& me, const std::set<int>& wanted);
  absl::Status AcquireWanted(PGconn* c, const std::string& me, const std::set<int>& wanted);

  const std::string conninfo_;
  const MemberHeartbeat* const members_;
  const ShardOwnershipOptions options_;
  const ShardLeases leases_;
  Callback on_gained_;
  Callback on_lost_;
  pg::PgConnPtr conn_;  // the passing thread's own

  mutable absl::Mutex mu_;
  std::map<int, Held> held_ ABSL_GUARDED_BY(mu_);

  std::atomic<int64_t> gained_{0};
  std::atomic<int64_t> lost_{0};
  std::atomic<int64_t> released_{0};
  std::atomic<int64_t> fenced_{0};
  std::atomic<int64_t> pass_failures_{0};
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace sonde::collector::cluster

#endif  // SONDE_COLLECTOR_CLUSTER_SHARD_OWNERSHIP_H_
