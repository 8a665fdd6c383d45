// Series: one check as seen from one region -- the run being assembled, the
// DOWN/UP state machine, the counting windows, the latency tracker, the
// flapping detector and a ring of recent failures. About 9 KiB, allocated
// once per check x region by the detector's SetConfig() and then only
// updated in place by the per-result path.
//
// Also the detector's time arithmetic: every instant inside the detector is
// microseconds since the Unix epoch (int64), with kNever and kForever for
// the infinite past and future. Owned by Detector::Impl; not thread-safe
// (the detector's caller serializes every call).
#ifndef SONDE_COLLECTOR_DETECT_SERIES_H_
#define SONDE_COLLECTOR_DETECT_SERIES_H_

#include <array>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/time/time.h"
#include "collector/detect/flapping.h"
#include "collector/detect/latency.h"
#include "collector/detect/limits.h"
#include "collector/detect/region_state.h"
#include "collector/detect/windows.h"

namespace sonde::detect {

inline constexpr int64_t kMinuteUs = 60'000'000;
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::min() / 4;
inline constexpr int64_t kForever = std::numeric_limits<int64_t>::max() / 4;

inline int64_t Us(absl::Time t) {
  if (t == absl::InfinitePast()) {
    return kNever;
  }
  if (t == absl::InfiniteFuture()) {
    return kForever;
  }
  return absl::ToUnixMicros(t);
}
inline int64_t Us(absl::Duration d) { return absl::ToInt64Microseconds(d); }
inline absl::Time TimeOf(int64_t us) {
  if (us <= kNever) {
    return absl::InfinitePast();
  }
  if (us >= kForever) {
    return absl::InfiniteFuture();
  }
  return absl::FromUnixMicros(us);
}
inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
inline int Popcount(uint64_t m) { return __builtin_popcountll(m); }

// The server certificate a TLS or HTTPS probe saw last.
struct Certificate {
  int64_t not_after_us = kNever;        // leaf
  int64_t chain_not_after_us = kNever;  // earliest in the chain (<= leaf)
  int32_t days_left = 0;                // leaf, as the probe counted them
  int64_t seen_us = kNever;             // event time of that result
  bool seen() const { return seen_us != kNever; }
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
  // Start of the run that began the current failing episode: the first
  // failed run after the series was up with a passing last run. Outage
  // classes and evidence count failures from here only, so a new fault is
  // never described by the failures of an older one.
  int64_t episode_start_us = kNever;

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
  std::string detail;        // last failure's detail (capacity reused)
  uint8_t detail_class = 0;  // that failure's class
  // The same failure's DNS fallback: the last known address tried after the
  // name failed ("" when not), its class and HTTP status.
  std::string fallback_address;
  uint8_t fallback_class = 0;
  int32_t fallback_http_status = 0;
  int64_t detail_us = kNever;
  Certificate cert;  // the last one seen (any class but PROBER_ERROR)
  // Observe()'s side: the certificate text of the last result queued for
  // this series and what it parsed to (seen_us 0; not seen() when it did
  // not parse). Parsed only when the text changes: certificates change a
  // few times a year. Apply() adopts it for a Sample::certificate (a
  // result reordered across a certificate change adopts the newer one).
  std::string observed_not_after;
  std::string observed_chain_not_after;
  int32_t observed_days_left = 0;
  Certificate observed_certificate;

  MinuteWindow partial;
  BurnCounter burn;
  FlapDetector flap;

  bool Live() const { return has_data && !stale; }
  // Share of failed runs in the partial window, not counting the current
  // failing streak; 0 with fewer than 10 runs (too little history to call
  // the series noisy). Confirms outages on noisy series.
  double Noise() const;
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_SERIES_H_
