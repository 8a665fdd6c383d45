// The status page's text forms rendered from a StatusPageModel with the
// templates of templates.h: the HTML page (/status), the Atom feed
// (/status/feed.atom) and a service's SVG badge (/status/badge/<s>.svg).
// Every model string is escaped by mstch ({{x}}); nothing here adds script
// or external assets. Pure functions; any thread.
#ifndef SONDE_COMMON_HTML_STATUS_PAGE_HTML_H_
#define SONDE_COMMON_HTML_STATUS_PAGE_HTML_H_

#include <string>

#include "common/html/status_page_model.h"

namespace sonde::html {

std::string RenderStatusPage(const StatusPageModel& model);
// One entry per incident (its public timeline as text) and one per human
// update, newest first.
std::string RenderAtomFeed(const StatusPageModel& model);
// A flat badge "<display name> | <state>" coloured by state.
std::string RenderBadgeSvg(const ServiceView& service);

}  // namespace sonde::html

#endif  // SONDE_COMMON_HTML_STATUS_PAGE_HTML_H_
