// FlapDetector: Nagios-style flap detection on a short history of state
// samples of one check x region.
//
// The history holds the last N samples (bit 0 newest; true = failing). The
// percent state change weighs the N-1 transitions linearly from 0.75 (oldest)
// to 1.25 (newest), as Nagios does, so 100% means a change at every sample.
// Entering needs >= enter percent, leaving <= exit percent (hysteresis).
// The history starts all "not failing". Not thread-safe.
#ifndef SONDE_COLLECTOR_DETECT_FLAPPING_H_
#define SONDE_COLLECTOR_DETECT_FLAPPING_H_

#include <cstdint>

namespace sonde::detect {

class FlapDetector {
 public:
  // Appends one sample; true when flapping() changed.
  bool AddSample(bool failing, int history, double enter_percent, double exit_percent);
  bool flapping() const { return flapping_; }
  double percent() const { return percent_; }

  // Weighted percent state change of the `n` newest bits of `bits`.
  static double PercentStateChange(uint32_t bits, int n);

 private:
  uint32_t bits_ = 0;
  double percent_ = 0;
  bool flapping_ = false;
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_FLAPPING_H_
