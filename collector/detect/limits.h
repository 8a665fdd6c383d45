// Compile-time capacities of the detector's fixed-size windows. Options are
// validated against them (DetectorOptions::Validate) so the hot path never
// allocates. Internal header.
#ifndef SONDE_COLLECTOR_DETECT_LIMITS_H_
#define SONDE_COLLECTOR_DETECT_LIMITS_H_

#include <cstddef>

namespace sonde::detect {

// Region sets are 64-bit masks.
inline constexpr int kMaxRegions = 64;
// Runs in the DOWN rule.
inline constexpr int kMaxDownWindow = 16;
// Buckets of the fast partial-failure window.
inline constexpr int kFastBuckets = 12;
// Minute ring of the slow partial-failure window.
inline constexpr int kMaxPartialMinutes = 60;
// Minute ring of the latency window.
inline constexpr int kMaxLatencyMinutes = 30;
// Latency baseline, in latency windows.
inline constexpr int kMaxBaselineBlocks = 12;
// Flapping samples (bits of a uint32_t).
inline constexpr int kMaxFlapHistory = 32;
inline constexpr size_t kMaxBurnRules = 6;
// 6 h of minute buckets and 3 d of hour buckets for burn rates.
inline constexpr int kBurnMinuteSlots = 360;
inline constexpr int kBurnHourSlots = 72;
// Recent failure classes kept per series.
inline constexpr int kFailureRing = 16;

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_LIMITS_H_
