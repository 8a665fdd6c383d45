// Shared pieces of the HTML renderers (status page, report): mustache values
// built from model values. mstch turns a `const char*` into a bool, so every
// text goes in through Text(). Pure functions; any thread.
#ifndef SONDE_COMMON_HTML_VIEW_H_
#define SONDE_COMMON_HTML_VIEW_H_

#include <mstch/mstch.hpp>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/html/status_page_model.h"

namespace sonde::html {

inline mstch::node Text(absl::string_view s) { return std::string(s); }
// "2026-12-05 23:14 UTC"
std::string HumanTime(absl::Time t);
// "2026-12-05T23:14:07Z"
std::string IsoTime(absl::Time t);
// "99.95 %" (two decimals, "100 %" exactly), "no data" when !has_data.
std::string Percent(double percent, bool has_data = true);
// Bar colour class of a day: ok, minor, major, down, none, maint.
const char* DayClass(const DayBar& day);
// A row of daily bars for the "bars" partial; `label` names the row for
// screen readers.
mstch::map BarsView(const std::vector<DayBar>& days, const std::string& label);
// "a, b, c"
std::string JoinText(const std::vector<std::string>& items);

}  // namespace sonde::html

#endif  // SONDE_COMMON_HTML_VIEW_H_
