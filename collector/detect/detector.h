// Detector: turns the stream of ProbeResults into incidents, in memory, on
// sliding windows per check x region, driven by an explicit clock.
//
// Ingest calls Observe() for every result (cheap: the result is copied into
// a 48-byte Sample and queued; nothing is evaluated). A clock calls
// Tick(now): results whose event time (start_time + total_us) is at or
// before now - reorder_window are applied in event-time order, time-driven
// rules run at their own instants (staleness deadlines, minute boundaries
// of the windows, resolve holds), and the incident events that caused are
// returned in order. Because everything is evaluated at event time, not at
// Tick time, feeding the same results in big or small steps (replay or
// real time) gives the same incidents, as long as results are no later than
// reorder_window (or than the probers' promise, see Tick(now,
// complete_before)). Late ones are applied on arrival and counted.
//
// Rules, defaults and tuning: DetectorOptions and docs/detection.md.
//
// Thread-safety: none inside; the caller serializes every call (ingest
// threads and the ticker share one mutex, or post to one thread). No
// threads, no I/O, no clock reads: time only comes from results and Tick().
// Memory: a fixed set of ring buffers per check x region (about 9 KiB),
// allocated by SetConfig(); the per-result path does not allocate once the
// reorder queue and the detail pool reached their high-water marks.
#ifndef SONDE_COLLECTOR_DETECT_DETECTOR_H_
#define SONDE_COLLECTOR_DETECT_DETECTOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/detect/incident.h"
#include "collector/detect/incident_book.h"
#include "collector/detect/options.h"
#include "collector/detect/region_state.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/result.pb.h"

namespace sonde::detect {

// What the detector thinks of one check in one region right now.
struct SeriesStatus {
  RegionState state = RegionState::kUnknown;
  bool down = false;    // DOWN by the run rule
  bool outage = false;  // DOWN and confirmed: counts for outage incidents
  // Reporting and its prober healthy: takes part in scope votes.
  bool voting = false;
  bool flapping = false;
  bool latency_degraded = false;
  double flap_percent = 0;
  absl::Duration latency_p95;  // current window, OK results; 0 if too few
  absl::Time last_result = absl::InfinitePast();
  bool last_run_failed = false;
  // The latest failed result (InfinitePast: none since the collector
  // started), its class and detail (as the prober sent it, normalised).
  absl::Time last_failure = absl::InfinitePast();
  v1::FailureClass::Code last_failure_class = v1::FailureClass::UNSPECIFIED;
  std::string last_failure_detail;
};

// Counters for /metrics; monotonic except `pending`.
struct DetectorStats {
  uint64_t results_observed = 0;
  uint64_t results_applied = 0;
  // Arrived after their reorder window; applied on arrival.
  uint64_t late_results = 0;
  // Same run and request index seen before, or from an older run: dropped.
  uint64_t duplicate_results = 0;
  uint64_t unknown_check = 0;   // check not in the config: dropped
  uint64_t unknown_region = 0;  // region not configured for the check: dropped
  // PROBER_ERROR results (never counted against a target).
  uint64_t prober_errors = 0;
  uint64_t pending = 0;  // queued, not yet applied
};

// A prober that has not applied its region's config version for longer
// than the collector allows (the collector's config delivery decides; see
// docs/detection.md, PROBER_FAULT).
struct ConfigFault {
  std::string region;
  std::string prober_id;
  std::string version;       // the region's version, not applied
  std::string applied;       // what the prober says it runs ("" none)
  absl::Time pending_since;  // when the version was first sent
  std::string last_error;    // the last delivery failure ("" none)
  bool operator==(const ConfigFault& o) const {
    return region == o.region && prober_id == o.prober_id && version == o.version &&
           applied == o.applied && pending_since == o.pending_since && last_error == o.last_error;
  }
};

// A change in how one region's prober is judged (collector/detect/
// prober_health.cc, the one rule), at the instant it is about: cluster mode
// judges it once over every check and hands it to the detectors of the
// shards (docs/ha.md, "Prober health across shards").
struct ProberVerdict {
  std::string region;
  absl::Time at;
  bool unhealthy = false;  // out of the scope votes
  // The region's health PROBER_FAULT ticket as desired from `at` on (none:
  // healthy, or its hold not over).
  std::optional<DesiredIncident> ticket;
};

class Detector {
 public:
  // INVALID_ARGUMENT when the options do not validate.
  static absl::StatusOr<std::unique_ptr<Detector>> Create(DetectorOptions options);
  ~Detector();
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // Sets or replaces the configured checks and regions (a check without
  // regions runs in all of config.regions()). State of a (check, region)
  // that exists before and after is kept; results queued for removed ones
  // are dropped; incidents of removed services resolve after resolve_hold.
  // `now` starts the staleness clock of checks that never reported.
  // INVALID_ARGUMENT (and nothing changed) with more than 64 regions.
  absl::Status SetConfig(const v1::Config& config, absl::Time now);

  // Queues one result. Never evaluates, never emits.
  void Observe(const v1::ProbeResult& result);

  // Advances detection to now - reorder_window; returns the incident events
  // decided on the way, in order (empty most of the time). `now` going
  // backwards is ignored.
  std::vector<IncidentEvent> Tick(absl::Time now);
  // The same, but when every prober promised that its results with event
  // times before `complete_before` have all been Observe()d (the smallest of
  // their ResultBatch.complete_before), detection advances up to just before
  // it (never past `now`) instead of stopping at now - reorder_window:
  // nothing that promise covers can still arrive, so waiting adds only
  // latency. InfinitePast (no promise) is Tick(now).
  std::vector<IncidentEvent> Tick(absl::Time now, absl::Time complete_before);

  // Adopts incidents persisted before a restart (open ones only): each
  // continues under its id if its condition is detected again within
  // resolve_hold of `now`, else it resolves then. Call after SetConfig.
  void RestoreIncidents(const std::vector<Incident>& open, absl::Time now);

  // Replaces the probers whose config is overdue. Each is a PROBER_FAULT
  // ticket of its region (one per prober, beside the region's own) until it
  // leaves the set; it resolves after resolve_hold.
  void SetConfigFaults(std::vector<ConfigFault> faults);

  // Prober health across shards (cluster mode). The judge (a detector over
  // every check) returns the verdict changes it decided since the last call,
  // in order. A detector that FollowsProberVerdicts() judges no region
  // itself: the verdicts added take effect at their instants (like timers),
  // before the scope votes of that instant; its health PROBER_FAULT tickets
  // are the verdicts' tickets. Call ExportProberVerdicts (the judge: nothing
  // is kept otherwise) and FollowProberVerdicts before SetConfig.
  void ExportProberVerdicts();
  std::vector<ProberVerdict> TakeProberVerdicts();
  void FollowProberVerdicts();
  void AddProberVerdicts(const std::vector<ProberVerdict>& verdicts);

  SeriesStatus Status(absl::string_view check, absl::string_view region) const;
  std::vector<Incident> OpenIncidents() const;
  DetectorStats stats() const;
  const DetectorOptions& options() const { return options_; }
  // Everything at or before this instant has been applied and evaluated.
  absl::Time processed_until() const;

 private:
  struct Impl;
  explicit Detector(DetectorOptions options);

  DetectorOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_DETECTOR_H_
