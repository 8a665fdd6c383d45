// Detector::Impl: the detector's state and the declarations of its steps,
// shared by the files that implement them:
//
//   config_index.cc     SetConfig: checks, regions, services and hosts as
//                       indices; series kept across reloads
//   engine.cc           the per-result path (Observe, Apply, CompleteRun) and
//                       the clock (AdvanceTo, timers, minute boundaries)
//   outage_confirm.cc   how many failed runs in a row confirm an outage
//   prober_health.cc    which regions (probers) vote; PROBER_FAULT incidents;
//                       verdicts handed across shards (cluster mode)
//   classify.cc         what one check looks like now: the rules
//                       (rules/registry.cc) run on a CheckView of it
//   service_incidents.cc  findings of a service's checks -> desired
//                       incidents (grouping; each rule writes its evidence)
//   detector.cc         the public Detector and the evaluation pass
//
// Everything is indices into vectors (series, checks, regions, services) and
// microseconds (series.h). Internal header: only collector/detect includes
// it. Not thread-safe: the Detector's caller serializes every call.
#ifndef SONDE_COLLECTOR_DETECT_DETECTOR_IMPL_H_
#define SONDE_COLLECTOR_DETECT_DETECTOR_IMPL_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "collector/detect/check_state.h"
#include "collector/detect/detector.h"
#include "collector/detect/incident_book.h"
#include "collector/detect/reorder_buffer.h"
#include "collector/detect/series.h"
#include "collector/detect/target.h"

namespace sonde::detect {

inline constexpr char kProberScope[] = "p/";
// Prefetch the state of the sample this many places down the queue: this
// many cache lines at the head of its Series.
inline constexpr size_t kPrefetchAhead = 8;
inline constexpr int kPrefetchLines = 6;

// What a failed result said beyond its class and timings, kept only when
// there is something: its detail text and, when its name failed to
// resolve, what the last known address did (pooled, so a Sample stays 48
// bytes; slots are reused). Certificates go to Series::observed_certificate.
struct ResultDetail {
  std::string text;
  std::string fallback_address;
  uint8_t fallback_class = 0;
  int32_t fallback_http_status = 0;
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
  // Prober health across shards: what the judge was last told (judge) or
  // what it says, waiting for its instant and applied (a follower).
  bool exported_unhealthy = false;
  std::optional<DesiredIncident> exported_ticket;
  std::deque<ProberVerdict> verdicts;
  std::optional<DesiredIncident> ticket;
};

struct ServiceState {
  std::string name;
  std::string scope;
  std::vector<uint32_t> checks;
  bool dirty = false;
};

enum TimerType : uint8_t { kStaleTimer, kProberHoldTimer, kTaintTimer, kVerdictTimer };

struct Timer {
  int64_t at;
  TimerType type;
  uint32_t index;
};

struct TimerAfter {
  bool operator()(const Timer& a, const Timer& b) const {
    if (a.at != b.at) {
      return a.at > b.at;
    }
    if (a.type != b.type) {
      return a.type > b.type;
    }
    return a.index > b.index;
  }
};

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
  void RefreshMembership(Series& s);
  // Outage confirmation (outage_confirm.cc): the failing-run share of s's
  // check since its failures began, over its voting regions' last 32 runs,
  // each without its current failing streak and the first failure left out
  // (0 with fewer than two); and the failed runs in a row that confirm an
  // outage of s.
  double CheckNoise(const Series& s, int64_t t) const;
  int OutageConfirmRuns(const Series& s, int64_t t) const;

  // Evaluation.
  void Evaluate(int64_t t);
  void RecomputeRegion(uint32_t r, int64_t t);
  // The region's prober leaves (or rejoins) the votes at t.
  void SetRegionHealth(uint32_t r, bool unhealthy, int64_t t);
  // A follower: applies region r's verdicts about instants up to t.
  void ApplyVerdicts(uint32_t r, int64_t t);
  // The judge: records the verdict changes of ReconcileProbers' pass.
  void ExportVerdict(uint32_t r, const DesiredIncident* ticket, int64_t t);
  class View;  // CheckView for the rules (classify.cc)
  std::vector<Finding> Classify(uint32_t ci, int64_t t);
  bool Voting(const Series& s, int64_t t) const;
  // Calls fn(region, series) for each region whose series of `c` votes at t.
  template <typename Fn>
  void ForEachVoting(const CheckState& c, int64_t t, Fn fn) const {
    for (size_t r = 0; r < c.series.size(); ++r) {
      if (c.series[r] >= 0 && Voting(*series[c.series[r]], t)) {
        fn(r, *series[c.series[r]]);
      }
    }
  }
  uint64_t SlowRegions(const CheckState& c, int64_t t) const;
  void Burn(CheckState& c, int64_t t, bool* page, bool* ticket);
  std::string AnsweringProtocols(uint32_t ci, uint64_t down_regions) const;
  void ClassStats(const CheckState& c, uint64_t mask, int64_t t, bool episode, int* dominant,
                  uint32_t* dominant_count, double* dns_share) const;
  const Series* EvidenceSeries(const CheckState& c, uint64_t mask, int failure_class) const;
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
        for (int line = 0; line < kPrefetchLines; ++line) {
          __builtin_prefetch(p + 64 * line, 1);
        }
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
    for (uint32_t other : host_checks[checks[ci].host]) {
      MarkCheck(other);
    }
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
      if (regions[i].name == name) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  std::string RegionList(uint64_t mask) const {
    std::string out;
    for (size_t r = 0; r < regions.size(); ++r) {
      if (mask & (uint64_t{1} << r)) {
        if (!out.empty()) {
          out += ", ";
        }
        out += regions[r].name;
      }
    }
    return out;
  }
  std::vector<std::string> RegionNames(uint64_t mask) const {
    std::vector<std::string> out;
    for (size_t r = 0; r < regions.size(); ++r) {
      if (mask & (uint64_t{1} << r)) {
        out.push_back(regions[r].name);
      }
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
  std::vector<ResultDetail> detail_pool;  // Sample::detail_slot
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
  std::vector<ConfigFault> config_faults;  // SetConfigFaults
  bool exports_verdicts = false;           // ExportProberVerdicts
  bool follows_verdicts = false;           // FollowProberVerdicts
  std::vector<ProberVerdict> exported;     // the judge's, not yet taken

  DetectorStats stats;
  std::vector<IncidentEvent> events;
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_DETECTOR_IMPL_H_
