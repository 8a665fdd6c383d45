#include "collector/cluster/lease_keeper.h"

#include <utility>

#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector::cluster {
namespace {

// A member that does not hold the lease looks at it this often.
constexpr absl::Duration kTryEvery = absl::Seconds(1);

}  // namespace

LeaseKeeper::LeaseKeeper(int shard, std::string owner, absl::Duration ttl)
    : shard_(shard), owner_(std::move(owner)), ttl_(ttl), leases_(ttl) {}

absl::StatusOr<std::optional<LeaseFence>> LeaseKeeper::Hold(PGconn* c) {
  const absl::Time sent = absl::Now();
  if (epoch_.has_value() && sent - renewed_ >= ttl_) {
    spdlog::warn("lease of shard {} not renewed within its TTL; considered lost", shard_);
    epoch_.reset();
  }
  if (epoch_.has_value()) {
    if (sent - renewed_ < ttl_ / 3) {
      return LeaseFence{shard_, owner_, *epoch_};
    }
    ASSIGN_OR_RETURN(std::optional<ShardLease> renewed, leases_.Renew(c, shard_, owner_, *epoch_));
    if (renewed.has_value()) {
      renewed_ = sent;
      return LeaseFence{shard_, owner_, *epoch_};
    }
    spdlog::warn("lease of shard {} under epoch {} lost (expired or taken over)", shard_, *epoch_);
    epoch_.reset();
  }
  if (sent - tried_ < kTryEvery) {
    return std::nullopt;
  }
  tried_ = sent;
  ASSIGN_OR_RETURN(std::optional<ShardLease> row, leases_.Read(c, shard_));
  if (row.has_value() && row->owner == owner_) {
    // This owner's from an earlier run: end it so this run gets a new epoch.
    RETURN_IF_ERROR(leases_.Release(c, shard_, owner_, row->epoch).status());
  }
  // Another owner's is taken only once expired: Acquire decides that by the
  // database clock.
  ASSIGN_OR_RETURN(std::optional<ShardLease> taken, leases_.Acquire(c, shard_, owner_));
  if (!taken.has_value()) {
    return std::nullopt;
  }
  epoch_ = taken->epoch;
  renewed_ = sent;
  ++gained_;
  spdlog::info("lease of shard {} taken under epoch {}", shard_, *epoch_);
  return LeaseFence{shard_, owner_, *epoch_};
}

void LeaseKeeper::Lost() { epoch_.reset(); }

void LeaseKeeper::Release(PGconn* c) {
  if (!epoch_.has_value()) {
    return;
  }
  if (c != nullptr && PQstatus(c) == CONNECTION_OK) {
    leases_.Release(c, shard_, owner_, *epoch_).IgnoreError();  // else it expires
  }
  epoch_.reset();
}

}  // namespace sonde::collector::cluster
