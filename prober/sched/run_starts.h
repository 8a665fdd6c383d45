// RunStarts: the start times of the probe runs going, for the earliest one
// (the Scheduler's running-since, the uplink's ResultBatch.complete_before)
// without a tree node per run.
//
// Runs are numbered in the order they begin and kept in a ring in that
// order; a run that ends is marked, and marked runs leave from the front.
// Begin, End and Earliest are O(1) amortised and allocate only when the ring
// grows past the most runs ever going at once. The wall clock can step back:
// then a new start earlier than the runs before it lowers their recorded
// starts to it, so Earliest() stays at or before every start still going
// (never after one: that is what complete_before promises).
//
// Not thread-safe: the Scheduler's, on the loop thread.
#ifndef SONDE_PROBER_SCHED_RUN_STARTS_H_
#define SONDE_PROBER_SCHED_RUN_STARTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace sonde::prober {

class RunStarts {
 public:
  using RunId = uint64_t;

  // A run started at `start`; its id is for End().
  RunId Begin(absl::Time start);
  // The run `id` ended (each id once).
  void End(RunId id);
  // The earliest start of a run going (lowered by clock steps, see above);
  // InfiniteFuture when none is.
  absl::Time Earliest() const;
  // Runs going.
  size_t going() const { return going_; }

 private:
  struct Slot {
    absl::Time start;
    bool ended = false;
  };
  Slot& At(RunId id) { return ring_[(head_ + (id - first_)) % ring_.size()]; }
  void Grow();

  std::vector<Slot> ring_;  // capacity: the most runs ever between front and back
  size_t head_ = 0;         // ring_ index of run first_
  size_t size_ = 0;         // runs from first_ on, ended ones behind the front included
  RunId first_ = 0;         // the id of the front
  size_t going_ = 0;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_SCHED_RUN_STARTS_H_
