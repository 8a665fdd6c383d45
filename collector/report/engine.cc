#include "collector/report/engine.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "common/config/slo_rules.h"
#include "common/proto_time.h"

namespace sonde::report {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

double Clamp01(double v) { return std::min(1.0, std::max(0.0, v)); }

double Percent(double good, double total) { return total <= 0 ? 100.0 : 100.0 * good / total; }

// The integral over `counted` of the largest weight active at each instant.
absl::Duration WeightedDown(const std::vector<OutageSegment>& outages, const std::string& region,
                            const std::vector<std::string>& regions_counted,
                            const IntervalSet& counted) {
  std::vector<std::pair<Interval, double>> active;
  std::vector<absl::Time> cuts;
  for (const OutageSegment& s : outages) {
    const double w = OutageWeight(s, region, regions_counted);
    if (w <= 0 || !(s.span.from < s.span.to)) {
      continue;
    }
    active.push_back({s.span, w});
    cuts.push_back(s.span.from);
    cuts.push_back(s.span.to);
  }
  if (active.empty()) {
    return absl::ZeroDuration();
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  absl::Duration down;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    const Interval piece{cuts[i], cuts[i + 1]};
    double w = 0;
    for (const auto& [span, weight] : active) {
      if (span.from <= piece.from && piece.to <= span.to) {
        w = std::max(w, weight);
      }
    }
    if (w > 0) {
      down += Length(Clip(counted, piece)) * w;
    }
  }
  return down;
}

void Fill(v1::AvailabilityRow* row, absl::Duration counted, absl::Duration down,
          absl::Duration maintenance, absl::Duration no_data) {
  const double counted_s = absl::ToDoubleSeconds(counted);
  const double down_s = std::min(counted_s, absl::ToDoubleSeconds(down));
  row->set_counted_seconds(absl::ToInt64Seconds(counted));
  row->set_down_seconds(down_s);
  row->set_maintenance_seconds(absl::ToInt64Seconds(maintenance));
  row->set_no_data_seconds(absl::ToInt64Seconds(no_data));
  row->set_availability(Percent(counted_s - down_s, counted_s));
  const double probes = static_cast<double>(row->probes());
  const double good = static_cast<double>(row->probes() - std::min(row->failures(), row->probes()));
  row->set_reachability(Percent(good, probes));
}

// A day's numbers are a row's numbers over that day.
v1::DayAvailability DayOf(const v1::AvailabilityRow& row, Interval day) {
  v1::DayAvailability out;
  common::SetTimestamp(day.from, out.mutable_start());
  common::SetTimestamp(day.to, out.mutable_end());
  out.set_availability(row.availability());
  out.set_reachability(row.reachability());
  out.set_probes(row.probes());
  out.set_failures(row.failures());
  out.set_down_seconds(row.down_seconds());
  out.set_counted_seconds(row.counted_seconds());
  out.set_maintenance_seconds(row.maintenance_seconds());
  out.set_no_data_seconds(row.no_data_seconds());
  return out;
}

v1::AvailabilityRow RowOf(const v1::DayAvailability& day) {
  v1::AvailabilityRow out;
  out.set_probes(day.probes());
  out.set_failures(day.failures());
  out.set_down_seconds(day.down_seconds());
  out.set_counted_seconds(day.counted_seconds());
  out.set_maintenance_seconds(day.maintenance_seconds());
  out.set_no_data_seconds(day.no_data_seconds());
  return out;
}

}  // namespace

const char kDefinition[] =
    "reachability = successful probes / probes (PROBER_ERROR results not counted); "
    "availability = 1 - outage time / counted time, where outage time runs from an outage "
    "incident's first failing result to the moment its condition cleared (not the resolve "
    "hold), weighted by the share affected (global 1, regional: affected regions / regions "
    "counted, partial: the failing share of probes), and counted time = the window minus "
    "maintenance windows minus time without results (docs/availability.md)";

bool IsOutageKind(const std::string& kind) {
  return kind == "GLOBAL_OUTAGE" || kind == "REGIONAL_OUTAGE" || kind == "PARTIAL_FAILURE" ||
         kind == "DNS_FAILURE" || kind == "PROTOCOL_OUTAGE";
}

double OutageWeight(const OutageSegment& segment, const std::string& region,
                    const std::vector<std::string>& regions_counted) {
  if (!IsOutageKind(segment.kind)) {
    return 0;
  }
  const double share = Clamp01(segment.failing_share);
  const double scope_share = (share > 0 && share < 1) ? share : 1.0;
  if (!region.empty()) {
    const bool affected = Contains(segment.regions, region) ||
                          (segment.kind == "GLOBAL_OUTAGE" && segment.regions.empty());
    if (!affected) {
      return 0;
    }
    if (segment.kind == "GLOBAL_OUTAGE") {
      return 1;
    }
    return segment.kind == "PARTIAL_FAILURE" ? share : scope_share;
  }
  if (segment.kind == "GLOBAL_OUTAGE") {
    return 1;
  }
  if (segment.kind == "PARTIAL_FAILURE") {
    return share;
  }
  if (regions_counted.empty()) {
    return scope_share;
  }
  size_t hit = 0;
  for (const std::string& r : segment.regions) {
    if (Contains(regions_counted, r)) {
      ++hit;
    }
  }
  return scope_share * static_cast<double>(hit) / static_cast<double>(regions_counted.size());
}

CheckRows ComputeCheck(const CheckInput& input, Interval window) {
  CheckRows out;
  const IntervalSet whole = {window};
  const IntervalSet maintenance = Clip(input.maintenance, window);
  std::vector<std::string> counted_regions;
  for (const SeriesInput& s : input.regions) {
    counted_regions.push_back(s.region);
  }
  IntervalSet no_data_everywhere = input.regions.empty() ? whole : IntervalSet{window};
  uint64_t probes = 0;
  uint64_t failures = 0;
  absl::Time last = absl::InfinitePast();
  v1::FailureClass::Code top = v1::FailureClass::UNSPECIFIED;
  uint64_t top_failures = 0;
  for (const SeriesInput& s : input.regions) {
    const IntervalSet no_data = Subtract(Clip(s.no_data, window), maintenance);
    no_data_everywhere = Intersect(no_data_everywhere, Clip(s.no_data, window));
    const IntervalSet counted = Subtract(Subtract(whole, maintenance), no_data);
    v1::AvailabilityRow row;
    row.set_check_id(input.check);
    row.set_service(input.service);
    row.set_region(s.region);
    row.set_probes(s.probes);
    row.set_failures(s.failures);
    row.set_top_failure_class(s.top_failure_class);
    if (s.last_result != absl::InfinitePast()) {
      common::SetTimestamp(s.last_result, row.mutable_last_result());
    }
    Fill(&row, Length(counted), WeightedDown(input.outages, s.region, counted_regions, counted),
         Length(maintenance), Length(no_data));
    out.regions.push_back(std::move(row));
    probes += s.probes;
    failures += s.failures;
    last = std::max(last, s.last_result);
    if (s.top_failure_class != v1::FailureClass::UNSPECIFIED && s.failures > top_failures) {
      top = s.top_failure_class;
      top_failures = s.failures;
    }
  }
  const IntervalSet no_data = Subtract(no_data_everywhere, maintenance);
  const IntervalSet counted = Subtract(Subtract(whole, maintenance), no_data);
  v1::AvailabilityRow& row = out.overall;
  row.set_check_id(input.check);
  row.set_service(input.service);
  row.set_probes(probes);
  row.set_failures(failures);
  row.set_top_failure_class(top);
  if (last != absl::InfinitePast()) {
    common::SetTimestamp(last, row.mutable_last_result());
  }
  Fill(&row, Length(counted), WeightedDown(input.outages, "", counted_regions, counted),
       Length(maintenance), Length(no_data));
  return out;
}

std::vector<Interval> CalendarDays(Interval window, absl::TimeZone tz) {
  std::vector<Interval> out;
  if (!(window.from < window.to)) {
    return out;
  }
  absl::CivilDay day = absl::ToCivilDay(window.from, tz);
  absl::Time start = window.from;
  while (start < window.to) {
    ++day;
    const absl::Time next = std::min(window.to, absl::FromCivil(day, tz));
    if (start < next) {
      out.push_back({start, next});
      start = next;
    }
  }
  return out;
}

CheckRows ComputeCheckDaily(const CheckInput& input, Interval window,
                            const std::vector<Interval>& days) {
  CheckRows out = ComputeCheck(input, window);
  CheckInput day_input = input;
  for (size_t d = 0; d < days.size(); ++d) {
    for (size_t r = 0; r < day_input.regions.size(); ++r) {
      const SeriesInput& s = input.regions[r];
      const DayCounts counts = d < s.days.size() ? s.days[d] : DayCounts{};
      day_input.regions[r].probes = counts.probes;
      day_input.regions[r].failures = counts.failures;
    }
    const CheckRows day = ComputeCheck(day_input, days[d]);
    for (size_t r = 0; r < day.regions.size() && r < out.regions.size(); ++r) {
      *out.regions[r].add_days() = DayOf(day.regions[r], days[d]);
    }
    *out.overall.add_days() = DayOf(day.overall, days[d]);
  }
  return out;
}

v1::AvailabilityRow SumRows(const std::vector<const v1::AvailabilityRow*>& rows,
                            const std::string& check_id, const std::string& service) {
  v1::AvailabilityRow out;
  out.set_check_id(check_id);
  out.set_service(service);
  double down = 0;
  int64_t counted = 0;
  int64_t maintenance = 0;
  int64_t no_data = 0;
  for (const v1::AvailabilityRow* r : rows) {
    out.set_probes(out.probes() + r->probes());
    out.set_failures(out.failures() + r->failures());
    down += r->down_seconds();
    counted += r->counted_seconds();
    maintenance += r->maintenance_seconds();
    no_data += r->no_data_seconds();
  }
  Fill(&out, absl::Seconds(counted), absl::Seconds(down), absl::Seconds(maintenance),
       absl::Seconds(no_data));
  const int days = rows.empty() ? 0 : rows.front()->days_size();
  for (const v1::AvailabilityRow* r : rows) {
    if (r->days_size() != days) {
      return out;
    }
  }
  for (int d = 0; d < days; ++d) {
    std::vector<v1::AvailabilityRow> day_rows;
    for (const v1::AvailabilityRow* r : rows) {
      day_rows.push_back(RowOf(r->days(d)));
    }
    std::vector<const v1::AvailabilityRow*> ptrs;
    for (const v1::AvailabilityRow& r : day_rows) {
      ptrs.push_back(&r);
    }
    const v1::DayAvailability& first = rows.front()->days(d);
    *out.add_days() = DayOf(SumRows(ptrs, check_id, service),
                            {common::ToTime(first.start()), common::ToTime(first.end())});
  }
  return out;
}

SloCounts CountsFor(const v1::AvailabilityRow& row, const std::string& method) {
  SloCounts c;
  if (method == common::kSloMethodTimeslices) {
    c.total = static_cast<double>(row.counted_seconds()) / 60.0;
    c.good = (static_cast<double>(row.counted_seconds()) - row.down_seconds()) / 60.0;
  } else {
    c.total = static_cast<double>(row.probes());
    c.good = static_cast<double>(row.probes() - std::min(row.failures(), row.probes()));
  }
  return c;
}

double BurnRate(const SloCounts& c, double target_percent) {
  if (c.total <= 0 || target_percent >= 100) {
    return 0;
  }
  const double error_ratio = 1.0 - c.good / c.total;
  return error_ratio / (1.0 - target_percent / 100.0);
}

absl::StatusOr<Interval> CalendarMonth(const std::string& month, const std::string& time_zone) {
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(time_zone.empty() ? "UTC" : time_zone, &tz)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown time zone \"", time_zone, "\""));
  }
  std::vector<std::string> parts = absl::StrSplit(month, '-');
  int year = 0;
  int mon = 0;
  if (parts.size() != 2 || parts[0].size() != 4 || parts[1].size() != 2 ||
      !absl::SimpleAtoi(parts[0], &year) || !absl::SimpleAtoi(parts[1], &mon) || mon < 1 ||
      mon > 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("month must look like \"2026-10\", got \"", month, "\""));
  }
  const absl::CivilMonth m(year, mon);
  return Interval{absl::FromCivil(absl::CivilSecond(m), tz),
                  absl::FromCivil(absl::CivilSecond(m + 1), tz)};
}

absl::StatusOr<Interval> SloWindowAt(const v1::SloSpec& slo, absl::Time now) {
  const v1::SloSpec s = common::SloWithDefaults(slo);
  absl::StatusOr<common::SloWindow> w = common::ParseSloWindow(s.window());
  if (!w.ok()) {
    return w.status();
  }
  if (!w->calendar_month) {
    return Interval{now - absl::Hours(24) * w->days, now};
  }
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(s.time_zone(), &tz)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown time zone \"", s.time_zone(), "\""));
  }
  const absl::CivilMonth m = absl::CivilMonth(absl::ToCivilSecond(now, tz));
  return Interval{absl::FromCivil(absl::CivilSecond(m), tz), now};
}

}  // namespace sonde::report
