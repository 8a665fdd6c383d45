// The formats of `sondectl report`: a registry from the --format name to a
// renderer of the ReportModel (report_model.h). One file per format
// (report_table.cc, report_json.cc, report_csv.cc, report_html.cc); a new format is one
// file and one line in report_formats.cc. Every format prints the
// accounting footer. Outside text (names, regions, prober ids) is made safe
// for the format's medium: SafeText for the table and CSV (they reach a
// terminal), JSON escaping for JSON. Pure functions; any thread.
#ifndef SONDE_SONDECTL_REPORT_FORMATS_H_
#define SONDE_SONDECTL_REPORT_FORMATS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/html/report_model.h"
#include "sondectl/report_model.h"

namespace sonde::sondectl {

struct ReportFormat {
  const char* name;         // the --format value
  const char* description;  // one line for --help
  std::string (*render)(const ReportModel& model);
  // The format shows per-day numbers and the window's incidents: sondectl
  // asks the collector for them (AvailabilityRequest.daily, Query.Incidents)
  // and fills ReportRow::days, ReportModel::incidents and generated_at.
  bool daily = false;
};

// The format named `name`, or null.
const ReportFormat* FindReportFormat(absl::string_view name);
// "table, json, csv" in registry order.
std::vector<std::string> ReportFormatNames();

// For people: a header line, aligned columns CHECK SERVICE REGION PROBES
// FAILED AVAILABILITY TOP-FAILURE (rows below 100% marked "!"), a summary
// line, the data gaps, then the footer as "Label: text" lines.
std::string RenderReportTable(const ReportModel& model);

// For scripts: one line of JSON, keys in the documented order
// (docs/sondectl.md), the footer as the object "accounting".
std::string RenderReportJson(const ReportModel& model);

// For spreadsheets: RFC 4180 (CRLF line ends, cells with `,` `"` CR LF
// quoted, quotes doubled); a text cell starting with = + - @ (or tab, CR)
// gets a leading `'` so a spreadsheet does not run it as a formula. A
// header row, one row per check x region, then the gaps and the footer as
// trailer lines starting with "#".
std::string RenderReportCsv(const ReportModel& model);

// For reading and sharing: one self-contained HTML file (common/html's
// renderer: inline CSS and SVG, no script, every text escaped by the
// template) with a bar per day for every check x region, the incidents of
// the window and the footer.
std::string RenderReportHtml(const ReportModel& model);
// The model that file is rendered from: rows with their days (a day with
// counted time has data; the incidents opened that day touching the row
// counted), the incidents, the footer as "Label: text" lines plus one line
// per data gap.
html::ReportModel HtmlReportModel(const ReportModel& model);

// One CSV cell: SafeText, the formula guard, then RFC 4180 quoting.
std::string CsvCell(absl::string_view text);

}  // namespace sonde::sondectl

#endif  // SONDE_SONDECTL_REPORT_FORMATS_H_
