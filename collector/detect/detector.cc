#include "collector/detect/detector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "collector/detect/detector_impl.h"

namespace sonde::detect {

using FC = v1::FailureClass;

Detector::Impl::Impl(const DetectorOptions& options)
    : o(options),
      book(options.resolve_hold, options.share_update_step, options.progress_every_target,
           options.progress_step) {
  sm_params.down_failures = o.down_failures;
  sm_params.down_window = o.down_window;
  sm_params.up_successes = o.up_successes;
  sm_params.false_rate = o.outage_false_rate;
  sm_params.max_confirm_runs = o.outage_max_confirm_runs;
  lat_params.window_minutes = static_cast<int>(o.latency_window / absl::Minutes(1));
  lat_params.baseline_blocks = static_cast<int>(o.latency_baseline_window / o.latency_window);
  lat_params.percentile = o.latency_percentile;
  lat_params.factor = o.latency_factor;
  lat_params.margin_us = static_cast<double>(Us(o.latency_margin));
  lat_params.min_samples = static_cast<uint32_t>(o.latency_min_samples);
  lat_params.min_baseline_samples = static_cast<uint32_t>(o.latency_min_baseline_samples);
  lat_params.fast_minutes = static_cast<int>(o.latency_fast_window / absl::Minutes(1));
  lat_params.fast_share = o.latency_fast_share;
  for (const BurnRule& rule : o.burn_rules) {
    rule_ids.push_back({burn_layout.Add(absl::ToInt64Seconds(rule.long_window)),
                        burn_layout.Add(absl::ToInt64Seconds(rule.short_window))});
  }
  reorder_us = Us(o.reorder_window);
  eval_period_us = Us(o.evaluation_period);
  fast_bucket_us = Us(o.partial_fast_window) / kFastBuckets;
  class_window_us = Us(o.class_window);
  flap_period_minutes = static_cast<int>(o.flap_sample_period / absl::Minutes(1));
  partial_minutes = static_cast<int>(o.partial_window / absl::Minutes(1));
  reclassify_us = Us(o.reclassify_after);
}

void Detector::Impl::Evaluate(int64_t t) {
  if (dirty_regions.empty() && dirty_checks.empty() && dirty_services.empty() && !prober_dirty) {
    return;
  }
  std::sort(dirty_regions.begin(), dirty_regions.end());
  for (size_t i = 0; i < dirty_regions.size(); ++i) {
    RecomputeRegion(dirty_regions[i], t);
  }
  dirty_regions.clear();

  std::sort(dirty_checks.begin(), dirty_checks.end());
  for (uint32_t ci : dirty_checks) {
    CheckState& c = checks[ci];
    c.dirty = false;
    std::vector<Finding> f = Classify(ci, t);
    const Finding* avail = AvailabilityFinding(f);
    const Finding* was = AvailabilityFinding(c.findings);
    if (avail != nullptr && (was == nullptr || was->kind != avail->kind)) {
      c.kind_since = t;
    }
    if (f != c.findings) {
      c.findings = std::move(f);
      MarkService(c.service);
    } else if (c.kind_held) {
      MarkService(c.service);  // its reclassify_after may have passed
    }
  }
  dirty_checks.clear();

  std::sort(dirty_services.begin(), dirty_services.end());
  for (uint32_t si : dirty_services) {
    services[si].dirty = false;
    ReconcileService(si, t);
  }
  dirty_services.clear();
  if (prober_dirty) {
    ReconcileProbers(t);
  }
}

absl::StatusOr<std::unique_ptr<Detector>> Detector::Create(DetectorOptions options) {
  absl::Status st = options.Validate();
  if (!st.ok()) {
    return st;
  }
  return std::unique_ptr<Detector>(new Detector(std::move(options)));
}

Detector::Detector(DetectorOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}

Detector::~Detector() = default;

std::vector<ProberVerdict> Detector::TakeProberVerdicts() {
  std::vector<ProberVerdict> out;
  out.swap(impl_->exported);
  return out;
}

void Detector::ExportProberVerdicts() { impl_->exports_verdicts = true; }

void Detector::FollowProberVerdicts() { impl_->follows_verdicts = true; }

void Detector::AddProberVerdicts(const std::vector<ProberVerdict>& verdicts) {
  Impl& d = *impl_;
  for (const ProberVerdict& v : verdicts) {
    const int r = d.RegionIndex(v.region);
    if (r < 0) {
      continue;
    }
    // A verdict about an instant already evaluated takes effect at the next.
    const int64_t at = d.processed_us == kNever ? Us(v.at) : std::max(Us(v.at), d.processed_us + 1);
    d.regions[r].verdicts.push_back(v);
    d.PushTimer(at, kVerdictTimer, static_cast<uint32_t>(r));
  }
}

absl::Status Detector::SetConfig(const v1::Config& config, absl::Time now) {
  return impl_->SetConfig(config, Us(now));
}

void Detector::Observe(const v1::ProbeResult& result) { impl_->Observe(result); }

std::vector<IncidentEvent> Detector::Tick(absl::Time now) {
  return Tick(now, absl::InfinitePast());
}

std::vector<IncidentEvent> Detector::Tick(absl::Time now, absl::Time complete_before) {
  int64_t to = Us(now) - impl_->reorder_us;
  if (complete_before != absl::InfinitePast()) {
    // Results at exactly `complete_before` may still come.
    to = std::max(to, std::min(Us(complete_before) - 1, Us(now)));
  }
  impl_->AdvanceTo(to);
  std::vector<IncidentEvent> out;
  out.swap(impl_->events);
  return out;
}

void Detector::SetConfigFaults(std::vector<ConfigFault> faults) {
  if (faults == impl_->config_faults) {
    return;
  }
  impl_->config_faults = std::move(faults);
  impl_->prober_dirty = true;
  impl_->ScheduleEvaluation();
}

void Detector::RestoreIncidents(const std::vector<Incident>& open, absl::Time now) {
  for (const Incident& i : open) {
    if (i.resolved) {
      continue;
    }
    const std::string scope =
        i.kind == IncidentKind::kProberFault ? kProberScope : absl::StrCat("s/", i.service);
    impl_->book.Restore(scope, i, now);
  }
}

SeriesStatus Detector::Status(absl::string_view check, absl::string_view region) const {
  SeriesStatus st;
  auto it = impl_->check_index.find(check);
  if (it == impl_->check_index.end()) {
    return st;
  }
  const int r = impl_->RegionIndex(region);
  const CheckState& c = impl_->checks[it->second];
  if (r < 0 || c.series[r] < 0) {
    return st;
  }
  const Series& s = *impl_->series[c.series[r]];
  st.down = s.sm.down();
  st.outage = s.sm.outage();
  st.voting = impl_->Voting(s, impl_->processed_us);
  st.flapping = s.flap.flapping();
  st.flap_percent = s.flap.percent();
  st.latency_degraded = s.latency.degraded();
  st.latency_p95 = absl::Microseconds(s.latency.window_percentile_us());
  st.last_result = TimeOf(s.last_result_us);
  st.last_run_failed = s.last_run_failed;
  if (s.fail_pos > 0) {
    const uint32_t newest = (s.fail_pos - 1) % kFailureRing;
    st.last_failure = TimeOf(s.fail_us[newest]);
    st.last_failure_class = static_cast<v1::FailureClass::Code>(s.fail_class[newest]);
    if (s.detail_us == s.fail_us[newest]) {
      st.last_failure_detail = s.detail;
    }
  }
  if (s.stale) {
    st.state = RegionState::kStale;
  } else if (!s.has_data) {
    st.state = RegionState::kUnknown;
  } else if (st.flapping) {
    st.state = RegionState::kFlapping;
  } else if (st.down) {
    st.state = RegionState::kDown;
  } else if ((s.sm.history() & 7u) != 0 || s.last_run_mixed || st.latency_degraded) {
    st.state = RegionState::kDegraded;
  } else {
    st.state = RegionState::kUp;
  }
  return st;
}

std::vector<Incident> Detector::OpenIncidents() const { return impl_->book.Open(); }

DetectorStats Detector::stats() const {
  DetectorStats s = impl_->stats;
  s.pending = impl_->pending.size();
  return s;
}

absl::Time Detector::processed_until() const { return TimeOf(impl_->processed_us); }

}  // namespace sonde::detect
