// The reporting queries: availability per check x region over the rollup
// minutes, and the data gaps probers reported. Read-only, on the caller's
// connection; see Store::Availability and Store::Gaps for the rules.
#ifndef SONDE_COLLECTOR_STORAGE_AVAILABILITY_H_
#define SONDE_COLLECTOR_STORAGE_AVAILABILITY_H_

#include <libpq-fe.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

absl::StatusOr<std::vector<v1::AvailabilityRow>> QueryAvailability(
    PGconn* conn, absl::Time from, absl::Time to, const std::string& check_filter,
    const std::string& region_filter);

absl::StatusOr<std::vector<v1::DataGap>> QueryGaps(PGconn* conn, absl::Time from, absl::Time to,
                                                   const std::string& region_filter);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_AVAILABILITY_H_
