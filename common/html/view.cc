#include "common/html/view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace sonde::html {

std::string HumanTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", t, absl::UTCTimeZone());
}

std::string IsoTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string Percent(double percent, bool has_data) {
  if (!has_data) {
    return "no data";
  }
  if (percent >= 100) {
    return "100 %";
  }
  // Never round a failure up to 100.
  const double floored = static_cast<double>(static_cast<int64_t>(percent * 100)) / 100;
  return absl::StrFormat("%.2f %%", floored);
}

const char* DayClass(const DayBar& day) {
  if (!day.has_data) {
    return day.maintenance ? "maint" : "none";
  }
  if (day.availability >= 99.9) {
    return day.maintenance ? "maint" : "ok";
  }
  if (day.availability >= 99) {
    return "minor";
  }
  if (day.availability >= 95) {
    return "major";
  }
  return "down";
}

mstch::map BarsView(const std::vector<DayBar>& days, const std::string& label) {
  mstch::array bars;
  int x = 0;
  for (const DayBar& d : days) {
    std::string tip = absl::FormatCivilTime(d.day);
    if (d.has_data) {
      absl::StrAppend(&tip, ": ", Percent(d.availability), " available (", d.failures, " of ",
                      d.probes, " probes failed)");
    } else {
      absl::StrAppend(&tip, ": no data");
    }
    if (d.incidents > 0) {
      absl::StrAppend(&tip, ", ", d.incidents, d.incidents == 1 ? " incident" : " incidents");
    }
    if (d.maintenance) {
      absl::StrAppend(&tip, ", maintenance");
    }
    bars.push_back(mstch::map{{"x", x},
                              {"cls", Text(DayClass(d))},
                              {"day", Text(absl::FormatCivilTime(d.day))},
                              {"tip", tip}});
    x += 5;
  }
  return mstch::map{{"width", x > 0 ? x - 1 : 1}, {"label", label}, {"bars", bars}};
}

std::string JoinText(const std::vector<std::string>& items) { return absl::StrJoin(items, ", "); }

}  // namespace sonde::html
