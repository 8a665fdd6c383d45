// Latency of one check x region: a rolling window of minute histograms and a
// trailing baseline, for LATENCY_DEGRADATION.
//
// LatencyHistogram buckets microseconds log-linearly: 4 buckets per octave
// from 256 us to 67 s (~19% wide), plus under/overflow; percentiles are
// interpolated inside a bucket. LatencyTracker keeps `window` minute
// histograms (u16 counts) of OK results' total time plus per-phase sums, and
// a baseline of up to `baseline_blocks` closed blocks of `window` minutes
// each plus the block being filled: the ~hour *before* the current window.
// While degraded, minutes leaving the window are not added to the baseline
// (it stays the pre-degradation one).
//
// Beside it, a fast window for sustained changes (minutes, not the 10 it
// takes the slow window): the last `fast_minutes` closed minutes plus the
// minute in progress, against a fast baseline of every untainted minute
// before them (the rest of the window and the blocks; available a few
// minutes after start, not after an hour). Degraded when at least
// `fast_share` of its OK results (>= min_samples) took longer than
// max(factor x q, q + margin), q the baseline's (1 - fast_share)-quantile
// (the median by default: robust to the spikes a p95 of a few minutes
// would follow). The threshold is fixed
// at each minute boundary, so the per-result cost is one comparison and
// the verdict moves on any result, not only at minute boundaries. Minutes
// that leave the fast window while degraded (either rule) never join a
// baseline. All memory is allocated in Init(). Not thread-safe (owned by
// Detector).
#ifndef SONDE_COLLECTOR_DETECT_LATENCY_H_
#define SONDE_COLLECTOR_DETECT_LATENCY_H_

#include <array>
#include <cstdint>
#include <vector>

#include "collector/detect/limits.h"

namespace sonde::detect {

class LatencyHistogram {
 public:
  static constexpr int kBuckets = 74;
  static int Bucket(uint32_t us);
  static double LowerBound(int bucket);
  static double UpperBound(int bucket);
  // The q-quantile (0 < q < 1) of `hist` in microseconds; 0 when empty.
  static double Percentile(const uint32_t* hist, uint64_t count, double q);
};

enum PhaseIndex { kPhaseDns = 0, kPhaseConnect, kPhaseTls, kPhaseFirstByte, kPhaseCount };

// The rule's knobs (detection options latency_*; docs/detection.md).
struct LatencyParams {
  int window_minutes = 10;  // the slow window, and the size of a baseline block
  int baseline_blocks = 6;  // closed blocks in the baseline: the hour before
  // The slow rule compares this quantile of window and baseline.
  double percentile = 0.95;
  // Degraded above max(factor x baseline, baseline + margin): the margin
  // keeps fast checks from alarming on a few milliseconds.
  double factor = 2.0;
  double margin_us = 250000;
  uint32_t min_samples = 10;           // OK results a window needs to judge
  uint32_t min_baseline_samples = 30;  // and its baseline
  int fast_minutes = 1;                // closed minutes in the fast window (+ the current)
  // Share of the fast window's results above the threshold that degrades.
  double fast_share = 0.5;
};

class LatencyTracker {
 public:
  void Init(const LatencyParams& params);
  // One OK result; true when degraded() changed (the fast window).
  bool Add(uint32_t total_us, uint32_t dns_us, uint32_t connect_us, uint32_t tls_us,
           uint32_t first_byte_us) {
    if (total_us > fast_threshold_us_) {
      ++cur_.slow;
    }
    AddToMinute(total_us, dns_us, connect_us, tls_us, first_byte_us);
    if (fast_threshold_us_ == kNoThreshold) {
      return false;
    }
    const bool was = degraded();
    fast_degraded_ = FastVerdict();
    return was != degraded();
  }
  // Closes the current minute and re-evaluates; true when degraded() changed.
  bool CloseMinute(const LatencyParams& params);

  bool degraded() const { return degraded_ || fast_degraded_; }
  bool fast_degraded() const { return fast_degraded_; }
  // What an incident reports: the slow window's p and baseline when it is
  // degraded, else the fast window's (computed now, cold path).
  double ReportedPercentileUs(double q) const;
  double ReportedBaselineUs() const { return degraded_ ? baseline_p_ : fast_baseline_p_; }
  // As of the last CloseMinute: window and baseline percentile (us; baseline
  // only computed when the window is above the margin).
  double window_percentile_us() const { return window_p_; }
  double baseline_percentile_us() const { return baseline_p_; }
  // Mean per phase (PhaseIndex) in the window minus in the baseline, us
  // (the fast window and its baseline when only the fast rule is degraded).
  std::array<double, kPhaseCount> PhaseShift() const;

 private:
  static constexpr uint32_t kNoThreshold = 0xffffffffu;
  void AddToMinute(uint32_t total_us, uint32_t dns_us, uint32_t connect_us, uint32_t tls_us,
                   uint32_t first_byte_us);
  bool FastVerdict() const {
    const uint64_t n = fast_count_ + cur_.count;
    return n >= fast_min_samples_ && (fast_slow_ + cur_.slow) >= fast_share_ * n;
  }
  // A minute at 30 s intervals holds two results: `used` marks the buckets
  // it touched so adding it to (or removing it from) a window costs per
  // result, not per bucket.
  struct Minute {
    uint32_t count = 0;
    uint32_t slow = 0;  // above the fast threshold of its time
    std::array<uint64_t, 2> used{};
    std::array<uint64_t, kPhaseCount> phase{};
    std::array<uint16_t, LatencyHistogram::kBuckets> hist{};
  };
  struct Block {
    std::array<uint32_t, LatencyHistogram::kBuckets> hist{};
    uint32_t count = 0;
    std::array<uint64_t, kPhaseCount> phase{};
  };
  // The fast window's baseline: baseline_ plus the untainted window minutes
  // before the fast window.
  Block FastBaseline() const;
  // Results of `m` in the buckets wholly above `threshold_us`.
  static uint32_t SlowerThan(const Minute& m, uint32_t threshold_us);
  static void AddTo(Block* b, const Minute& m);
  static void SubtractFrom(Block* b, const Minute& m);
  static void AddTo(Block* b, const Block& m);
  static void SubtractFrom(Block* b, const Block& m);

  // First: touched by every result (the threshold beside the minute, on
  // its cache line).
  uint32_t fast_threshold_us_ = kNoThreshold;
  Minute cur_;
  std::vector<Minute> minutes_;
  int64_t closed_minutes_ = 0;
  Block window_;
  std::vector<Block> blocks_;
  int64_t closed_blocks_ = 0;
  Block open_;
  int open_minutes_ = 0;
  Block baseline_;  // closed blocks + open_
  // Bit i: minutes_[i] left the fast window while degraded (never joins a
  // baseline). The window is at most kMaxLatencyMinutes (30) minutes.
  uint32_t tainted_ = 0;
  static_assert(kMaxLatencyMinutes <= 32, "tainted_ holds a bit per window minute");
  int fast_minutes_ = 1;
  double fast_share_ = 0.5;
  uint32_t fast_min_samples_ = 10;
  // Bit i: minutes_[i] closed while the fast window had no threshold (its
  // `slow` is not counted yet).
  uint32_t unjudged_ = 0;
  uint64_t fast_count_ = 0;  // closed minutes of the fast window
  uint64_t fast_slow_ = 0;
  bool fast_degraded_ = false;
  double fast_baseline_p_ = 0;
  bool degraded_ = false;
  double window_p_ = 0;
  double baseline_p_ = 0;
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_LATENCY_H_
