// The availability report as ONE self-contained HTML file (`sondectl report
// --format html`): inline CSS (light and dark), an inline SVG bar per day
// for every check x region, the incidents of the window and the accounting
// footer; no script, no external assets. Every model string is escaped.
// Pure function; any thread.
#ifndef SONDE_COMMON_HTML_REPORT_HTML_H_
#define SONDE_COMMON_HTML_REPORT_HTML_H_

#include <string>

#include "common/html/report_model.h"

namespace sonde::html {

std::string RenderReportHtml(const ReportModel& report);

}  // namespace sonde::html

#endif  // SONDE_COMMON_HTML_REPORT_HTML_H_
