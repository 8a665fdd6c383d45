#include <algorithm>
#include <array>

#include "collector/detect/detector_impl.h"

namespace sonde::detect {

namespace {

// The runs a series' history bits hold (bit 0 the newest run).
constexpr uint32_t kHistoryRuns = 32;

// Bits [from, to) set.
uint32_t BitRange(uint32_t from, uint32_t to) {
  const uint32_t below_to = to >= kHistoryRuns ? ~0u : (1u << to) - 1;
  const uint32_t below_from = from >= kHistoryRuns ? ~0u : (1u << from) - 1;
  return below_to & ~below_from;
}

}  // namespace

double Detector::Impl::CheckNoise(const Series& s, int64_t t) const {
  // Per voting series: its last runs (at most kHistoryRuns) before its
  // current failing streak, which may be the outage itself.
  struct Past {
    uint32_t failed;  // failed-run bits before the streak
    uint32_t streak;
    uint32_t depth;
  };
  std::array<Past, kMaxRegions> past;
  size_t n = 0;
  uint32_t since = 0;  // runs back to the check's oldest failure there
  for (int32_t idx : checks[s.check].series) {
    if (idx < 0) {
      continue;
    }
    const Series& o = *series[idx];
    if (!Voting(o, t)) {
      continue;
    }
    const uint32_t depth = static_cast<uint32_t>(std::min<uint64_t>(o.sm.runs(), kHistoryRuns));
    const uint32_t streak = std::min<uint32_t>(o.sm.consecutive_failures(), depth);
    const uint32_t failed = o.sm.history() & BitRange(streak, depth);
    if (failed != 0) {
      since = std::max(since, kHistoryRuns - static_cast<uint32_t>(__builtin_clz(failed)));
    }
    past[n++] = {failed, streak, depth};
  }
  // The share since the failures began. The oldest failure marks that
  // start and is not counted: with it, one stray failure a run ago would
  // read as a 50% share.
  uint32_t runs = 0;
  uint32_t failed = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t to = std::min(since, past[i].depth);
    if (to > past[i].streak) {
      runs += to - past[i].streak;
      failed += __builtin_popcount(past[i].failed & BitRange(past[i].streak, to));
    }
  }
  if (failed <= 1 || runs <= 1) {
    return 0;
  }
  return static_cast<double>(failed - 1) / (runs - 1);
}

int Detector::Impl::OutageConfirmRuns(const Series& s, int64_t t) const {
  return RunStateMachine::ConfirmRuns(std::max(s.Noise(), CheckNoise(s, t)), sm_params);
}

}  // namespace sonde::detect
