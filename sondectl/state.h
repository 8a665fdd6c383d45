// Rendering of `sondectl status` (Query.Status): the current state per
// service, then per check x region, what is broken first, as a table for
// people; JSON is sondectl's usual proto3 JSON (incidents.h ToJson). Pure
// functions; any thread.
#ifndef SONDE_SONDECTL_STATE_H_
#define SONDE_SONDECTL_STATE_H_

#include <string>

#include "absl/time/time.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::sondectl {

// A service's state: the worst of its rows (DOWN, FLAPPING, DEGRADED,
// STALE, NO_DATA, UP).
std::string WorstState(const std::string& a, const std::string& b);

// SERVICE STATE BROKEN (one line per service, broken first), a blank line,
// then STATE SERVICE CHECK REGION LAST-RESULT CLASS INCIDENTS in the
// collector's order (broken first), each broken row's last failure
// indented below it. `broken_only` leaves out the UP rows (and says how
// many). Outside text goes through SafeText. "no checks" when empty.
std::string FormatStatusTable(const v1::StatusReply& reply, absl::Time now, bool broken_only);

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_STATE_H_
