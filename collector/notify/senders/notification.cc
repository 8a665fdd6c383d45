#include "collector/notify/senders/notification.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace sonde::notify {
namespace {

std::string FormatShare(double share) {
  const double percent = share * 100;
  if (percent > 0 && percent < 1) {
    return absl::StrFormat("%.1f%%", percent);
  }
  return absl::StrFormat("%.0f%%", percent);
}

}  // namespace

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string IncidentJson(const v1::Incident& incident) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(incident, &json, options);
  if (!status.ok()) {
    // Only invalid UTF-8 in a string field gets here; the document stays
    // valid JSON and says what went wrong.
    spdlog::warn("notify: incident {} does not print as JSON: {}", incident.id(),
                 status.ToString());
    json.clear();
    absl::StrAppend(&json, "{\"id\":");
    AppendJsonString(incident.id(), &json);
    absl::StrAppend(&json, "}");
  }
  return json;
}

std::string NotificationJson(absl::string_view event, absl::string_view notifier,
                             const v1::Incident* incident, absl::Time created_at) {
  std::string out = "{\"version\":1,\"event\":";
  AppendJsonString(event, &out);
  out.append(",\"notifier\":");
  AppendJsonString(notifier, &out);
  out.append(",\"created_at\":");
  AppendJsonString(FormatRfc3339(created_at), &out);
  out.append(",\"summary\":");
  if (incident != nullptr) {
    AppendJsonString(Summary(*incident), &out);
    out.append(",\"incident\":");
    out.append(IncidentJson(*incident));
  } else {
    AppendJsonString(absl::StrCat("Sonde ", event, " for notifier ", notifier), &out);
  }
  out.push_back('}');
  return out;
}

std::string Summary(const v1::Incident& incident) {
  std::string out = absl::StrCat(incident.kind(), " on ", incident.service());
  if (incident.checks_size() > 0) {
    absl::StrAppend(&out, " (", absl::StrJoin(incident.checks(), ", "), ")");
  }
  if (incident.regions_size() > 0) {
    std::vector<std::string> regions(incident.regions().begin(), incident.regions().end());
    std::sort(regions.begin(), regions.end());
    absl::StrAppend(&out, " in ", absl::StrJoin(regions, ", "));
  }
  std::vector<std::string> facts;
  if (incident.latency_p95_ms() > 0) {
    std::string latency =
        absl::StrFormat("p95 %.0f ms vs baseline %.0f ms", incident.latency_p95_ms(),
                        incident.latency_baseline_p95_ms());
    if (!incident.latency_phase().empty()) {
      absl::StrAppend(&latency, ", mostly ", incident.latency_phase());
    }
    facts.push_back(std::move(latency));
  }
  if (incident.failing_share() > 0) {
    std::string share = absl::StrCat(FormatShare(incident.failing_share()), " of probes fail");
    if (incident.failure_class() != v1::FailureClass::UNSPECIFIED &&
        incident.failure_class() != v1::FailureClass::OK) {
      absl::StrAppend(&share, ", mostly ", v1::FailureClass::Code_Name(incident.failure_class()));
    }
    facts.push_back(std::move(share));
  } else if (incident.failure_class() != v1::FailureClass::UNSPECIFIED &&
             incident.failure_class() != v1::FailureClass::OK) {
    facts.push_back(absl::StrCat("mostly ", v1::FailureClass::Code_Name(incident.failure_class())));
  }
  if (incident.affected_targets() > 1) {  // "62 of 80 hosts recovered"
    facts.push_back(absl::StrFormat("%d of %d %s recovered", incident.recovered_targets(),
                                    incident.affected_targets(),
                                    incident.kind() == "PROTOCOL_OUTAGE" ? "hosts" : "checks"));
  }
  if (!facts.empty()) {
    absl::StrAppend(&out, ": ", absl::StrJoin(facts, "; "));
  }
  return out;
}

absl::StatusOr<Notification> ParseNotification(absl::string_view payload_json) {
  namespace pbu = google::protobuf::util;
  google::protobuf::Struct doc;
  auto st = pbu::JsonStringToMessage(std::string(payload_json), &doc);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("notification payload is not a JSON object: ", st.ToString()));
  }
  const auto& fields = doc.fields();
  auto str = [&fields](const char* key) -> std::string {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second.string_value();
  };
  Notification n;
  n.event = str("event");
  n.notifier = str("notifier");
  n.summary = str("summary");
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, str("created_at"), &n.created_at, &err)) {
    n.created_at = absl::UnixEpoch();
  }
  auto it = fields.find("incident");
  if (it != fields.end() && it->second.has_struct_value()) {
    std::string incident_json;
    st = pbu::MessageToJsonString(it->second.struct_value(), &incident_json);
    pbu::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (st.ok()) {
      st = pbu::JsonStringToMessage(incident_json, &n.incident, options);
    }
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("notification payload: bad incident: ", st.ToString()));
    }
    n.has_incident = true;
  }
  return n;
}

}  // namespace sonde::notify
