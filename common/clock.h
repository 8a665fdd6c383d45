// Time seam. Production code asks a Clock for wall time (Now) and for
// monotonic time (SteadyNow: the EventLoop's timers and the probes' elapsed
// times), so that tests and the detector's replay can run on a
// FakeClock. Both are thread-safe.
#ifndef SONDE_COMMON_CLOCK_H_
#define SONDE_COMMON_CLOCK_H_

#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sonde::common {

class Clock {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  // Wall time: may step (NTP); use for timestamps and epoch-aligned slots.
  virtual absl::Time Now() const = 0;
  // Monotonic time: never steps back; use for timers and durations. The
  // default is the process's steady clock.
  virtual SteadyTime SteadyNow() const { return std::chrono::steady_clock::now(); }
};

// The process-wide real clock; never deleted.
Clock* RealClock();

// Time that moves only when told. Advance() moves wall and monotonic time
// together (time passes); Set() moves wall time only (the wall clock steps).
// Monotonic time starts at an arbitrary fixed point.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock l(&mu_);
    return now_;
  }
  SteadyTime SteadyNow() const override {
    absl::MutexLock l(&mu_);
    return steady_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
    steady_ += std::chrono::duration_cast<SteadyTime::duration>(absl::ToChronoNanoseconds(d));
  }
  void Set(absl::Time t) {
    absl::MutexLock l(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  SteadyTime steady_ ABSL_GUARDED_BY(mu_) = SteadyTime(std::chrono::hours(1));
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_CLOCK_H_
