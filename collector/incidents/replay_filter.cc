#include "collector/incidents/replay_filter.h"

namespace sonde::collector {

void ReplayFilter::Restored(const detect::Incident& incident) {
  recorded_until_[incident.id] = absl::ToUnixMicros(incident.updated_at);
}

bool ReplayFilter::Writes(const detect::IncidentEvent& event) const {
  auto it = recorded_until_.find(event.incident_id);
  if (it == recorded_until_.end()) {
    return event.at >= live_from_;
  }
  return event.kind == detect::IncidentEventKind::kResolved ||
         absl::ToUnixMicros(event.at) > it->second;
}

}  // namespace sonde::collector
