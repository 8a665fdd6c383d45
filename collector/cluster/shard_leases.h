// ShardLeases: the rows of `shard_leases` (migration 6; docs/ha.md,
// "Detection shards under leases"): who owns a detection shard, under which
// epoch, until when -- always by the database clock (clock_timestamp()),
// never a replica's. A new owner bumps the epoch; the owner's renewals keep
// it; a lease that expired is lost even if nobody took it yet (re-acquiring
// it bumps the epoch too). Fence() is the first statement of a shard's
// write transaction: it holds the lease row FOR SHARE until the
// transaction ends, so a takeover waits for a write in flight and a writer
// that lost the lease writes nothing.
//
// A detection shard's row also says how far its owners recorded the
// incident events they decided (recorded_until, MarkRecorded): a new
// owner's rebuild writes only what is later (docs/ha.md, "What a rebuild
// writes").
//
// Stateless: every call runs on the caller's connection and transaction,
// on the caller's thread.
#ifndef SONDE_COLLECTOR_CLUSTER_SHARD_LEASES_H_
#define SONDE_COLLECTOR_CLUSTER_SHARD_LEASES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "collector/storage/pg/pg.h"

namespace sonde::collector::cluster {

// -1: the notification scheduler's lease; detection shards are 0..63.
inline constexpr int kNotifySchedulerShard = -1;
inline constexpr absl::Duration kLeaseTtl = absl::Seconds(15);

// What a fenced write transaction checks first (ShardLeases::Fence) and
// stamps on its rows (`lease_epoch`): this owner holds `shard` under `epoch`.
struct LeaseFence {
  int shard = 0;
  std::string owner;
  int64_t epoch = 0;
};

struct ShardLease {
  int shard = 0;
  std::string owner;
  int64_t epoch = 0;
  absl::Time expires_at;  // database clock
  // Detection shards: every incident event the shard's owners decided about
  // an instant up to this one is recorded, none after it (migration 11;
  // docs/ha.md, "What a rebuild writes"). InfinitePast: unknown.
  absl::Time recorded_until = absl::InfinitePast();
};

// One owned shard's recorded_until to move forward (MarkRecorded).
struct RecordedMark {
  int shard = 0;
  int64_t epoch = 0;
  absl::Time until;
};

// True for Fence()'s refusal (and what a fenced write returns with it).
inline bool IsFenced(const absl::Status& s) {
  return absl::IsFailedPrecondition(s) && absl::StartsWith(s.message(), "fenced:");
}

class ShardLeases {
 public:
  explicit ShardLeases(absl::Duration ttl = kLeaseTtl) : ttl_(ttl) {}

  // Takes `shard` for `owner` when it is free, expired, or already this
  // owner's: a new owner (or one whose lease had expired) gets epoch + 1,
  // an owner whose lease still runs keeps its epoch (a renewal). nullopt
  // while another owner's lease runs.
  absl::StatusOr<std::optional<ShardLease>> Acquire(PGconn* c, int shard,
                                                    const std::string& owner) const;
  // Extends `owner`'s running lease of `epoch` by the TTL; nullopt when it
  // is lost (expired, or taken with a newer epoch): stop the shard at once.
  absl::StatusOr<std::optional<ShardLease>> Renew(PGconn* c, int shard, const std::string& owner,
                                                  int64_t epoch) const;
  // Ends `owner`'s running lease now (a handover: the next owner need not
  // wait for the TTL). False when it was not held.
  absl::StatusOr<bool> Release(PGconn* c, int shard, const std::string& owner, int64_t epoch) const;
  // In the caller's open transaction: OK when `owner` holds the running
  // lease of `epoch` (the row stays locked FOR SHARE until the transaction
  // ends); FAILED_PRECONDITION "fenced" when it does not -- roll back.
  // The transaction may then sit idle (between its statements) for a third
  // of the TTL at most: a writer stalled longer is ended by PostgreSQL
  // (idle_in_transaction_session_timeout; rolled back, the session closed),
  // so a paused writer cannot hold off a takeover past that.
  absl::Status Fence(PGconn* c, int shard, const std::string& owner, int64_t epoch) const;
  absl::Status Fence(PGconn* c, const LeaseFence& f) const {
    return Fence(c, f.shard, f.owner, f.epoch);
  }
  // The row as it is (nullopt: never leased).
  absl::StatusOr<std::optional<ShardLease>> Read(PGconn* c, int shard) const;
  // Moves each mark's recorded_until forward (never back) where `owner`
  // holds the running lease of the mark's epoch; the others are left. In
  // a fenced transaction (after Fence), where it waits for the row like
  // the fence did; or on its own with kSkipLocked, where a row another
  // session holds (a renewal, a takeover, a stalled fenced write) is left
  // for the next mark instead of stalling the caller's thread behind it.
  enum class Locked { kWait, kSkip };
  absl::Status MarkRecorded(PGconn* c, const std::string& owner,
                            const std::vector<RecordedMark>& marks,
                            Locked locked = Locked::kWait) const;

 private:
  const absl::Duration ttl_;
};

}  // namespace sonde::collector::cluster

#endif  // SONDE_COLLECTOR_CLUSTER_SHARD_LEASES_H_
