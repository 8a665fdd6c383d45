// The mustache templates of the status page, its Atom feed, badge and the
// HTML report, compiled into the binary (no files to install, no external
// assets). Rendered with mstch by status_page_html.cc and report_html.cc
// only: {{x}} escapes HTML, and outside text is never put in {{{x}}}.
// Constants; any thread.
#ifndef SONDE_COMMON_HTML_TEMPLATES_H_
#define SONDE_COMMON_HTML_TEMPLATES_H_

#include <map>
#include <string>

namespace sonde::html {

extern const char kStatusPageTemplate[];
extern const char kAtomTemplate[];
extern const char kBadgeTemplate[];
extern const char kReportTemplate[];

// The partials every HTML template may use: "head" (doctype to the <h1>
// {{title}}: style included, the Atom feed link when the page sets "feed"),
// "style" (CSS, light and dark),
// "bars" (a row of daily bars from BarsView()) and "legend" (their colours).
const std::map<std::string, std::string>& Partials();

}  // namespace sonde::html

#endif  // SONDE_COMMON_HTML_TEMPLATES_H_
