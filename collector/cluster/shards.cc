#include "collector/cluster/shards.h"

#include "common/check_service.h"
#include "common/config/config_transfer.h"

namespace sonde::collector::cluster {

int ShardOf(absl::string_view service) {
  // CheckHash is the one FNV-1a 64 (offset basis 14695981039346656037,
  // prime 1099511628211) of the code base.
  return static_cast<int>(common::CheckHash(service) % kShardCount);
}

int ShardOf(const v1::Check& check) { return ShardOf(common::ServiceOf(check)); }

int ShardOf(const v1::ProbeResult& result) { return ShardOf(common::ServiceOf(result)); }

}  // namespace sonde::collector::cluster
