#include "collector/detect/region_state.h"

#include <algorithm>
#include <cmath>

#include "common/code_table.h"

namespace sonde::detect {

const char* RegionStateName(RegionState state) {
  // Indexed by RegionState, in declaration order.
  static constexpr const char* kNames[] = {"UNKNOWN", "UP",       "DEGRADED",
                                           "DOWN",    "FLAPPING", "STALE"};
  return common::EnumName(state, kNames, "UNKNOWN");
}

int RunStateMachine::ConfirmRuns(double noise, const Params& params) {
  if (noise <= 0) {
    return params.down_failures;
  }
  if (noise >= 1) {
    return params.max_confirm_runs;
  }
  const int k = static_cast<int>(std::ceil(std::log(params.false_rate) / std::log(noise)));
  return std::clamp(k, std::max(2, params.down_failures), params.max_confirm_runs);
}

bool RunStateMachine::OnRun(bool failed, int confirm_runs, const Params& params) {
  const bool was_down = down_;
  const bool was_outage = outage_;
  history_ = (history_ << 1) | (failed ? 1u : 0u);
  ++runs_;
  if (failed) {
    ++consecutive_failures_;
    consecutive_ok_ = 0;
  } else {
    ++consecutive_ok_;
    consecutive_failures_ = 0;
  }
  if (!down_) {
    const uint32_t window = history_ & ((1u << params.down_window) - 1);
    down_ = __builtin_popcount(window) >= params.down_failures;
  } else if (consecutive_ok_ >= params.up_successes) {
    down_ = false;
    outage_ = false;
  }
  if (down_ && !outage_ && failed && consecutive_failures_ >= confirm_runs) {
    outage_ = true;
  }
  return was_down != down_ || was_outage != outage_;
}

}  // namespace sonde::detect
