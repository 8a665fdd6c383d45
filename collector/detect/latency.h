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
// (it stays the pre-degradation one). All memory is allocated in Init().
// Not thread-safe (owned by Detector).
#ifndef SONDE_COLLECTOR_DETECT_LATENCY_H_
#define SONDE_COLLECTOR_DETECT_LATENCY_H_

#include <array>
#include <cstdint>
#include <vector>

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

struct LatencyParams {
  int window_minutes = 10;
  int baseline_blocks = 6;
  double percentile = 0.95;
  double factor = 2.0;
  double margin_us = 250000;
  uint32_t min_samples = 10;
  uint32_t min_baseline_samples = 30;
};

class LatencyTracker {
 public:
  void Init(const LatencyParams& params);
  // One OK result.
  void Add(uint32_t total_us, uint32_t dns_us, uint32_t connect_us, uint32_t tls_us,
           uint32_t first_byte_us);
  // Closes the current minute and re-evaluates; true when degraded() changed.
  bool CloseMinute(const LatencyParams& params);

  bool degraded() const { return degraded_; }
  // As of the last CloseMinute: window and baseline percentile (us; baseline
  // only computed when the window is above the margin).
  double window_percentile_us() const { return window_p_; }
  double baseline_percentile_us() const { return baseline_p_; }
  // Mean per phase (PhaseIndex) in the window minus in the baseline, us.
  std::array<double, kPhaseCount> PhaseShift() const;

 private:
  // A minute at 30 s intervals holds two results: `used` marks the buckets
  // it touched so adding it to (or removing it from) a window costs per
  // result, not per bucket.
  struct Minute {
    uint32_t count = 0;
    std::array<uint64_t, 2> used{};
    std::array<uint64_t, kPhaseCount> phase{};
    std::array<uint16_t, LatencyHistogram::kBuckets> hist{};
  };
  struct Block {
    std::array<uint32_t, LatencyHistogram::kBuckets> hist{};
    uint32_t count = 0;
    std::array<uint64_t, kPhaseCount> phase{};
  };
  static void AddTo(Block* b, const Minute& m);
  static void SubtractFrom(Block* b, const Minute& m);
  static void AddTo(Block* b, const Block& m);
  static void SubtractFrom(Block* b, const Block& m);

  Minute cur_;  // first: touched by every result
  std::vector<Minute> minutes_;
  int64_t closed_minutes_ = 0;
  Block window_;
  std::vector<Block> blocks_;
  int64_t closed_blocks_ = 0;
  Block open_;
  int open_minutes_ = 0;
  Block baseline_;  // closed blocks + open_
  bool degraded_ = false;
  double window_p_ = 0;
  double baseline_p_ = 0;
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_LATENCY_H_
