// Detection shards (docs/ha.md, "Detection shards under leases"): a service
// and every check and result of it belong to one of kShardCount shards,
// shard = FNV-1a 64 of the service's bytes mod kShardCount, so the incidents
// of a service (grouped per service) stay inside one shard. The count and
// the hash are fixed: the owner of a shard, the result feed rows ingest
// writes (result_feed.shard) and the reader that follows them must agree,
// across replicas and versions; changing either is a migration. The
// service of a check or result is common::ServiceOf. Pure; any thread.
#ifndef SONDE_COLLECTOR_CLUSTER_SHARDS_H_
#define SONDE_COLLECTOR_CLUSTER_SHARDS_H_

#include "absl/strings/string_view.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/result.pb.h"

namespace sonde::collector::cluster {

inline constexpr int kShardCount = 64;

// 0 .. kShardCount-1.
int ShardOf(absl::string_view service);
int ShardOf(const v1::Check& check);
int ShardOf(const v1::ProbeResult& result);

}  // namespace sonde::collector::cluster

#endif  // SONDE_COLLECTOR_CLUSTER_SHARDS_H_
