// The status page as JSON: /status.json (the same data as the HTML page,
// version 1, documented in docs/status-page.md) and a service's shields.io
// endpoint document (/status/shields/<service>.json). Pure functions; any
// thread.
#ifndef SONDE_COMMON_HTML_STATUS_PAGE_JSON_H_
#define SONDE_COMMON_HTML_STATUS_PAGE_JSON_H_

#include <string>

#include "common/html/status_page_model.h"

namespace sonde::html {

std::string StatusJson(const StatusPageModel& model);
// {"schemaVersion":1,"label":<display name>,"message":<state>,"color":...}
std::string ShieldsJson(const ServiceView& service);

}  // namespace sonde::html

#endif  // SONDE_COMMON_HTML_STATUS_PAGE_JSON_H_
