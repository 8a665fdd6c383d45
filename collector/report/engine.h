// The availability and SLO engine: intervals and counts in, report numbers
// out, with no I/O (docs/availability.md is the definition; this is its one
// implementation). The reader (reader.h) fetches the inputs from PostgreSQL;
// tests and the benchmark feed them directly.
//
//  * reachability = good probes / probes (PROBER_ERROR already excluded by
//    the rollups), per region and overall.
//  * availability = 1 - down / counted, where counted = window - maintenance
//    - no data, and down = the integral over the counted time of the outage
//    weight: the largest weight of the outage segments active at that
//    instant (OutageWeight).
//
// Pure functions on values; any thread.
#ifndef SONDE_COLLECTOR_REPORT_ENGINE_H_
#define SONDE_COLLECTOR_REPORT_ENGINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/report/intervals.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::report {

// One stretch of an outage incident with a constant scope: from the
// incident's first failing result (or the event that changed its scope) to
// the next change, or to the moment its condition cleared.
struct OutageSegment {
  Interval span;
  std::string kind;                  // GLOBAL_OUTAGE, REGIONAL_OUTAGE, PARTIAL_FAILURE, ...
  std::vector<std::string> regions;  // affected regions
  double failing_share = 1;          // 0..1, the measured share of probes failing
};

// Probe counts of one series over one day of a daily report.
struct DayCounts {
  uint64_t probes = 0;
  uint64_t failures = 0;
};

// One check in one region over the window.
struct SeriesInput {
  std::string region;
  uint64_t probes = 0;
  uint64_t failures = 0;
  v1::FailureClass::Code top_failure_class = v1::FailureClass::UNSPECIFIED;
  absl::Time last_result = absl::InfinitePast();
  IntervalSet no_data;  // no results (prober gaps, nothing received)
  // Daily reports only: the counts per day, one per day passed to
  // ComputeCheckDaily (same order); their sums are probes/failures.
  std::vector<DayCounts> days;
};

struct CheckInput {
  std::string check;
  std::string service;
  std::vector<SeriesInput> regions;    // the regions counted: those with results in the window
  std::vector<OutageSegment> outages;  // segments of incidents that name this check
  IntervalSet maintenance;             // windows that cover this check
};

// The incident kinds that count as downtime; others (latency, flapping,
// certificates, prober faults) weigh 0.
bool IsOutageKind(const std::string& kind);

// The weight of `segment` for `region` ("" = the check over all of
// `regions_counted` regions), 0..1 (docs/availability.md, "Weights"):
//   GLOBAL_OUTAGE                  overall 1, per affected region 1
//   REGIONAL_OUTAGE, DNS_FAILURE,  overall |affected ∩ counted| / |counted| x s,
//   PROTOCOL_OUTAGE                per affected region s   (s = failing_share if in (0,1), else 1)
//   PARTIAL_FAILURE                overall failing_share, per affected region failing_share
double OutageWeight(const OutageSegment& segment, const std::string& region,
                    const std::vector<std::string>& regions_counted);

// Per region rows (check x region) and the overall row (region "") of one
// check over `window`.
struct CheckRows {
  std::vector<v1::AvailabilityRow> regions;
  v1::AvailabilityRow overall;
};
CheckRows ComputeCheck(const CheckInput& input, Interval window);

// The calendar days of `tz` that overlap `window`, each clipped to it,
// oldest first (a DST day is 23 or 25 hours long).
std::vector<Interval> CalendarDays(Interval window, absl::TimeZone tz);

// ComputeCheck over `window`, and in every row (regions and overall) one
// DayAvailability per `days` entry: ComputeCheck over that day with the
// series' day counts (SeriesInput::days). The regions counted for the
// weights are the window's, so the days' probes, failures, down, counted,
// maintenance and no-data seconds add up to the row's.
CheckRows ComputeCheckDaily(const CheckInput& input, Interval window,
                            const std::vector<Interval>& days);

// Rows of several checks added up (a service): probes, failures, seconds;
// reachability and availability recomputed from the sums. `check_id` and
// `service` label the result. Days are added up day by day when every row
// has the same days (daily reports).
v1::AvailabilityRow SumRows(const std::vector<const v1::AvailabilityRow*>& rows,
                            const std::string& check_id, const std::string& service);

// SLO arithmetic (OpenSLO budgeting methods).
struct SloCounts {
  double good = 0;
  double total = 0;
};
// occurrences: good probes of probes; timeslices: good minutes of counted
// minutes (a minute in an outage counts bad by its weight).
SloCounts CountsFor(const v1::AvailabilityRow& row, const std::string& method);
// error ratio / (1 - target); 0 when nothing was counted.
double BurnRate(const SloCounts& c, double target_percent);

// The window of `slo` (defaults filled) that ends at `now`: the last N days,
// or the calendar month of `now` in the SLO's time zone up to `now`.
absl::StatusOr<Interval> SloWindowAt(const v1::SloSpec& slo, absl::Time now);
// The calendar month "2026-10" in `time_zone` (IANA): [first midnight,
// next month's first midnight); 745 hours for October in Europe/Berlin.
absl::StatusOr<Interval> CalendarMonth(const std::string& month, const std::string& time_zone);

// The accounting-method paragraph every report carries.
extern const char kDefinition[];

}  // namespace sonde::report

#endif  // SONDE_COLLECTOR_REPORT_ENGINE_H_
