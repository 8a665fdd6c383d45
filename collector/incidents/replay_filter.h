// ReplayFilter: which of the events a detector decides are written to the
// timeline, when part of what it evaluates was decided and recorded before
// (docs/ha.md, "Detection shards under leases"): a new owner of a shard
// replays the shard's stored results of the last minutes to rebuild its
// windows, and a restarted collector continues the incidents it restores.
// Every decided event changes the detector's memory; this says which are
// also written. The one rule:
//
//   - an event of an incident restored from PostgreSQL is written only when
//     it is about an instant after the incident's last recorded change (its
//     row's updated_at: the instant of the last timeline event the detector
//     recorded for it), or when it resolves the incident (a row that is
//     still open holds no RESOLVED). The rows up to that instant are in the
//     timeline already; a replay re-decides them at the same instants.
//   - any other event is written when it is about an instant at or after
//     `live_from` (the gain of the shard minus the reorder window): before
//     it, the previous owner decided (and recorded) what the results said.
//
// Times compare at the microseconds PostgreSQL keeps. Plain data, no I/O;
// owned by one DetectionRunner lane, used under the runner's mutex.
#ifndef SONDE_COLLECTOR_INCIDENTS_REPLAY_FILTER_H_
#define SONDE_COLLECTOR_INCIDENTS_REPLAY_FILTER_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "collector/detect/incident.h"

namespace sonde::collector {

class ReplayFilter {
 public:
  // InfinitePast: nothing is a replay (a collector that restarts evaluates
  // only results from now on).
  explicit ReplayFilter(absl::Time live_from = absl::InfinitePast()) : live_from_(live_from) {}

  // `incident` was restored from its row: its timeline holds every change
  // up to incident.updated_at.
  void Restored(const detect::Incident& incident);

  // Whether `event` is written (false: memory only).
  bool Writes(const detect::IncidentEvent& event) const;

 private:
  absl::Time live_from_;
  absl::flat_hash_map<std::string, int64_t> recorded_until_;  // id -> Unix microseconds
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_INCIDENTS_REPLAY_FILTER_H_
