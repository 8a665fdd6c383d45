// The read side of "what is the state now": Query.Status (current state per
// check x region, what is broken first) built from the detector's snapshot
// (or, in cluster mode, merged from every shard owner's published one),
// and Query.Checks (the checks as the collector holds them, with values that
// often carry credentials redacted). Pure functions over their inputs, so
// tests pin the order and the JSON without a collector; any thread.
#ifndef SONDE_COLLECTOR_API_CURRENT_STATUS_H_
#define SONDE_COLLECTOR_API_CURRENT_STATUS_H_

#include <map>
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

// Cluster mode (docs/ha.md, "Current state across shards"): the StatusReply
// for `request` from the replies the shards' owners published (shard ->
// that shard's BuildStatusReply), as one detector over every check would
// answer: every configured check x region passing the filters, with its row
// from the reply of the check's shard (ShardOf its service; a row of a check
// no longer configured, or published under another shard or service, is
// left out), NO_DATA where that shard published nothing; every open
// incident of the published shards, newest first; the same order as
// BuildStatusReply.
v1::StatusReply MergeShardStatus(const std::map<int, const v1::StatusReply*>& shards,
                                 const v1::Config& config, const v1::StatusRequest& request,
                                 absl::Time now);

// The ChecksReply for `config`: its regions and the checks passing the
// request's filters, sorted by service then name, redacted (see ChecksReply
// in collector.proto).
v1::ChecksReply BuildChecksReply(const v1::Config& config, const v1::ChecksRequest& request);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_CURRENT_STATUS_H_
