#include "absl/synchronization/mutex.h"
#include "prober/app.h"

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // lock-order (deadlock) graph on: every Lock and Unlock in the process,
  // gRPC's included, then updates a global graph under a spin lock (about
  // 60 ns per lock pair, measured). Release builds of Abseil have it off;
  // the product runs with it off too. Tests keep the library's default.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return sonde::prober::RunProber(argc, argv);
}
