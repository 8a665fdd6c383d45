// LeaseKeeper: one lease of shard_leases.h held by one owner for as long as
// it can -- the notification scheduler's (shard -1, docs/ha.md,
// "Notifications from many replicas"): whoever holds it schedules repeats,
// escalations and heartbeats; the others wait until it is released or
// expires by the database clock. Hold() renews the held lease every ttl/3,
// or tries to take a free or expired one at most every second; a lease not
// renewed within the TTL of its last good renewal (local clock) is
// considered lost before the database says so. The fence it returns goes
// first into the holder's write transaction (OutboxWriter::Fence).
//
// Not thread-safe: one thread (the Dispatcher's pass, under its lock), on
// that thread's connection.
#ifndef SONDE_COLLECTOR_CLUSTER_LEASE_KEEPER_H_
#define SONDE_COLLECTOR_CLUSTER_LEASE_KEEPER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/cluster/shard_leases.h"
#include "collector/storage/pg/pg.h"

namespace sonde::collector::cluster {

class LeaseKeeper {
 public:
  LeaseKeeper(int shard, std::string owner, absl::Duration ttl = kLeaseTtl);

  // The fence of the held lease, renewed when due, or taken when free;
  // nullopt while another owner holds it. Errors are PostgreSQL's (the
  // lease is kept until its local deadline).
  absl::StatusOr<std::optional<LeaseFence>> Hold(PGconn* c);
  // A write under the held epoch was fenced: forget it (the next Hold
  // tries to take it again, under a new epoch).
  void Lost();
  // Ends the held lease now so another owner need not wait for the TTL.
  void Release(PGconn* c);
  // Renamed before the first Hold (the owner's replica id is known late).
  void set_owner(std::string owner) { owner_ = std::move(owner); }
  const std::string& owner() const { return owner_; }
  int64_t gained() const { return gained_; }

 private:
  const int shard_;
  std::string owner_;
  const absl::Duration ttl_;
  const ShardLeases leases_;
  std::optional<int64_t> epoch_;
  absl::Time renewed_ = absl::InfinitePast();  // local clock, when the last renewal was sent
  absl::Time tried_ = absl::InfinitePast();    // the last try to take it
  int64_t gained_ = 0;
};

}  // namespace sonde::collector::cluster

#endif  // SONDE_COLLECTOR_CLUSTER_LEASE_KEEPER_H_
