// Rendering of `sondectl report`: an AvailabilityReply as a table for people
// or as JSON for scripts (the format is documented in docs/sondectl.md and is
// a contract: change it only by adding keys). Pure functions; any thread.
//
// Availability is computed from the integer probes/failures and truncated,
// never rounded up, so a row with any failure never reads 100.000%. A row
// with no probes (only PROBER_ERROR results) has no availability: "n/a" in
// the table, null in JSON.
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

// The report for people: a header line with the window and time range,
// aligned columns CHECK SERVICE REGION PROBES FAILED AVAILABILITY TOP-FAILURE,
// rows below 100% marked with "!" in the first column, and a summary line.
// Ends with a newline.
std::string FormatReportTable(const v1::AvailabilityReply& reply);

// The report for scripts: one line of JSON and a newline, keys in this order:
// {"window","from","to","rows":[{"check","service","region","probes",
// "failures","availability","top_failure_class","last_result"}]}.
std::string FormatReportJson(const v1::AvailabilityReply& reply);

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_REPORT_H_
