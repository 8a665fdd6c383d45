#include "collector/detect/detector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "collector/detect/flapping.h"
#include "collector/detect/incident_book.h"
#include "collector/detect/latency.h"
#include "collector/detect/limits.h"
#include "collector/detect/reorder_buffer.h"
#include "collector/detect/target.h"
#include "collector/detect/windows.h"
#include "common/config/config.h"

namespace sonde::detect {
namespace {

using FC = v1::FailureClass;

constexpr int64_t kMinuteUs = 60'000'000;
constexpr int64_t kNever = std::numeric_limits<int64_t>::min() / 4;
constexpr int64_t kForever = std::numeric_limits<int64_t>::max() / 4;
constexpr char kProberScope[] = "p/";
// Checks quoted in a grouped incident's evidence.
constexpr size_t kEvidenceChecks = 3;
// Prefetch the state of the sample this many places down the queue: this
// many cache lines at the head of its Series.
constexpr size_t kPrefetchAhead = 8;
constexpr int kPrefetchLines = 6;

int64_t Us(absl::Time t) {
  if (t == absl::InfinitePast()) return kNever;
  if (t == absl::InfiniteFuture()) return kForever;
  return absl::ToUnixMicros(t);
}
int64_t Us(absl::Duration d) { return absl::ToInt64Microseconds(d); }
absl::Time TimeOf(int64_t us) {
  if (us <= kNever) return absl::InfinitePast();
  if (us >= kForever) return absl::InfiniteFuture();
  return absl::FromUnixMicros(us);
}
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
int Popcount(uint64_t m) { return __builtin_popcountll(m); }

bool IsDnsClass(int c) { return c >= FC::DNS_NXDOMAIN && c <= FC::DNS_UNEXPECTED_ANSWER; }

std::string ClassName(int c) {
  if (!FC::Code_IsValid(c)) return absl::StrCat("CLASS_", c);
  return FC::Code_Name(static_cast<FC::Code>(c));
}

// "NXDOMAIN" for DNS_NXDOMAIN.
std::string Rcode(int c) {
  std::string name = ClassName(c);
  return absl::StartsWith(name, "DNS_") ? name.substr(4) : name;
}

std::string Millis(double us) {
  if (us >= 1e6) return absl::StrFormat("%.2fs", us / 1e6);
  return absl::StrFormat("%.0fms", us / 1e3);
}

// What one check looks like after evaluation; compared to the previous one
// to decide whether its service needs reconciling.
struct Finding {
  bool avail = false;
  IncidentKind kind = IncidentKind::kGlobalOutage;
  Severity severity = Severity::kPage;
  uint64_t regions = 0;
  int dominant_class = 0;
  uint32_t class_count = 0;
  uint32_t share_fails = 0;
  uint32_t share_probes = 0;
  double share = 0;
  std::string evidence;

  bool latency = false;
  uint64_t latency_regions = 0;
  std::array<double, kPhaseCount> shift{};
  double p95_us = 0;
  double baseline_us = 0;

  bool flapping = false;
  uint64_t flap_regions = 0;
  double flap_percent = 0;

  bool any() const { return avail || latency || flapping; }
  bool operator==(const Finding& o) const {
    return avail == o.avail && kind == o.kind && severity == o.severity && regions == o.regions &&
           dominant_class == o.dominant_class && class_count == o.class_count &&
           share_fails == o.share_fails && share_probes == o.share_probes && share == o.share &&
           evidence == o.evidence && latency == o.latency && latency_regions == o.latency_regions &&
           shift == o.shift && p95_us == o.p95_us && baseline_us == o.baseline_us &&
           flapping == o.flapping && flap_regions == o.flap_regions &&
           flap_percent == o.flap_percent;
  }
};

// One check as seen from one region.
struct Series {
  uint32_t check = 0;
  uint32_t region = 0;

  // The run being assembled (results sharing a start_time).
  int64_t run_start_us = kNever;
  uint64_t run_seen = 0;  // request indices seen (mod 64)
  bool run_open = false;
  uint16_t run_ok = 0;
  uint16_t run_fail = 0;
  uint16_t run_prober_error = 0;
  int64_t run_last_us = kNever;

  RunStateMachine sm;
  // The minute in progress, for the partial and burn windows (hot: here
  // rather than inside the windows).
  RunCounts minute_partial;
  Counts minute_burn;
  bool has_data = false;
  bool stale = false;
  bool tainted = false;  // DOWN left over from a prober fault: not voting
  int64_t taint_until = kNever;
  bool last_run_failed = false;
  bool last_run_mixed = false;
  bool last_run_prober_error = false;
  bool entered_down = false;  // since the last flap sample
  int64_t stale_base_us = kNever;
  int64_t last_result_us = kNever;
  int64_t last_outage_us = kNever;

  // What this series contributes to its region's counters.
  bool counted_live = false;
  bool counted_considered = false;
  bool counted_bad = false;
  bool counted_stale = false;

  // Touched by every result: kept next to the fields above.
  FastWindow fast;
  LatencyTracker latency;

  // Recent failures, a ring; newest at fail_pos - 1.
  std::array<int64_t, kFailureRing> fail_us{};
  std::array<uint8_t, kFailureRing> fail_class{};
  uint32_t fail_pos = 0;
  std::string detail;  // last failure's detail (capacity reused)
  int64_t detail_us = kNever;

  MinuteWindow partial;
  BurnCounter burn;
  FlapDetector flap;

  bool Live() const { return has_data && !stale; }
};

struct CheckState {
  std::string name;
  uint32_t service = 0;
  uint32_t host = 0;
  CheckTarget target;
  std::string resolvers_text;
  int64_t interval_us = 0;
  uint32_t requests_per_run = 1;
  double budget = 0.001;        // 1 - SLO
  std::vector<int32_t> series;  // per region index; -1: not configured there
  bool multi_region = false;
  // Cached at minute boundaries.
  uint64_t slow_regions = 0;
  bool burn_page = false;
  bool burn_ticket = false;
  double burn_value = 0;
  int burn_rule = -1;
  Finding finding;
  int64_t kind_since = kNever;  // when finding.kind (availability) last changed
  bool kind_held = false;       // reported under its open incident's kind for now
  bool dirty = false;
};

struct RegionHealth {
  std::string name;
  std::string prober_id;
  std::vector<uint32_t> series;
  int live = 0;
  int considered = 0;
  int bad = 0;
  int stale = 0;
  bool faulty = false;  // fails what others pass
  bool silent = false;  // every series STALE while others report
  bool unhealthy = false;
  int64_t unhealthy_since = kNever;
  int confirmed = 0;
  std::vector<uint32_t> bad_checks;
  bool dirty = false;
};

struct ServiceState {
  std::string name;
  std::string scope;
  std::vector<uint32_t> checks;
  bool dirty = false;
};

enum TimerType : uint8_t { kStaleTimer, kProberHoldTimer, kTaintTimer };

struct Timer {
  int64_t at;
  TimerType type;
  uint32_t index;
};

struct TimerAfter {
  bool operator()(const Timer& a, const Timer& b) const {
    if (a.at != b.at) return a.at > b.at;
    if (a.type != b.type) return a.type > b.type;
    return a.index > b.index;
  }
};

}  // namespace

struct Detector::Impl {
  explicit Impl(const DetectorOptions& options);

  absl::Status SetConfig(const v1::Config& config, int64_t now);
  void Observe(const v1::ProbeResult& r);
  void AdvanceTo(int64_t wm);

  // Time-driven steps.
  void CloseMinute(int64_t m);
  void HandleTimer(const Timer& timer, int64_t t);
  void PushTimer(int64_t at, TimerType type, uint32_t index);

  // Result-driven steps.
  void Apply(const Sample& s);
  void CompleteRun(Series& s, int64_t t);
  double Noise(const Series& s) const;
  void RefreshMembership(Series& s);

  // Evaluation.
  void Evaluate(int64_t t);
  void RecomputeRegion(uint32_t r, int64_t t);
  Finding Classify(uint32_t ci, int64_t t);
  bool Voting(const Series& s, int64_t t) const;
  uint64_t SlowRegions(const CheckState& c, int64_t t) const;
  void Burn(CheckState& c, int64_t t, bool* page, bool* ticket);
  std::string AnsweringProtocols(uint32_t ci, uint64_t down_regions) const;
  void ClassStats(const CheckState& c, uint64_t mask, int64_t t, int* dominant,
                  uint32_t* dominant_count, double* dns_share) const;
  const Series* EvidenceSeries(const CheckState& c, uint64_t mask) const;
  void ReconcileService(uint32_t si, int64_t t);
  void ReconcileProbers(int64_t t);

  bool NothingDirty() const {
    return dirty_checks.empty() && dirty_regions.empty() && dirty_services.empty() && !prober_dirty;
  }
  // Drains the samples at exactly `t`, prefetching the state of the ones
  // a few places further down the queue (3000 series of ~9 KiB do not fit
  // in cache; the first touch of a series is the cost of a result).
  void ApplyAt(int64_t t) {
    while (!pending.empty() && pending.NextTime() == t) {
      if (const Sample* ahead = pending.PeekAhead(kPrefetchAhead)) {
        const char* p = reinterpret_cast<const char*>(series[ahead->series].get());
        for (int line = 0; line < kPrefetchLines; ++line) __builtin_prefetch(p + 64 * line, 1);
      }
      Apply(pending.Pop());
    }
  }
  void MarkCheck(uint32_t ci) {
    CheckState& c = checks[ci];
    if (!c.dirty) {
      c.dirty = true;
      dirty_checks.push_back(ci);
    }
    ScheduleEvaluation();
  }
  void MarkHostMates(uint32_t ci) {
    for (uint32_t other : host_checks[checks[ci].host]) MarkCheck(other);
  }
  void MarkRegion(uint32_t r) {
    if (!regions[r].dirty) {
      regions[r].dirty = true;
      dirty_regions.push_back(r);
    }
    ScheduleEvaluation();
  }
  void MarkService(uint32_t si) {
    if (!services[si].dirty) {
      services[si].dirty = true;
      dirty_services.push_back(si);
    }
  }
  void ScheduleEvaluation() {
    if (eval_period_us > 0 && !eval_scheduled) {
      eval_scheduled = true;
      eval_due = FloorDiv(current_us, eval_period_us) * eval_period_us + eval_period_us;
    }
  }
  int RegionIndex(absl::string_view name) const {
    for (size_t i = 0; i < regions.size(); ++i) {
      if (regions[i].name == name) return static_cast<int>(i);
    }
    return -1;
  }
  std::string RegionList(uint64_t mask) const {
    std::string out;
    for (size_t r = 0; r < regions.size(); ++r) {
      if (mask & (uint64_t{1} << r)) {
        if (!out.empty()) out += ", ";
        out += regions[r].name;
      }
    }
    return out;
  }
  std::vector<std::string> RegionNames(uint64_t mask) const {
    std::vector<std::string> out;
    for (size_t r = 0; r < regions.size(); ++r) {
      if (mask & (uint64_t{1} << r)) out.push_back(regions[r].name);
    }
    return out;
  }

  const DetectorOptions& o;
  RunStateMachine::Params sm_params;
  LatencyParams lat_params;
  BurnLayout burn_layout;
  struct RuleIds {
    int long_id;
    int short_id;
  };
  std::vector<RuleIds> rule_ids;
  int64_t reorder_us;
  int64_t eval_period_us;
  int64_t fast_bucket_us;
  int64_t class_window_us;
  int flap_period_minutes;
  int partial_minutes;
  int64_t reclassify_us;

  std::vector<std::unique_ptr<Series>> series;
  std::vector<CheckState> checks;
  absl::flat_hash_map<std::string, uint32_t> check_index;
  std::vector<RegionHealth> regions;
  std::vector<ServiceState> services;
  std::vector<std::string> host_names;
  std::vector<std::vector<uint32_t>> host_checks;

  ReorderBuffer pending;
  std::vector<std::string> detail_pool;
  std::vector<uint32_t> free_details;
  std::vector<Timer> timers;  // min-heap by TimerAfter

  bool configured = false;
  int64_t processed_us = kNever;  // everything <= this is applied
  int64_t current_us = kNever;    // the instant being processed
  int64_t next_minute_us = kForever;
  bool eval_scheduled = false;
  int64_t eval_due = kForever;

  IncidentBook book;
  std::vector<uint32_t> dirty_checks;
  std::vector<uint32_t> dirty_regions;
  std::vector<uint32_t> dirty_services;
  bool prober_dirty = false;

  DetectorStats stats;
  std::vector<IncidentEvent> events;
};

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

// ---------------------------------------------------------------------------
// Configuration

absl::Status Detector::Impl::SetConfig(const v1::Config& config, int64_t now) {
  // Regions: the config's plus any a check names; sorted for stable output.
  std::vector<std::string> region_names(config.regions().begin(), config.regions().end());
  for (const v1::Check& c : config.checks()) {
    region_names.insert(region_names.end(), c.regions().begin(), c.regions().end());
  }
  std::sort(region_names.begin(), region_names.end());
  region_names.erase(std::unique(region_names.begin(), region_names.end()), region_names.end());
  if (region_names.size() > static_cast<size_t>(kMaxRegions)) {
    return absl::InvalidArgumentError(
        absl::StrCat("detector: ", region_names.size(), " regions, at most ", kMaxRegions));
  }
  if (!configured) {
    configured = true;
    processed_us = now - reorder_us;
    current_us = processed_us;
    next_minute_us = FloorDiv(processed_us, kMinuteUs) * kMinuteUs + kMinuteUs;
  }
  const int64_t at = std::max(now, processed_us);

  // Keep the state of (check, region) pairs that survive.
  absl::flat_hash_map<std::string, uint32_t> old_index;
  for (uint32_t i = 0; i < series.size(); ++i) {
    const Series& s = *series[i];
    old_index[absl::StrCat(checks[s.check].name, "\x1f", regions[s.region].name)] = i;
  }
  std::vector<std::unique_ptr<Series>> old_series = std::move(series);
  series.clear();
  absl::flat_hash_map<std::string, RegionHealth> old_regions;
  for (RegionHealth& r : regions) old_regions[r.name] = std::move(r);

  regions.assign(region_names.size(), RegionHealth{});
  dirty_regions.clear();  // indices of the old region table
  for (size_t r = 0; r < region_names.size(); ++r) {
    regions[r].name = region_names[r];
    auto it = old_regions.find(region_names[r]);
    if (it != old_regions.end()) {
      regions[r].prober_id = it->second.prober_id;
      regions[r].faulty = it->second.faulty;
      regions[r].silent = it->second.silent;
      regions[r].unhealthy = it->second.unhealthy;
      regions[r].unhealthy_since = it->second.unhealthy_since;
    }
  }

  std::vector<const v1::Check*> sorted;
  for (const v1::Check& c : config.checks()) sorted.push_back(&c);
  std::sort(sorted.begin(), sorted.end(),
            [](const v1::Check* a, const v1::Check* b) { return a->name() < b->name(); });

  const absl::Duration default_interval = config.defaults().has_interval()
                                              ? common::ToAbsl(config.defaults().interval())
                                              : o.default_interval;
  const double default_slo =
      config.defaults().slo_target() > 0 ? config.defaults().slo_target() : o.default_slo_target;

  checks.assign(sorted.size(), CheckState{});
  check_index.clear();
  services.clear();
  host_names.clear();
  host_checks.clear();
  absl::flat_hash_map<std::string, uint32_t> service_index;
  absl::flat_hash_map<std::string, uint32_t> host_index;
  std::vector<int64_t> remap(old_series.size(), -1);

  for (uint32_t ci = 0; ci < sorted.size(); ++ci) {
    const v1::Check& cfg = *sorted[ci];
    CheckState& c = checks[ci];
    c.name = cfg.name();
    check_index[c.name] = ci;
    const std::string service = cfg.service().empty() ? cfg.name() : cfg.service();
    auto [sit, s_new] = service_index.try_emplace(service, services.size());
    if (s_new) services.push_back(ServiceState{service, absl::StrCat("s/", service), {}, false});
    c.service = sit->second;
    services[c.service].checks.push_back(ci);
    c.target = DeriveTarget(cfg);
    c.resolvers_text =
        c.target.resolvers.empty() ? "system resolvers" : absl::StrJoin(c.target.resolvers, ", ");
    auto [hit, h_new] = host_index.try_emplace(c.target.host, host_names.size());
    if (h_new) {
      host_names.push_back(c.target.host);
      host_checks.emplace_back();
    }
    c.host = hit->second;
    host_checks[c.host].push_back(ci);
    absl::Duration interval =
        cfg.has_interval() ? common::ToAbsl(cfg.interval()) : default_interval;
    if (interval <= absl::ZeroDuration()) interval = o.default_interval;
    c.interval_us = Us(interval);
    c.requests_per_run =
        cfg.has_http() ? std::clamp<uint32_t>(cfg.http().requests_per_run(), 1, 64) : 1;
    const double slo = cfg.slo_target() > 0 ? cfg.slo_target() : default_slo;
    c.budget = std::max(1e-6, 1.0 - slo / 100.0);
    c.series.assign(regions.size(), -1);

    std::vector<std::string> where(cfg.regions().begin(), cfg.regions().end());
    if (where.empty()) where.assign(config.regions().begin(), config.regions().end());
    int n_regions = 0;
    for (const std::string& rn : where) {
      const int r = RegionIndex(rn);
      if (r < 0 || c.series[r] >= 0) continue;
      std::unique_ptr<Series> s;
      auto it = old_index.find(absl::StrCat(c.name, "\x1f", rn));
      if (it != old_index.end() && old_series[it->second] != nullptr) {
        s = std::move(old_series[it->second]);
        remap[it->second] = static_cast<int64_t>(series.size());
      } else {
        s = std::make_unique<Series>();
        s->partial.set_minutes(partial_minutes);
        s->latency.Init(lat_params);
        s->stale_base_us = at;
      }
      s->check = ci;
      s->region = static_cast<uint32_t>(r);
      s->counted_live = s->counted_considered = s->counted_bad = s->counted_stale = false;
      c.series[r] = static_cast<int32_t>(series.size());
      regions[r].series.push_back(static_cast<uint32_t>(series.size()));
      series.push_back(std::move(s));
      ++n_regions;
    }
    c.multi_region = n_regions >= 2;
  }
  for (ServiceState& s : services) s.dirty = false;

  // Queued results follow their series or are dropped.
  pending.Rewrite([&](Sample* s) {
    const int64_t n = s->series < remap.size() ? remap[s->series] : -1;
    if (n < 0) {
      if (s->detail_slot != kNoDetail) free_details.push_back(s->detail_slot);
      return false;
    }
    s->series = static_cast<uint32_t>(n);
    return true;
  });

  // Timers and region counters start over.
  timers.clear();
  for (uint32_t i = 0; i < series.size(); ++i) {
    Series& s = *series[i];
    if (!s.stale) {
      const int64_t span = o.stale_intervals * checks[s.check].interval_us;
      PushTimer(std::max(s.last_result_us, s.stale_base_us) + span, kStaleTimer, i);
    }
    RefreshMembership(s);
  }
  for (uint32_t r = 0; r < regions.size(); ++r) {
    MarkRegion(r);
    if (regions[r].unhealthy) {
      PushTimer(regions[r].unhealthy_since + Us(o.prober_fault_hold), kProberHoldTimer, r);
    }
  }
  dirty_checks.clear();
  for (CheckState& c : checks) c.dirty = false;
  for (uint32_t ci = 0; ci < checks.size(); ++ci) MarkCheck(ci);
  dirty_services.clear();
  for (uint32_t si = 0; si < services.size(); ++si) MarkService(si);
  prober_dirty = true;

  // Incidents of services that no longer exist resolve after the hold.
  for (const std::string& scope : book.Scopes()) {
    if (scope == kProberScope) continue;
    if (!service_index.contains(scope.substr(2))) {
      book.Reconcile(scope, scope.substr(2), {}, TimeOf(processed_us), &events);
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Ingest

void Detector::Impl::Observe(const v1::ProbeResult& r) {
  ++stats.results_observed;
  auto it = check_index.find(r.check_id());
  if (it == check_index.end()) {
    ++stats.unknown_check;
    return;
  }
  const CheckState& c = checks[it->second];
  const int region = RegionIndex(r.region());
  if (region < 0 || c.series[region] < 0) {
    ++stats.unknown_region;
    return;
  }
  RegionHealth& rh = regions[region];
  if (rh.prober_id != r.prober_id()) rh.prober_id = r.prober_id();

  Sample s;
  s.series = static_cast<uint32_t>(c.series[region]);
  s.start_us = r.start_time().seconds() * 1'000'000 + r.start_time().nanos() / 1000;
  s.time_us = s.start_us + r.total_us();
  if (s.time_us <= processed_us) {
    ++stats.late_results;
    s.time_us = processed_us;
  }
  int cls = r.failure_class();
  if (cls == FC::UNSPECIFIED) cls = r.ok() ? FC::OK : FC::PROBER_ERROR;
  s.failure_class = static_cast<uint8_t>(cls);
  s.ok = cls == FC::OK;
  s.request_index = static_cast<uint16_t>(std::min<uint32_t>(r.request_index(), 0xffff));
  s.dns_us = r.dns_us();
  s.connect_us = r.connect_us();
  s.tls_us = r.tls_us();
  s.first_byte_us = r.first_byte_us();
  s.total_us = r.total_us();
  if (!s.ok && cls != FC::PROBER_ERROR && !r.detail().empty()) {
    if (free_details.empty()) {
      s.detail_slot = static_cast<uint32_t>(detail_pool.size());
      detail_pool.emplace_back();
    } else {
      s.detail_slot = free_details.back();
      free_details.pop_back();
    }
    detail_pool[s.detail_slot].assign(r.detail());
  }
  pending.Push(s);
}

void Detector::Impl::AdvanceTo(int64_t wm) {
  if (!configured) return;
  while (true) {
    int64_t next = next_minute_us;
    if (!pending.empty()) next = std::min(next, pending.NextTime());
    if (!timers.empty()) next = std::min(next, timers.front().at);
    next = std::min(next, Us(book.NextHoldEnd()));
    if (eval_scheduled) next = std::min(next, eval_due);
    if (next > wm) break;
    current_us = next;
    if (eval_scheduled && eval_due == next) {
      // A period ended: evaluate before anything at its end instant.
      eval_scheduled = false;
      Evaluate(next);
      book.ExpireHolds(TimeOf(next), &events);
      processed_us = std::max(processed_us, next - 1);
      continue;
    }
    if (next_minute_us == next) {
      CloseMinute(next);
      next_minute_us += kMinuteUs;
    }
    ApplyAt(next);
    if (eval_period_us == 0 && NothingDirty()) {
      // Fast path: samples that change nothing need no evaluation; apply
      // them back to back up to the next deadline of any other kind.
      const int64_t other = std::min(
          {next_minute_us, timers.empty() ? kForever : timers.front().at, Us(book.NextHoldEnd())});
      const int64_t limit = std::min(wm, other - 1);
      while (!pending.empty() && pending.NextTime() <= limit) {
        next = pending.NextTime();
        current_us = next;
        ApplyAt(next);
        if (!NothingDirty()) break;
      }
    }
    while (!timers.empty() && timers.front().at == next) {
      std::pop_heap(timers.begin(), timers.end(), TimerAfter());
      const Timer timer = timers.back();
      timers.pop_back();
      HandleTimer(timer, next);
    }
    if (eval_period_us == 0) Evaluate(next);
    book.ExpireHolds(TimeOf(next), &events);
    processed_us = std::max(processed_us, next);
  }
  processed_us = std::max(processed_us, wm);
  current_us = processed_us;
}

void Detector::Impl::PushTimer(int64_t at, TimerType type, uint32_t index) {
  timers.push_back(Timer{at, type, index});
  std::push_heap(timers.begin(), timers.end(), TimerAfter());
}

void Detector::Impl::HandleTimer(const Timer& timer, int64_t t) {
  switch (timer.type) {
    case kStaleTimer: {
      Series& s = *series[timer.index];
      if (s.stale) return;
      const int64_t deadline = std::max(s.last_result_us, s.stale_base_us) +
                               o.stale_intervals * checks[s.check].interval_us;
      if (deadline > t) {
        PushTimer(deadline, kStaleTimer, timer.index);
        return;
      }
      s.stale = true;
      RefreshMembership(s);
      MarkCheck(s.check);
      return;
    }
    case kProberHoldTimer:
      prober_dirty = true;
      ScheduleEvaluation();
      return;
    case kTaintTimer:
      for (uint32_t i : regions[timer.index].series) {
        Series& s = *series[i];
        if (s.tainted && s.taint_until <= t) {
          s.tainted = false;
          MarkCheck(s.check);
        }
      }
      return;
  }
}

void Detector::Impl::CloseMinute(int64_t m) {
  const int64_t minute = FloorDiv(m, kMinuteUs);
  const bool flap_due = minute % flap_period_minutes == 0;
  for (auto& sp : series) {
    Series& s = *sp;
    if (!s.has_data) continue;
    s.partial.CloseMinute(s.minute_partial);
    s.burn.CloseMinute(burn_layout, s.minute_burn);
    s.minute_partial = RunCounts{};
    s.minute_burn = Counts{};
    if (s.latency.CloseMinute(lat_params)) MarkCheck(s.check);
    if (s.sm.outage()) s.last_outage_us = m;
    if (flap_due) {
      const bool failing = s.sm.down() || s.entered_down;
      s.entered_down = false;
      if (s.flap.AddSample(failing, o.flap_history, o.flap_enter_percent, o.flap_exit_percent)) {
        MarkCheck(s.check);
      }
    }
  }
  for (uint32_t ci = 0; ci < checks.size(); ++ci) {
    CheckState& c = checks[ci];
    const uint64_t slow = SlowRegions(c, m);
    bool page = false;
    bool ticket = false;
    Burn(c, m, &page, &ticket);
    if (slow != c.slow_regions || page != c.burn_page || ticket != c.burn_ticket ||
        c.finding.any()) {
      c.slow_regions = slow;
      c.burn_page = page;
      c.burn_ticket = ticket;
      MarkCheck(ci);
    }
  }
}

void Detector::Impl::Apply(const Sample& smp) {
  Series& s = *series[smp.series];
  const int64_t t = smp.time_us;
  auto release = [&] {
    if (smp.detail_slot != kNoDetail) free_details.push_back(smp.detail_slot);
  };
  if (smp.start_us < s.run_start_us) {
    ++stats.duplicate_results;  // an older run: duplicate or hopelessly late
    release();
    return;
  }
  if (smp.start_us > s.run_start_us) {
    if (s.run_open) CompleteRun(s, s.run_last_us);
    s.run_start_us = smp.start_us;
    s.run_seen = 0;
    s.run_ok = s.run_fail = s.run_prober_error = 0;
    s.run_open = true;
  }
  const uint64_t bit = uint64_t{1} << (smp.request_index & 63);
  if (!s.run_open || (s.run_seen & bit) != 0) {
    ++stats.duplicate_results;
    release();
    return;
  }
  s.run_seen |= bit;
  s.run_last_us = t;
  ++stats.results_applied;

  const CheckState& c = checks[s.check];
  s.last_result_us = std::max(s.last_result_us, t);
  if (!s.has_data || s.stale) {
    if (s.stale) {
      PushTimer(s.last_result_us + o.stale_intervals * c.interval_us, kStaleTimer, smp.series);
    }
    s.has_data = true;
    s.stale = false;
    RefreshMembership(s);
    MarkCheck(s.check);
  }

  if (smp.failure_class == FC::PROBER_ERROR) {
    ++s.run_prober_error;
    ++stats.prober_errors;
  } else if (smp.ok) {
    ++s.run_ok;
    s.latency.Add(smp.total_us, smp.dns_us, smp.connect_us, smp.tls_us, smp.first_byte_us);
  } else {
    ++s.run_fail;
    const uint32_t i = s.fail_pos++ % kFailureRing;
    s.fail_us[i] = t;
    s.fail_class[i] = smp.failure_class;
    if (smp.detail_slot != kNoDetail) {
      s.detail.assign(detail_pool[smp.detail_slot]);
      s.detail_us = t;
    }
  }
  release();
  if (static_cast<uint32_t>(s.run_ok + s.run_fail + s.run_prober_error) >= c.requests_per_run) {
    CompleteRun(s, t);
  }
}

double Detector::Impl::Noise(const Series& s) const {
  const RunCounts w = s.partial.WithCurrent(s.minute_partial);
  const uint32_t streak = static_cast<uint32_t>(s.sm.consecutive_failures());
  const uint32_t runs = w.runs > streak ? w.runs - streak : 0;
  const uint32_t failed = w.failed_runs > streak ? w.failed_runs - streak : 0;
  if (runs < 10) return 0;  // too little history to call it noisy
  return static_cast<double>(failed) / runs;
}

void Detector::Impl::CompleteRun(Series& s, int64_t t) {
  s.run_open = false;
  const uint32_t ci = s.check;
  const uint32_t n = s.run_ok + s.run_fail;
  const bool prober_error_only = n == 0;
  const bool failed = n > 0 && s.run_ok == 0;
  const bool mixed = s.run_ok > 0 && s.run_fail > 0;
  bool changed = prober_error_only != s.last_run_prober_error;
  s.last_run_prober_error = prober_error_only;
  if (!prober_error_only) {
    const bool was_down = s.sm.down();
    const bool was_outage = s.sm.outage();
    if (s.sm.OnRun(failed, Noise(s), sm_params)) {
      changed = true;
      MarkHostMates(ci);
    }
    if (s.sm.down() && !was_down) s.entered_down = true;
    if (!s.sm.down()) s.tainted = false;
    if (s.sm.outage()) s.last_outage_us = t;
    (void)was_outage;
    changed = changed || failed != s.last_run_failed || mixed != s.last_run_mixed;
    s.last_run_failed = failed;
    s.last_run_mixed = mixed;
    const RegionHealth& rh = regions[s.region];
    if (!rh.unhealthy && !s.tainted) {
      s.minute_burn.probes += n;
      s.minute_burn.fails += s.run_fail;
      if (!s.sm.outage()) {
        s.minute_partial.probes += n;
        s.minute_partial.fails += s.run_fail;
        s.minute_partial.runs += 1;
        s.minute_partial.failed_runs += failed ? 1 : 0;
        s.fast.Add(FloorDiv(t, fast_bucket_us), n, s.run_fail);
      }
    }
  }
  RefreshMembership(s);
  if (changed || s.run_fail > 0 || checks[ci].finding.any()) MarkCheck(ci);
}

void Detector::Impl::RefreshMembership(Series& s) {
  RegionHealth& rh = regions[s.region];
  const CheckState& c = checks[s.check];
  const bool live = s.Live();
  const bool considered = c.multi_region && live;
  const bool bad = considered && (s.last_run_failed || s.sm.down() || s.last_run_prober_error);
  bool changed = false;
  auto adjust = [&](bool now, bool* counted, int* counter) {
    if (now != *counted) {
      *counter += now ? 1 : -1;
      *counted = now;
      changed = true;
    }
  };
  adjust(live, &s.counted_live, &rh.live);
  adjust(considered, &s.counted_considered, &rh.considered);
  const bool bad_before = s.counted_bad;
  adjust(bad, &s.counted_bad, &rh.bad);
  adjust(s.stale, &s.counted_stale, &rh.stale);
  if (!changed) return;
  MarkRegion(s.region);
  if (bad_before != bad || s.stale) {
    // "Another region passes this check" changed for the others: re-check
    // the regions that are (or may become) unhealthy.
    for (uint32_t r = 0; r < regions.size(); ++r) {
      const RegionHealth& o_r = regions[r];
      if (o_r.unhealthy ||
          (o_r.considered > 0 && o_r.bad >= o.prober_fault_share * o_r.considered)) {
        MarkRegion(r);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Evaluation

bool Detector::Impl::Voting(const Series& s, int64_t t) const {
  return s.Live() && !regions[s.region].unhealthy && !(s.tainted && t < s.taint_until);
}

void Detector::Impl::RecomputeRegion(uint32_t r, int64_t t) {
  RegionHealth& rh = regions[r];
  rh.dirty = false;
  bool others_live = false;
  for (uint32_t i = 0; i < regions.size(); ++i) {
    if (i != r && regions[i].live > 0) others_live = true;
  }
  const bool silent =
      !rh.series.empty() && rh.stale == static_cast<int>(rh.series.size()) && others_live;
  bool faulty = rh.faulty;
  const double considered = rh.considered;
  const bool suspect =
      rh.considered >= o.prober_min_checks && rh.bad >= o.prober_fault_share * considered;
  std::vector<uint32_t> bad_checks;
  if (suspect || rh.faulty) {
    // Count the checks this region fails while another region passes them.
    for (uint32_t i : rh.series) {
      const Series& s = *series[i];
      if (!s.counted_bad) continue;
      const CheckState& c = checks[s.check];
      bool passes_elsewhere = false;
      for (size_t r2 = 0; r2 < c.series.size() && !passes_elsewhere; ++r2) {
        if (r2 == r || c.series[r2] < 0 || regions[r2].unhealthy) continue;
        const Series& o2 = *series[c.series[r2]];
        passes_elsewhere =
            o2.Live() && !o2.last_run_failed && !o2.sm.down() && !o2.last_run_prober_error;
      }
      if (passes_elsewhere) bad_checks.push_back(s.check);
    }
    const double confirmed = static_cast<double>(bad_checks.size());
    if (!rh.faulty) {
      faulty = suspect && confirmed >= o.prober_fault_share * considered;
    } else {
      faulty = considered > 0 && confirmed > o.prober_recover_share * considered;
    }
  } else {
    faulty = false;
  }
  std::sort(bad_checks.begin(), bad_checks.end());
  if (bad_checks != rh.bad_checks) {
    rh.bad_checks = std::move(bad_checks);
    if (rh.unhealthy) prober_dirty = true;
  }
  rh.faulty = faulty;
  rh.silent = silent;
  const bool unhealthy = faulty || silent;
  if (unhealthy == rh.unhealthy) return;
  rh.unhealthy = unhealthy;
  prober_dirty = true;
  for (uint32_t i : rh.series) MarkCheck(series[i]->check);
  if (unhealthy) {
    rh.unhealthy_since = t;
    PushTimer(t + Us(o.prober_fault_hold), kProberHoldTimer, r);
  } else {
    // Series still DOWN from the fault must not open target incidents now.
    const int64_t until = t + Us(o.prober_taint_max);
    for (uint32_t i : rh.series) {
      Series& s = *series[i];
      if (s.sm.down()) {
        s.tainted = true;
        s.taint_until = until;
      }
    }
    PushTimer(until, kTaintTimer, r);
  }
}

uint64_t Detector::Impl::SlowRegions(const CheckState& c, int64_t t) const {
  uint64_t mask = 0;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0) continue;
    const Series& s = *series[c.series[r]];
    if (!Voting(s, t)) continue;
    const RunCounts& w = s.partial.complete();
    // Like a burn-rate pair: the long window says "a share fails", the last
    // third of it says "and it still does", so the incident ends in minutes.
    if (w.probes >= static_cast<uint32_t>(o.partial_min_probes) &&
        w.fails >= static_cast<uint32_t>(o.partial_min_failures) &&
        w.fails >= o.partial_share * w.probes &&
        s.partial.Recent(std::max(1, partial_minutes / 3)).fails > 0) {
      mask |= uint64_t{1} << r;
    }
  }
  return mask;
}

void Detector::Impl::Burn(CheckState& c, int64_t t, bool* page, bool* ticket) {
  c.burn_value = 0;
  c.burn_rule = -1;
  int64_t last_outage = kNever;
  int64_t observed = 0;
  for (int32_t idx : c.series) {
    if (idx < 0) continue;
    const Series& s = *series[idx];
    last_outage = std::max(last_outage, s.last_outage_us);
    observed = std::max(observed, s.burn.observed_minutes());
  }
  if (observed == 0) return;
  for (size_t i = 0; i < o.burn_rules.size(); ++i) {
    const BurnRule& rule = o.burn_rules[i];
    Counts lw;
    Counts sw;
    for (size_t r = 0; r < c.series.size(); ++r) {
      if (c.series[r] < 0) continue;
      const Series& s = *series[c.series[r]];
      if (!Voting(s, t)) continue;
      lw += s.burn.Window(burn_layout, rule_ids[i].long_id);
      sw += s.burn.Window(burn_layout, rule_ids[i].short_id);
    }
    if (lw.probes == 0 || sw.probes == 0 || sw.fails < static_cast<uint32_t>(o.burn_min_failures)) {
      continue;
    }
    // History shorter than a window counts as within budget: a fresh
    // detector must not page on its first minutes of noise.
    const double long_min = absl::ToDoubleMinutes(rule.long_window);
    const double short_min = absl::ToDoubleMinutes(rule.short_window);
    const double burn_long = lw.share() * std::min(1.0, observed / long_min) / c.budget;
    const double burn_short = sw.share() * std::min(1.0, observed / short_min) / c.budget;
    if (burn_long <= rule.factor || burn_short <= rule.factor) continue;
    // Failures an outage incident already explains do not open a partial one.
    if (last_outage >= t - Us(rule.short_window)) continue;
    if (rule.page) {
      *page = true;
    } else {
      *ticket = true;
    }
    if (burn_long > c.burn_value) {
      c.burn_value = burn_long;
      c.burn_rule = static_cast<int>(i);
    }
  }
}

void Detector::Impl::ClassStats(const CheckState& c, uint64_t mask, int64_t t, int* dominant,
                                uint32_t* dominant_count, double* dns_share) const {
  std::array<uint32_t, 128> counts{};
  uint32_t total = 0;
  uint32_t dns = 0;
  const int64_t since = t - class_window_us;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0 || !(mask & (uint64_t{1} << r))) continue;
    const Series& s = *series[c.series[r]];
    const uint32_t n = std::min<uint32_t>(s.fail_pos, kFailureRing);
    for (uint32_t k = 0; k < n; ++k) {
      if (s.fail_us[k] < since) continue;
      const uint8_t cls = s.fail_class[k];
      ++counts[cls & 127];
      ++total;
      if (IsDnsClass(cls)) ++dns;
    }
  }
  *dominant = FC::UNSPECIFIED;
  *dominant_count = 0;
  for (int k = 0; k < 128; ++k) {
    if (counts[k] > *dominant_count) {
      *dominant_count = counts[k];
      *dominant = k;
    }
  }
  if (total == 0 && since > kNever) {
    // Nothing recent (an incident winding down): the last failures seen.
    ClassStats(c, mask, kNever + class_window_us, dominant, dominant_count, dns_share);
    return;
  }
  *dns_share = total == 0 ? 0.0 : static_cast<double>(dns) / total;
}

const Series* Detector::Impl::EvidenceSeries(const CheckState& c, uint64_t mask) const {
  const Series* best = nullptr;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0 || !(mask & (uint64_t{1} << r))) continue;
    const Series* s = series[c.series[r]].get();
    if (s->detail_us > kNever && (best == nullptr || s->detail_us > best->detail_us)) best = s;
  }
  return best;
}

std::string Detector::Impl::AnsweringProtocols(uint32_t ci, uint64_t down_regions) const {
  const CheckState& c = checks[ci];
  std::vector<std::string> answering;
  for (uint32_t other : host_checks[c.host]) {
    const CheckState& c2 = checks[other];
    const std::string& p2 = c2.target.protocol;
    if (other == ci || p2.empty() || p2 == "dns" || p2 == c.target.protocol) continue;
    bool ok = true;
    for (size_t r = 0; r < c2.series.size() && ok; ++r) {
      if (!(down_regions & (uint64_t{1} << r))) continue;
      if (c2.series[r] < 0) {
        ok = false;
        break;
      }
      const Series& s2 = *series[c2.series[r]];
      ok = s2.Live() && !s2.sm.down() && !s2.last_run_failed;
    }
    if (ok) answering.push_back(p2);
  }
  std::sort(answering.begin(), answering.end());
  answering.erase(std::unique(answering.begin(), answering.end()), answering.end());
  return absl::StrJoin(answering, ", ");
}

Finding Detector::Impl::Classify(uint32_t ci, int64_t t) {
  CheckState& c = checks[ci];
  Finding f;
  uint64_t voting = 0;
  uint64_t outage = 0;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0) continue;
    const Series& s = *series[c.series[r]];
    if (!Voting(s, t)) continue;
    voting |= uint64_t{1} << r;
    if (s.sm.outage()) outage |= uint64_t{1} << r;
  }
  const int n_voting = Popcount(voting);
  const int n_outage = Popcount(outage);

  // Availability: outage scope x layer, else partial failure.
  if (n_outage > 0) {
    f.avail = true;
    f.severity = Severity::kPage;
    f.regions = outage;
    f.kind = n_voting >= o.global_min_regions && 2 * n_outage > n_voting
                 ? IncidentKind::kGlobalOutage
                 : IncidentKind::kRegionalOutage;
    double dns_share = 0;
    ClassStats(c, outage, t, &f.dominant_class, &f.class_count, &dns_share);
    f.share = 1.0;
    const Series* ev = EvidenceSeries(c, outage);
    const std::string detail = ev != nullptr ? ev->detail : std::string();
    std::string answering;
    if (f.class_count > 0 && dns_share >= o.dns_share) {
      f.kind = IncidentKind::kDnsFailure;
      f.evidence = absl::StrCat(Rcode(f.dominant_class), " for ", c.target.host, " from resolvers ",
                                c.resolvers_text, " in ", RegionList(outage));
      const size_t at = detail.find("server at last known address");
      if (at != std::string::npos) {
        absl::StrAppend(&f.evidence, "; ", detail.substr(at));
      } else if (!detail.empty()) {
        absl::StrAppend(&f.evidence, "; ", detail);
      }
    } else if (!(answering = AnsweringProtocols(ci, outage)).empty()) {
      f.kind = IncidentKind::kProtocolOutage;
      f.evidence = absl::StrCat(c.target.protocol, " of ", c.target.host, " fails (",
                                ClassName(f.dominant_class), ") in ", RegionList(outage), " while ",
                                answering, " answers");
      if (!detail.empty()) absl::StrAppend(&f.evidence, "; ", detail);
    } else {
      f.evidence = absl::StrCat(ClassName(f.dominant_class), " from ", RegionList(outage));
      if (!detail.empty()) absl::StrAppend(&f.evidence, ": ", detail);
    }
  } else if (n_voting > 0) {
    const int need = std::min(o.partial_min_regions, n_voting);
    const int64_t bucket = FloorDiv(t, fast_bucket_us);
    uint64_t fast = 0;
    Counts fast_sum;
    Counts trimmed;
    Counts slow_sum;
    for (size_t r = 0; r < c.series.size(); ++r) {
      if (!(voting & (uint64_t{1} << r))) continue;
      Series& s = *series[c.series[r]];
      const Counts w = s.fast.Sum(bucket);
      fast_sum += w;
      trimmed += s.fast.SumFromFirstFailure(bucket);
      const RunCounts& sw = s.partial.complete();
      slow_sum += Counts{sw.probes, sw.fails};
      if (w.probes >= static_cast<uint32_t>(o.partial_fast_min_probes) &&
          w.fails >= static_cast<uint32_t>(o.partial_fast_min_failures) &&
          w.fails >= o.partial_fast_share * w.probes) {
        fast |= uint64_t{1} << r;
      }
    }
    const uint64_t slow = c.slow_regions & voting;
    const bool fast_rule = Popcount(fast) >= need;
    const bool slow_rule = Popcount(slow) >= need;
    const bool burn = c.burn_page || c.burn_ticket;
    if (fast_rule || slow_rule || burn) {
      f.avail = true;
      f.severity = fast_rule || slow_rule || c.burn_page ? Severity::kPage : Severity::kTicket;
      // The regions that see failures (not only those over a threshold right
      // now: at 20% the per-region verdicts flicker).
      uint64_t where = 0;
      for (size_t r = 0; r < c.series.size(); ++r) {
        if (!(voting & (uint64_t{1} << r))) continue;
        Series& s = *series[c.series[r]];
        if (s.partial.WithCurrent(s.minute_partial).fails > 0 || s.fast.Sum(bucket).fails > 0) {
          where |= uint64_t{1} << r;
        }
      }
      if (where == 0) where = voting;
      f.regions = where;
      double dns_share = 0;
      ClassStats(c, where, t, &f.dominant_class, &f.class_count, &dns_share);
      // The larger of the share "since it started failing" in the short
      // window (when it has enough probes) and the slow window's: right
      // from the first minute, and decaying smoothly after a fix.
      Counts share = slow_sum;
      if (trimmed.probes >= static_cast<uint32_t>(o.partial_fast_min_probes) &&
          trimmed.share() > slow_sum.share()) {
        share = trimmed;
      }
      f.share_fails = share.fails;
      f.share_probes = share.probes;
      // Whole percent steps: fewer updates.
      f.share = std::round(share.share() * 100) / 100;
      f.kind = f.class_count > 0 && dns_share >= o.dns_share ? IncidentKind::kDnsFailure
                                                             : IncidentKind::kPartialFailure;
      std::string rule;
      if (fast_rule) {
        rule = absl::StrFormat("%u of %u probes failed in the last %s", fast_sum.fails,
                               fast_sum.probes, absl::FormatDuration(o.partial_fast_window));
      } else if (slow_rule) {
        rule = absl::StrFormat("%u of %u probes failed in the last %s", slow_sum.fails,
                               slow_sum.probes, absl::FormatDuration(o.partial_window));
      } else {
        const BurnRule& br = o.burn_rules[c.burn_rule];
        rule = absl::StrFormat("error budget burning %.1fx over %s and %s", c.burn_value,
                               absl::FormatDuration(br.long_window),
                               absl::FormatDuration(br.short_window));
      }
      const Series* ev = EvidenceSeries(c, where);
      f.evidence = absl::StrFormat("%.0f%% of probes failing in %s (%s); %s", f.share * 100,
                                   RegionList(where), rule, ClassName(f.dominant_class));
      if (f.kind == IncidentKind::kDnsFailure) {
        absl::StrAppend(&f.evidence, " from resolvers ", c.resolvers_text);
      }
      if (ev != nullptr) absl::StrAppend(&f.evidence, ": ", ev->detail);
    }
  }

  // Latency: degraded in min(latency_min_regions, half of the voting regions).
  uint64_t slow_latency = 0;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (!(voting & (uint64_t{1} << r))) continue;
    if (series[c.series[r]]->latency.degraded()) slow_latency |= uint64_t{1} << r;
  }
  const int latency_need = std::max(1, std::min(o.latency_min_regions, (n_voting + 1) / 2));
  if (n_voting > 0 && Popcount(slow_latency) >= latency_need) {
    f.latency = true;
    f.latency_regions = slow_latency;
    for (size_t r = 0; r < c.series.size(); ++r) {
      if (!(slow_latency & (uint64_t{1} << r))) continue;
      const LatencyTracker& lt = series[c.series[r]]->latency;
      const std::array<double, kPhaseCount> shift = lt.PhaseShift();
      for (int p = 0; p < kPhaseCount; ++p) f.shift[p] += shift[p];
      if (lt.window_percentile_us() > f.p95_us) {
        f.p95_us = lt.window_percentile_us();
        f.baseline_us = lt.baseline_percentile_us();
      }
    }
  }

  // Flapping: any reporting region.
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0) continue;
    const Series& s = *series[c.series[r]];
    if (s.Live() && s.flap.flapping()) {
      f.flap_regions |= uint64_t{1} << r;
      f.flap_percent = std::max(f.flap_percent, s.flap.percent());
    }
  }
  f.flapping = f.flap_regions != 0;
  return f;
}

void Detector::Impl::ReconcileService(uint32_t si, int64_t t) {
  const ServiceState& svc = services[si];
  struct Group {
    DesiredIncident d;
    uint64_t regions = 0;
    std::array<uint32_t, 128> classes{};
    uint64_t fails = 0;
    uint64_t probes = 0;
    double max_share = 0;
    std::array<double, kPhaseCount> shift{};
    std::vector<const std::string*> evidence;  // per check, in check-name order
    int n_checks = 0;
    bool mixed_protocols = false;
    bool any_global = false;
  };
  std::vector<Group> groups;
  auto group_for = [&](IncidentKind kind, const std::string& disc) -> Group& {
    for (Group& g : groups) {
      if (g.d.kind == kind && g.d.discriminator == disc) return g;
    }
    groups.emplace_back();
    groups.back().d.kind = kind;
    groups.back().d.discriminator = disc;
    groups.back().d.severity = Severity::kTicket;
    return groups.back();
  };
  auto add = [&](Group& g, const CheckState& c, uint64_t regions_mask, bool use_host_target) {
    g.d.checks.push_back(c.name);
    g.d.hosts.push_back(c.target.host);
    g.d.targets.push_back(use_host_target ? c.target.host : c.name);
    if (g.n_checks == 0) {
      g.d.protocol = c.target.protocol;
    } else if (g.d.protocol != c.target.protocol) {
      g.mixed_protocols = true;
    }
    ++g.n_checks;
    g.regions |= regions_mask;
  };
  for (uint32_t ci : svc.checks) {
    const CheckState& c = checks[ci];
    const Finding& f = c.finding;
    checks[ci].kind_held = false;
    if (f.avail) {
      // Inside an open incident a check keeps that incident's kind until its
      // new kind held for reclassify_after (recovery is staggered; a global
      // outage recovering region by region is not "regional"). Escalation
      // REGIONAL -> GLOBAL is immediate.
      IncidentKind kind = f.kind;
      IncidentKind open_kind;
      if (book.OpenKindFor(svc.scope, c.name, &open_kind) && open_kind != kind &&
          !(open_kind == IncidentKind::kRegionalOutage && kind == IncidentKind::kGlobalOutage) &&
          t - c.kind_since < reclassify_us) {
        kind = open_kind;
        checks[ci].kind_held = true;
      }
      const bool protocol = kind == IncidentKind::kProtocolOutage;
      // GLOBAL and REGIONAL are scopes of one outage: one incident per
      // service, GLOBAL when any of its checks is down in a majority.
      const bool outage =
          kind == IncidentKind::kGlobalOutage || kind == IncidentKind::kRegionalOutage;
      Group& g = group_for(outage ? IncidentKind::kRegionalOutage : kind,
                           protocol ? c.target.protocol : std::string());
      if (kind == IncidentKind::kGlobalOutage) g.any_global = true;
      add(g, c, f.regions, protocol);
      if (f.severity == Severity::kPage) g.d.severity = Severity::kPage;
      g.classes[f.dominant_class & 127] += std::max<uint32_t>(1, f.class_count);
      g.fails += f.share_fails;
      g.probes += f.share_probes;
      g.max_share = std::max(g.max_share, f.share);
      if (!f.evidence.empty()) g.evidence.push_back(&f.evidence);
    }
    if (f.latency) {
      Group& g = group_for(IncidentKind::kLatencyDegradation, "");
      add(g, c, f.latency_regions, false);
      g.d.severity = Severity::kPage;
      for (int p = 0; p < kPhaseCount; ++p) g.shift[p] += f.shift[p];
      if (absl::Microseconds(f.p95_us) > g.d.latency_p95) {
        g.d.latency_p95 = absl::Microseconds(f.p95_us);
        g.d.latency_baseline_p95 = absl::Microseconds(f.baseline_us);
      }
    }
    if (f.flapping) {
      Group& g = group_for(IncidentKind::kFlapping, "");
      add(g, c, f.flap_regions, false);
      g.max_share = std::max(g.max_share, f.flap_percent);
    }
  }
  std::vector<DesiredIncident> desired;
  desired.reserve(groups.size());
  for (Group& g : groups) {
    DesiredIncident& d = g.d;
    if (g.any_global) d.kind = IncidentKind::kGlobalOutage;
    for (std::vector<std::string>* v : {&d.checks, &d.hosts, &d.targets}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    if (g.mixed_protocols) d.protocol.clear();
    d.regions = RegionNames(g.regions);
    const std::string more =
        g.n_checks > 1 ? absl::StrCat(" (+", g.n_checks - 1, " more checks)") : "";
    switch (d.kind) {
      case IncidentKind::kLatencyDegradation: {
        // Name the phase whose mean moved most.
        int best = 0;
        for (int p = 1; p < kPhaseCount; ++p) {
          if (g.shift[p] > g.shift[best]) best = p;
        }
        static constexpr LatencyPhase kPhases[kPhaseCount] = {
            LatencyPhase::kDns, LatencyPhase::kConnect, LatencyPhase::kTls,
            LatencyPhase::kFirstByte};
        d.latency_phase = g.shift[best] > 0 ? kPhases[best] : LatencyPhase::kNone;
        d.evidence = absl::StrCat(
            "p", static_cast<int>(std::lround(o.latency_percentile * 100)), " ",
            Millis(absl::ToDoubleMicroseconds(d.latency_p95)), " vs baseline ",
            Millis(absl::ToDoubleMicroseconds(d.latency_baseline_p95)), " in ",
            absl::StrJoin(d.regions, ", "), "; ", LatencyPhaseName(d.latency_phase),
            " moved most (+", Millis(g.shift[best] / std::max(1, g.n_checks)), " mean)", more);
        break;
      }
      case IncidentKind::kFlapping:
        d.failing_share = 0;
        d.evidence =
            absl::StrFormat("state changed %.0f%% over the last %d samples in %s%s", g.max_share,
                            o.flap_history, absl::StrJoin(d.regions, ", "), more);
        break;
      default: {
        uint32_t best = 0;
        for (int k = 0; k < 128; ++k) {
          if (g.classes[k] > best) {
            best = g.classes[k];
            d.dominant_class = static_cast<FC::Code>(k);
          }
        }
        d.failing_share = g.probes > 0 ? std::round(100.0 * g.fails / g.probes) / 100 : g.max_share;
        // The evidence of the first checks (by name), distinct texts only.
        std::vector<std::string> parts;
        for (const std::string* e : g.evidence) {
          if (parts.size() == kEvidenceChecks) break;
          if (std::find(parts.begin(), parts.end(), *e) == parts.end()) parts.push_back(*e);
        }
        const int rest = g.n_checks - static_cast<int>(parts.size());
        d.evidence = absl::StrJoin(parts, " | ");
        if (rest > 0) absl::StrAppend(&d.evidence, " (+", rest, " more checks)");
        break;
      }
    }
    desired.push_back(std::move(d));
  }
  book.Reconcile(svc.scope, svc.name, std::move(desired), TimeOf(t), &events);
}

void Detector::Impl::ReconcileProbers(int64_t t) {
  prober_dirty = false;
  std::vector<DesiredIncident> desired;
  for (uint32_t r = 0; r < regions.size(); ++r) {
    const RegionHealth& rh = regions[r];
    if (!rh.unhealthy || t < rh.unhealthy_since + Us(o.prober_fault_hold)) continue;
    DesiredIncident d;
    d.kind = IncidentKind::kProberFault;
    d.discriminator = rh.name;
    d.severity = Severity::kTicket;
    d.regions = {rh.name};
    std::array<uint32_t, 128> classes{};
    for (uint32_t ci : rh.bad_checks) {
      d.checks.push_back(checks[ci].name);
      d.hosts.push_back(checks[ci].target.host);
      const Series& s = *series[checks[ci].series[r]];
      const uint32_t n = std::min<uint32_t>(s.fail_pos, kFailureRing);
      for (uint32_t k = 0; k < n; ++k) ++classes[s.fail_class[k] & 127];
    }
    uint32_t best = 0;
    for (int k = 0; k < 128; ++k) {
      if (classes[k] > best) {
        best = classes[k];
        d.dominant_class = static_cast<FC::Code>(k);
      }
    }
    std::sort(d.hosts.begin(), d.hosts.end());
    d.hosts.erase(std::unique(d.hosts.begin(), d.hosts.end()), d.hosts.end());
    d.targets = d.checks;
    const std::string prober = rh.prober_id.empty() ? "unknown" : rh.prober_id;
    if (rh.silent) {
      d.evidence = absl::StrFormat(
          "no results from region %s (prober %s) for %d checks while other "
          "regions report",
          rh.name, prober, static_cast<int>(rh.series.size()));
    } else {
      d.evidence = absl::StrFormat(
          "region %s (prober %s) fails %d of %d checks that pass in other "
          "regions (%s)",
          rh.name, prober, static_cast<int>(rh.bad_checks.size()), rh.considered,
          ClassName(d.dominant_class));
    }
    desired.push_back(std::move(d));
  }
  book.Reconcile(kProberScope, o.prober_fault_service, std::move(desired), TimeOf(t), &events);
}

void Detector::Impl::Evaluate(int64_t t) {
  if (dirty_regions.empty() && dirty_checks.empty() && dirty_services.empty() && !prober_dirty) {
    return;
  }
  std::sort(dirty_regions.begin(), dirty_regions.end());
  for (size_t i = 0; i < dirty_regions.size(); ++i) RecomputeRegion(dirty_regions[i], t);
  dirty_regions.clear();

  std::sort(dirty_checks.begin(), dirty_checks.end());
  for (uint32_t ci : dirty_checks) {
    CheckState& c = checks[ci];
    c.dirty = false;
    Finding f = Classify(ci, t);
    if (f.avail && (!c.finding.avail || c.finding.kind != f.kind)) c.kind_since = t;
    if (!(f == c.finding)) {
      c.finding = std::move(f);
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
  if (prober_dirty) ReconcileProbers(t);
}

// ---------------------------------------------------------------------------
// Detector

absl::StatusOr<std::unique_ptr<Detector>> Detector::Create(DetectorOptions options) {
  absl::Status st = options.Validate();
  if (!st.ok()) return st;
  return std::unique_ptr<Detector>(new Detector(std::move(options)));
}

Detector::Detector(DetectorOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}

Detector::~Detector() = default;

absl::Status Detector::SetConfig(const v1::Config& config, absl::Time now) {
  return impl_->SetConfig(config, Us(now));
}

void Detector::Observe(const v1::ProbeResult& result) { impl_->Observe(result); }

std::vector<IncidentEvent> Detector::Tick(absl::Time now) {
  impl_->AdvanceTo(Us(now) - impl_->reorder_us);
  std::vector<IncidentEvent> out;
  out.swap(impl_->events);
  return out;
}

void Detector::RestoreIncidents(const std::vector<Incident>& open, absl::Time now) {
  for (const Incident& i : open) {
    if (i.resolved) continue;
    const std::string scope =
        i.kind == IncidentKind::kProberFault ? kProberScope : absl::StrCat("s/", i.service);
    impl_->book.Restore(scope, i, now);
  }
}

SeriesStatus Detector::Status(absl::string_view check, absl::string_view region) const {
  SeriesStatus st;
  auto it = impl_->check_index.find(check);
  if (it == impl_->check_index.end()) return st;
  const int r = impl_->RegionIndex(region);
  const CheckState& c = impl_->checks[it->second];
  if (r < 0 || c.series[r] < 0) return st;
  const Series& s = *impl_->series[c.series[r]];
  st.down = s.sm.down();
  st.outage = s.sm.outage();
  st.voting = impl_->Voting(s, impl_->processed_us);
  st.flapping = s.flap.flapping();
  st.flap_percent = s.flap.percent();
  st.latency_degraded = s.latency.degraded();
  st.latency_p95 = absl::Microseconds(s.latency.window_percentile_us());
  st.last_result = TimeOf(s.last_result_us);
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
