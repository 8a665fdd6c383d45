// The HTML format of `sondectl report` (report_formats.h): maps the
// ReportModel onto common/html's report model and renders it there; the
// template escapes every text, so nothing here escapes HTML. Outside text
// goes through SafeText first (the file must be valid UTF-8).
#include "common/html/report_html.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/proto_time.h"
#include "common/text/safe_text.h"
#include "sondectl/report.h"
#include "sondectl/report_formats.h"

namespace sonde::sondectl {
namespace {

absl::TimeZone LoadZone(const std::string& name) {
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(name, &zone)) {
    return absl::UTCTimeZone();
  }
  return zone;
}

// Incidents opened on `day` (in `zone`) that touch the row's check and region.
int IncidentsOn(const ReportModel& m, const ReportRow& row, absl::CivilDay day,
                absl::TimeZone zone) {
  int n = 0;
  for (const v1::Incident& i : m.incidents) {
    if (i.service() == row.service && IncidentTouches(i, row.check, row.region) &&
        absl::ToCivilDay(common::ToTime(i.opened_at()), zone) == day) {
      ++n;
    }
  }
  return n;
}

html::ReportRow HtmlRow(const ReportModel& m, const ReportRow& row, absl::TimeZone zone) {
  html::ReportRow out;
  out.check = SafeText(row.check);
  out.service = SafeText(row.service);
  out.region = SafeText(row.region);
  out.probes = static_cast<int64_t>(row.probes);
  out.failures = static_cast<int64_t>(row.failures);
  out.reachability = row.has_probes() ? 100.0 * (row.probes - row.failures) / row.probes : 0;
  out.availability = row.availability_percent.value_or(out.reachability);
  for (const v1::DayAvailability& d : row.days) {
    html::DayBar bar;
    bar.day = absl::ToCivilDay(common::ToTime(d.start()), zone);
    bar.has_data = d.counted_seconds() > 0 || d.probes() > 0;
    bar.availability = d.availability();
    bar.probes = static_cast<int64_t>(d.probes());
    bar.failures = static_cast<int64_t>(d.failures());
    bar.maintenance = d.maintenance_seconds() > 0;
    bar.incidents = IncidentsOn(m, row, bar.day, zone);
    out.days.push_back(bar);
  }
  return out;
}

std::string Title(const ReportModel& m) {
  return absl::StrCat("Availability report, ",
                      m.month.empty() ? absl::StrCat("last ", m.window) : m.month,
                      m.service.empty() ? "" : absl::StrCat(", service ", SafeText(m.service)));
}

}  // namespace

html::ReportModel HtmlReportModel(const ReportModel& m) {
  const absl::TimeZone zone = LoadZone(m.time_zone);
  html::ReportModel out;
  out.title = Title(m);
  out.generated_at = m.generated_at;
  out.from = m.from;
  out.to = m.to;
  for (const ReportRow& row : m.rows) {
    out.rows.push_back(HtmlRow(m, row, zone));
  }
  for (const v1::Incident& i : m.incidents) {
    html::ReportIncident inc;
    inc.id = SafeText(i.id());
    inc.kind = SafeText(i.kind());
    inc.service = SafeText(i.service());
    for (const std::string& region : i.regions()) {
      inc.regions.push_back(SafeText(region));
    }
    inc.opened_at = common::ToTime(i.opened_at());
    if (common::IsSet(i.resolved_at())) {
      inc.resolved_at = common::ToTime(i.resolved_at());
    }
    inc.evidence = SafeText(i.evidence());
    out.incidents.push_back(std::move(inc));
  }
  for (const AccountingLine& line : m.accounting) {
    out.footer.push_back(absl::StrCat(line.label, ": ", SafeText(line.text)));
  }
  for (const ReportGap& gap : m.gaps) {
    out.footer.push_back(DescribeGap(gap));
  }
  return out;
}

std::string RenderReportHtml(const ReportModel& model) {
  return html::RenderReportHtml(HtmlReportModel(model));
}

}  // namespace sonde::sondectl
