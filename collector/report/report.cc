#include "collector/report/report.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/config/slo_rules.h"
#include "common/proto_time.h"

namespace sonde::report {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

v1::AccountingMethod Method(const ReportInputs& inputs, const ReportScope& scope,
                            const WindowLabel& label, const v1::Config& config) {
  v1::AccountingMethod m;
  m.set_definition(kDefinition);
  m.set_window(label.window);
  m.set_time_zone(label.time_zone);
  common::SetTimestamp(scope.window.from, m.mutable_from());
  common::SetTimestamp(scope.window.to, m.mutable_to());
  m.set_source(inputs.source);
  for (const v1::MaintenanceWindow& w : config.maintenance()) {
    if (!w.has_start() || !w.has_end()) {
      continue;
    }
    const absl::Time from = common::ToTime(w.start());
    const absl::Time to = common::ToTime(w.end());
    if (from < scope.window.to && scope.window.from < to) {
      std::string line =
          absl::StrCat("maintenance \"", w.name(), "\" ", Rfc3339(from), " - ", Rfc3339(to));
      if (!w.reason().empty()) {
        absl::StrAppend(&line, " (", w.reason(), ")");
      }
      m.add_exclusions(std::move(line));
    }
  }
  for (const v1::DataGap& g : inputs.gaps) {
    m.add_exclusions(absl::StrCat(
        "no data: region ", g.region(), " prober ", g.prober_id(), " lost ", g.results(),
        " results ", Rfc3339(common::ToTime(g.from())), " - ", Rfc3339(common::ToTime(g.to()))));
  }
  m.add_exclusions(absl::StrCat("no data: any stretch without results longer than ",
                                kNoDataIntervals, " check intervals (at least ",
                                absl::FormatDuration(kMinNoData), "); per row in no_data_seconds"));
  std::set<std::string> regions;
  for (const CheckInput& c : inputs.checks) {
    for (const SeriesInput& s : c.regions) {
      regions.insert(s.region);
    }
  }
  for (const std::string& r : regions) {
    m.add_regions(r);
  }
  return m;
}

}  // namespace

v1::AvailabilityReply BuildAvailability(const ReportInputs& inputs, const ReportScope& scope,
                                        const WindowLabel& label, const v1::Config& config) {
  v1::AvailabilityReply reply;
  common::SetTimestamp(scope.window.from, reply.mutable_from());
  common::SetTimestamp(scope.window.to, reply.mutable_to());
  for (const CheckInput& c : inputs.checks) {
    CheckRows rows = scope.days.empty() ? ComputeCheck(c, scope.window)
                                        : ComputeCheckDaily(c, scope.window, scope.days);
    for (v1::AvailabilityRow& r : rows.regions) {
      *reply.add_rows() = std::move(r);
    }
    *reply.add_overall() = std::move(rows.overall);
  }
  for (const v1::DataGap& g : inputs.gaps) {
    *reply.add_gaps() = g;
  }
  *reply.mutable_method() = Method(inputs, scope, label, config);
  return reply;
}

v1::AvailabilityRow SloRow(const v1::SloSpec& slo, const v1::AvailabilityReply& report) {
  std::vector<const v1::AvailabilityRow*> rows;
  for (const v1::AvailabilityRow& r : report.overall()) {
    if (slo.check().empty() ? r.service() == slo.service() : r.check_id() == slo.check()) {
      rows.push_back(&r);
    }
  }
  return SumRows(rows, slo.check(), slo.service());
}

v1::SloStatus BuildSlo(
    const v1::SloSpec& spec, const v1::AvailabilityReply& window_report,
    const std::vector<std::pair<std::string, const v1::AvailabilityReply*>>& burns) {
  const v1::SloSpec slo = common::SloWithDefaults(spec);
  v1::SloStatus out;
  *out.mutable_spec() = slo;
  *out.mutable_from() = window_report.from();
  *out.mutable_to() = window_report.to();
  const SloCounts counts = CountsFor(SloRow(slo, window_report), slo.method());
  out.set_good(counts.good);
  out.set_total(counts.total);
  out.set_sli_percent(counts.total > 0 ? 100.0 * counts.good / counts.total : 100.0);
  const double window_burn = BurnRate(counts, slo.target_percent());
  out.set_budget_remaining_percent(100.0 * (1.0 - window_burn));
  auto add = [&](const std::string& label, const v1::AvailabilityReply& r, double rate) {
    v1::BurnRate* b = out.add_burn_rates();
    b->set_window(label);
    common::SetDuration(common::ToTime(r.to()) - common::ToTime(r.from()), b->mutable_duration());
    b->set_rate(rate);
  };
  for (const auto& [label, report] : burns) {
    add(label, *report,
        BurnRate(CountsFor(SloRow(slo, *report), slo.method()), slo.target_percent()));
  }
  add(slo.window(), window_report, window_burn);
  *out.mutable_method() = window_report.method();
  out.mutable_method()->set_budgeting_method(slo.method());
  return out;
}

}  // namespace sonde::report
