// The `incidents` row as the collector's readers see it: one SELECT list
// (table alias `i`) and its reading into a v1::Incident, shared by the
// IncidentStore (queries, acknowledgement) and the Dispatcher (repeats,
// escalations). Pure functions; any thread.
#ifndef SONDE_COLLECTOR_NOTIFY_INCIDENT_ROW_H_
#define SONDE_COLLECTOR_NOTIFY_INCIDENT_ROW_H_

#include <libpq-fe.h>

#include "sonde/v1/collector.pb.h"

namespace sonde::notify {

// "i.id, i.kind, ...": select it FROM incidents i.
extern const char kIncidentColumns[];

// One row of a result whose first columns are kIncidentColumns.
v1::Incident IncidentFromRow(const PGresult* result, int row);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_INCIDENT_ROW_H_
