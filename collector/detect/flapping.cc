#include "collector/detect/flapping.h"

namespace sonde::detect {

double FlapDetector::PercentStateChange(uint32_t bits, int n) {
  const uint32_t mask = n >= 32 ? 0xffffffffu : ((1u << n) - 1);
  bits &= mask;
  // Bit i set: samples i and i+1 differ (i = 0 is the newest transition).
  uint32_t changes = (bits ^ (bits >> 1)) & (mask >> 1);
  if (changes == 0) {
    return 0;
  }
  const int transitions = n - 1;
  double weighted = 0;
  while (changes != 0) {
    const int i = __builtin_ctz(changes);
    changes &= changes - 1;
    const int from_oldest = transitions - 1 - i;  // 0: the oldest transition
    weighted += 0.75 + 0.5 * from_oldest / (transitions - 1);
  }
  return weighted * 100.0 / transitions;
}

bool FlapDetector::AddSample(bool failing, int history, double enter_percent, double exit_percent) {
  bits_ = (bits_ << 1) | (failing ? 1u : 0u);
  percent_ = PercentStateChange(bits_, history);
  const bool was = flapping_;
  if (!flapping_ && percent_ >= enter_percent) {
    flapping_ = true;
  }
  if (flapping_ && percent_ <= exit_percent) {
    flapping_ = false;
  }
  return was != flapping_;
}

}  // namespace sonde::detect
