#include "collector/notify/senders/alertmanager.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/notify/senders/transfer.h"
#include "common/config/config.h"
#include "common/proto_time.h"

namespace sonde::notify {
namespace {

constexpr char kAlertsPath[] = "/api/v2/alerts";

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

void AppendLabel(absl::string_view key, absl::string_view value, bool* first, std::string* out) {
  if (!*first) {
    out->push_back(',');
  }
  *first = false;
  AppendJsonString(key, out);
  out->push_back(':');
  AppendJsonString(value, out);
}

}  // namespace

absl::Status SendAlertmanager(const Delivery& d) {
  const v1::Notifier& notifier = d.notifier;
  const std::string what = d.What();
  if (notifier.alertmanager().url().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no url"));
  }
  auto notification = ParseNotification(d.payload);
  if (!notification.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", notification.status().message()));
  }
  return PostJson(what, AlertmanagerAlertsUrl(notifier.alertmanager().url()),
                  AlertmanagerBody(notifier, *notification, d.now),
                  {"Content-Type: application/json", "User-Agent: sonde-collector"}, d.timeout);
}

std::string AlertmanagerAlertsUrl(absl::string_view url) {
  absl::string_view base = url;
  if (absl::EndsWith(base, kAlertsPath)) {
    return std::string(base);
  }
  while (absl::EndsWith(base, "/")) {
    base.remove_suffix(1);
  }
  return absl::StrCat(base, kAlertsPath);
}

std::string AlertmanagerBody(const v1::Notifier& notifier, const Notification& n, absl::Time now) {
  std::string out = "[{\"labels\":{";
  bool first = true;
  absl::Time starts = now;
  absl::Time ends;
  if (n.event == kHeartbeat || !n.has_incident) {
    const absl::Duration every = common::ToAbsl(notifier.heartbeat_every());
    AppendLabel("alertname", "SondeHeartbeat", &first, &out);
    AppendLabel("notifier", notifier.name(), &first, &out);
    AppendLabel("severity", "none", &first, &out);
    out.append("},\"annotations\":{");
    first = true;
    AppendLabel("summary", n.summary, &first, &out);
    AppendLabel("description",
                "Dead man's switch: Sonde's notification path works. Alert when "
                "this alert stops firing.",
                &first, &out);
    ends = now + 2 * (every > absl::ZeroDuration() ? every : absl::Minutes(5));
  } else {
    const v1::Incident& inc = n.incident;
    AppendLabel("alertname", "SondeIncident", &first, &out);
    AppendLabel("incident_id", inc.id(), &first, &out);
    AppendLabel("service", inc.service(), &first, &out);
    AppendLabel("kind", inc.kind(), &first, &out);
    AppendLabel("severity", Lower(inc.severity()), &first, &out);
    AppendLabel("regions", absl::StrJoin(inc.regions(), ","), &first, &out);
    AppendLabel("failure_class", v1::FailureClass::Code_Name(inc.failure_class()), &first, &out);
    out.append("},\"annotations\":{");
    first = true;
    AppendLabel("summary", n.summary.empty() ? Summary(inc) : n.summary, &first, &out);
    AppendLabel("evidence", inc.evidence(), &first, &out);
    AppendLabel("description",
                absl::StrCat("Sonde ", n.event, ": ", inc.kind(), " on ", inc.service(),
                             ". Checks: ", absl::StrJoin(inc.checks(), ", "),
                             ". Acknowledge: sondectl ack ", inc.id()),
                &first, &out);
    if (inc.has_opened_at()) {
      starts = common::ToTime(inc.opened_at());
    }
    if (inc.has_resolved_at()) {
      ends = common::ToTime(inc.resolved_at());
    } else {
      ends = now + std::max(2 * common::ToAbsl(notifier.repeat_every()), absl::Minutes(5));
    }
  }
  out.append("},\"startsAt\":");
  AppendJsonString(FormatRfc3339(starts), &out);
  out.append(",\"endsAt\":");
  AppendJsonString(FormatRfc3339(ends), &out);
  out.append("}]");
  return out;
}

}  // namespace sonde::notify
