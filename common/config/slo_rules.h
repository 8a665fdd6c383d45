// SLO rules: the validation of the config's `slos:` block and the one
// reading of an SLO's window, time zone and budgeting method with their
// defaults (docs/availability.md, "SLOs"). The config loader validates with
// them; the collector's report engine reads SLOs through SloWithDefaults and
// ParseSloWindow, so both agree on what a config means. Pure functions; any
// thread.
#ifndef SONDE_COMMON_CONFIG_SLO_RULES_H_
#define SONDE_COMMON_CONFIG_SLO_RULES_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/config/config_errors.h"
#include "sonde/v1/check.pb.h"

namespace sonde::common {

inline constexpr char kSloMethodOccurrences[] = "occurrences";
inline constexpr char kSloMethodTimeslices[] = "timeslices";
inline constexpr int kMaxSloWindowDays = 400;

// An SLO window: `days` rolling days, or the calendar month (days = 0).
struct SloWindow {
  bool calendar_month = false;
  int days = 0;
};

// "30d" (1..400 days) or "month"; INVALID_ARGUMENT otherwise.
absl::StatusOr<SloWindow> ParseSloWindow(const std::string& text);

// The SLO with its defaults filled in: window "30d", time zone "UTC",
// method "occurrences".
v1::SloSpec SloWithDefaults(const v1::SloSpec& slo);

// Adds an error per problem of `config.slos()`: names unique and present,
// exactly one of check and service naming an existing one, target in
// (0, 100), window, time zone (loaded with absl::LoadTimeZone) and method
// known.
void ValidateSlos(const v1::Config& config, ConfigErrors* errors);

}  // namespace sonde::common

#endif  // SONDE_COMMON_CONFIG_SLO_RULES_H_
