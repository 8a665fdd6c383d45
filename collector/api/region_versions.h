// RegionVersions: each region's checks as ready-made contract-2 transfers
// (common/config/config_transfer.h), built once per config generation and
// shared by every prober of the region, so the collector's memory grows
// with regions x checks, not probers x checks.
//
// A RegionVersion is immutable once built: the full transfer of its
// version, the delta from the region's previous version (when there was
// one and it differs), and each check's hash for the next delta. For(...)
// builds a region's version the first time a Watch asks for it in a
// generation (under the cache's mutex, so concurrent watchers build it
// once) and hands out shared_ptrs; a version that outlives the cache entry
// stays alive while a watcher still writes it. Thread-safe.
#ifndef SONDE_COLLECTOR_API_REGION_VERSIONS_H_
#define SONDE_COLLECTOR_API_REGION_VERSIONS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

struct RegionVersion {
  std::string region;
  std::string version;
  uint64_t checks = 0;
  std::vector<v1::ProberConfig> full;   // header, chunks, end
  uint64_t full_bytes = 0;              // on the wire
  std::string delta_base;               // "" = no delta
  std::vector<v1::ProberConfig> delta;  // from delta_base to version
  uint64_t delta_bytes = 0;
  std::map<std::string, uint64_t> hashes;  // check name -> CheckHash

  // The transfer that takes a prober from `applied` to this version: the
  // delta when it runs delta_base, else the full version. Sets *kind to
  // "delta" or "full" and *bytes to its size on the wire.
  const std::vector<v1::ProberConfig>& TransferFrom(const std::string& applied, const char** kind,
                                                    uint64_t* bytes) const;
};

// Builds the checks of `region` in `config` (those without regions run
// everywhere) as a version; with `previous` (the region's last version, may
// be null) also the delta.
std::shared_ptr<const RegionVersion> BuildRegionVersion(std::string region,
                                                        const v1::Config& config,
                                                        const RegionVersion* previous);

class RegionVersions {
 public:
  // The version of `region` in config `generation`.
  std::shared_ptr<const RegionVersion> For(const v1::Config& config, uint64_t generation,
                                           const std::string& region);

 private:
  struct Entry {
    uint64_t generation = 0;
    std::shared_ptr<const RegionVersion> version;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> regions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_REGION_VERSIONS_H_
