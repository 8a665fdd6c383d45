// IncidentBook: the open incidents, grouped per scope, and the events that
// change them.
//
// The detector computes, per scope (one service, or the probers), the set of
// incidents that *should* be open right now (DesiredIncident, keyed by kind
// plus a discriminator: the protocol for PROTOCOL_OUTAGE, the region for
// PROBER_FAULT). Reconcile() makes the book match:
//   - same key open: UPDATED / REGIONS_CHANGED / PROGRESS as fields change;
//   - new key, and an open availability incident of the scope (GLOBAL,
//     REGIONAL, PARTIAL, DNS, PROTOCOL) sharing a check is no longer
//     wanted: RECLASSIFIED (same id; no storm of new incidents);
//   - new key otherwise: OPENED;
//   - open but not wanted: held for resolve_hold, then RESOLVED; if the
//     same fault (kind group, dominant class, a region in common) is wanted
//     again first, it simply continues; another fault on the same service
//     opens a new incident while the held one resolves on its own.
// Incidents hold names (strings), never detector indices, so they survive
// reconfiguration. Not thread-safe (owned by Detector).
#ifndef SONDE_COLLECTOR_DETECT_INCIDENT_BOOK_H_
#define SONDE_COLLECTOR_DETECT_INCIDENT_BOOK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "collector/detect/incident.h"

namespace sonde::detect {

struct DesiredIncident {
  IncidentKind kind = IncidentKind::kGlobalOutage;
  std::string discriminator;  // protocol (PROTOCOL_OUTAGE), region
                              // (PROBER_FAULT), else ""
  Severity severity = Severity::kPage;
  std::vector<std::string> checks;   // sorted, unique
  std::vector<std::string> regions;  // sorted, unique
  std::vector<std::string> hosts;    // sorted, unique
  std::vector<std::string> targets;  // sorted, unique: hosts or checks
  std::string protocol;
  v1::FailureClass::Code dominant_class = v1::FailureClass::UNSPECIFIED;
  double failing_share = 0;
  LatencyPhase latency_phase = LatencyPhase::kNone;
  absl::Duration latency_p95;
  absl::Duration latency_baseline_p95;
  std::string evidence;
};

class IncidentBook {
 public:
  IncidentBook(absl::Duration resolve_hold, double share_update_step,
               int progress_every_target = 20, double progress_step = 0.05);

  // Makes the open incidents of `scope` match `desired` at time `t`;
  // appends the events to `out`. `service` names new incidents.
  void Reconcile(const std::string& scope, const std::string& service,
                 std::vector<DesiredIncident> desired, absl::Time t,
                 std::vector<IncidentEvent>* out);

  // Resolves held incidents whose hold ends at or before `t`.
  void ExpireHolds(absl::Time t, std::vector<IncidentEvent>* out);
  // Earliest hold end; InfiniteFuture when none.
  absl::Time NextHoldEnd() const { return next_hold_end_; }

  // Adopts an incident persisted before a restart: it continues if its
  // condition is seen again within resolve_hold of `now`, else resolves.
  void Restore(const std::string& scope, const Incident& incident, absl::Time now);

  // The kind of the open (not held) availability incident of `scope` that
  // names `check`; false when there is none.
  bool OpenKindFor(const std::string& scope, const std::string& check, IncidentKind* kind) const;

  std::vector<Incident> Open() const;
  // Scopes that have open incidents.
  std::vector<std::string> Scopes() const;

 private:
  struct Entry {
    std::string scope;
    std::string discriminator;
    Incident snap;
    std::vector<std::string> affected;  // sorted targets ever affected
    double reported_share = 0;
    bool holding = false;
    absl::Time hold_end;
    absl::Time cleared_at;  // when the condition went away (resolved_at)
  };

  std::string MakeId(const std::string& service, IncidentKind kind, absl::Time t);
  void Update(Entry* e, const DesiredIncident& d, absl::Time t, bool reclassified,
              IncidentKind previous, std::vector<IncidentEvent>* out);
  void StartHold(Entry* e, absl::Time t, std::vector<IncidentEvent>* out);
  void RecomputeNextHold();
  static void Emit(IncidentEventKind kind, const Entry& e, absl::Time t, IncidentKind previous,
                   std::vector<IncidentEvent>* out);

  // Whether a change of the recovered/affected counts is worth an event.
  bool ProgressWorthReporting(int affected_before, int recovered_before, int affected,
                              int recovered) const;

  absl::Duration resolve_hold_;
  double share_update_step_;
  int progress_every_target_;
  double progress_step_;
  std::vector<Entry> open_;
  absl::Time next_hold_end_ = absl::InfiniteFuture();
  // Per "<service>/<kind>": second of the last id issued and how many ids
  // were issued in that second (ids stay unique; one entry per service x kind).
  absl::flat_hash_map<std::string, std::pair<int64_t, int>> last_id_;
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_INCIDENT_BOOK_H_
