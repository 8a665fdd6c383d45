// The read side of "what is the state now": Query.Status (current state per
// check x region, what is broken first) built from the detector's snapshot,
// and Query.Checks (the checks as the collector holds them, with values that
// often carry credentials redacted). Pure functions over their inputs, so
// tests pin the order and the JSON without a collector; any thread.
#ifndef SONDE_COLLECTOR_API_CURRENT_STATUS_H_
#define SONDE_COLLECTOR_API_CURRENT_STATUS_H_

#include <string>

#include "absl/time/time.h"
#include "collector/incidents/detection.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// The state names of CheckRegionStatus.state, from the detector's
// RegionState (UNKNOWN, i.e. no result since the collector started, is
// NO_DATA).
std::string StatusStateName(const detect::SeriesStatus& status);

// The StatusReply for `snapshot` at `now`: one CheckRegionStatus per series,
// broken first (DOWN, FLAPPING, DEGRADED, STALE, NO_DATA, UP; then rows with
// open incidents; then service, check, region), each naming the open
// incidents that cover it (the incident lists the check, or lists no checks
// and is of the check's service; and it lists the region or no regions).
// Outside text (failure details) is made safe and capped.
v1::StatusReply BuildStatusReply(const DetectionRunner::Snapshot& snapshot, absl::Time now);

// The ChecksReply for `config`: its regions and the checks passing the
// request's filters, sorted by service then name, redacted (see ChecksReply
// in collector.proto).
v1::ChecksReply BuildChecksReply(const v1::Config& config, const v1::ChecksRequest& request);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_CURRENT_STATUS_H_
