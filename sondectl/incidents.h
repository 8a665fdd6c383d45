// Rendering of `sondectl incidents`, `sondectl incident` (table for people,
// JSON for scripts: proto3 JSON with proto field names, documented in
// docs/sondectl.md). Pure functions; any thread.
#ifndef SONDE_SONDECTL_INCIDENTS_H_
#define SONDE_SONDECTL_INCIDENTS_H_

#include <string>

#include "google/protobuf/message.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::sondectl {

// One line of JSON and a newline; every field printed, names as in the proto.
std::string ToJson(const google::protobuf::Message& message);

// ID KIND SEVERITY SERVICE REGIONS SHARE CLASS OPENED STATUS ACK, one row
// per incident, the evidence of each indented below it; "no open incidents"
// (with `all`: "no incidents in the window") when empty.
std::string FormatIncidentsTable(const v1::IncidentsReply& reply, bool all = false);

// The incident's fields, then one line per timeline event:
// "2026-11-21T09:00:02Z  OPENED           PARTIAL_FAILURE ams,ber,fra  <detail>".
std::string FormatTimeline(const v1::TimelineReply& reply);

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_INCIDENTS_H_
