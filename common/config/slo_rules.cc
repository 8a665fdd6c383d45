#include "common/config/slo_rules.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace sonde::common {

absl::StatusOr<SloWindow> ParseSloWindow(const std::string& text) {
  SloWindow w;
  if (text == "month") {
    w.calendar_month = true;
    return w;
  }
  absl::string_view digits = text;
  int days = 0;
  if (absl::ConsumeSuffix(&digits, "d") && absl::SimpleAtoi(digits, &days) && days >= 1 &&
      days <= kMaxSloWindowDays && digits.find_first_not_of("0123456789") == digits.npos) {
    w.days = days;
    return w;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "must be \"month\" (the calendar month in time_zone) or a rolling number of days from "
      "\"1d\" to \"",
      kMaxSloWindowDays, "d\", e.g. \"30d\"; got \"", text, "\""));
}

v1::SloSpec SloWithDefaults(const v1::SloSpec& slo) {
  v1::SloSpec out = slo;
  if (out.window().empty()) {
    out.set_window("30d");
  }
  if (out.time_zone().empty()) {
    out.set_time_zone("UTC");
  }
  if (out.method().empty()) {
    out.set_method(kSloMethodOccurrences);
  }
  return out;
}

void ValidateSlos(const v1::Config& config, ConfigErrors* errors) {
  std::set<std::string> checks;
  std::set<std::string> services;
  for (const v1::Check& c : config.checks()) {
    checks.insert(c.name());
    services.insert(c.service().empty() ? c.name() : c.service());
  }
  std::set<std::string> names;
  for (int i = 0; i < config.slos_size(); ++i) {
    const v1::SloSpec slo = SloWithDefaults(config.slos(i));
    std::string where = absl::StrCat("slos[", i, "]");
    if (!slo.name().empty()) {
      absl::StrAppend(&where, " \"", slo.name(), "\"");
    }
    if (slo.name().empty()) {
      errors->Add(where, "name", "is required");
    } else if (!names.insert(slo.name()).second) {
      errors->Add(where, "name", absl::StrCat("duplicate SLO name \"", slo.name(), "\""));
    }
    if (slo.check().empty() == slo.service().empty()) {
      errors->Add(where, "check", "give exactly one of check and service");
    } else if (!slo.check().empty() && checks.count(slo.check()) == 0) {
      errors->Add(where, "check", absl::StrCat("no check is named \"", slo.check(), "\""));
    } else if (!slo.service().empty() && services.count(slo.service()) == 0) {
      errors->Add(where, "service", absl::StrCat("no check has service \"", slo.service(), "\""));
    }
    if (!(slo.target_percent() > 0 && slo.target_percent() < 100)) {
      errors->Add(where, "target_percent",
                  "must be a percentage above 0 and below 100, e.g. 99.9");
    }
    if (absl::StatusOr<SloWindow> w = ParseSloWindow(slo.window()); !w.ok()) {
      errors->Add(where, "window", std::string(w.status().message()));
    }
    absl::TimeZone tz;
    if (!absl::LoadTimeZone(slo.time_zone(), &tz)) {
      errors->Add(where, "time_zone",
                  absl::StrCat("unknown time zone \"", slo.time_zone(),
                               "\"; use an IANA name such as \"UTC\" or \"Europe/Berlin\""));
    }
    if (slo.method() != kSloMethodOccurrences && slo.method() != kSloMethodTimeslices) {
      errors->Add(where, "method",
                  absl::StrCat("must be \"occurrences\" (good probes / probes) or \"timeslices\" "
                               "(good minutes / minutes); got \"",
                               slo.method(), "\""));
    }
  }
}

}  // namespace sonde::common
