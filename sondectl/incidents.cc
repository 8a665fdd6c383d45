#include "sondectl/incidents.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "common/result_json.h"
#include "common/text/safe_text.h"
#include "sondectl/columns.h"
#include "sondectl/report.h"

namespace sonde::sondectl {
namespace {

std::string When(const google::protobuf::Timestamp& t) {
  if (!common::IsSet(t)) {
    return "-";
  }
  // Whole seconds: the table has no room for fractions.
  return FormatRfc3339(absl::FromUnixSeconds(absl::ToUnixSeconds(common::ToTime(t))));
}

std::string Share(const v1::Incident& i) {
  return absl::StrFormat("%.1f%%", 100 * i.failing_share());
}

std::string Class(const v1::Incident& i) {
  return i.failure_class() == v1::FailureClass::UNSPECIFIED
             ? "-"
             : v1::FailureClass::Code_Name(i.failure_class());
}

std::string Regions(const google::protobuf::RepeatedPtrField<std::string>& r) {
  return r.empty() ? "-" : SafeText(absl::StrJoin(r, ","));
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  return common::ToJsonLine(message) + "\n";
}

std::string FormatIncidentsTable(const v1::IncidentsReply& reply, bool all) {
  if (reply.incidents().empty()) {
    return all ? "no incidents in the window\n" : "no open incidents\n";
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "KIND", "SEVERITY", "SERVICE", "REGIONS",
                                                 "SHARE", "CLASS", "OPENED", "STATUS", "ACK"}};
  for (const v1::Incident& i : reply.incidents()) {
    std::string status = i.status();
    if (i.in_maintenance()) {
      status += " (maintenance)";
    }
    rows.push_back({SafeText(i.id()), SafeText(i.kind()), SafeText(i.severity()),
                    SafeText(i.service()), Regions(i.regions()), Share(i), Class(i),
                    When(i.opened_at()), SafeText(status),
                    i.acknowledged_by().empty() ? "-" : SafeText(i.acknowledged_by())});
  }
  std::vector<std::string> notes = {""};
  for (const v1::Incident& i : reply.incidents()) {
    notes.push_back(SafeText(i.evidence()));
  }
  return AlignColumns(rows, notes);
}

std::string FormatTimeline(const v1::TimelineReply& reply) {
  const v1::Incident& i = reply.incident();
  std::string out = absl::StrCat(SafeText(i.id()), "\n");
  absl::StrAppend(&out, "  kind       ", SafeText(i.kind()), " (", SafeText(i.severity()), ")\n");
  absl::StrAppend(&out, "  service    ", SafeText(i.service()), "  checks ", Regions(i.checks()),
                  "\n");
  absl::StrAppend(&out, "  regions    ", Regions(i.regions()), "\n");
  if (!i.hosts().empty()) {
    absl::StrAppend(&out, "  hosts      ", Regions(i.hosts()), "\n");
  }
  absl::StrAppend(&out, "  class      ", Class(i), "  share ", Share(i), "\n");
  if (!i.latency_phase().empty()) {
    absl::StrAppend(&out, "  latency    ", SafeText(i.latency_phase()),
                    absl::StrFormat(" p95 %.0f ms (baseline %.0f ms)", i.latency_p95_ms(),
                                    i.latency_baseline_p95_ms()),
                    "\n");
  }
  if (i.affected_targets() > 1) {
    absl::StrAppend(&out, "  recovered  ", i.recovered_targets(), " of ", i.affected_targets(),
                    "\n");
  }
  absl::StrAppend(&out, "  evidence   ", SafeText(i.evidence()), "\n");
  absl::StrAppend(&out, "  opened     ", When(i.opened_at()), "  resolved ", When(i.resolved_at()),
                  "\n");
  absl::StrAppend(&out, "  ack        ",
                  i.acknowledged_by().empty() ? "-"
                                              : absl::StrCat(SafeText(i.acknowledged_by()), " at ",
                                                             When(i.acknowledged_at())),
                  i.in_maintenance() ? "  (in maintenance: not paged)" : "", "\n");
  absl::StrAppend(&out, "timeline\n");
  for (const v1::IncidentEvent& e : reply.events()) {
    absl::StrAppend(&out, absl::StrFormat("  %s  %-15s %-19s %-12s %s\n", When(e.at()),
                                          SafeText(e.kind()), SafeText(e.incident_kind()),
                                          Regions(e.regions()), SafeText(e.detail())));
  }
  return out;
}

}  // namespace sonde::sondectl
