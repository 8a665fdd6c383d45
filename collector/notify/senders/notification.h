// The notification document: what Sonde tells people about an incident
// (version 1, the webhook body, stored as the outbox payload), its one-line
// summary, and its reading back for the senders that re-render it
// (Alertmanager, e-mail). Pure functions; any thread.
//
// Flow (transactional outbox, docs/notifications.md): when the detector
// changes an incident, the IncidentStore (collector/incidents/) writes the
// incident row and, through the OutboxWriter (collector/notify/outbox.h),
// its timeline event and one `outbox` row per routed notifier in ONE
// transaction. The Dispatcher (collector/notify/dispatcher.h) delivers
// pending rows through the senders in this folder, with retries and
// backoff. Duplicates are preferred to misses: a row is marked delivered
// only after the receiver accepted it.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_NOTIFICATION_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_NOTIFICATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/result_json.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::notify {

// Events that produce notifications ("event" in the payload).
inline constexpr char kOpened[] = "OPENED";
inline constexpr char kReclassified[] = "RECLASSIFIED";
inline constexpr char kRegionsChanged[] = "REGIONS_CHANGED";
inline constexpr char kResolved[] = "RESOLVED";
inline constexpr char kRepeat[] = "REPEAT";
inline constexpr char kEscalated[] = "ESCALATED";
inline constexpr char kHeartbeat[] = "HEARTBEAT";

// The notification document (webhook body, version 1), stored as the
// outbox payload:
// {"version":1,"event":"OPENED","notifier":"oncall",
//  "created_at":"2026-11-21T09:00:00Z","summary":"...",
//  "incident":{...v1::Incident as proto3 JSON, proto field names, all fields...}}
// `incident` is omitted for HEARTBEAT.
std::string NotificationJson(absl::string_view event, absl::string_view notifier,
                             const v1::Incident* incident, absl::Time created_at);

// One line: "PARTIAL_FAILURE on app (app-login) in ams, ber, fra: 25% of
// probes fail, mostly HTTP_STATUS".
std::string Summary(const v1::Incident& incident);

// Helpers the senders and the Dispatcher share (additions to the contract
// above; pure functions, any thread).
//
// "2026-11-21T09:00:00Z" (fractional seconds only when present).
std::string FormatRfc3339(absl::Time t);
// JSON string literals: common::AppendJsonString (common/result_json.h).
using common::AppendJsonString;
// v1::Incident as proto3 JSON: proto field names, every primitive field
// printed, enums by name, timestamps RFC 3339 UTC; unset timestamps omitted.
std::string IncidentJson(const v1::Incident& incident);

// A notification document read back (what the senders render from).
struct Notification {
  std::string event;
  std::string notifier;
  std::string summary;
  absl::Time created_at = absl::UnixEpoch();
  bool has_incident = false;
  v1::Incident incident;
};
// INVALID_ARGUMENT when `payload_json` is not a notification document.
absl::StatusOr<Notification> ParseNotification(absl::string_view payload_json);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_NOTIFICATION_H_
