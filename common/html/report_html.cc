#include "common/html/report_html.h"

#include <mstch/mstch.hpp>

#include "absl/strings/str_cat.h"
#include "common/html/templates.h"
#include "common/html/view.h"

namespace sonde::html {

std::string RenderReportHtml(const ReportModel& report) {
  mstch::array rows;
  for (const ReportRow& r : report.rows) {
    const std::string region = r.region.empty() ? std::string("all") : r.region;
    rows.push_back(mstch::map{
        {"check", r.check},
        {"service", r.service},
        {"region", region},
        {"availability", Percent(r.availability, r.probes > 0)},
        {"reachability", Percent(r.reachability, r.probes > 0)},
        {"probes", Text(absl::StrCat(r.probes))},
        {"failures", Text(absl::StrCat(r.failures))},
        {"daybars",
         BarsView(r.days, absl::StrCat(r.check, " in ", region, ": availability per day"))},
    });
  }
  mstch::array incidents;
  for (const ReportIncident& i : report.incidents) {
    const bool open = i.resolved_at == absl::InfinitePast();
    incidents.push_back(mstch::map{
        {"id", i.id},
        {"kind", i.kind},
        {"service", i.service},
        {"has_regions", !i.regions.empty()},
        {"regions", JoinText(i.regions)},
        {"opened_iso", IsoTime(i.opened_at)},
        {"opened", HumanTime(i.opened_at)},
        {"duration",
         open ? std::string("open")
              : absl::FormatDuration(absl::Trunc(i.resolved_at - i.opened_at, absl::Seconds(1)))},
        {"evidence", i.evidence},
    });
  }
  mstch::array footer;
  for (const std::string& line : report.footer) {
    footer.push_back(mstch::map{{"line", line}});
  }
  mstch::map root{
      {"title", report.title},
      {"from_iso", IsoTime(report.from)},
      {"from", HumanTime(report.from)},
      {"to_iso", IsoTime(report.to)},
      {"to", HumanTime(report.to)},
      {"generated_iso", IsoTime(report.generated_at)},
      {"generated", HumanTime(report.generated_at)},
      {"rows", rows},
      {"has_incidents", !report.incidents.empty()},
      {"incidents", incidents},
      {"footer", footer},
  };
  return mstch::render(kReportTemplate, root, Partials());
}

}  // namespace sonde::html
