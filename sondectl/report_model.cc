#include "sondectl/report_model.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "common/text/safe_text.h"
#include "sondectl/report.h"

namespace sonde::sondectl {
namespace {

std::string ClassName(v1::FailureClass::Code code) {
  if (code == v1::FailureClass::UNSPECIFIED) {
    return "";
  }
  const std::string& name = v1::FailureClass::Code_Name(code);
  return name.empty() ? absl::StrCat(static_cast<int>(code)) : name;
}

// Millionths of a percent, truncated: the one rounding of every number.
uint64_t Micro(double percent) {
  if (!(percent > 0)) {
    return 0;
  }
  return std::min<uint64_t>(static_cast<uint64_t>(percent * 1e6 + 1e-6), 100000000);
}

std::string Decimals(uint64_t micro) {
  std::string frac = absl::StrFormat("%06d", micro % 1000000);
  while (!frac.empty() && frac.back() == '0') {
    frac.pop_back();
  }
  return absl::StrCat(micro / 1000000, frac.empty() ? "" : ".", frac);
}

std::string Thousandths(uint64_t micro) {
  const uint64_t milli = micro / 1000;
  return absl::StrFormat("%d.%03d%%", milli / 1000, milli % 1000);
}

// The footer as the collector stated it (AccountingMethod).
std::vector<AccountingLine> FromMethod(const v1::AccountingMethod& method) {
  std::vector<AccountingLine> out;
  out.push_back({"definition", "Definition", method.definition()});
  out.push_back({"window", "Window",
                 absl::StrCat(method.window(), ", ", FormatRfc3339(common::ToTime(method.from())),
                              " to ", FormatRfc3339(common::ToTime(method.to())))});
  out.push_back(
      {"time_zone", "Time zone", method.time_zone().empty() ? "UTC" : method.time_zone()});
  out.push_back({"exclusions", "Exclusions",
                 method.exclusions().empty() ? std::string("none")
                                             : absl::StrJoin(method.exclusions(), "; ")});
  out.push_back({"regions", "Regions counted",
                 method.regions().empty() ? std::string("none (no results)")
                                          : absl::StrJoin(method.regions(), ", ")});
  if (!method.source().empty()) {
    out.push_back({"source", "Source", method.source()});
  }
  return out;
}

std::vector<AccountingLine> Accounting(const ReportModel& m) {
  std::set<std::string> regions;
  for (const ReportRow& r : m.rows) {
    regions.insert(r.region);
  }
  std::vector<AccountingLine> out;
  out.push_back({"definition", "Definition",
                 "availability = (probes - failed) / probes per check and region, truncated, "
                 "never rounded up; from the collector's per-minute rollups"});
  out.push_back(
      {"window", "Window",
       absl::StrCat("last ", m.window, ", ", FormatRfc3339(m.from), " to ", FormatRfc3339(m.to),
                    ", rounded out to whole minutes (rolling window)")});
  out.push_back({"time_zone", "Time zone", "UTC"});
  out.push_back({"exclusions", "Exclusions",
                 "PROBER_ERROR results (a fault of the prober) count neither as probes nor as "
                 "failures; results probers lost (spool full) are no data, not downtime"});
  out.push_back({"regions", "Regions counted",
                 regions.empty()
                     ? std::string("none (no results)")
                     : absl::StrCat(absl::StrJoin(regions, ", "), "; each region is its own row")});
  return out;
}

}  // namespace

ReportModel ModelFromAvailability(const v1::AvailabilityReply& reply, const std::string& service) {
  ReportModel m;
  m.from = common::ToTime(reply.from());
  m.to = common::ToTime(reply.to());
  m.window = FormatWindow(m.to - m.from);
  m.service = service;
  for (const v1::AvailabilityRow& r : reply.rows()) {
    if (!service.empty() && r.service() != service) {
      continue;
    }
    ReportRow row;
    row.check = r.check_id();
    row.service = r.service();
    row.region = r.region();
    row.probes = r.probes();
    row.failures = std::min(r.failures(), r.probes());
    row.top_failure_class = ClassName(r.top_failure_class());
    if (common::IsSet(r.last_result())) {
      row.last_result = common::ToTime(r.last_result());
    }
    if (reply.has_method()) {
      row.availability_percent = r.availability();
      row.maintenance_seconds = r.maintenance_seconds();
      row.no_data_seconds = r.no_data_seconds();
    }
    row.days.assign(r.days().begin(), r.days().end());
    m.rows.push_back(std::move(row));
  }
  for (const v1::DataGap& g : reply.gaps()) {
    m.gaps.push_back(
        {g.prober_id(), g.region(), g.results(), common::ToTime(g.from()), common::ToTime(g.to())});
  }
  m.accounting = reply.has_method() ? FromMethod(reply.method()) : Accounting(m);
  if (!reply.method().time_zone().empty()) {
    m.time_zone = reply.method().time_zone();
  }
  return m;
}

bool IncidentTouches(const v1::Incident& incident, const std::string& check,
                     const std::string& region) {
  auto touches = [](const auto& list, const std::string& want) {
    return want.empty() || list.empty() || std::find(list.begin(), list.end(), want) != list.end();
  };
  return touches(incident.checks(), check) && touches(incident.regions(), region);
}

std::vector<v1::Incident> IncidentsOfWindow(const v1::IncidentsReply& reply,
                                            const ReportModel& model, const std::string& check,
                                            const std::string& region) {
  std::vector<v1::Incident> out;
  for (const v1::Incident& i : reply.incidents()) {
    const bool overlaps =
        common::ToTime(i.opened_at()) < model.to &&
        (!common::IsSet(i.resolved_at()) || common::ToTime(i.resolved_at()) > model.from);
    if (overlaps && (model.service.empty() || i.service() == model.service) &&
        IncidentTouches(i, check, region)) {
      out.push_back(i);
    }
  }
  return out;
}

std::string DescribeGap(const ReportGap& gap) {
  return absl::StrCat("No data: region ", SafeText(gap.region), " (prober ",
                      SafeText(gap.prober_id), ") lost ", gap.results, " results between ",
                      FormatRfc3339(gap.from), " and ", FormatRfc3339(gap.to),
                      " (spool full); not counted as downtime.");
}

uint64_t ScaledAvailability(const ReportRow& row, uint64_t scale) {
  if (row.probes == 0) {
    return 0;
  }
  const uint64_t good = row.probes - std::min(row.failures, row.probes);
  return static_cast<uint64_t>(static_cast<unsigned __int128>(good) * scale / row.probes);
}

namespace {

// How a percentage in millionths of a percent is written, and what stands
// for a row without one.
struct PercentStyle {
  std::string (*format)(uint64_t micro);
  const char* none;
};
constexpr PercentStyle kPercentText = {Thousandths, "n/a"};
constexpr PercentStyle kPercentNumber = {Decimals, ""};

std::string Reachability(const ReportRow& row, const PercentStyle& style) {
  if (!row.has_probes()) {
    return style.none;
  }
  return style.format(ScaledAvailability(row, 100000000));
}

// The collector's availability when it sent one, reachability otherwise.
std::string Availability(const ReportRow& row, const PercentStyle& style) {
  if (row.availability_percent.has_value()) {
    return style.format(Micro(*row.availability_percent));
  }
  return Reachability(row, style);
}

}  // namespace

std::string ReachabilityPercent(const ReportRow& row) { return Reachability(row, kPercentText); }

std::string AvailabilityPercent(const ReportRow& row) { return Availability(row, kPercentText); }

std::string ReachabilityNumber(const ReportRow& row) { return Reachability(row, kPercentNumber); }

std::string AvailabilityNumber(const ReportRow& row) { return Availability(row, kPercentNumber); }

}  // namespace sonde::sondectl
