#include "collector/api/report_query.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config/slo_rules.h"
#include "common/proto_time.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

std::string WindowName(absl::Duration d) {
  const absl::Duration day = absl::Hours(24);
  absl::Duration rest;
  const int64_t days = absl::IDivDuration(d, day, &rest);
  if (days > 0 && rest == absl::ZeroDuration()) {
    return absl::StrCat(days, "d");
  }
  return absl::FormatDuration(d);
}

}  // namespace

std::shared_ptr<const v1::Config> ReportQuery::Config() const {
  if (config_ == nullptr) {
    return std::make_shared<const v1::Config>();
  }
  return config_->Get();
}

absl::StatusOr<v1::AvailabilityReply> ReportQuery::Report(const report::ReportScope& scope,
                                                          const report::WindowLabel& label,
                                                          const v1::Config& config) {
  // An idle pooled connection may have died since its last use; a read is
  // safe to retry once on a fresh one.
  absl::StatusOr<report::ReportInputs> inputs;
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<StorePool::Lease> store = pool_->Acquire();
    if (!store.ok()) {
      inputs = store.status();
      break;
    }
    inputs = report::ReadInputs((*store)->connection(), scope, config);
    if (inputs.ok() || !absl::IsUnavailable(inputs.status())) {
      break;
    }
  }
  if (!inputs.ok()) {
    spdlog::error("query: availability report failed: {}", std::string(inputs.status().message()));
    return inputs.status();
  }
  return report::BuildAvailability(*inputs, scope, label, config);
}

absl::StatusOr<v1::AvailabilityReply> ReportQuery::Availability(
    const v1::AvailabilityRequest& request) {
  report::ReportScope scope;
  scope.check = request.check_id();
  scope.region = request.region();
  scope.service = request.service();
  scope.now = clock_->Now();
  report::WindowLabel label;
  label.time_zone = request.time_zone().empty() ? "UTC" : request.time_zone();
  // Whole seconds: rows count whole seconds, and their days add up to them.
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(scope.now));
  if (!request.month().empty()) {
    absl::StatusOr<report::Interval> month =
        report::CalendarMonth(request.month(), label.time_zone);
    if (!month.ok()) {
      return month.status();
    }
    if (month->from >= now) {
      return absl::InvalidArgumentError(absl::StrCat("month ", request.month(), " has not begun"));
    }
    scope.window = {month->from, std::min(month->to, now)};
    label.window =
        absl::StrCat("calendar month ", request.month(), month->to > now ? " (to now)" : "");
  } else {
    if (!request.time_zone().empty()) {
      absl::TimeZone tz;
      if (!absl::LoadTimeZone(request.time_zone(), &tz)) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown time zone \"", request.time_zone(), "\""));
      }
    }
    const absl::Duration window =
        request.has_window() ? common::ToDuration(request.window()) : kDefaultAvailabilityWindow;
    if (window <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("window must be positive, got ", absl::FormatDuration(window)));
    }
    if (window > kMaxAvailabilityWindow) {
      return absl::InvalidArgumentError(absl::StrCat("window ", absl::FormatDuration(window),
                                                     " is longer than the 400 days the "
                                                     "collector answers"));
    }
    scope.window = {now - window, now};
    label.window = absl::StrCat("rolling ", WindowName(window));
  }
  if (request.daily()) {
    absl::TimeZone tz;
    absl::LoadTimeZone(label.time_zone, &tz);  // checked above (or by CalendarMonth)
    scope.days = report::CalendarDays(scope.window, tz);
  }
  const std::shared_ptr<const v1::Config> config = Config();
  return Report(scope, label, *config);
}

absl::StatusOr<v1::SloReply> ReportQuery::Slo(const v1::SloRequest& request) {
  const std::shared_ptr<const v1::Config> config = Config();
  const absl::Time now = clock_->Now();
  // One report per distinct window and subject, shared by the SLOs that
  // use it; each reads only its check (or service).
  std::map<std::tuple<int64_t, std::string, std::string, std::string>, v1::AvailabilityReply>
      reports;
  auto report_for = [&](const v1::SloSpec& slo, report::Interval w, const std::string& label,
                        const std::string& tz) -> absl::StatusOr<const v1::AvailabilityReply*> {
    const auto key = std::make_tuple(absl::ToUnixMicros(w.from), tz, slo.check(), slo.service());
    auto it = reports.find(key);
    if (it == reports.end()) {
      report::ReportScope scope;
      scope.window = w;
      scope.now = now;
      scope.check = slo.check();
      scope.service = slo.check().empty() ? slo.service() : "";
      absl::StatusOr<v1::AvailabilityReply> r = Report(scope, {label, tz}, *config);
      if (!r.ok()) {
        return r.status();
      }
      it = reports.emplace(key, *std::move(r)).first;
    }
    return &it->second;
  };
  v1::SloReply reply;
  for (const v1::SloSpec& spec : config->slos()) {
    if ((!request.name().empty() && spec.name() != request.name()) ||
        (!request.service().empty() && spec.service() != request.service())) {
      continue;
    }
    const v1::SloSpec slo = common::SloWithDefaults(spec);
    absl::StatusOr<report::Interval> window = report::SloWindowAt(slo, now);
    if (!window.ok()) {
      return window.status();
    }
    absl::TimeZone tz;
    absl::LoadTimeZone(slo.time_zone(), &tz);  // validated with the config
    const std::string label =
        slo.window() == "month"
            ? absl::StrCat("calendar month ", absl::FormatTime("%Y-%m", now, tz), " (to now)")
            : absl::StrCat("rolling ", slo.window());
    absl::StatusOr<const v1::AvailabilityReply*> main =
        report_for(slo, *window, label, slo.time_zone());
    if (!main.ok()) {
      return main.status();
    }
    std::vector<std::pair<std::string, const v1::AvailabilityReply*>> burns;
    for (const auto& [name, length] : report::kBurnWindows) {
      absl::StatusOr<const v1::AvailabilityReply*> r =
          report_for(slo, {now - length, now}, absl::StrCat("rolling ", name), "UTC");
      if (!r.ok()) {
        return r.status();
      }
      burns.push_back({name, *r});
    }
    *reply.add_slos() = report::BuildSlo(slo, **main, burns);
  }
  std::stable_sort(reply.mutable_slos()->begin(), reply.mutable_slos()->end(),
                   [](const v1::SloStatus& a, const v1::SloStatus& b) {
                     return a.budget_remaining_percent() < b.budget_remaining_percent();
                   });
  return reply;
}

}  // namespace sonde::collector
