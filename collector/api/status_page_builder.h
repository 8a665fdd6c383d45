// BuildStatusPage: the status page's model (common/html/status_page_model.h)
// from what the collector knows — the config (services, the `status_page:`
// block, maintenance windows), the open and recent incidents with their
// timelines, the day bars' numbers and the last minutes' health per region.
// Pure: no I/O, the time passed in, so tests build pages from hand-made
// inputs; StatusPage (status_page.h) gathers the inputs. Any thread.
//
// A service's state is its worst open incident's: GLOBAL_OUTAGE (or a DNS
// failure from every region) is a major outage; REGIONAL_OUTAGE,
// PROTOCOL_OUTAGE and a DNS failure from some regions a partial outage;
// PARTIAL_FAILURE, LATENCY_DEGRADATION and FLAPPING degraded; an incident
// in maintenance, or a window covering the service now, maintenance;
// without an incident, failures in the last minutes in some region make it
// degraded ("some probes fail"). CERT_EXPIRING and PROBER_FAULT incidents
// are the operators' business and stay off the public page.
#ifndef SONDE_COLLECTOR_API_STATUS_PAGE_BUILDER_H_
#define SONDE_COLLECTOR_API_STATUS_PAGE_BUILDER_H_

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collector/storage/status_queries.h"
#include "common/html/status_page_model.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

inline constexpr int kStatusPageDays = 90;
// Resolved incidents stay on the page this long.
inline constexpr absl::Duration kStatusPageRecent = absl::Hours(24 * 14);
// "Some probes fail" looks at this many minutes of rollups.
inline constexpr absl::Duration kStatusPageHealthWindow = absl::Minutes(5);

// One day bar's numbers: a service's day (UTC) as the report engine counts
// it (docs/availability.md, "Per-day numbers"; a service's numbers are the
// sums over its checks).
struct ServiceDay {
  std::string service;
  absl::CivilDay day;  // UTC
  int64_t probes = 0;  // PROBER_ERROR excluded, as in every rollup
  int64_t failures = 0;
  double availability = 100;  // percent of the counted time not in an outage
  int64_t counted_seconds = 0;
  double down_seconds = 0;
};

struct StatusPageInputs {
  const v1::Config* config = nullptr;
  absl::Time now;
  std::vector<v1::TimelineReply> incidents;  // open and recent, any order
  std::vector<ServiceDay> days;              // kStatusPageDays UTC days up to today
  std::vector<ServiceRegionHealth> recent;   // the last kStatusPageHealthWindow
};

html::StatusPageModel BuildStatusPage(const StatusPageInputs& in);

// The public lines of a timeline, newest first: detection events become
// Detected / Identified / Recovering / Monitoring / Resolved, UPDATE lines
// a person's Update; notifications, acknowledgements and other internal
// lines are left out.
std::vector<html::TimelineLine> PublicTimeline(const v1::TimelineReply& timeline);

// The impact on the page of an incident kind ("REGIONAL_OUTAGE" ...);
// `all_regions` when the incident covers every configured region.
html::ServiceState Impact(const std::string& kind, bool all_regions);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_STATUS_PAGE_BUILDER_H_
