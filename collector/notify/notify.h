// Notifications: what Sonde tells people about incidents, and how.
//
// Flow (transactional outbox, docs/notifications.md): when the detector
// changes an incident, the collector writes the incident row, its timeline
// event and one `outbox` row per routed notifier in ONE transaction
// (collector/incidents.cc). The Dispatcher (a thread of the collector)
// delivers pending outbox rows with retries and backoff, and schedules
// REPEAT (every repeat_every until acknowledged), ESCALATED (after
// escalate_after, to escalate_to) and HEARTBEAT rows itself, from the
// database, so everything survives a collector restart. Duplicates are
// preferred to misses: a row is marked delivered only after the receiver
// accepted it.
#ifndef SONDE_COLLECTOR_NOTIFY_NOTIFY_H_
#define SONDE_COLLECTOR_NOTIFY_NOTIFY_H_

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

// The notifiers that get an incident's pages (not escalations): every
// notifier whose `services` is empty or lists incident.service(), except
// notifiers that another notifier names in escalate_to and that list no
// services themselves.
std::vector<const v1::Notifier*> Routes(const v1::Config& config, const v1::Incident& incident);

// The maintenance window covering the incident at `at` (service or one of
// its checks listed, or a window listing neither), or null.
const v1::MaintenanceWindow* ActiveMaintenance(const v1::Config& config,
                                               const v1::Incident& incident, absl::Time at);

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

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_NOTIFY_H_
