// Compile-time capacities of the detector's fixed-size windows. Options are
// validated against them (DetectorOptions::Validate) so the hot path never
// allocates. Internal header.
#ifndef SONDE_COLLECTOR_DETECT_LIMITS_H_
#define SONDE_COLLECTOR_DETECT_LIMITS_H_

#include <cstddef>

namespace sonde::detect {

inline constexpr int kMaxRegions = 64;          // region sets are 64-bit masks
inline constexpr int kMaxDownWindow = 16;       // runs in the DOWN rule
inline constexpr int kFastBuckets = 12;         // buckets of the fast partial window
inline constexpr int kMaxPartialMinutes = 60;   // minute ring of the slow partial window
inline constexpr int kMaxLatencyMinutes = 30;   // minute ring of the latency window
inline constexpr int kMaxBaselineBlocks = 12;   // latency baseline, in latency windows
inline constexpr int kMaxFlapHistory = 32;      // flapping samples (bits)
inline constexpr size_t kMaxBurnRules = 6;
inline constexpr int kBurnMinuteSlots = 360;    // 6 h of minute buckets
inline constexpr int kBurnHourSlots = 72;       // 3 d of hour buckets
inline constexpr int kFailureRing = 16;         // recent failure classes per series

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_LIMITS_H_
