#include "collector/detect/incident.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/code_table.h"

namespace sonde::detect {

const char* IncidentKindName(IncidentKind kind) { return InfoOf(kind).name; }

const char* SeverityName(Severity severity) {
  return severity == Severity::kPage ? "PAGE" : "TICKET";
}

const char* LatencyPhaseName(LatencyPhase phase) {
  // Indexed by LatencyPhase, in declaration order.
  static constexpr const char* kNames[] = {"", "dns", "connect", "tls", "first_byte"};
  return common::EnumName(phase, kNames, "");
}

const char* IncidentEventKindName(IncidentEventKind kind) {
  // Indexed by IncidentEventKind, in declaration order.
  static constexpr const char* kNames[] = {"OPENED",          "UPDATED",  "RECLASSIFIED",
                                           "REGIONS_CHANGED", "PROGRESS", "RESOLVED"};
  return common::EnumName(kind, kNames, "UNKNOWN");
}

std::string DebugString(const IncidentEvent& event) {
  const Incident& i = event.incident;
  std::string out = absl::StrCat(absl::FormatTime("%H:%M:%E3S", event.at, absl::UTCTimeZone()), " ",
                                 IncidentEventKindName(event.kind), " ", event.incident_id, " ",
                                 IncidentKindName(i.kind), " ", SeverityName(i.severity),
                                 " svc=", i.service, " checks=[", absl::StrJoin(i.checks, ","),
                                 "] regions=[", absl::StrJoin(i.regions, ","), "]");
  if (!i.hosts.empty()) {
    absl::StrAppend(&out, " hosts=", i.hosts.size());
  }
  if (!i.protocol.empty()) {
    absl::StrAppend(&out, " proto=", i.protocol);
  }
  if (i.dominant_class != v1::FailureClass::UNSPECIFIED) {
    absl::StrAppend(&out, " class=", v1::FailureClass::Code_Name(i.dominant_class));
  }
  if (i.kind == IncidentKind::kPartialFailure) {
    absl::StrAppend(&out, absl::StrFormat(" share=%.3f", i.failing_share));
  }
  if (i.latency_phase != LatencyPhase::kNone) {
    absl::StrAppend(&out, " phase=", LatencyPhaseName(i.latency_phase));
  }
  if (i.affected_targets > 1) {
    absl::StrAppend(&out, " recovered=", i.recovered_targets, "/", i.affected_targets);
  }
  if (event.kind == IncidentEventKind::kReclassified) {
    absl::StrAppend(&out, " from=", IncidentKindName(event.previous_kind));
  }
  absl::StrAppend(&out, " evidence=\"", i.evidence, "\"");
  return out;
}

}  // namespace sonde::detect
