// ReplayFilter (collector/incidents/replay_filter.h): a restored incident's
// events are written only after its last recorded change (or when they
// resolve it); any other incident's only from `live_from` on.
#include "collector/incidents/replay_filter.h"

#include <gtest/gtest.h>

namespace sonde::collector {
namespace {

using detect::IncidentEventKind;

const absl::Time kLastRecorded = absl::FromUnixMicros(1796543810001000);
const absl::Time kLiveFrom = kLastRecorded + absl::Minutes(2);

detect::IncidentEvent Event(const std::string& id, IncidentEventKind kind, absl::Time at) {
  detect::IncidentEvent e;
  e.kind = kind;
  e.incident_id = id;
  e.at = at;
  return e;
}

TEST(ReplayFilterTest, WritesOnlyWhatTheTimelineDoesNotHold) {
  ReplayFilter filter(kLiveFrom);
  detect::Incident restored;
  restored.id = "app/global_outage/1796543620";
  // The row keeps microseconds; the detector's instant had more.
  restored.updated_at = kLastRecorded;
  filter.Restored(restored);
  struct Case {
    const char* what;
    std::string id;
    IncidentEventKind kind;
    absl::Time at;
    bool written;
  };
  const Case cases[] = {
      {"restored, before its last change", restored.id, IncidentEventKind::kProgress,
       kLastRecorded - absl::Minutes(3), false},
      {"restored, its last change again", restored.id, IncidentEventKind::kRegionsChanged,
       kLastRecorded + absl::Nanoseconds(400), false},
      {"restored, after its last change (the handover gap)", restored.id,
       IncidentEventKind::kRegionsChanged, kLastRecorded + absl::Microseconds(1), true},
      {"restored, live", restored.id, IncidentEventKind::kUpdated, kLiveFrom, true},
      {"restored, resolved by the replay", restored.id, IncidentEventKind::kResolved,
       kLastRecorded - absl::Minutes(1), true},
      {"another, replayed", "app/partial_failure/1796543000", IncidentEventKind::kOpened,
       kLiveFrom - absl::Seconds(1), false},
      {"another, replayed resolution", "app/partial_failure/1796543000",
       IncidentEventKind::kResolved, kLiveFrom - absl::Seconds(1), false},
      {"another, live", "app/partial_failure/1796543000", IncidentEventKind::kOpened, kLiveFrom,
       true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(filter.Writes(Event(c.id, c.kind, c.at)), c.written) << c.what;
  }
}

TEST(ReplayFilterTest, WithoutALiveInstantOnlyRestoredIncidentsAreFiltered) {
  ReplayFilter filter;  // a restart: nothing is replayed
  detect::Incident restored;
  restored.id = "web/regional_outage/1796543620";
  restored.updated_at = kLastRecorded;
  filter.Restored(restored);
  EXPECT_TRUE(filter.Writes(Event("web/latency/1", IncidentEventKind::kOpened, kLastRecorded)));
  EXPECT_FALSE(filter.Writes(Event(restored.id, IncidentEventKind::kUpdated, kLastRecorded)));
  EXPECT_TRUE(filter.Writes(
      Event(restored.id, IncidentEventKind::kUpdated, kLastRecorded + absl::Seconds(1))));
}

}  // namespace
}  // namespace sonde::collector
