#include "collector/api/region_versions.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/config_transfer.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {

const std::vector<v1::ProberConfig>& RegionVersion::TransferFrom(const std::string& applied,
                                                                 const char** kind,
                                                                 uint64_t* bytes) const {
  if (!delta_base.empty() && applied == delta_base) {
    *kind = "delta";
    *bytes = delta_bytes;
    return delta;
  }
  *kind = "full";
  *bytes = full_bytes;
  return full;
}

std::shared_ptr<const RegionVersion> BuildRegionVersion(std::string region,
                                                        const v1::Config& config,
                                                        const RegionVersion* previous) {
  auto out = std::make_shared<RegionVersion>();
  out->region = std::move(region);
  // Serialised once, in name order; the config's checks are not copied.
  struct Item {
    const std::string* name;
    std::string bytes;
    uint64_t hash;
  };
  std::vector<Item> items;
  items.reserve(config.checks_size());
  for (const v1::Check& c : config.checks()) {
    if (!c.regions().empty() &&
        std::find(c.regions().begin(), c.regions().end(), out->region) == c.regions().end()) {
      continue;
    }
    std::string b = common::CheckBytes(c);
    const uint64_t hash = common::CheckHash(b);
    items.push_back({&c.name(), std::move(b), hash});
  }
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return *a.name < *b.name; });
  for (const Item& i : items) {
    out->hashes.emplace_hint(out->hashes.end(), *i.name, i.hash);  // in order: no search
  }
  out->version = common::VersionOf(out->hashes, common::PolicyBytes(config.probe_policy()));
  out->checks = out->hashes.size();
  common::TransferContent full;
  full.version = out->version;
  full.checks = out->checks;
  full.policy = config.probe_policy();
  full.check_bytes.reserve(items.size());
  for (const Item& i : items) {
    full.check_bytes.push_back(i.bytes);
  }
  out->full = common::BuildTransfer(full);
  out->full_bytes = common::WireBytes(out->full);
  if (previous != nullptr && previous->version != out->version) {
    common::TransferContent delta;
    delta.version = out->version;
    delta.base_version = previous->version;
    delta.checks = out->checks;
    delta.policy = config.probe_policy();
    for (const Item& i : items) {
      auto it = previous->hashes.find(*i.name);
      if (it == previous->hashes.end() || it->second != i.hash) {
        delta.check_bytes.push_back(i.bytes);
      }
    }
    for (const auto& [name, h] : previous->hashes) {
      if (out->hashes.count(name) == 0) {
        delta.removed.push_back(name);
      }
    }
    out->delta = common::BuildTransfer(delta);
    out->delta_bytes = common::WireBytes(out->delta);
    if (out->delta_bytes < out->full_bytes) {
      out->delta_base = previous->version;
    } else {
      out->delta.clear();  // no smaller than the full version: send that
      out->delta_bytes = 0;
    }
  }
  return out;
}

std::shared_ptr<const RegionVersion> RegionVersions::For(const v1::Config& config,
                                                         uint64_t generation,
                                                         const std::string& region) {
  absl::MutexLock l(&mu_);
  Entry& e = regions_[region];
  if (e.version != nullptr && e.generation == generation) {
    return e.version;
  }
  const absl::Time start = absl::Now();
  std::shared_ptr<const RegionVersion> next = BuildRegionVersion(region, config, e.version.get());
  spdlog::info(
      "config: region \"{}\" version {} ({} checks, {} bytes{}) built in {}", region, next->version,
      next->checks, next->full_bytes,
      next->delta_base.empty() ? "" : absl::StrCat(", delta of ", next->delta_bytes, " bytes"),
      absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))));
  // An unchanged region keeps its version (and the delta that led to it).
  if (e.version == nullptr || e.version->version != next->version) {
    e.version = std::move(next);
  }
  e.generation = generation;
  return e.version;
}

}  // namespace sonde::collector
