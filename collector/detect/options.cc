#include "collector/detect/options.h"

#include "absl/strings/str_cat.h"
#include "collector/detect/limits.h"
#include "common/proto_time.h"

namespace sonde::detect {
namespace {

bool WholeMinutes(absl::Duration d) {
  return d > absl::ZeroDuration() && d % absl::Minutes(1) == absl::ZeroDuration();
}

bool Share(double v) { return v >= 0 && v <= 1; }

}  // namespace

absl::Status DetectorOptions::Validate() const {
  auto bad = [](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("detector option ", field, ": ", why));
  };
  if (reorder_window < absl::ZeroDuration()) {
    return bad("reorder_window", "must be >= 0");
  }
  if (evaluation_period < absl::ZeroDuration()) {
    return bad("evaluation_period", "must be >= 0");
  }
  if (down_window < 1 || down_window > kMaxDownWindow) {
    return bad("down_window", absl::StrCat("must be 1..", kMaxDownWindow));
  }
  if (down_failures < 1 || down_failures > down_window) {
    return bad("down_failures", "must be 1..down_window");
  }
  if (up_successes < 1) {
    return bad("up_successes", "must be >= 1");
  }
  if (stale_intervals < 1) {
    return bad("stale_intervals", "must be >= 1");
  }
  if (default_interval <= absl::ZeroDuration()) {
    return bad("default_interval", "must be > 0");
  }
  if (!(outage_false_rate > 0 && outage_false_rate < 1)) {
    return bad("outage_false_rate", "must be in (0, 1)");
  }
  if (outage_max_confirm_runs < 2 || outage_max_confirm_runs > 60) {
    return bad("outage_max_confirm_runs", "must be 2..60");
  }
  if (prober_min_checks < 1) {
    return bad("prober_min_checks", "must be >= 1");
  }
  if (!Share(prober_fault_share) || prober_fault_share == 0) {
    return bad("prober_fault_share", "must be in (0, 1]");
  }
  if (!Share(prober_recover_share) || prober_recover_share >= prober_fault_share) {
    return bad("prober_recover_share", "must be in [0, prober_fault_share)");
  }
  if (global_min_regions < 1) {
    return bad("global_min_regions", "must be >= 1");
  }
  if (!WholeMinutes(partial_window) || partial_window > absl::Minutes(kMaxPartialMinutes)) {
    return bad("partial_window",
               absl::StrCat("must be whole minutes, at most ", kMaxPartialMinutes, "m"));
  }
  if (!Share(partial_share) || !Share(partial_fast_share)) {
    return bad("partial_share", "shares must be in [0, 1]");
  }
  if (!(partial_noise_share >= 0 && partial_noise_share < 1)) {
    return bad("partial_noise_share", "must be in [0, 1)");
  }
  if (!(partial_noise_p > 0 && partial_noise_p <= 1)) {
    return bad("partial_noise_p", "must be in (0, 1]");
  }
  if (partial_fast_window < absl::Seconds(kFastBuckets) ||
      partial_fast_window % absl::Seconds(kFastBuckets) != absl::ZeroDuration()) {
    return bad("partial_fast_window", absl::StrCat("must be a multiple of ", kFastBuckets, "s (",
                                                   kFastBuckets, " buckets of whole seconds)"));
  }
  if (partial_min_regions < 1) {
    return bad("partial_min_regions", "must be >= 1");
  }
  if (!Share(dns_share)) {
    return bad("dns_share", "must be in [0, 1]");
  }
  if (class_window <= absl::ZeroDuration()) {
    return bad("class_window", "must be > 0");
  }
  if (!WholeMinutes(latency_window) || latency_window > absl::Minutes(kMaxLatencyMinutes)) {
    return bad("latency_window",
               absl::StrCat("must be whole minutes, at most ", kMaxLatencyMinutes, "m"));
  }
  if (latency_baseline_window < latency_window ||
      latency_baseline_window % latency_window != absl::ZeroDuration() ||
      latency_baseline_window / latency_window > kMaxBaselineBlocks) {
    return bad("latency_baseline_window",
               absl::StrCat("must be 1..", kMaxBaselineBlocks, " times latency_window"));
  }
  if (!(latency_percentile > 0 && latency_percentile < 1)) {
    return bad("latency_percentile", "must be in (0, 1)");
  }
  if (latency_factor < 1) {
    return bad("latency_factor", "must be >= 1");
  }
  if (latency_margin < absl::ZeroDuration()) {
    return bad("latency_margin", "must be >= 0");
  }
  if (!WholeMinutes(latency_fast_window) || latency_fast_window >= latency_window) {
    return bad("latency_fast_window", "must be whole minutes, shorter than latency_window");
  }
  if (!(latency_fast_share > 0 && latency_fast_share <= 1)) {
    return bad("latency_fast_share", "must be in (0, 1]");
  }
  if (latency_min_regions < 1) {
    return bad("latency_min_regions", "must be >= 1");
  }
  if (flap_history < 3 || flap_history > kMaxFlapHistory) {
    return bad("flap_history", absl::StrCat("must be 3..", kMaxFlapHistory));
  }
  if (!WholeMinutes(flap_sample_period)) {
    return bad("flap_sample_period", "must be whole minutes");
  }
  if (flap_exit_percent > flap_enter_percent) {
    return bad("flap_exit_percent", "must be <= flap_enter_percent");
  }
  if (!(default_slo_target > 0 && default_slo_target < 100)) {
    return bad("default_slo_target", "must be in (0, 100)");
  }
  if (burn_rules.size() > kMaxBurnRules) {
    return bad("burn_rules", absl::StrCat("at most ", kMaxBurnRules));
  }
  for (const BurnRule& r : burn_rules) {
    for (absl::Duration w : {r.long_window, r.short_window}) {
      bool minutes = WholeMinutes(w) && w <= absl::Minutes(kBurnMinuteSlots);
      bool hours = w > absl::ZeroDuration() && w % absl::Hours(1) == absl::ZeroDuration() &&
                   w <= absl::Hours(kBurnHourSlots);
      if (!minutes && !hours) {
        return bad("burn_rules", absl::StrCat("window ", absl::FormatDuration(w),
                                              ": whole minutes up to ", kBurnMinuteSlots / 60,
                                              "h or whole hours up to ", kBurnHourSlots, "h"));
      }
    }
    if (r.short_window >= r.long_window) {
      return bad("burn_rules", "short_window must be shorter than long_window");
    }
    if (r.factor <= 0) {
      return bad("burn_rules", "factor must be > 0");
    }
  }
  if (burn_min_failures < 0) {
    return bad("burn_min_failures", "must be >= 0");
  }
  if (resolve_hold < absl::ZeroDuration()) {
    return bad("resolve_hold", "must be >= 0");
  }
  if (reclassify_after < absl::ZeroDuration()) {
    return bad("reclassify_after", "must be >= 0");
  }
  if (share_update_step < 0) {
    return bad("share_update_step", "must be >= 0");
  }
  if (progress_every_target < 0) {
    return bad("progress_every_target", "must be >= 0");
  }
  if (!(progress_step > 0 && progress_step <= 1)) {
    return bad("progress_step", "must be in (0, 1]");
  }
  return absl::OkStatus();
}

DetectorOptions WithConfig(DetectorOptions o, const v1::DetectionConfig& c) {
  // Every DetectionConfig field has the name of the option it overrides; a
  // field overrides when set (a duration) or non-zero (a number). The macros
  // name each field once, so a field cannot land in another option.
#define SONDE_DURATION(field)                \
  if (c.has_##field()) {                     \
    o.field = common::ToDuration(c.field()); \
  }
#define SONDE_NUMBER(field) \
  if (c.field() != 0) {     \
    o.field = c.field();    \
  }
  SONDE_DURATION(reorder_window)
  SONDE_NUMBER(down_failures)
  SONDE_NUMBER(down_window)
  SONDE_NUMBER(up_successes)
  SONDE_NUMBER(stale_intervals)
  SONDE_NUMBER(prober_fault_share)
  SONDE_DURATION(prober_fault_hold)
  SONDE_DURATION(partial_window)
  SONDE_NUMBER(partial_share)
  SONDE_DURATION(partial_fast_window)
  SONDE_NUMBER(partial_fast_share)
  SONDE_NUMBER(partial_min_probes)
  SONDE_NUMBER(partial_fast_min_probes)
  SONDE_NUMBER(dns_share)
  SONDE_DURATION(latency_window)
  SONDE_DURATION(latency_baseline_window)
  SONDE_NUMBER(latency_factor)
  SONDE_DURATION(latency_margin)
  SONDE_NUMBER(latency_min_samples)
  SONDE_NUMBER(latency_min_baseline_samples)
  SONDE_DURATION(flap_sample_period)
  SONDE_NUMBER(flap_enter_percent)
  SONDE_NUMBER(flap_exit_percent)
  SONDE_DURATION(reclassify_after)
  SONDE_DURATION(resolve_hold)
#undef SONDE_DURATION
#undef SONDE_NUMBER
  return o;
}

}  // namespace sonde::detect
