#include "sondectl/report.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "sondectl/report_formats.h"
#include "sondectl/report_model.h"

namespace sonde::sondectl {

constexpr absl::Duration kDay = absl::Hours(24);

std::string FormatAvailabilityPercent(const v1::AvailabilityRow& row) {
  ReportRow r;
  r.probes = row.probes();
  r.failures = row.failures();
  return AvailabilityPercent(r);
}

std::string FormatWindow(absl::Duration window) {
  if (window > absl::ZeroDuration()) {
    absl::Duration rest;
    int64_t days = absl::IDivDuration(window, kDay, &rest);
    if (days > 0 && rest == absl::ZeroDuration()) {
      return absl::StrCat(days, "d");
    }
  }
  return absl::FormatDuration(window);
}

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string FormatReportTable(const v1::AvailabilityReply& reply) {
  return RenderReportTable(ModelFromAvailability(reply, ""));
}

std::string FormatReportJson(const v1::AvailabilityReply& reply) {
  return RenderReportJson(ModelFromAvailability(reply, ""));
}

}  // namespace sonde::sondectl
