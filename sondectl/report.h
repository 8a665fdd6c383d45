// `sondectl report` over Query.Availability: the small formatting helpers
// every report format shares, and the two renderings of a reply that tests
// and older callers use (table and JSON, documented in docs/sondectl.md; a
// contract: change it only by adding keys). The formats themselves are in
// report_formats.h over the ReportModel (report_model.h). Pure functions;
// any thread.
#ifndef SONDE_SONDECTL_REPORT_H_
#define SONDE_SONDECTL_REPORT_H_

#include <string>

#include "absl/time/time.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::sondectl {

// "99.500%" (3 decimals, truncated), or "n/a" when the row has no probes.
std::string FormatAvailabilityPercent(const v1::AvailabilityRow& row);

// "1h", "30m", "1h30m", "7d" (whole days are written in days).
std::string FormatWindow(absl::Duration window);

// "2024-05-01T10:00:00Z": RFC 3339, UTC, whole seconds.
std::string FormatRfc3339(absl::Time t);

// RenderReportTable / RenderReportJson of the reply's model (all services).
std::string FormatReportTable(const v1::AvailabilityReply& reply);
std::string FormatReportJson(const v1::AvailabilityReply& reply);

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_REPORT_H_
