// ReportModel: what `sondectl report` prints, independent of the format —
// the window, one row per check x region, the data gaps, and the accounting
// method (the footer every format prints: definition, window, time zone,
// exclusions, regions counted). Built once from the collector's reply
// (ModelFromAvailability); each format in report_formats.h renders it. Pure
// data and pure functions; any thread.
#ifndef SONDE_SONDECTL_REPORT_MODEL_H_
#define SONDE_SONDECTL_REPORT_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::sondectl {

// One check in one region over the window. Text fields are as the
// collector sent them (outside text: formats make it safe for their medium).
struct ReportRow {
  std::string check;
  std::string service;
  std::string region;
  uint64_t probes = 0;                    // PROBER_ERROR excluded
  uint64_t failures = 0;                  // <= probes
  std::string top_failure_class;          // "" when nothing failed
  std::optional<absl::Time> last_result;  // none: no result in the window
  // The collector's time-based availability (docs/availability.md), when
  // it computes one (its reply carries an AccountingMethod); otherwise the
  // report shows the probe share as availability.
  std::optional<double> availability_percent;
  int64_t maintenance_seconds = 0;  // excluded from the counted time
  int64_t no_data_seconds = 0;      // excluded from the counted time
  // Per calendar day of the report's time zone, oldest first; only when
  // the format asked the collector for them (ReportFormat::daily).
  std::vector<v1::DayAvailability> days;

  bool has_probes() const { return probes > 0; }
  bool below_full() const { return probes > 0 && failures > 0; }
};

// Results a prober lost (spool over its cap): no data, never downtime.
struct ReportGap {
  std::string prober_id;
  std::string region;
  uint64_t results = 0;
  absl::Time from;
  absl::Time to;
};

// One line of the accounting footer: a stable key (JSON field, CSV
// comment) and its text.
struct AccountingLine {
  std::string key;    // "definition", "window", "time_zone", "exclusions", "regions"
  std::string label;  // "Definition", "Window", ... (table)
  std::string text;
};

struct ReportModel {
  std::string window;  // "1h", "30d" (FormatWindow of to - from), or the month "2026-11"
  absl::Time from;
  absl::Time to;
  std::string month;            // the --month asked for ("2026-11"); "" for a rolling window
  std::string service;          // the --service filter ("" all)
  std::vector<ReportRow> rows;  // sorted by check, then region
  std::vector<ReportGap> gaps;
  std::vector<AccountingLine> accounting;  // always present, in this order
  // Only for the formats that ask for them (ReportFormat::daily):
  std::string time_zone = "UTC";        // the days' time zone (the collector's method)
  absl::Time generated_at;              // when sondectl made the report
  std::vector<v1::Incident> incidents;  // of the window (IncidentsOfWindow), newest first
};

// The report for `reply` (rows kept in the collector's order, check then
// region); rows of other services dropped when `service` is set. The
// accounting footer states how the numbers were made: the collector's
// AccountingMethod when the reply has one, else the rollup definition.
ReportModel ModelFromAvailability(const v1::AvailabilityReply& reply, const std::string& service);

// True when `incident` concerns `check` and `region` ("" = any; an
// incident without checks or regions concerns all).
bool IncidentTouches(const v1::Incident& incident, const std::string& check,
                     const std::string& region);

// The incidents of `reply` of the model's service that overlap
// [model.from, model.to) and touch the report's --check and --region: the
// incidents an HTML report lists.
std::vector<v1::Incident> IncidentsOfWindow(const v1::IncidentsReply& reply,
                                            const ReportModel& model, const std::string& check,
                                            const std::string& region);

// "No data: region ber (prober p1) lost 12 results between ... and ...
// (spool full); not counted as downtime." (outside text made safe).
std::string DescribeGap(const ReportGap& gap);

// floor(scale * (probes - failures) / probes) without floating point;
// 0 when there are no probes.
uint64_t ScaledAvailability(const ReportRow& row, uint64_t scale);

// "99.500%" (3 decimals, truncated: any failure shows below 100.000%), or
// "n/a" when the row has no probes; of the availability (as above) or the
// reachability.
std::string AvailabilityPercent(const ReportRow& row);
std::string ReachabilityPercent(const ReportRow& row);

// Percent with at most 6 decimals, truncated, trailing zeros dropped: "100",
// "99.5", "96.666666"; "" when the row has no probes. The collector's
// availability when the row has one, else the probe share.
std::string AvailabilityNumber(const ReportRow& row);
// The same for the reachability: always the probe share.
std::string ReachabilityNumber(const ReportRow& row);

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_REPORT_MODEL_H_
