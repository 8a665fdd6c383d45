// The replay oracle of the `cluster` test (issue 14, acceptance 1): what
// ONE collector would have decided from the results a cluster of replicas
// stored. It reads every row of `results` back (the `extra` column holds the
// normalised ProbeResult as proto3 JSON, docs/storage.md), feeds them in
// event-time order to a single Detector built the way DetectionRunner
// builds it (the config file's checks and `detection:` block over the
// shipped defaults) and ticks it every 250 ms of event time, like the
// runner. The incidents it returns are compared with the timelines the
// cluster stored.
//
// Pure test code over a Db; the caller's thread. Memory: every stored
// result of the run at once (a two-minute scenario holds a few thousand).
#ifndef SONDE_TESTS_SCENARIOS_REPLAY_ORACLE_H_
#define SONDE_TESTS_SCENARIOS_REPLAY_ORACLE_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/scenarios/scenario_harness.h"
#include "tests/testing/cluster.h"

namespace sonde::scenarios {

// An incident as far as the oracle compares it: its kind and scope when it
// opened, and its kind at the cutoff (a reclassification changes it).
struct IncidentScope {
  std::string service;
  std::string opened_kind;           // "REGIONAL_OUTAGE", ...
  std::vector<std::string> regions;  // sorted, as opened
  std::string kind;                  // the latest at the cutoff
  bool operator<(const IncidentScope& o) const;
  bool operator==(const IncidentScope& o) const;
  std::string ToString() const;
};
// For gtest's messages.
void PrintTo(const IncidentScope& scope, std::ostream* os);

struct ReplayOutcome {
  std::vector<IncidentScope> incidents;  // sorted
  int64_t results = 0;                   // rows replayed
  std::string events;                    // every event, one per line (failure messages)
  std::string stats;                     // the detector's counters (failure messages)
};

// Replays every stored result through one Detector with the config at
// `config_path`, ticking to `cutoff` + the reorder window + 1 s; events
// after `cutoff` (event time) are left out, as StoredScopes does. The cutoff
// is when the probers stopped: the series go STALE 3 intervals later, past
// the last tick.
absl::StatusOr<ReplayOutcome> ReplayStoredResults(testing::Db& db, const std::string& config_path,
                                                  absl::Time cutoff);

// The incidents the cluster stored, from their timelines (incident_events)
// up to `cutoff` (event time), as scopes, sorted. Events after the cutoff
// are left out: once the probers stop, every series goes STALE in the
// live detectors, which the replay (it ends with the results) never sees.
std::vector<IncidentScope> StoredScopes(Scenario& scenario, absl::Time cutoff);

}  // namespace sonde::scenarios

#endif  // SONDE_TESTS_SCENARIOS_REPLAY_ORACLE_H_
