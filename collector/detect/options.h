// DetectorOptions: every threshold of the detector, with DESIGN.md's
// "Detection defaults" as the default values. docs/detection.md explains each
// field, the rule it belongs to and how to tune it; the config's `detection:`
// block overrides them field by field (WithConfig, same names). Plain data;
// Validate() says which combinations the fixed-size windows can hold.
#ifndef SONDE_COLLECTOR_DETECT_OPTIONS_H_
#define SONDE_COLLECTOR_DETECT_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sonde/v1/check.pb.h"

namespace sonde::detect {

// One multi-window SLO burn-rate rule (SRE Workbook ch. 5): fires when the
// error-budget burn rate exceeds `factor` over both windows and the short
// window holds at least DetectorOptions::burn_min_failures failures.
struct BurnRule {
  absl::Duration long_window;
  absl::Duration short_window;
  double factor = 0;
  bool page = true;  // false: ticket
};

struct DetectorOptions {
  // --- Ordering -----------------------------------------------------------
  // Results are applied in event-time order (start_time + total_us) once
  // Tick(now) has moved past event time + reorder_window. It must cover the
  // prober's batching (<= 1 s) plus transport; it adds to time-to-detect.
  // Results later than that are applied on arrival and counted as late.
  absl::Duration reorder_window = absl::Seconds(2);
  // 0: evaluate after every distinct event time (fastest detection). > 0:
  // evaluate at most once per period (coalesces e.g. REGIONAL->GLOBAL).
  absl::Duration evaluation_period = absl::ZeroDuration();

  // --- State per check x region -------------------------------------------
  // DOWN when >= down_failures of the last down_window runs failed; UP again
  // after up_successes runs in a row that did not fail. A run is one
  // execution of a check: requests_per_run results sharing a start_time; it
  // fails when all its requests fail (a mixed run counts as a success and
  // makes the region DEGRADED).
  int down_failures = 2;
  int down_window = 3;
  int up_successes = 3;
  // STALE after this many intervals without a result (never an outage).
  int stale_intervals = 3;
  absl::Duration default_interval = absl::Seconds(30);
  // Outage confirmation on noisy series: a DOWN region counts as an outage
  // at once when the series had no failing runs in the last partial_window
  // (before the current streak). When it had (failing-run share p), the
  // streak must reach k consecutive failed runs with p^k < outage_false_rate
  // (k in [2, outage_max_confirm_runs]), so 1% noise does not page.
  double outage_false_rate = 1e-5;
  int outage_max_confirm_runs = 10;

  // --- Prober health ------------------------------------------------------
  // A region (its prober) leaves the vote when, among >= prober_min_checks
  // checks it reports that also run elsewhere, >= prober_fault_share are
  // failing (last run failed or DOWN) while another region's series of the
  // same check is up; or when all its series are STALE while others report.
  int prober_min_checks = 5;
  double prober_fault_share = 0.5;
  // It rejoins when that share is <= prober_recover_share; its series still
  // DOWN from the fault stay out of the vote until UP (at most
  // prober_taint_max).
  double prober_recover_share = 0.1;
  absl::Duration prober_taint_max = absl::Minutes(5);
  // PROBER_FAULT opens after the region was unhealthy this long (it leaves
  // the vote at once; a global outage makes a region look bad for a moment).
  absl::Duration prober_fault_hold = absl::Seconds(30);
  std::string prober_fault_service = "sonde";

  // --- Scope ----------------------------------------------------------------
  // GLOBAL needs this many voting regions and a strict majority of them DOWN.
  int global_min_regions = 2;

  // --- Partial failure
  // -------------------------------------------------------- Slow rule: >=
  // partial_share of >= partial_min_probes probes (and >= partial_min_failures
  // failures) failed over partial_window, in >= partial_min_regions regions (or
  // all voting regions if fewer), no region DOWN.
  absl::Duration partial_window = absl::Minutes(15);
  double partial_share = 0.05;
  int partial_min_probes = 10;
  int partial_min_failures = 2;
  // ... and each of those regions' failures are more than noise: were every
  // probe failing on its own at partial_noise_share, so many failures (or
  // more) would have a probability below partial_noise_p. Small windows (a
  // young collector's first minute: 2 of 39 probes is 5%) need 4, not 2.
  double partial_noise_share = 0.01;
  double partial_noise_p = 1e-3;
  // Fast rule over a short sliding window (12 buckets), its counts pooled
  // over the voting regions, each of min(partial_min_regions, voting) of
  // them with failures of its own. With a 2 s interval and requests_per_run 3
  // three regions send 108 probes in 24 s: 25% failing crosses 10% about
  // 10 s after it starts.
  absl::Duration partial_fast_window = absl::Seconds(24);
  double partial_fast_share = 0.10;
  int partial_fast_min_probes = 30;
  int partial_fast_min_failures = 5;
  int partial_min_regions = 2;

  // --- Layer --------------------------------------------------------------
  // DNS_FAILURE when >= dns_share of the failures in class_window are DNS_*.
  double dns_share = 0.8;
  absl::Duration class_window = absl::Minutes(5);

  // --- Latency
  // ---------------------------------------------------------------- Degraded
  // when the rolling p(latency_percentile) of OK results over latency_window
  // exceeds max(latency_factor x baseline, baseline + latency_margin); baseline
  // = same percentile over latency_baseline_window of OK results before the
  // current window (frozen while degraded). Needs min(latency_min_regions, half
  // of the voting regions) degraded regions.
  absl::Duration latency_window = absl::Minutes(10);
  absl::Duration latency_baseline_window = absl::Hours(1);
  double latency_percentile = 0.95;
  double latency_factor = 2.0;
  absl::Duration latency_margin = absl::Milliseconds(250);
  int latency_min_samples = 10;
  int latency_min_baseline_samples = 30;
  int latency_min_regions = 2;
  // Fast rule, for a sustained change within minutes: the last
  // latency_fast_window of closed minutes plus the minute in progress
  // (1-2 min), degraded when >= latency_fast_share of its OK results (>=
  // latency_min_samples) exceed max(latency_factor x q, q + latency_margin),
  // q the (1 - latency_fast_share)-quantile (the median) of every minute
  // before the fast window (baseline blocks and the rest of the window).
  // Evaluated on every result, not at minute boundaries.
  absl::Duration latency_fast_window = absl::Minutes(1);
  double latency_fast_share = 0.5;

  // --- Flapping -----------------------------------------------------------
  // Nagios-style weighted percent state change (weights 0.75 oldest .. 1.25
  // newest) over flap_history samples of the state, one sample per
  // flap_sample_period (DOWN at the sample, or became DOWN since the last).
  int flap_history = 21;
  absl::Duration flap_sample_period = absl::Minutes(1);
  double flap_enter_percent = 30;
  double flap_exit_percent = 20;

  // --- SLO burn rate ------------------------------------------------------
  double default_slo_target = 99.9;  // percent; used when a check has none
  std::vector<BurnRule> burn_rules = {
      {absl::Hours(1), absl::Minutes(5), 14.4, true},
      {absl::Hours(6), absl::Minutes(30), 6.0, true},
      {absl::Hours(72), absl::Hours(6), 1.0, false},
  };
  int burn_min_failures = 2;

  // --- Incidents ------------------------------------------------------------
  // A check inside an open incident changes its kind only after the new
  // kind held this long (escalating REGIONAL -> GLOBAL is immediate): checks
  // and regions recover a few runs apart, and for those seconds a global
  // outage looks regional, or HTTPS-still-down looks like a protocol outage.
  absl::Duration reclassify_after = absl::Minutes(2);
  // An incident whose condition cleared resolves after this long; if the
  // condition returns first it continues (no resolve/reopen storm).
  absl::Duration resolve_hold = absl::Minutes(3);
  // UPDATED for a failing-share change only when it moved this much.
  double share_update_step = 0.05;
  // PROGRESS for every recovered target up to progress_every_target
  // targets; above, when the recovered share crosses a progress_step step
  // (1,000 checks recovering must not send 1,000 events), and at 100%.
  int progress_every_target = 20;
  double progress_step = 0.05;

  absl::Status Validate() const;
};

// `options` with every field set in the config's `detection:` block replaced
// (the YAML names are the field names above).
DetectorOptions WithConfig(DetectorOptions options, const v1::DetectionConfig& config);

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_OPTIONS_H_
