// The `storage:` block (StorageConfig, Config field 8): its defaults, the
// effective values the collector's retention uses, and its validation.
// Pure functions; the loading thread validates, any thread may read.
#ifndef SONDE_COMMON_CONFIG_STORAGE_CONFIG_H_
#define SONDE_COMMON_CONFIG_STORAGE_CONFIG_H_

#include "absl/time/time.h"
#include "common/config/config_errors.h"
#include "sonde/v1/check.pb.h"

namespace sonde::common {

// How late a result may arrive and still be expected in every rollup level
// (the prober's spool replays up to this much); the minute rollups must be
// kept at least this long.
inline constexpr absl::Duration kMaxLateness = absl::Hours(2);

struct StorageSettings {
  absl::Duration raw = absl::Hours(24 * 14);
  absl::Duration minute = absl::Hours(24 * 35);
  absl::Duration hour = absl::Hours(24 * 400);
  absl::Duration day = absl::Hours(24 * 1825);
  absl::Duration batches = absl::Hours(24 * 14);
  absl::Duration outbox = absl::Hours(24 * 30);
  absl::Duration timeline = absl::Hours(24 * 400);
  absl::Duration interval = absl::Hours(1);
  // result_feed rows (docs/ha.md, "The result feed"): a shard's owner
  // reads them within a second; a new owner starts from its rebuild.
  absl::Duration feed = absl::Hours(24);
};

// The defaults above, overridden by the fields `c` sets.
StorageSettings EffectiveStorage(const v1::StorageConfig& c);

// Errors as "storage.<field>: ...": every retention at least kMaxLateness
// (raw rows and dedup keys at least 1 day), minute <= hour <= day,
// retention_interval within [1m, 1d], feed_retention at least 1h.
void ValidateStorage(const v1::StorageConfig& c, ConfigErrors* errors);

}  // namespace sonde::common

#endif  // SONDE_COMMON_CONFIG_STORAGE_CONFIG_H_
