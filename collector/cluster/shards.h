// Detection shards (docs/ha.md, "Detection shards under leases"): a service
// belongs to shard FNV-1a(service) mod kShardCount, fixed (changing either
// is a migration of every lease and stored epoch). Incidents are grouped
// per service, so a service never spans two shards. Pure, any thread.
#ifndef SONDE_COLLECTOR_CLUSTER_SHARDS_H_
#define SONDE_COLLECTOR_CLUSTER_SHARDS_H_

#include <cstdint>
#include <string_view>

namespace sonde::collector::cluster {

inline constexpr int kShardCount = 64;

// 64-bit FNV-1a over the service name's bytes, mod kShardCount.
inline int ShardOf(std::string_view service) {
  uint64_t hash = 14695981039346656037ull;
  for (const char ch : service) {
    hash ^= static_cast<unsigned char>(ch);
    hash *= 1099511628211ull;
  }
  return static_cast<int>(hash % kShardCount);
}

}  // namespace sonde::collector::cluster

#endif  // SONDE_COLLECTOR_CLUSTER_SHARDS_H_
