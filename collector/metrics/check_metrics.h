// CheckMetrics: the collector's per check x region series for /metrics —
// the current up state, probe and success counters, failures by class, a
// latency histogram per phase with fixed buckets, and the certificate's
// expiry — kept in memory from the committed, normalised batches (the same
// batches the detector sees), and written in the Prometheus text format.
//
// Bounded: series exist only for the check x region pairs the config in
// force names (SetConfig drops the others, so a check removed from the
// config disappears on reload), and at most `max_check_regions` pairs are
// held; a result that would need one more is counted in
// sonde_check_metrics_dropped_results_total{reason="limit"}. Without a
// config every pair a prober reports is admitted, up to the same cap.
// docs/metrics.md states the cardinality per pair.
//
// Thread-safety: Observe (ingest handler threads after commit), SetConfig
// (the reload thread) and AppendTo (the metrics server's threads) may run
// at once; one mutex guards the map, and AppendTo formats a copy taken
// under it, so a scrape holds ingest up only for the copy.
#ifndef SONDE_COLLECTOR_METRICS_CHECK_METRICS_H_
#define SONDE_COLLECTOR_METRICS_CHECK_METRICS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// The latency phases of a result, in ProbeResult's order; the `phase`
// label values (the rollups' phase names, collector/storage/latency_buckets.h).
inline constexpr std::array<const char*, 5> kLatencyPhases = {"dns", "connect", "tls", "first_byte",
                                                              "total"};
// Upper bounds (seconds) of the histogram buckets; +Inf follows. Each is
// also a bound of the rollups' histograms (collector/storage/latency_buckets.h,
// a test pins it), so a percentile from Prometheus and one from the stored
// rollups agree at these bounds.
inline constexpr std::array<double, 12> kLatencyBuckets = {0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                                                           0.5,   1,    2,    5,    10,  30};
// The default of --metrics-max-check-regions.
inline constexpr size_t kDefaultMaxCheckRegions = 5000;

class CheckMetrics {
 public:
  explicit CheckMetrics(size_t max_check_regions = kDefaultMaxCheckRegions);

  // The config in force: only its check x region pairs keep or get series.
  void SetConfig(const v1::Config& config);
  // One committed batch (already normalised: every result carries the
  // stream's region and a failure class).
  void Observe(const v1::ResultBatch& batch);
  // Appends every family (described even when empty); `now` dates the
  // certificates' remaining time.
  void AppendTo(absl::Time now, common::MetricsText* out) const;

  size_t check_regions() const;

 private:
  static constexpr size_t kPhases = kLatencyPhases.size();
  static constexpr size_t kBuckets = kLatencyBuckets.size() + 1;  // + the +Inf bucket
  struct Series {
    absl::Time last_start = absl::InfinitePast();
    bool up = false;
    uint64_t probes = 0;
    uint64_t successes = 0;
    std::map<int, uint64_t> failures;  // FailureClass code -> results; bounded by the enum
    std::array<std::array<uint64_t, kBuckets>, kPhases> buckets{};  // not cumulative
    std::array<double, kPhases> sum{};
    std::array<uint64_t, kPhases> count{};
    absl::Time cert_seen = absl::InfinitePast();  // start of the newest result with a cert
    absl::Time cert_not_after = absl::InfinitePast();
    std::string cert_text;  // the text cert_not_after was parsed from
  };
  // "check\0region": the map key, and the labels' source.
  static std::string Key(const std::string& check, const std::string& region);
  bool Allowed(const std::string& check, const std::string& region) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Add(const v1::ProbeResult& r, Series* s);
  static void NoteCert(const v1::ProbeResult& r, absl::Time start, Series* s);

  const size_t max_check_regions_;
  mutable absl::Mutex mu_;
  bool configured_ ABSL_GUARDED_BY(mu_) = false;
  // check -> its regions (empty: any region, as when the config names none).
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> allowed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Series> series_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_limit_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_unconfigured_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_METRICS_CHECK_METRICS_H_
