// ResultPool: cleared ProbeResult messages kept for the next runs, so that a
// steady prober makes its results without allocating their strings (a
// cleared message keeps its strings' capacity and its repeated elements).
// Probes take a message per result with NewResult() and give it back once
// their run's `done` returned (probe.h, DeliverResults): a message stays at
// one address from its run to the next one's (no 330-byte moves), and the
// last given is the next taken (warm in the cache). Bounded: at most `max`
// messages are kept, not one per check.
//
// Loop thread only (the probes').
#ifndef SONDE_PROBER_PROBES_RESULT_POOL_H_
#define SONDE_PROBER_PROBES_RESULT_POOL_H_

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "sonde/v1/result.pb.h"

namespace sonde::prober {

class ResultPool {
 public:
  explicit ResultPool(size_t max = 1024) : max_(max) {}

  // An empty result; with an earlier one's memory when one is kept.
  std::unique_ptr<v1::ProbeResult> Take() {
    if (free_.empty()) {
      return std::make_unique<v1::ProbeResult>();
    }
    std::unique_ptr<v1::ProbeResult> r = std::move(free_.back());
    free_.pop_back();
    return r;
  }

  // Clears and keeps `result` (freed when the pool is full).
  void Give(std::unique_ptr<v1::ProbeResult> result) {
    if (result == nullptr || free_.size() >= max_) {
      return;
    }
    result->Clear();
    free_.push_back(std::move(result));
  }

  size_t size() const { return free_.size(); }

 private:
  const size_t max_;
  std::vector<std::unique_ptr<v1::ProbeResult>> free_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_RESULT_POOL_H_
