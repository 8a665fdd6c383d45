// ApplyProcessDefaults: what each Sonde daemon's main() sets first, before
// any thread starts. Called from prober/main.cc and collector/main.cc only;
// tests keep the libraries' defaults.
//
// absl::Mutex's lock-order (deadlock) graph: Debian builds Abseil without
// NDEBUG, which leaves the graph on, so every Lock and Unlock in the
// process (gRPC's included) updates a global graph under a spin lock
// (~60 ns per lock pair, GraphCycles::GetId in the prober's profile;
// bench/README.md, "Session 9"). Release builds of Abseil have it off; the
// daemons run with it off too, and the tests, which run with the library's
// default, keep checking lock order.
#ifndef SONDE_COMMON_PROCESS_DEFAULTS_H_
#define SONDE_COMMON_PROCESS_DEFAULTS_H_

#include "absl/synchronization/mutex.h"

namespace sonde::common {

inline void ApplyProcessDefaults() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_PROCESS_DEFAULTS_H_
