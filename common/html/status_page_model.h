// The status page as data: StatusPageModel is everything /status,
// /status.json, the Atom feed and the badges show, filled by the collector's
// builder (collector/api/status_page_builder.h) and turned into text by the
// renderers next to this file (status_page_html.h, status_page_json.h).
// Plain values, no I/O; every string in it is outside text (config, targets,
// people) that the renderers escape. Any thread; no shared state.
#ifndef SONDE_COMMON_HTML_STATUS_PAGE_MODEL_H_
#define SONDE_COMMON_HTML_STATUS_PAGE_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace sonde::html {

// Worst first is the larger value: a group or the page shows its worst.
enum class ServiceState {
  kOperational = 0,
  kMaintenance = 1,
  kDegraded = 2,       // some probes or some regions fail, no outage
  kPartialOutage = 3,  // a region, a protocol or some hosts are down
  kMajorOutage = 4,    // down from everywhere
};

// "operational", "maintenance", "degraded", "partial_outage", "major_outage"
// (the JSON and CSS name).
const char* StateName(ServiceState state);
// "Operational", "Under maintenance", "Degraded performance",
// "Partial outage", "Major outage".
const char* StateLabel(ServiceState state);
// The state's colour (badges, shields.io): "#2e9d57" ...
const char* StateColor(ServiceState state);

// One day of one service: the share of it that counted as available.
struct DayBar {
  absl::CivilDay day;
  bool has_data = false;
  double availability = 100;  // percent, when has_data
  int64_t probes = 0;
  int64_t failures = 0;
  int incidents = 0;         // incidents opened that day
  bool maintenance = false;  // a maintenance window touched the day
};

// One public timeline line. Stages: "Detected", "Identified", "Recovering",
// "Monitoring", "Resolved" (written from detection events) and "Update" (a
// person's line).
struct TimelineLine {
  absl::Time at;
  std::string stage;
  std::string text;
  bool human = false;
};

struct IncidentView {
  std::string id;
  std::string service;  // display name
  std::string title;    // "Partial outage: shop in ber"
  std::string kind;     // REGIONAL_OUTAGE, ...
  ServiceState impact = ServiceState::kDegraded;
  bool open = true;
  std::string stage;  // the newest line's stage
  std::vector<std::string> regions;
  int affected_targets = 0;
  int recovered_targets = 0;
  std::string evidence;
  absl::Time opened_at;
  absl::Time resolved_at = absl::InfinitePast();
  std::vector<TimelineLine> timeline;  // newest first
};

struct MaintenanceView {
  std::string name;
  std::string reason;
  std::vector<std::string> services;  // display names; empty = everything
  absl::Time start;
  absl::Time end;
  bool ongoing = false;
};

struct ServiceView {
  std::string service;  // the config's service name (URLs, JSON key)
  std::string name;     // display name
  std::string description;
  ServiceState state = ServiceState::kOperational;
  std::vector<std::string> regions;  // affected regions, when some fail
  int affected_targets = 0;          // of the worst open incident with targets
  int recovered_targets = 0;
  std::string target_unit = "hosts";  // what the targets are: hosts or checks
  std::vector<DayBar> days;           // oldest first
  bool has_data = false;              // any day has data
  double availability = 100;          // over `days` with data, percent
};

struct GroupView {
  std::string name;
  std::vector<ServiceView> services;
};

struct StatusPageModel {
  std::string title = "Service status";
  absl::Time generated_at;
  ServiceState overall = ServiceState::kOperational;
  std::vector<GroupView> groups;
  std::vector<IncidentView> incidents;       // open first, then recent; newest first
  std::vector<MaintenanceView> maintenance;  // ongoing and ahead, soonest first
  int days = 90;
  std::string day_source;  // how a day's bar is computed, shown in the legend
};

// The service of `model` named `service` (config name), or null.
const ServiceView* FindService(const StatusPageModel& model, const std::string& service);

}  // namespace sonde::html

#endif  // SONDE_COMMON_HTML_STATUS_PAGE_MODEL_H_
