#include "collector/detect/series.h"

namespace sonde::detect {

double Series::Noise() const {
  const RunCounts w = partial.WithCurrent(minute_partial);
  const uint32_t streak = static_cast<uint32_t>(sm.consecutive_failures());
  const uint32_t runs = w.runs > streak ? w.runs - streak : 0;
  const uint32_t failed = w.failed_runs > streak ? w.failed_runs - streak : 0;
  if (runs < 10) {
    return 0;  // too little history to call it noisy
  }
  return static_cast<double>(failed) / runs;
}

}  // namespace sonde::detect
