// Incident and IncidentEvent: what the detector reports.
//
// An Incident is a value (a snapshot): the detector keeps the live state and
// hands out copies inside IncidentEvents, so a caller may keep, move or store
// them freely. Names returned by the *Name() functions are the ones users see
// in JSON, the store, webhooks and metrics; they never change. Pure data and
// pure functions; any thread.
#ifndef SONDE_COLLECTOR_DETECT_INCIDENT_H_
#define SONDE_COLLECTOR_DETECT_INCIDENT_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/detect/kinds.h"
#include "sonde/v1/result.pb.h"

namespace sonde::detect {

// The latency phase that moved most (LATENCY_DEGRADATION only).
enum class LatencyPhase { kNone, kDns, kConnect, kTls, kFirstByte };

enum class IncidentEventKind {
  kOpened,
  kUpdated,         // checks, hosts, failure class, share, phase or severity changed
  kReclassified,    // kind changed; same incident id
  kRegionsChanged,  // affected regions added or removed
  kProgress,        // recovered/affected target counts changed (multi-target)
  kResolved,
};

// "GLOBAL_OUTAGE" (the kinds table, kinds.h), "PAGE", "first_byte", "OPENED", ...
const char* IncidentKindName(IncidentKind kind);
const char* SeverityName(Severity severity);
const char* LatencyPhaseName(LatencyPhase phase);
const char* IncidentEventKindName(IncidentEventKind kind);

struct Incident {
  // Stable for the incident's life, also across reclassification:
  // "<service>/<kind when opened>/<unix seconds opened>[-n]".
  std::string id;
  IncidentKind kind = IncidentKind::kGlobalOutage;
  Severity severity = Severity::kPage;
  std::string service;               // prober faults: DetectorOptions::prober_fault_service
  std::vector<std::string> checks;   // sorted; the checks affected now
  std::vector<std::string> regions;  // sorted; the regions affected now
  std::vector<std::string> hosts;    // sorted; target hosts of `checks`
  std::string protocol;              // "https", "ssh", ...; "" when the checks differ
  v1::FailureClass::Code dominant_class = v1::FailureClass::UNSPECIFIED;
  // PARTIAL_FAILURE (and DNS/protocol failures seen as a share): failing
  // share of the probes, 0..1. Outages report 1.
  double failing_share = 0;
  LatencyPhase latency_phase = LatencyPhase::kNone;
  absl::Duration latency_p95;           // worst region, current window
  absl::Duration latency_baseline_p95;  // same region, baseline
  // Targets are hosts for PROTOCOL_OUTAGE and checks otherwise. `affected`
  // counts every target seen in the incident since it opened; `recovered`
  // those no longer failing ("62 of 80 hosts recovered").
  int affected_targets = 0;
  int recovered_targets = 0;
  std::string evidence;  // human readable, from the results' details
  absl::Time opened_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
  absl::Time resolved_at = absl::InfiniteFuture();  // InfiniteFuture while open
  bool resolved = false;
};

struct IncidentEvent {
  IncidentEventKind kind = IncidentEventKind::kOpened;
  std::string incident_id;
  // When the detector decided it (event time of the results or the timer
  // that caused it), not when Tick() was called.
  absl::Time at;
  IncidentKind previous_kind = IncidentKind::kGlobalOutage;  // kReclassified only
  Incident incident;                                         // the snapshot after the change
};

// One line for logs and test failure messages:
// "OPENED app/partial_failure/1700000123 PARTIAL_FAILURE app [app-login]
// [ams,ber,fra] share=0.25 ..."
std::string DebugString(const IncidentEvent& event);

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_INCIDENT_H_
