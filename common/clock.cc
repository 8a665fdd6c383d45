#include "common/clock.h"

namespace sonde::common {
namespace {
class RealClockImpl : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};
}  // namespace

Clock* RealClock() {
  static Clock* clock = new RealClockImpl();
  return clock;
}

}  // namespace sonde::common
