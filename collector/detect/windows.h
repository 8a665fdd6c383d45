// Fixed-size counting windows of one check x region series: no allocation
// after construction, O(1) per result and per minute.
//
//   FastWindow    sliding window of kFastBuckets equal buckets (the fast
//                 partial-failure rule; 1 min of 5 s buckets by default)
//   MinuteWindow  last N complete minutes of probes/failures/runs (the slow
//                 partial rule and the noise estimate for outage confirmation)
//   BurnCounter   minute buckets for 6 h and hour buckets for 3 d with running
//                 sums per burn-rate window; raw results are never kept
//
// Bucket arithmetic is the caller's: it passes absolute bucket numbers or
// closes minutes in step with its clock. Not thread-safe (owned by Detector).
#ifndef SONDE_COLLECTOR_DETECT_WINDOWS_H_
#define SONDE_COLLECTOR_DETECT_WINDOWS_H_

#include <array>
#include <cstdint>

#include "collector/detect/limits.h"

namespace sonde::detect {

struct Counts {
  uint32_t probes = 0;
  uint32_t fails = 0;
  Counts& operator+=(const Counts& o) {
    probes += o.probes;
    fails += o.fails;
    return *this;
  }
  double share() const { return probes == 0 ? 0.0 : static_cast<double>(fails) / probes; }
};

class FastWindow {
 public:
  // Adds to absolute bucket `bucket` (time / bucket width); a bucket older
  // than the window is ignored.
  void Add(int64_t bucket, uint32_t probes, uint32_t fails);
  // Sums over the window ending with bucket `now_bucket` (inclusive).
  Counts Sum(int64_t now_bucket);
  // The oldest bucket of the window holding a failure; -1 when none.
  int64_t FirstFailure(int64_t now_bucket);
  // As Sum, from bucket `from_bucket` on (the share "since it started
  // failing", from the first failure of any region).
  Counts SumFrom(int64_t from_bucket, int64_t now_bucket);

 private:
  void Advance(int64_t bucket);

  int64_t head_ = -1;  // newest bucket; -1: empty
  std::array<uint16_t, kFastBuckets> probes_{};
  std::array<uint16_t, kFastBuckets> fails_{};
  Counts sum_;
};

struct RunCounts {
  uint32_t probes = 0;
  uint32_t fails = 0;
  uint32_t runs = 0;
  uint32_t failed_runs = 0;
};

// P(X >= fails) for X ~ Binomial(probes, p): how likely at least `fails` of
// `probes` fail when each fails on its own with probability `p` (noise).
// O(probes - fails) at worst; 1 when fails is 0, 0 when it exceeds probes.
double NoiseTail(uint32_t probes, uint32_t fails, double p);

// The minute in progress is accumulated by the caller (next to its other
// per-result state, for cache locality) and handed to CloseMinute().
class MinuteWindow {
 public:
  void set_minutes(int minutes) { minutes_ = minutes; }
  void CloseMinute(const RunCounts& minute);
  // The last `minutes` complete minutes.
  const RunCounts& complete() const { return sum_; }
  // complete() plus `current`, the minute in progress.
  RunCounts WithCurrent(const RunCounts& current) const;
  // The last `minutes` complete minutes (<= the window).
  RunCounts Recent(int minutes) const;
  // The complete minutes after the oldest one holding a failure, and
  // `current`, the minute in progress: the share "since it started
  // failing", neither diluted by the healthy minutes before the fault nor
  // raised by the failure that marks its start (the first failing minute
  // holds both). Empty when no complete minute holds a failure.
  Counts AfterFirstFailingMinute(const RunCounts& current) const;

 private:
  struct Slot {
    uint16_t probes, fails, runs, failed_runs;
  };
  int minutes_ = 15;
  int64_t closed_ = 0;
  RunCounts sum_;
  std::array<Slot, kMaxPartialMinutes> ring_{};
};

// Which windows a BurnCounter keeps sums for; shared by all series.
struct BurnLayout {
  static constexpr int kMaxWindows = 2 * static_cast<int>(kMaxBurnRules);
  int count = 0;
  std::array<int, kMaxWindows> length{};  // minutes or hours
  std::array<bool, kMaxWindows> in_hours{};
  std::array<int64_t, kMaxWindows> seconds{};
  // Registers a window (whole minutes <= 6 h, else whole hours <= 3 d);
  // returns its id. Equal windows share an id.
  int Add(int64_t window_seconds);
};

class BurnCounter {
 public:
  // `minute`: the counts of the minute being closed (accumulated by the
  // caller).
  void CloseMinute(const BurnLayout& layout, const Counts& minute);
  // Complete minutes (and, for hour windows, complete hours plus the complete
  // minutes of the current hour) in window `id`.
  Counts Window(const BurnLayout& layout, int id) const;
  // Minutes closed since the first result: how much of a window is history.
  int64_t observed_minutes() const { return closed_minutes_; }

 private:
  struct MinuteSlot {
    uint16_t probes, fails;
  };
  int64_t closed_minutes_ = 0;
  int64_t closed_hours_ = 0;
  int minutes_in_hour_ = 0;
  Counts hour_acc_;
  std::array<MinuteSlot, kBurnMinuteSlots> minutes_{};
  std::array<Counts, kBurnHourSlots> hours_{};
  std::array<Counts, BurnLayout::kMaxWindows> sums_{};
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_WINDOWS_H_
