// ResultPool: cleared ProbeResult messages kept for the next runs, so that a
// steady prober makes its results without allocating their strings (a
// cleared message keeps its strings' capacity and its repeated elements).
// The Scheduler gives every run's results back once its sink has them
// (Scheduler::Options::result_pool); probes take their messages with
// NewResult(). Bounded: at most `max` messages are kept, not one per check.
//
// Loop thread only (the probes' and the Scheduler's).
#ifndef SONDE_PROBER_PROBES_RESULT_POOL_H_
#define SONDE_PROBER_PROBES_RESULT_POOL_H_

#include <cstddef>
#include <utility>
#include <vector>

#include "sonde/v1/result.pb.h"

namespace sonde::prober {

class ResultPool {
 public:
  explicit ResultPool(size_t max = 1024) : max_(max) {}

  // An empty result; with an earlier one's memory when one is kept.
  v1::ProbeResult Take() {
    if (free_.empty()) {
      return v1::ProbeResult();
    }
    v1::ProbeResult r = std::move(free_.back());  // a swap: nothing allocated
    free_.pop_back();
    return r;
  }

  // Clears and keeps `results` (up to the bound); `results` is left empty.
  void Give(std::vector<v1::ProbeResult>* results) {
    for (v1::ProbeResult& r : *results) {
      if (free_.size() >= max_) {
        break;
      }
      r.Clear();
      free_.push_back(std::move(r));
    }
    results->clear();
  }

  size_t size() const { return free_.size(); }

 private:
  const size_t max_;
  std::vector<v1::ProbeResult> free_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_RESULT_POOL_H_
