// Rendering of `sondectl status --probers`: each prober's config delivery as
// the collector sees it (Query.Probers), and of `sondectl status
// --collectors`: the collector replicas (Query.Collectors), as tables for
// people; JSON is
// sondectl's usual proto3 JSON (incidents.h ToJson). Pure functions; any
// thread.
#ifndef SONDE_SONDECTL_STATUS_H_
#define SONDE_SONDECTL_STATUS_H_

#include <string>

#include "absl/time/time.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::sondectl {

// PROBER REGION STREAM APPLIED REGION-VERSION PENDING LAST-TRANSFER FAILURES
// LAST-ERROR, one row per prober; a prober whose region's version is not
// applied shows for how long ("pending 1m5s"). "no probers" when empty.
std::string FormatProbersTable(const v1::ProbersReply& reply, absl::Time now);

// A line naming the config version recorded for detection, then REPLICA
// ADDRESS STATE SOFTWARE CONFIG IN-STEP UP LAST-SEEN, one row per replica;
// ages by the database clock (the reply's as_of), the answering replica
// marked "*". "no collector replicas recorded" when empty.
std::string FormatCollectorsTable(const v1::CollectorsReply& reply);

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_STATUS_H_
