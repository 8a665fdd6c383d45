// Report assembly: the engine's rows for every check of a window put
// together as the Query API answers them — check x region rows, one overall
// row per check, the accounting method as data — and SLO statuses (budget
// left, burn rates) from such reports. Pure functions on values; any
// thread.
#ifndef SONDE_COLLECTOR_REPORT_REPORT_H_
#define SONDE_COLLECTOR_REPORT_REPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "collector/report/engine.h"
#include "collector/report/reader.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::report {

// How the window was chosen, for the accounting footer: "rolling 30d",
// "calendar month 2026-10"; and the zone its boundaries are in.
struct WindowLabel {
  std::string window;
  std::string time_zone = "UTC";
};

v1::AvailabilityReply BuildAvailability(const ReportInputs& inputs, const ReportScope& scope,
                                        const WindowLabel& label, const v1::Config& config);

// The row an SLO is about in `report`: its check's overall row, or the sum
// of its service's checks (empty row when none is there).
v1::AvailabilityRow SloRow(const v1::SloSpec& slo, const v1::AvailabilityReply& report);

// One SLO's status from the report over its window and the reports over the
// burn-rate windows (label, report), shortest first.
v1::SloStatus BuildSlo(
    const v1::SloSpec& slo, const v1::AvailabilityReply& window_report,
    const std::vector<std::pair<std::string, const v1::AvailabilityReply*>>& burns);

// The burn-rate windows every SLO reports besides its own.
inline constexpr std::pair<const char*, absl::Duration> kBurnWindows[] = {
    {"1h", absl::Hours(1)}, {"6h", absl::Hours(6)}, {"24h", absl::Hours(24)}};

}  // namespace sonde::report

#endif  // SONDE_COLLECTOR_REPORT_REPORT_H_
