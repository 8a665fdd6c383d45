// RegionState and RunStateMachine: the UP/DOWN state of one check as seen
// from one region, fed one completed run at a time.
//
// DOWN when >= down_failures of the last down_window runs failed; UP again
// after up_successes runs in a row that did not fail. `outage()` is DOWN
// *confirmed* for incidents: after a number of failed runs in a row that the
// caller decides from how noisy the check has been (ConfirmRuns; the
// detector's rule is in docs/detection.md, "Outage confirmation"). This
// keeps 1% noise, or a 25% partial failure that happens to fail two runs in
// a row, from becoming an outage. Not thread-safe; plain value type.
#ifndef SONDE_COLLECTOR_DETECT_REGION_STATE_H_
#define SONDE_COLLECTOR_DETECT_REGION_STATE_H_

#include <cstdint>

namespace sonde::detect {

// What a check x region looks like to an operator. Precedence when several
// hold: STALE > FLAPPING > DOWN > DEGRADED > UP.
enum class RegionState { kUnknown, kUp, kDegraded, kDown, kFlapping, kStale };

// "UNKNOWN", "UP", "DEGRADED", "DOWN", "FLAPPING", "STALE".
const char* RegionStateName(RegionState state);

class RunStateMachine {
 public:
  struct Params {
    int down_failures = 2;
    int down_window = 3;
    int up_successes = 3;
    double false_rate = 1e-5;
    int max_confirm_runs = 10;
  };

  // Feeds one completed run; a failed run that makes `confirm_runs` failed
  // runs in a row while DOWN confirms the outage. Returns true when down()
  // or outage() changed.
  bool OnRun(bool failed, int confirm_runs, const Params& params);

  bool down() const { return down_; }
  bool outage() const { return outage_; }
  int consecutive_failures() const { return consecutive_failures_; }
  // Bit 0 is the newest run; 1 = failed.
  uint32_t history() const { return history_; }
  uint64_t runs() const { return runs_; }

  // Failed runs in a row that make an outage at failing-run share `noise`
  // less likely than false_rate: noise^k < false_rate, at least
  // down_failures, at most max_confirm_runs.
  static int ConfirmRuns(double noise, const Params& params);

 private:
  uint32_t history_ = 0;
  uint64_t runs_ = 0;
  int consecutive_failures_ = 0;
  int consecutive_ok_ = 0;
  bool down_ = false;
  bool outage_ = false;
};

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_REGION_STATE_H_
