// Where an outage incident's downtime starts for availability
// (docs/availability.md): the first failing result of its checks in its
// regions after their last passing result, looked up in `results` when the
// incident opens (at most kFailingSinceLookback before it) and stored in
// incidents.failing_since (migration 5). The detector opens an incident a
// few runs after the first failure; counting from the open would hide those
// minutes.
//
// Called by IncidentStore::Record inside its transaction, on its
// connection; one thread.
#ifndef SONDE_COLLECTOR_INCIDENTS_FAILING_SINCE_H_
#define SONDE_COLLECTOR_INCIDENTS_FAILING_SINCE_H_

#include <libpq-fe.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sonde::collector {

inline constexpr absl::Duration kFailingSinceLookback = absl::Hours(1);

// Sets failing_since of incident `id` once (a row that has it keeps it):
// the earliest failing (not PROBER_ERROR) result of `checks` x `regions` in
// (last passing result, opened_at], or opened_at when there is none.
absl::Status RecordFailingSince(PGconn* conn, const std::string& id,
                                const std::vector<std::string>& checks,
                                const std::vector<std::string>& regions, absl::Time opened_at);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_INCIDENTS_FAILING_SINCE_H_
