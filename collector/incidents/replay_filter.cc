#include "collector/incidents/replay_filter.h"

#include <algorithm>

namespace sonde::collector {

void ReplayFilter::SetRecordedUntil(absl::Time recorded_until) {
  recorded_known_ = recorded_until != absl::InfinitePast();
  recorded_until_ = recorded_known_ ? absl::ToUnixMicros(recorded_until) : 0;
}

void ReplayFilter::Restored(const detect::Incident& incident) {
  last_recorded_[incident.id] = absl::ToUnixMicros(incident.updated_at);
}

bool ReplayFilter::Writes(const detect::IncidentEvent& event) const {
  const int64_t at = absl::ToUnixMicros(event.at);
  auto it = last_recorded_.find(event.incident_id);
  if (it != last_recorded_.end()) {
    const int64_t until = recorded_known_ ? std::max(it->second, recorded_until_) : it->second;
    return event.kind == detect::IncidentEventKind::kResolved || at > until;
  }
  return recorded_known_ ? at > recorded_until_ : event.at >= live_from_;
}

}  // namespace sonde::collector
