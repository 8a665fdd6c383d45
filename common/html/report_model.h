// The availability report as data, for the one-file HTML report
// (report_html.h; `sondectl report --format html`): per check x region one
// row of daily availability, the incidents of the window and the accounting
// footer that states how the numbers were counted. Filled by whoever
// computes the report (sondectl's report command); plain values, no I/O;
// every string is outside text the renderer escapes. Any thread.
#ifndef SONDE_COMMON_HTML_REPORT_MODEL_H_
#define SONDE_COMMON_HTML_REPORT_MODEL_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/html/status_page_model.h"

namespace sonde::html {

struct ReportRow {
  std::string check;
  std::string service;
  std::string region;         // "" = all regions
  std::vector<DayBar> days;   // oldest first
  double availability = 100;  // over the window, percent
  double reachability = 100;  // share of successful probes, percent
  int64_t probes = 0;
  int64_t failures = 0;
};

struct ReportIncident {
  std::string id;
  std::string kind;
  std::string service;
  std::vector<std::string> regions;
  absl::Time opened_at;
  absl::Time resolved_at = absl::InfinitePast();  // open while InfinitePast
  std::string evidence;
};

struct ReportModel {
  std::string title = "Availability report";
  absl::Time generated_at;
  absl::Time from;
  absl::Time to;
  std::vector<ReportRow> rows;
  std::vector<ReportIncident> incidents;
  // The accounting method, one line each: definition, window, time zone,
  // exclusions, regions counted.
  std::vector<std::string> footer;
};

}  // namespace sonde::html

#endif  // SONDE_COMMON_HTML_REPORT_MODEL_H_
